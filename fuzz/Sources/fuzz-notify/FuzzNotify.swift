import FuzzSupport
import SupervisorCore

/// The sd_notify parser: one datagram's bytes, as an instance may send them.
func fuzzOne(_ bytes: [UInt8]) {
    guard let message = try? NotifyMessage.parse(bytes) else { return }
    _ = message.problems.count + message.ignoredKeys.count
}

#if FUZZING
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    FuzzInput.run(data, size, fuzzOne)
}
#else
@main enum Replay { static func main() { FuzzInput.replayCommandLine(fuzzOne) } }
#endif
