/// `--ready listen` for instances that inherit their sockets (`reuseport` and `shared` mode). An inherited socket is
/// in LISTEN state from the instance's first instruction, so listening says nothing there; what does is that the
/// program waits for connections on it: some process of the instance's tree has the socket in an epoll set (a `tfd:`
/// line naming its inode in `/proc/PID/fdinfo/N` of an eventpoll descriptor: Go, Node, asyncio, nginx, SwiftNIO), or
/// has a thread blocked in `accept` on it (`/proc/PID/task/TID/syscall`). A program that waits with `select` or
/// `poll` (gunicorn's sync worker) is not seen; it needs `--ready notify` or another probe.
package struct InheritedSocketProbe: Sendable {
    /// The inodes of the instance's inherited listening sockets.
    package let inodes: Set<UInt64>

    package init(inodes: Set<UInt64>) { self.inodes = inodes }

    /// Whether the tree under `pid` (read alone: ``ProcessTable/tree(of:)``) waits for connections on every inherited
    /// socket.
    package func isAccepting(pid: Int32) -> Bool {
        guard !inodes.isEmpty else { return false }
        var waitedOn = Set<UInt64>()
        for process in ProcessTable.tree(of: pid) {
            waitedOn.formUnion(Self.socketsWaitedOn(byProcess: process).intersection(inodes))
            if waitedOn == inodes { return true }
        }
        return false
    }

    /// The inodes a process watches with epoll or blocks in `accept` on.
    static func socketsWaitedOn(byProcess pid: Int32) -> Set<UInt64> {
        var found = Set<UInt64>()
        for entry in FileText.directoryEntries("/proc/\(pid)/fd") {
            guard FileText.readLink("/proc/\(pid)/fd/\(entry)") == "anon_inode:[eventpoll]",
                let info = FileText.read("/proc/\(pid)/fdinfo/\(entry)")
            else { continue }
            found.formUnion(epollTargetInodes(fdinfo: info))
        }
        for thread in FileText.directoryEntries("/proc/\(pid)/task") {
            guard let line = FileText.read("/proc/\(pid)/task/\(thread)/syscall"),
                let fd = acceptingDescriptor(syscallLine: line),
                let target = FileText.readLink("/proc/\(pid)/fd/\(fd)"),
                let inode = ListeningSocket.socketInode(linkTarget: target)
            else { continue }
            found.insert(inode)
        }
        return found
    }

    /// The inodes of the files an epoll descriptor watches, from its fdinfo:
    /// `tfd:        5 events:       19 data:                5  pos:0 ino:3f2a sdev:9` (the inode in hex).
    static func epollTargetInodes(fdinfo text: String) -> Set<UInt64> {
        var inodes = Set<UInt64>()
        for line in text.split(separator: "\n") where line.hasPrefix("tfd:") {
            guard let field = line.split(separator: " ").first(where: { $0.hasPrefix("ino:") }),
                let inode = UInt64(field.dropFirst(4), radix: 16)
            else { continue }
            inodes.insert(inode)
        }
        return inodes
    }

    /// The descriptor a thread blocks in `accept`/`accept4` on, from `/proc/PID/task/TID/syscall`
    /// (`43 0x3 0x7ffd… …`: the call's number, then its arguments), or `nil` for any other state.
    static func acceptingDescriptor(syscallLine: String) -> Int32? {
        let fields = syscallLine.split(separator: " ")
        guard fields.count >= 2, let call = Int(fields[0]), acceptCalls.contains(call),
            fields[1].hasPrefix("0x"), let fd = Int32(fields[1].dropFirst(2), radix: 16)
        else { return nil }
        return fd
    }

    /// The numbers of `accept` and `accept4` on this architecture.
    static var acceptCalls: Set<Int> {
        #if arch(x86_64)
        [43, 288]
        #elseif arch(arm64)
        [202, 242]
        #else
        []
        #endif
    }
}
