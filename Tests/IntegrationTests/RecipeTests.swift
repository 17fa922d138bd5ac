import Foundation
import SupervisorVerify
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Every recipe of `integrations/` runs under the supervisor with its own config and loses no request over 20
/// reloads, with keep-alive load and with a new connection per request (`supervisor verify`). The toolchains come
/// from `scripts/deps` (golang-go, nodejs, nginx-light, and gunicorn and uvicorn in `.build/venv`); a missing one
/// fails the test with what to run.
@Suite("integrations: the recipes lose nothing", .serialized, .timeLimit(.minutes(5)))
struct RecipeTests {
    /// The repository: the test bundle lives under its `.build/`.
    static var root: String {
        let path = Products.path(of: "supervisor")
        return String(path[..<(path.range(of: "/.build/")?.lowerBound ?? path.endIndex)])
    }

    /// What a recipe needs that `scripts/deps` installs, and `integrations/build` once.
    static func prepare(needing programs: [String]) throws {
        for program in programs {
            let path = program.hasPrefix("/") || program.hasPrefix(".") ? program : "/usr/bin/\(program)"
            let resolved = path.hasPrefix(".") ? "\(root)/\(path)" : path
            guard access(resolved, X_OK) == 0 else {
                throw HarnessError("\(program) is missing: run scripts/deps (it installs the recipes' toolchains)")
            }
        }
        let build = try CommandResult.run("\(root)/integrations/build", [], timeout: .seconds(180))
        guard build.exitCode == 0 else { throw HarnessError("integrations/build failed: \(build.stderr)") }
    }

    @Test(
        "a recipe's config under verify: 0 failed requests over 20 reloads, keep-alive and new connection",
        arguments: [
            ("go/lossless", ["go"]),
            ("node/lossless", ["node", "systemd-notify"]),
            ("python/gunicorn-gthread", [".build/venv/bin/gunicorn"]),
            ("python/gunicorn-sync", [".build/venv/bin/gunicorn"]),
            ("python/uvicorn-lossless", [".build/venv/bin/python"]),
            ("nginx/app-nokeepalive", ["/usr/sbin/nginx"]),
            ("nginx/inherit-nokeepalive", ["/usr/sbin/nginx"]),
        ])
    func recipeLosesNothing(recipe: String, programs: [String]) throws {
        try Self.prepare(needing: programs)
        // A namespace of its own: app-mode recipes get tcp_migrate_req=1 there without touching the host's.
        let network = try #require(PrivateNetwork.make(tcpMigrateRequests: false), "needs root, unshare and nsenter")
        let arguments = [
            "--config", "\(Self.root)/integrations/\(recipe).toml", "--listen", "127.0.0.1:8080", "--reloads", "20",
        ]
        let (code, report, output) = try Self.verifyInRepository(arguments, network: network)
        #expect(code == 0, "\(output)")
        #expect(report.passed, "\(report.text)")
        #expect(report.styles.map(\.style) == ["keep-alive", "new-connection"])
        for style in report.styles {
            #expect(style.failed == 0, "\(style.style): \(style.reloading.examples)")
            #expect(style.reloads.count == 20 && style.reloads.allSatisfy(\.ok))
            #expect(style.requests > 200, "\(style.style): \(style.requests) requests")
        }
    }

    /// `supervisor verify` run from the repository root (the recipes' commands are relative to it), in `network`.
    static func verifyInRepository(
        _ arguments: [String],
        network: PrivateNetwork
    ) throws -> (Int32, VerificationReport, String) {
        let script =
            "cd \(root) && exec \(SupervisorHarness.supervisorPath) verify --json --warmup 1s "
            + arguments.map { "'\($0)'" }.joined(separator: " ")
        let process = try network.start("/bin/sh", ["-c", script])
        guard let termination = process.waitForExit(timeout: .seconds(280)) else {
            throw HarnessError("verify did not finish: \(process.output)")
        }
        let output = process.output
        guard case .exited(let code) = termination, let start = output.range(of: "\n{\n")?.lowerBound else {
            throw HarnessError("verify \(termination) without a report: \(output)")
        }
        let report = try JSONDecoder().decode(VerificationReport.self, from: Data(output[start...].utf8))
        return (code, report, output)
    }
}

extension RecipeTests {
    @Test("each lossless example keeps the drain contract on its own: READY=1, Connection: close, idle closed late")
    func drainContract() throws {
        try Self.prepare(needing: ["python3", "go", "node", ".build/venv/bin/python"])
        // A ChildProcess starts with no signal blocked or ignored, as the supervisor starts instances: the test
        // runner's mask would otherwise keep SIGTERM from the servers the script starts.
        let script = try ChildProcess(["\(Self.root)/integrations/test_drain.py"], executable: "/usr/bin/python3")
        let termination = script.waitForExit(timeout: .seconds(120))
        #expect(termination == .exited(0), "\(script.output)")
    }
}
