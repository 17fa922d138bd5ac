import FuzzSupport
import SupervisorCore

/// The config loader: a file's bytes through the BOM and header guards, toml++ and every key's reader, then the
/// validation of the whole configuration. Errors are fine; a crash is not.
func fuzzOne(_ bytes: [UInt8]) {
    guard let layer = try? ConfigurationFile.parse(bytes, path: "fuzz.toml") else { return }
    var withCommand = layer
    if withCommand[Settings.command] == nil { withCommand[Settings.command] = ["/bin/true"] }
    _ = try? Configuration(withCommand, defaultInstances: 2)
}

#if FUZZING
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    FuzzInput.run(data, size, fuzzOne)
}
#else
@main enum Replay { static func main() { FuzzInput.replayCommandLine(fuzzOne) } }
#endif
