internal import CSupervisorShims
import Dispatch
internal import SystemdSupport

#if canImport(Glibc)
import Glibc
#endif

/// Delivers signals to the supervisor's event loop through a self-pipe: a C handler writes the signal number to a
/// pipe, and a dispatch source reads it. Unlike a signal mask, this works whichever thread the kernel interrupts.
final class SignalPipe: Sendable {
    // Dispatch sources are thread-safe objects; Dispatch on Linux does not mark the protocol Sendable.
    nonisolated(unsafe) private let source: any DispatchSourceRead

    /// The pipe's ends, kept across an in-place upgrade so that a signal caught just before the exec is read after.
    let descriptors: (read: Int32, write: Int32)

    /// Installs handlers for `signals` (replacing any) and calls `deliver` on `queue` for each one caught. Install
    /// once per process. With `adopting`, the pipe is the one the program before an in-place upgrade made (see
    /// ``descriptors``), and the signals it blocked for the exec are unblocked in this thread.
    init(
        signals: [UnixSignal],
        queue: DispatchQueue,
        adopting pipe: (read: Int32, write: Int32)? = nil,
        deliver: @escaping @Sendable (UnixSignal) -> Void
    ) throws(SystemCallError) {
        var readFD: Int32 = -1
        var writeFD: Int32 = -1
        let numbers = signals.map(\.rawValue)
        let error = numbers.withUnsafeBufferPointer { numbers in
            if let pipe {
                readFD = pipe.read
                writeFD = pipe.write
                return supervisor_signal_pipe_adopt(pipe.write, numbers.baseAddress, Int32(numbers.count))
            }
            return supervisor_signal_pipe_install(numbers.baseAddress, Int32(numbers.count), &readFD, &writeFD)
        }
        guard error == 0 else { throw SystemCallError(call: "sigaction", errno: error) }
        if pipe != nil {
            let unblocked = supervisor_unblock_stop_signals()
            guard unblocked == 0 else { throw SystemCallError(call: "pthread_sigmask", errno: unblocked) }
        }
        descriptors = (readFD, writeFD)
        let fd = readFD
        source = DispatchSource.makeReadSource(fileDescriptor: fd, queue: queue)
        source.setEventHandler {
            var bytes = [UInt8](repeating: 0, count: 64)
            while true {
                let count = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                guard count > 0 else { return }
                for byte in bytes[0..<count] { deliver(UnixSignal(rawValue: Int32(byte))) }
            }
        }
        source.activate()
    }

    /// Stops reading the pipe (before an in-place upgrade: what comes now is read by the next program).
    func suspend() {
        source.suspend()
    }

    /// Reads the pipe again after ``suspend()`` (the upgrade did not happen).
    func resume() {
        source.resume()
    }
}
