import Foundation
import TestSupport
import Testing

/// The fuzz targets (fuzz/README.md), built as replayers: every input of the seed corpus, and every crash a fuzzing run
/// once found (kept in fuzz/crashes/ once mended), runs through the code under test without a crash.
@Suite("fuzz corpus and crashes replay without a crash")
struct FuzzCorpusTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    @Test("each target replays its seed corpus and its crashes", arguments: ["config", "notify", "control", "health"])
    func replay(target: String) throws {
        let directories = ["fuzz/corpus/\(target)", "fuzz/crashes/\(target)"].map { "\(Self.root)/\($0)" }.filter {
            !((try? FileManager.default.contentsOfDirectory(atPath: $0)) ?? []).isEmpty
        }
        let result = try ChildProcess(directories, executable: Products.path(of: "fuzz-\(target)"))
        let termination = result.waitForExit(timeout: .seconds(60))
        #expect(termination == .exited(0), "fuzz-\(target): \(result.output)")
        #expect(result.output.contains("replayed "), "\(result.output)")
    }
}
