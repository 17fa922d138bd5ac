import SupervisorCore
import Testing

@testable import SupervisorVerify

@Suite("verify: what a failed request means")
struct ExchangeTrackerTests {
    @Test("a connection lost before any byte of the answer on a reused connection is the idle keep-alive race")
    func reusedConnection() {
        var tracker = ExchangeTracker()
        tracker.requestSent()
        tracker.bytesArrived()
        tracker.responseEnded()
        tracker.requestSent()
        #expect(tracker.connectionLost() == .closedIdle)
    }

    @Test("lost before any byte on a new connection: reset before response; lost mid-answer: cut mid-response")
    func newConnectionAndMidResponse() {
        var fresh = ExchangeTracker()
        fresh.requestSent()
        #expect(fresh.connectionLost() == .resetNew)

        var midway = ExchangeTracker()
        midway.requestSent()
        midway.bytesArrived()
        #expect(midway.connectionLost() == .cutMidResponse)
    }

    @Test("a connection that closes with no request in flight is no failure, and a timeout is counted once")
    func idleCloseAndTimeout() {
        var idle = ExchangeTracker()
        idle.requestSent()
        idle.responseEnded()
        #expect(idle.connectionLost() == nil)

        var slow = ExchangeTracker()
        slow.requestSent()
        #expect(slow.timedOut() == .timeout)
        #expect(slow.connectionLost() == nil, "the close after a timeout is not a second failure")
    }
}

@Suite("verify: the verdict")
struct VerdictTests {
    static func report(keepAlive: LoadCounts, listenMode: String = "reuseport", lossless: Bool = true)
        -> VerificationReport
    {
        let server = VerificationReport.Server(
            command: ["./server"], instances: 2, listen: "127.0.0.1:8080", listenMode: listenMode,
            readiness: "notify", stopSignal: "SIGTERM", drainTimeoutSeconds: 30, lossless: lossless,
            losslessReason: lossless ? nil : "tcp_migrate_req=0")
        let style = VerificationReport.Style(
            style: "keep-alive", steady: LoadCounts(), reloading: keepAlive, steadyRequestsPerSecond: 1000,
            reloads: [VerificationReport.Reload(number: 1, ok: true, message: "ok", seconds: 0.1, figures: nil)])
        return VerificationReport(passed: false, server: server, styles: [style], findings: [], problems: [], log: nil)
    }

    static var plan: VerificationPlan {
        VerificationPlan(
            host: "127.0.0.1", port: 8080, path: "/", styles: ["keep-alive"], connections: 32, threads: 2,
            warmup: .seconds(1), reloads: 1, requestTimeout: .seconds(5), settle: .zero, stopSignal: "SIGTERM",
            drainTimeout: .seconds(30), startTimeout: .seconds(10))
    }

    @Test("nothing failed: passed, with no finding")
    func passes() {
        var counts = LoadCounts()
        counts.succeeded = 5000
        var report = Self.report(keepAlive: counts)
        Verification.judge(&report, plan: Self.plan)
        #expect(report.passed)
        #expect(report.findings.isEmpty)
        #expect(report.text.contains("PASS: no request failed over 1 reloads (5000 requests)."))
    }

    @Test("each kind of failure gets its cause and its fix; the race points at Connection: close")
    func failuresExplained() throws {
        var counts = LoadCounts()
        counts.succeeded = 5000
        counts.record(.closedIdle, detail: "end of file on a reused connection")
        counts.record(.closedIdle, detail: "ECONNRESET on a reused connection")
        counts.record(.cutMidResponse, detail: "end of file on a reused connection")
        var report = Self.report(keepAlive: counts)
        Verification.judge(&report, plan: Self.plan)
        #expect(!report.passed)
        #expect(report.findings.map(\.kind) == ["closed_idle", "cut_mid_response"])
        let race = try #require(report.findings.first)
        #expect(race.count == 2)
        #expect(race.styles == ["keep-alive"])
        #expect(race.cause.contains("closed idle keep-alive connections as soon as it got SIGTERM"))
        #expect(race.fix.contains("Connection: close"))
        #expect(report.text.contains("FAIL: 3 of 5003 requests failed over 1 reloads."))
    }

    @Test("resets of new connections in app mode without tcp_migrate_req name the sysctl")
    func queuedResetsNameTheSysctl() throws {
        var counts = LoadCounts()
        counts.record(.resetNew, detail: "ECONNRESET on a new connection")
        var report = Self.report(keepAlive: counts, listenMode: "app", lossless: false)
        Verification.judge(&report, plan: Self.plan)
        let finding = try #require(report.findings.first)
        #expect(finding.cause.contains("tcp_migrate_req=0"))
        #expect(finding.fix.contains("net.ipv4.tcp_migrate_req = 1"))

        var lossless = Self.report(keepAlive: counts, listenMode: "reuseport", lossless: true)
        Verification.judge(&lossless, plan: Self.plan)
        #expect(lossless.findings.first?.cause.contains("accepted them and exited") == true)
    }

    @Test("old instances killed at the drain timeout fail the verification even when no request failed")
    func killedDrainsFail() {
        var counts = LoadCounts()
        counts.succeeded = 100
        var report = Self.report(keepAlive: counts)
        let drain = RolloutFigures.Drain(
            slot: 0, pid: 10, generation: 1, seconds: 30, killed: true, openConnections: 16, exit: "was killed")
        report.styles[0].reloads[0].figures = RolloutFigures(ready: [], drains: [drain])
        Verification.judge(&report, plan: Self.plan)
        #expect(!report.passed)
        #expect(report.findings.map(\.kind) == ["drain_killed"])
        #expect(report.findings.first?.cause.contains("holding 16 connections") == true)
    }

    @Test("a reload line shows each new instance's time to ready and each old one's drain")
    func reloadLine() {
        let figures = RolloutFigures(
            ready: [.init(slot: 0, pid: 1, seconds: 0.021), .init(slot: 1, pid: 2, seconds: 0.023)],
            drains: [
                .init(slot: 0, pid: 3, generation: 1, seconds: 1.02, killed: false, openConnections: 0, exit: "ok"),
                .init(slot: 1, pid: 4, generation: 1, seconds: 30, killed: true, openConnections: 16, exit: "k"),
            ])
        let reload = VerificationReport.Reload(number: 3, ok: true, message: "", seconds: 1, figures: figures)
        #expect(
            Verification.describe(reload)
                == "reload  3: ready 0.021 s, 0.023 s; drained 1.02 s, SIGKILL after 30 s (16 open)")
    }

    @Test("long advice wraps at 100 columns and keeps its indent")
    func wrapping() {
        let lines = VerificationReport.wrap("  Fix: " + String(repeating: "word ", count: 40))
        #expect(lines.count > 1)
        #expect(lines.allSatisfy { $0.count <= 100 })
        #expect(lines[0].hasPrefix("  Fix: word"))
        #expect(lines[1].hasPrefix("    word"))
    }
}
