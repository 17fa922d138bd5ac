import Synchronization
import Testing

@testable import SupervisorCore

@Suite("Probes: parsing, per-instance URLs, and the verdicts the endpoint gives")
struct ProbeTests {
    @Test("readiness probes parse from notify, listen, http:URL and exec:COMMAND")
    func parsing() throws {
        #expect(try ReadinessProbe(parsing: "notify") == .notify)
        #expect(try ReadinessProbe(parsing: "listen") == .listen)
        #expect(try ReadinessProbe(parsing: "exec:test -f /run/app/ready") == .exec("test -f /run/app/ready"))
        guard case .http(let url) = try ReadinessProbe(parsing: "http:http://127.0.0.1:{port}/ready") else {
            Issue.record("expected an http probe")
            return
        }
        #expect(url.usesAdminPort)
        let target = try url.resolve(slot: 2, adminPort: 9002)
        #expect(target.host == "127.0.0.1" && target.port == 9002 && target.path == "/ready")
        for bad in ["tcp", "http:ftp://x:1/", "http:http://127.0.0.1/ready", "exec:", "exec:  "] {
            #expect(throws: ConfigurationError.self) { try ReadinessProbe(parsing: bad) }
        }
    }

    @Test("{slot} builds a port per instance; IPv6 hosts in brackets")
    func slotTemplate() throws {
        let url = try ProbeURL(parsing: "http://[::1]:91{slot}0/health", for: "ready")
        #expect(url.isPerInstance && !url.usesAdminPort)
        let target = try url.resolve(slot: 3, adminPort: 0)
        #expect(target.host == "::1" && target.port == 9130)
    }

    private func configuration(_ build: (inout ConfigurationLayer) -> Void) throws -> Configuration {
        var layer = ConfigurationLayer()
        layer[Settings.command] = ["/bin/true"]
        layer[Settings.instances] = 2
        layer[Settings.listen] = [ListenAddress(host: "127.0.0.1", port: 8080)]
        build(&layer)
        return try Configuration(layer, defaultInstances: 1)
    }

    @Test("a probe that cannot target one instance is refused, saying why")
    func sharedPortRefused() throws {
        #expect {
            try configuration {
                $0[Settings.ready] = ReadinessProbe.http(
                    try! ProbeURL(parsing: "http://127.0.0.1:8080/health", for: "ready"))
            }
        } throws: { error in
            ((error as? ConfigurationError)?.message ?? "").contains("is the same URL for every instance")
        }
        #expect {
            try configuration {
                $0[Settings.adminPortBase] = 8079
                $0[Settings.liveness] = LivenessProbe.http(
                    try! ProbeURL(parsing: "http://127.0.0.1:{port}/health", for: "liveness"))
            }
        } throws: { error in
            ((error as? ConfigurationError)?.message ?? "").contains("targets the service port 8080")
        }
        #expect(throws: ConfigurationError.self) {
            try configuration {
                $0[Settings.ready] = ReadinessProbe.http(
                    try! ProbeURL(parsing: "http://127.0.0.1:{port}/", for: "ready"))
            }
        }
        let fine = try configuration {
            $0[Settings.adminPortBase] = 9000
            $0[Settings.ready] = ReadinessProbe.http(
                try! ProbeURL(parsing: "http://127.0.0.1:{port}/ready", for: "ready"))
        }
        #expect(fine.readiness.description == "http:http://127.0.0.1:{port}/ready")
    }

    @Test("min-ready must be reachable; probe timing must be positive")
    func limits() {
        #expect(throws: ConfigurationError.self) { try configuration { $0[Settings.minReady] = 3 } }
        #expect(throws: ConfigurationError.self) { try configuration { $0[Settings.watchdogSec] = Duration.zero } }
        #expect(throws: ConfigurationError.self) { try configuration { $0[Settings.livenessThreshold] = 0 } }
        #expect(throws: ConfigurationError.self) { try configuration { $0[Settings.adminPortBase] = 65535 } }
    }

    @Test("/readyz: ready with min-ready instances, not while shutting down; the body says why")
    func readinessVerdicts() {
        let observer = SupervisorObserver { _ in }
        observer.published.withLock {
            $0.readyInstances = 2
            $0.minReady = 2
        }
        #expect(observer.readiness() == .init(ok: true, text: "ready: 2 instances ready (min-ready 2)"))
        observer.published.withLock { $0.readyInstances = 1 }
        #expect(observer.readiness() == .init(ok: false, text: "not ready: 1 instances ready, fewer than min-ready 2"))
        observer.published.withLock {
            $0.readyInstances = 2
            $0.shuttingDown = true
        }
        #expect(observer.readiness() == .init(ok: false, text: "not ready: shutting down"))
    }

    @Test("/healthz: an event loop that does not answer the ping is reported within the timeout")
    func livenessTimesOut() async {
        let silent = SupervisorObserver { _ in }
        let answer = await silent.liveness(timeout: .milliseconds(50))
        #expect(!answer.ok)
        #expect(answer.text == "not alive: the supervisor's event loop did not answer within 0.05 s")
        let answering = SupervisorObserver { $0.resolve(true) }
        answering.published.withLock { $0.readyInstances = 1 }
        #expect(await answering.liveness().ok)
    }
}
