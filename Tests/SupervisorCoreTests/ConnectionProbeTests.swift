import Testing

@testable import SupervisorCore

@Suite("Connections and inherited sockets, from /proc and sock_diag text")
struct ConnectionProbeTests {
    @Test("epoll fdinfo: the inode of every watched file, in hex")
    func epollTargets() {
        let fdinfo = """
            pos:\t0
            flags:\t02000002
            mnt_id:\t15
            ino:\t1057
            tfd:        3 events:       19 data:                3  pos:0 ino:3f2a sdev:9
            tfd:        7 events: 80000019 data:     7f0000000007  pos:0 ino:10 sdev:9
            """
        #expect(InheritedSocketProbe.epollTargetInodes(fdinfo: fdinfo) == [0x3f2a, 0x10])
        #expect(InheritedSocketProbe.epollTargetInodes(fdinfo: "pos:\t0\nflags:\t02\n").isEmpty)
    }

    @Test("a thread blocked in accept or accept4 names its descriptor; any other call or state names none")
    func acceptingThreads() {
        #if arch(x86_64)
        #expect(
            InheritedSocketProbe.acceptingDescriptor(syscallLine: "43 0x3 0x7ffd1 0x7ffd2 0x0 0x0 0x0 0x7ffd0 0x7f1\n")
                == 3)
        #expect(
            InheritedSocketProbe.acceptingDescriptor(syscallLine: "288 0xa 0x0 0x0 0x80800 0x0 0x0 0x7ffd0 0x7f1") == 10
        )
        #expect(
            InheritedSocketProbe.acceptingDescriptor(syscallLine: "232 0x4 0x7ffd 0x400 0xffffffff 0x0 0x0 0x1 0x2")
                == nil)
        #endif
        #expect(InheritedSocketProbe.acceptingDescriptor(syscallLine: "running") == nil)
        #expect(InheritedSocketProbe.acceptingDescriptor(syscallLine: "-1 0x7ffd0 0x7f1") == nil)
    }

    @Test("a socket link names its inode; other links name none")
    func socketLinks() {
        #expect(ListeningSocket.socketInode(linkTarget: "socket:[12345]") == 12345)
        #expect(ListeningSocket.socketInode(linkTarget: "anon_inode:[eventpoll]") == nil)
        #expect(ListeningSocket.socketInode(linkTarget: "socket:[12") == nil)
    }

    @Test("the census counts a socket for the instance holding it, on that instance's ports only")
    func tally() {
        let a = ConnectionCensus.Subject(key: InstanceID(1), pid: 100, ports: [8080])
        let b = ConnectionCensus.Subject(key: InstanceID(2), pid: 200, ports: [8080, 8443])
        let sockets = [
            TCPSocketTable.Socket(inode: 11, localPort: 8080, state: 1),
            TCPSocketTable.Socket(inode: 12, localPort: 8080, state: 8),
            TCPSocketTable.Socket(inode: 21, localPort: 8443, state: 1),
            TCPSocketTable.Socket(inode: 22, localPort: 8443, state: 1),
            TCPSocketTable.Socket(inode: 0, localPort: 8080, state: 4),
        ]
        let held: [Int32: Set<UInt64>] = [100: [11, 12, 22, 0], 200: [21, 99]]
        let counts = ConnectionCensus.tally([a, b], sockets: sockets) { held[$0] ?? [] }
        #expect(counts == [InstanceID(1): 2, InstanceID(2): 1])
    }
}
