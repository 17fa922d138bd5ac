import Foundation
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
    fuzzOne(FuzzInput.bytes(data, size))
    return 0
}
#else
@main
enum Replay {
    static func main() { exit(FuzzInput.replay(Array(CommandLine.arguments.dropFirst()), fuzzOne)) }
}
#endif
