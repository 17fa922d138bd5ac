internal import CSupervisorShims
import Dispatch

#if canImport(Glibc)
import Glibc
#endif

/// A process the supervisor may signal, held by a pidfd: a signal sent through it reaches that process or nobody,
/// never one that got the same number after it exited. A number alone is safe to signal only while it names a child
/// not reaped yet; a main process announced with `MAINPID=` may be reaped by its own parent unseen, and its number
/// then given to any process of the machine.
///
/// Without pidfds (Linux before 5.3) it falls back to the number, and says so in ``isPinned``.
final class ProcessHandle: Sendable {
    let pid: Int32
    /// -1 without pidfd support.
    private let fd: Int32
    // Dispatch sources are thread-safe objects; Dispatch on Linux does not mark the protocol Sendable.
    nonisolated(unsafe) private let exitSource: (any DispatchSourceRead)?

    /// A handle for `pid`, or `nil` when no such process exists (anymore). With `onExit`, that is called on `queue`
    /// once the process has exited (it became a zombie or was reaped, by whichever parent).
    static func open(_ pid: Int32, onExit: (queue: DispatchQueue, handler: @Sendable () -> Void)? = nil)
        -> ProcessHandle?
    {
        let fd = supervisor_pidfd_open(pid)
        if fd < 0 {
            guard errno == ENOSYS || errno == EPERM else { return nil }
            // No pidfds here: the number is all there is.
            guard kill(pid, 0) == 0 || errno == EPERM else { return nil }
        }
        return ProcessHandle(pid: pid, fd: fd, onExit: onExit)
    }

    /// The handle of `pid` on the pidfd an in-place upgrade handed over (-1: none), which it now owns.
    static func adopt(
        _ pid: Int32,
        descriptor fd: Int32,
        onExit: (queue: DispatchQueue, handler: @Sendable () -> Void)? = nil
    ) -> ProcessHandle {
        ProcessHandle(pid: pid, fd: fd, onExit: onExit)
    }

    /// The pidfd, -1 without one: for an in-place upgrade to hand over.
    var descriptor: Int32 { fd }

    private init(pid: Int32, fd: Int32, onExit: (queue: DispatchQueue, handler: @Sendable () -> Void)?) {
        self.pid = pid
        self.fd = fd
        // The watch has a descriptor of its own, closed when it is cancelled: the handle's stays valid for signals
        // until the handle goes.
        let watched = onExit == nil || fd < 0 ? -1 : fcntl(fd, F_DUPFD_CLOEXEC, 0)
        if let onExit, watched >= 0 {
            let source = DispatchSource.makeReadSource(fileDescriptor: watched, queue: onExit.queue)
            let handler = onExit.handler
            source.setEventHandler {
                // Readable once exited, and for ever after: once is enough.
                source.cancel()
                handler()
            }
            source.setCancelHandler { Glibc.close(watched) }
            source.activate()
            exitSource = source
        } else {
            exitSource = nil
        }
    }

    deinit {
        exitSource?.cancel()
        if fd >= 0 { close(fd) }
    }

    /// Whether the handle pins the process itself (a pidfd), not only its number.
    var isPinned: Bool { fd >= 0 }

    /// Sends `signal` (0 only checks); returns `false` with `errno` set when it was not delivered (`ESRCH`: the
    /// process has exited).
    @discardableResult
    func signal(_ signal: Int32) -> Bool {
        if fd >= 0 { return supervisor_pidfd_send_signal(fd, signal) == 0 }
        return kill(pid, signal) == 0
    }

    /// Whether the process has not exited yet (a zombie has).
    var isAlive: Bool {
        guard fd >= 0 else { return kill(pid, 0) == 0 || errno == EPERM }
        var poll = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return Glibc.poll(&poll, 1, 0) == 0
    }
}
