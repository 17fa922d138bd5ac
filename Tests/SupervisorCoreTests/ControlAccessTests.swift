import Testing

@testable import SupervisorCore

@Suite("Control socket access: who may send requests")
struct ControlAccessTests {
    let owner: UInt32 = 1000

    @Test("root and the supervisor's own user are let in; anyone else is not, without a control group")
    func ownerAndRoot() {
        let access = ControlAccess(ownerUID: owner, group: nil)
        #expect(access.allows(PeerCredentials(pid: 1, uid: 0, gid: 0), supplementaryGroups: []))
        #expect(access.allows(PeerCredentials(pid: 1, uid: owner, gid: 50), supplementaryGroups: []))
        #expect(!access.allows(PeerCredentials(pid: 1, uid: 1001, gid: 50), supplementaryGroups: [50, 60]))
        #expect(
            access.refusal(for: PeerCredentials(pid: 1, uid: 1001, gid: 50), name: "app")
                == "permission denied: uid 1001 may not control supervisor 'app', only root or uid 1000 may; run it as "
                + "one of them, or start the supervisor with --control-group GROUP to let a group in")
    }

    @Test("a control group lets in its members, by primary or supplementary group")
    func group() {
        let access = ControlAccess(ownerUID: owner, group: ControlGroup(name: "deploy", gid: 60))
        #expect(access.allows(PeerCredentials(pid: 1, uid: 1001, gid: 60), supplementaryGroups: []))
        #expect(access.allows(PeerCredentials(pid: 1, uid: 1001, gid: 50), supplementaryGroups: [20, 60]))
        #expect(!access.allows(PeerCredentials(pid: 1, uid: 1001, gid: 50), supplementaryGroups: [20]))
        #expect(
            access.refusal(for: PeerCredentials(pid: 1, uid: 1001, gid: 50), name: "app")
                == "permission denied: uid 1001 may not control supervisor 'app', only root, uid 1000 or members of "
                + "group 'deploy' may")
    }

    @Test("a numeric group is taken as a gid; an unknown name is an error naming it")
    func groupLookup() throws {
        #expect(try ControlGroup(named: "4242") == ControlGroup(name: "4242", gid: 4242))
        #expect(try ControlGroup(named: "root").gid == 0)
        #expect(throws: ConfigurationError.self) { try ControlGroup(named: "no-such-group-xyz") }
    }
}
