import Foundation
import TestSupport
import Testing

@testable import SupervisorCore

#if canImport(Glibc)
import Glibc
#endif

extension SupervisorTests {
    /// `supervisor status` run as uid 65534 (nobody) with group `gid` (65534: nogroup) and no supplementary groups.
    static func statusAsNobody(_ supervisor: SupervisorHarness, gid: Int = 65534) throws -> CommandResult {
        try CommandResult.run(
            "/usr/bin/setpriv",
            [
                "--reuid=65534", "--regid=\(gid)", "--clear-groups", SupervisorHarness.supervisorPath, "status",
                "--name", supervisor.name, "--control-socket", supervisor.controlSocket,
            ])
    }

    @Test(
        "the control socket refuses other users: by its mode, and by peer credentials when the mode lets them in",
        .enabled(if: SupervisorTests.isRoot, "needs root to run a client as another user"))
    func controlSocketRefusesOtherUsers() throws {
        let directory = try TemporaryDirectory.make()
        chmod(directory, 0o755)
        let port = try freePort()
        let supervisor = try SupervisorHarness(
            ["--instances", "1", "--", SupervisorHarness.demoServerPath, "--port", String(port)],
            directory: directory)
        try supervisor.waitUntilReady()
        var information = stat()
        #expect(stat(supervisor.controlSocket, &information) == 0)
        #expect(information.st_mode & 0o777 == 0o600)

        let byMode = try Self.statusAsNobody(supervisor)
        #expect(byMode.exitCode != 0)
        #expect(byMode.stderr.contains("not allowed to use the control socket"), "\(byMode.stderr)")

        // A socket whose mode was widened by mistake still answers nobody but root and its own user.
        chmod(supervisor.controlSocket, 0o666)
        let byCredentials = try Self.statusAsNobody(supervisor)
        #expect(byCredentials.exitCode != 0)
        #expect(
            byCredentials.stderr.contains("permission denied: uid 65534 may not control supervisor"),
            "\(byCredentials.stderr)")
        #expect(supervisor.log.contains("refused a control request from pid"))
        #expect(try supervisor.cli("status").exitCode == 0)
    }

    @Test(
        "--control-group lets that group's members in (socket mode 0660, group-owned); others stay out",
        .enabled(if: SupervisorTests.isRoot, "needs root to run a client as another user"))
    func controlGroupLetsMembersIn() throws {
        let directory = try TemporaryDirectory.make()
        chmod(directory, 0o755)
        let port = try freePort()
        let supervisor = try SupervisorHarness(
            [
                "--instances", "1", "--control-group", "nogroup", "--", SupervisorHarness.demoServerPath, "--port",
                String(port),
            ],
            directory: directory)
        try supervisor.waitUntilReady()
        var information = stat()
        #expect(stat(supervisor.controlSocket, &information) == 0)
        #expect(information.st_mode & 0o777 == 0o660)
        #expect(information.st_gid == 65534)
        let member = try Self.statusAsNobody(supervisor)
        #expect(member.exitCode == 0, "\(member.stderr)")
        #expect(member.stdout.contains("generation 1"))

        let outsider = try Self.statusAsNobody(supervisor, gid: 1)
        #expect(outsider.exitCode != 0)
    }

    @Test("an unknown --control-group is refused, naming the group and the fix")
    func unknownControlGroup() throws {
        let result = try CommandResult.run(
            SupervisorHarness.supervisorPath,
            ["check", "--control-group", "no-such-group-here", "--", SupervisorHarness.demoServerPath])
        #expect(result.exitCode != 0)
        #expect(result.stderr.contains("control-group 'no-such-group-here' does not exist"), "\(result.stderr)")
    }

    @Test("a request line over 64 KiB is cut off; the supervisor goes on answering")
    func oversizedControlRequest() throws {
        let port = try freePort()
        let supervisor = try SupervisorHarness([
            "--instances", "1", "--", SupervisorHarness.demoServerPath, "--port", String(port),
        ])
        try supervisor.waitUntilReady()
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var sendTimeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &sendTimeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in supervisor.controlSocket.utf8.enumerated() { raw[index] = byte }
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        #expect(connected == 0)
        // A line without end: the supervisor must cut the connection. How many bytes pass before it does depends on
        // how soon its connection task runs after the limit (the event loop reads on meanwhile), so the test asks
        // for the cut itself, within 10 s, not for a byte count.
        let junk = [UInt8](repeating: UInt8(ascii: "x"), count: 64 * 1024)
        var written = 0
        var failure: Int32 = 0
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            let count = junk.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if count <= 0 {
                failure = errno
                break
            }
            written += count
        }
        #expect(failure == EPIPE || failure == ECONNRESET, "\(written) bytes went through; errno \(failure)")
        #expect(try supervisor.cli("status").exitCode == 0)
    }
}

extension SupervisorTests {
    /// The `Uid:` and `Gid:` lines' real ids of a process.
    static func ids(of pid: Int32) throws -> (uid: String, gid: String) {
        let status = (FileText.read("/proc/\(pid)/status") ?? "").split(separator: "\n")
        let field = { (name: String) in
            status.first { $0.hasPrefix(name) }.map { String($0.split(separator: "\t")[1]) } ?? "?"
        }
        return (field("Uid:"), field("Gid:"))
    }

    @Test(
        "--user: instances run as nobody and serve port 80, which the root supervisor bound and passed down",
        .enabled(if: SupervisorTests.isRoot, "needs root to switch users and bind port 80"))
    func instancesAsAnotherUser() throws {
        let network = try #require(PrivateNetwork.make())
        let directory = try TemporaryDirectory.make()
        chmod(directory, 0o755)
        let supervisor = try SupervisorHarness(
            [
                "--instances", "2", "--user", "nobody", "--group", "nogroup", "--listen-mode", "shared",
                "--listen", "127.0.0.1:80", "--", SupervisorHarness.releaseDemoServerPath,
            ],
            directory: directory, network: network)
        try supervisor.waitUntilReady()
        let pids = try supervisor.readyPIDs()
        #expect(pids.count == 2)
        for pid in pids {
            let ids = try Self.ids(of: pid)
            #expect(ids.uid == "65534" && ids.gid == "65534", "\(ids)")
        }
        #expect(try Self.ids(of: supervisor.process.pid).uid == "0")
        let answered = try network.run { try RawHTTPConnection(port: 80).request(timeout: .seconds(5)).status }
        #expect(answered == 200)
        // Readiness came over the notify socket, which the instance's user may use and nobody else.
        #expect(try supervisor.cli("reload").exitCode == 0)
        #expect(try supervisor.readyPIDs(generation: 2).count == 2)
    }

    @Test("--user: an unknown user, or --group alone, is refused naming the fix")
    func badUser() throws {
        let unknown = try CommandResult.run(
            SupervisorHarness.supervisorPath,
            ["check", "--user", "no-such-user-xyz", "--", SupervisorHarness.demoServerPath])
        #expect(unknown.exitCode != 0)
        #expect(unknown.stderr.contains("user 'no-such-user-xyz' does not exist"), "\(unknown.stderr)")
        let groupAlone = try CommandResult.run(
            SupervisorHarness.supervisorPath, ["check", "--group", "nogroup", "--", SupervisorHarness.demoServerPath])
        #expect(groupAlone.exitCode != 0)
        #expect(groupAlone.stderr.contains("group needs user as well"), "\(groupAlone.stderr)")
    }
}
