import Dispatch
internal import NIOCore
package import SupervisorCore

/// What `supervisor verify` does to a running supervisor: load in each connection style, reloads under it.
package struct VerificationPlan: Sendable {
    /// Where the load goes (a wildcard listen address is reached on loopback).
    package var host: String
    package var port: Int
    /// The Unix socket the load goes to instead of `host` and `port`, for a `unix:` listen address.
    package var unixPath: String?
    package var path: String
    /// `keep-alive` and/or `new-connection`, in order.
    package var styles: [String]
    package var connections: Int
    package var threads: Int
    /// Load with no reload first, per style.
    package var warmup: Duration
    package var reloads: Int
    package var requestTimeout: Duration
    /// Load after the last reload, so failures it caused late are counted.
    package var settle: Duration
    /// How the server is run, for the report.
    package var stopSignal: String
    package var drainTimeout: Duration
    /// How long to wait for the first generation.
    package var startTimeout: Duration

    package init(
        host: String, port: Int, path: String, styles: [String], connections: Int, threads: Int, warmup: Duration,
        reloads: Int, requestTimeout: Duration, settle: Duration, stopSignal: String, drainTimeout: Duration,
        startTimeout: Duration
    ) {
        self.host = host
        self.port = port
        self.path = path
        self.styles = styles
        self.connections = connections
        self.threads = threads
        self.warmup = warmup
        self.reloads = reloads
        self.requestTimeout = requestTimeout
        self.settle = settle
        self.stopSignal = stopSignal
        self.drainTimeout = drainTimeout
        self.startTimeout = startTimeout
    }

    /// Where the load goes, as the report and the progress lines show it: `127.0.0.1:8080`, `[::1]:8080`,
    /// `unix:/run/app.sock`.
    package var target: String {
        if let unixPath { return "unix:\(unixPath)" }
        return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// The connection styles this knows.
    package static let knownStyles = [LoadSettings.Style.keepAlive.rawValue, LoadSettings.Style.newConnection.rawValue]
}

/// Drives a verification against the supervisor `control` reaches: waits until its first generation serves, then for
/// each connection style runs the load, lets it settle, and reloads `plan.reloads` times under it, each reload
/// waiting until the old instances are gone (`reload --wait-drained`); then judges.
package enum Verification {
    package static func run(
        _ plan: VerificationPlan,
        control: ControlClient,
        progress: @escaping @Sendable (String) -> Void
    ) async -> VerificationReport {
        var report = VerificationReport(passed: false, server: nil, styles: [], findings: [], problems: [], log: nil)
        let status: StatusReport
        do {
            status = try await waitUntilServing(control, timeout: plan.startTimeout)
        } catch {
            report.problems.append("\(error)")
            return report
        }
        report.server = VerificationReport.Server(
            command: status.command, instances: status.instancesWanted,
            listen: status.listen.first ?? plan.target, listenMode: status.listenMode,
            readiness: status.readiness, stopSignal: plan.stopSignal, drainTimeoutSeconds: plan.drainTimeout.seconds,
            lossless: status.lossless, losslessReason: status.losslessReason)
        let address: SocketAddress
        do {
            address =
                try plan.unixPath.map { try SocketAddress(unixDomainSocketPath: $0) }
                ?? SocketAddress(ipAddress: plan.host, port: plan.port)
        } catch {
            report.problems.append("cannot send load to \(plan.target): \(error)")
            return report
        }
        // The Host header: a Unix socket has no host name, and servers behind one expect some (RFC 9112, 3.2).
        let host = plan.unixPath == nil ? plan.target : "localhost"
        for name in plan.styles {
            guard let style = LoadSettings.Style(rawValue: name) else { continue }
            let settings = LoadSettings(
                address: address, host: host, path: plan.path, style: style,
                timeout: .milliseconds(plan.requestTimeout.milliseconds))
            let (result, problem) = await runStyle(plan, settings: settings, control: control, progress: progress)
            report.styles.append(result)
            if let problem {
                report.problems.append(problem)
                break
            }
            if Task.isCancelled {
                report.problems.append("the supervisor stopped during the verification")
                break
            }
        }
        judge(&report, plan: plan)
        return report
    }

    private static func runStyle(
        _ plan: VerificationPlan,
        settings: LoadSettings,
        control: ControlClient,
        progress: @escaping @Sendable (String) -> Void
    ) async -> (VerificationReport.Style, String?) {
        let generator = LoadGenerator(settings: settings, connections: plan.connections, threads: plan.threads)
        generator.start()
        let started = ContinuousClock.now
        try? await Task.sleep(for: plan.warmup)
        let steadyCount = await generator.counts()[.steady]?.succeeded ?? 0
        let rate = Double(steadyCount) / max((ContinuousClock.now - started).seconds, 0.001)
        generator.enter(.reloading)
        progress("\(settings.style.rawValue): \(Int(rate)) requests/s before reloading; \(plan.reloads) reloads")
        var reloads: [VerificationReport.Reload] = []
        var problem: String?
        for number in 1...max(plan.reloads, 1) where plan.reloads > 0 {
            if Task.isCancelled {
                problem =
                    "the supervisor stopped during the verification (\(settings.style.rawValue), reload \(number))"
                break
            }
            let reload = await self.reload(number, control: control)
            reloads.append(reload)
            progress("  " + describe(reload))
            if !reload.ok {
                problem = "reload \(number) (\(settings.style.rawValue)) failed: \(reload.message)"
                break
            }
        }
        try? await Task.sleep(for: plan.settle)
        let counts = await generator.stop()
        let style = VerificationReport.Style(
            style: settings.style.rawValue, steady: counts[.steady] ?? LoadCounts(),
            reloading: counts[.reloading] ?? LoadCounts(), steadyRequestsPerSecond: rate, reloads: reloads)
        return (style, problem)
    }

    private static func reload(_ number: Int, control: ControlClient) async -> VerificationReport.Reload {
        let start = ContinuousClock.now
        do {
            let replies = try await send(ControlRequest(command: .reload, waitForDrain: true), to: control)
            let seconds = (ContinuousClock.now - start).seconds
            guard let result = replies.compactMap(\.result).last else {
                return .init(
                    number: number, ok: false, message: "the supervisor closed the connection before the reload ended",
                    seconds: seconds, figures: nil)
            }
            var message = result.message
            if let output = result.output, !output.isEmpty {
                message += "; last output: " + output.suffix(3).joined(separator: " | ")
            }
            return .init(number: number, ok: result.ok, message: message, seconds: seconds, figures: result.figures)
        } catch {
            return .init(
                number: number, ok: false, message: "\(error)", seconds: (ContinuousClock.now - start).seconds,
                figures: nil)
        }
    }

    /// `reload 3: ready 0.021 s, 0.023 s; drained 1.02 s, SIGKILL after 30 s (16 open)`.
    static func describe(_ reload: VerificationReport.Reload) -> String {
        let number = reload.number < 10 ? " \(reload.number)" : "\(reload.number)"
        guard reload.ok, let figures = reload.figures else { return "reload \(number): failed: \(reload.message)" }
        func seconds(_ value: Double) -> String { Duration.milliseconds(Int64(value * 1000)).secondsText }
        let ready = figures.ready.map { seconds($0.seconds) }.joined(separator: ", ")
        let drains = figures.drains.map { drain in
            drain.killed
                ? "SIGKILL after \(seconds(drain.seconds)) (\(drain.openConnections.map(String.init) ?? "?") open)"
                : seconds(drain.seconds)
        }
        return
            "reload \(number): ready \(ready.isEmpty ? "-" : ready); drained "
            + (drains.isEmpty ? "-" : drains.joined(separator: ", "))
    }

    private static func waitUntilServing(_ control: ControlClient, timeout: Duration) async throws -> StatusReport {
        let deadline = ContinuousClock.now + timeout
        var lastError: (any Error)?
        while ContinuousClock.now < deadline && !Task.isCancelled {
            do {
                let replies = try await send(ControlRequest(command: .status), to: control)
                if let status = replies.compactMap(\.status).last, let last = status.lastResult {
                    guard last.succeeded else { throw VerificationError("the server did not start: \(last.message)") }
                    return status
                }
            } catch let error as VerificationError {
                throw error
            } catch {
                lastError = error
            }
            try? await Task.sleep(for: .milliseconds(100))
        }
        if Task.isCancelled { throw VerificationError("the supervisor stopped before its first generation served") }
        throw VerificationError(
            "the first generation was not serving within \(timeout.secondsText)"
                + (lastError.map { " (\($0))" } ?? ""))
    }

    /// Sends a request to the supervisor and returns every reply line, on a thread of its own: the control client
    /// blocks, possibly for a whole drain.
    package static func send(_ request: ControlRequest, to control: ControlClient) async throws -> [ControlReply] {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                var replies: [ControlReply] = []
                do {
                    try control.send(request) { replies.append($0) }
                    continuation.resume(returning: replies)
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }

    /// Fills in the findings and the verdict.
    static func judge(_ report: inout VerificationReport, plan: VerificationPlan) {
        var failures: [RequestFailure: (count: Int, styles: [String])] = [:]
        var statuses: [Int: Int] = [:]
        var examples: [String] = []
        var steadyFailures = 0
        for style in report.styles {
            for counts in [style.steady, style.reloading] {
                for (kind, count) in counts.failures where count > 0 {
                    var entry = failures[kind] ?? (0, [])
                    entry.count += count
                    if !entry.styles.contains(style.style) { entry.styles.append(style.style) }
                    failures[kind] = entry
                }
                statuses.merge(counts.statuses, uniquingKeysWith: +)
                examples += counts.examples
            }
            steadyFailures += style.steady.failed
        }
        let killed = report.styles.flatMap(\.reloads).flatMap { $0.figures?.drains ?? [] }.filter(\.killed)
        let context = Finding.Context(
            listenMode: report.server?.listenMode ?? "app", lossless: report.server?.lossless ?? true,
            losslessReason: report.server?.losslessReason, stopSignal: plan.stopSignal,
            requestTimeout: plan.requestTimeout.secondsText, statuses: statuses, steadyFailures: steadyFailures,
            examples: Array(examples.prefix(5)), killedDrains: killed)
        report.findings = Finding.findings(failures: failures, context: context)
        for style in report.styles where style.requests == 0 {
            report.problems.append("no request ended with \(style.style) load: nothing answered")
        }
        if steadyFailures > 0 {
            report.problems.append(
                "\(steadyFailures) requests failed before the first reload: the server fails without any reload")
        }
        report.passed = report.problems.isEmpty && report.findings.isEmpty && !report.styles.isEmpty
    }
}

/// Why a verification could not run to its end.
struct VerificationError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
