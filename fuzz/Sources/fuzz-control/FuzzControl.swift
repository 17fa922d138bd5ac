import Foundation
import FuzzSupport
import SupervisorCore

/// The control protocol: bytes as a client sends them (`ControlServer` cuts lines at 64 KiB and decodes each one), and
/// as a client reads a reply (`ControlClient`). Whatever decodes is encoded again, as the server answers.
func fuzzOne(_ bytes: [UInt8]) {
    let decoder = JSONDecoder()
    let encoder = JSONEncoder()
    for line in bytes.prefix(ControlServer.maximumRequestSize).split(separator: UInt8(ascii: "\n")) {
        if let request = try? decoder.decode(ControlRequest.self, from: Data(line)) {
            _ = try? encoder.encode(request)
        }
        if let reply = try? decoder.decode(ControlReply.self, from: Data(line)) {
            _ = try? encoder.encode(reply)
        }
    }
}

#if FUZZING
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    FuzzInput.run(data, size, fuzzOne)
}
#else
@main enum Replay { static func main() { FuzzInput.replayCommandLine(fuzzOne) } }
#endif
