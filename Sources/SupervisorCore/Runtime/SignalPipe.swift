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

    /// Installs handlers for `signals` (replacing any) and calls `deliver` on `queue` for each one caught. Install
    /// once per process.
    init(
        signals: [UnixSignal],
        queue: DispatchQueue,
        deliver: @escaping @Sendable (UnixSignal) -> Void
    ) throws(SystemCallError) {
        var readFD: Int32 = -1
        let numbers = signals.map(\.rawValue)
        let error = numbers.withUnsafeBufferPointer {
            supervisor_signal_pipe_install($0.baseAddress, Int32($0.count), &readFD)
        }
        guard error == 0 else { throw SystemCallError(call: "sigaction", errno: error) }
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
}
