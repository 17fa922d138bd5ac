import Foundation
import SupervisorVerify
import TestSupport
import Testing

@testable import SupervisorCore

#if canImport(Glibc)
import Glibc
#endif

/// `supervisor verify` against servers whose losses are known: none for the demo server, the idle keep-alive race
/// for one that exits at SIGTERM without draining, responses cut mid-way for one that dies while sending them.
@Suite("supervisor verify", .serialized, .timeLimit(.minutes(5)))
struct VerifyTests {
    /// Runs `supervisor verify ARGUMENTS --json` (in `network` when given) and decodes its report.
    static func verify(
        _ arguments: [String],
        network: PrivateNetwork? = nil,
        timeout: Duration = .seconds(240)
    ) throws -> (exitCode: Int32, report: VerificationReport, stderr: String) {
        let full = ["verify", "--json", "--warmup", "1s"] + arguments
        let result: CommandResult
        if let network {
            let process = try network.start(SupervisorHarness.supervisorPath, full, environment: [:])
            guard let termination = process.waitForExit(timeout: timeout) else {
                throw HarnessError("verify did not finish within \(timeout)")
            }
            let output = process.output
            // The JSON report is the last thing on stdout; the child's output interleaves both streams.
            guard let start = output.range(of: "\n{\n")?.lowerBound ?? (output.hasPrefix("{") ? output.startIndex : nil)
            else { throw HarnessError("no JSON report in: \(output)") }
            let json = String(output[start...])
            let report = try JSONDecoder().decode(VerificationReport.self, from: Data(json.utf8))
            guard case .exited(let code) = termination else { throw HarnessError("verify \(termination): \(output)") }
            return (code, report, output)
        }
        result = try CommandResult.run(SupervisorHarness.supervisorPath, full, timeout: timeout)
        let report = try JSONDecoder().decode(VerificationReport.self, from: Data(result.stdout.utf8))
        return (result.exitCode, report, result.stderr)
    }

    @Test("the demo server loses nothing: exit 0, both connection styles, every reload drained")
    func demoServerPasses() throws {
        let (code, report, stderr) = try Self.verify(
            ["--instances", "2", "--listen-mode", "reuseport", "--", SupervisorHarness.releaseDemoServerPath])
        #expect(code == 0, "\(stderr)")
        #expect(report.passed)
        #expect(report.styles.map(\.style) == ["keep-alive", "new-connection"])
        for style in report.styles {
            #expect(style.failed == 0, "\(style.style): \(style.reloading.examples)")
            #expect(style.requests > 1000, "\(style.style) sent \(style.requests) requests")
            #expect(style.reloads.count == 20)
            #expect(style.reloads.allSatisfy { $0.ok && $0.figures?.ready.count == 2 && $0.figures?.drains.count == 2 })
        }
        #expect(report.findings.isEmpty)
        #expect(stderr.contains("reload 20: ready"), "progress shows each reload: \(stderr)")
    }

    @Test("over a Unix socket: the load goes to the socket's path, and the demo server loses nothing")
    func unixSocketPasses() throws {
        let directory = try TemporaryDirectory.make()
        let (code, report, stderr) = try Self.verify(
            [
                "--instances", "2", "--listen-mode", "shared", "--listen", "unix:\(directory)/app.sock", "--reloads",
                "5", "--", SupervisorHarness.releaseDemoServerPath,
            ])
        #expect(code == 0, "\(stderr)")
        #expect(report.passed)
        #expect(report.server?.listen == "unix:\(directory)/app.sock")
        #expect(stderr.contains("load to http://unix:\(directory)/app.sock/"), "\(stderr)")
        for style in report.styles {
            #expect(style.failed == 0, "\(style.style): \(style.reloading.examples)")
            #expect(style.requests > 500, "\(style.style) sent \(style.requests) requests")
            #expect(style.reloads.count == 5 && style.reloads.allSatisfy(\.ok))
        }
    }

    @Test("a server that closes idle keep-alive connections at SIGTERM: exit 1, and the race is named with its fix")
    func noDrainNamesTheRace() throws {
        let (code, report, _) = try Self.verify(
            [
                "--instances", "2", "--listen-mode", "reuseport", "--reloads", "10", "--styles", "keep-alive", "--",
                SupervisorHarness.releaseDemoServerPath, "--no-drain",
            ])
        #expect(code == 1)
        #expect(!report.passed)
        let race = try #require(report.findings.first { $0.kind == RequestFailure.closedIdle.rawValue })
        #expect(race.count > 0)
        #expect(race.fix.contains("Connection: close"))
        #expect(report.styles.first?.steady.failed == 0, "nothing fails before the first reload")
    }

    @Test("a server that dies at SIGTERM while sending large answers: the answers cut in flight are named")
    func deathInFlightIsNamed() throws {
        let (code, report, _) = try Self.verify(
            [
                "--instances", "2", "--listen-mode", "reuseport", "--reloads", "10", "--connections", "8", "--",
                SupervisorHarness.releaseDemoServerPath, "--no-drain", "--body-bytes", "4000000",
            ])
        #expect(code == 1)
        let cut = try #require(report.findings.first { $0.kind == RequestFailure.cutMidResponse.rawValue })
        #expect(cut.count > 0)
        #expect(cut.cause.contains("exited, or was killed, while it was still sending"))
    }

    @Test("app mode on a chosen port: {port} in the command is the port verify picked")
    func appModeOnAChosenPort() throws {
        let network = try #require(PrivateNetwork.make(tcpMigrateRequests: false), "needs root and unshare")
        let (code, report, output) = try Self.verify(
            [
                "--instances", "2", "--reloads", "5", "--", SupervisorHarness.releaseDemoServerPath, "--port",
                "{port}",
            ], network: network)
        #expect(code == 0, "\(output)")
        #expect(report.server?.listenMode == "app")
        #expect(report.server?.lossless == true, "the supervisor set tcp_migrate_req in the namespace")
        let port = try #require(report.server?.listen.split(separator: ":").last.flatMap { Int($0) })
        #expect(port > 0)
        #expect(report.styles.allSatisfy { $0.failed == 0 && $0.requests > 0 })
    }

    @Test("a server that never starts: exit 1 with the reason, no load")
    func failingStartIsReported() throws {
        let (code, report, _) = try Self.verify(
            [
                "--instances", "1", "--listen-mode", "reuseport", "--", SupervisorHarness.releaseDemoServerPath,
                "--fail-start",
            ])
        #expect(code == 1)
        #expect(report.styles.isEmpty)
        #expect(
            report.problems.first?.contains("exited with status 2 before it was ready") == true, "\(report.problems)")
    }
}
