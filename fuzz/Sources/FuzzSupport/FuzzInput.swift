import Foundation

/// What the fuzz targets share: turning libFuzzer's input into bytes, and replaying a corpus without libFuzzer.
///
/// Each target is one executable. Built with `-DFUZZING -sanitize=fuzzer` (`fuzz/run`), libFuzzer drives it through
/// `LLVMFuzzerTestOneInput`; built normally (as `swift build` does), it replays files given on the command line,
/// which is how the test suite checks that the corpus and every crash once found still pass.
public enum FuzzInput {
    /// Runs `body` on libFuzzer's input; returns 0, as `LLVMFuzzerTestOneInput` must.
    public static func run(_ data: UnsafePointer<UInt8>?, _ size: Int, _ body: ([UInt8]) -> Void) -> Int32 {
        body(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
        return 0
    }

    /// The replayer's main: runs `body` on the files the command line names, then exits.
    public static func replayCommandLine(_ body: ([UInt8]) -> Void) -> Never {
        exit(replay(Array(CommandLine.arguments.dropFirst()), body))
    }

    /// Runs `body` on every file named in `arguments` (directories: every file inside, sorted) and returns the exit
    /// status: 0 when there was at least one file, 2 without.
    public static func replay(_ arguments: [String], _ body: ([UInt8]) -> Void) -> Int32 {
        var files: [String] = []
        for path in arguments {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                print("no such file: \(path)")
                return 2
            }
            if isDirectory.boolValue {
                let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
                files += names.filter { !$0.hasPrefix(".") }.sorted().map { "\(path)/\($0)" }
            } else {
                files.append(path)
            }
        }
        guard !files.isEmpty else {
            print("usage: \(CommandLine.arguments.first ?? "fuzz") FILE|DIRECTORY...")
            return 2
        }
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else { continue }
            body(Array(data))
        }
        print("replayed \(files.count) inputs")
        return 0
    }
}
