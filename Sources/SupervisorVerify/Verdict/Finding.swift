internal import SupervisorCore

/// One kind of trouble `supervisor verify` saw, what it means, and what to do about it.
package struct Finding: Codable, Equatable, Sendable {
    /// A ``RequestFailure`` raw value, or `drain_killed`.
    package var kind: String
    /// Failed requests of that kind (for `drain_killed`: instances killed at the drain timeout).
    package var count: Int
    /// In which connection styles it was seen.
    package var styles: [String]
    /// Why it happens, in a sentence or two.
    package var cause: String
    /// What to change.
    package var fix: String

    /// What the verification knows that shapes the advice.
    struct Context {
        var listenMode: String
        var lossless: Bool
        var losslessReason: String?
        var stopSignal: String
        var requestTimeout: String
        var statuses: [Int: Int]
        var steadyFailures: Int
        var examples: [String]
        /// The drains killed at the drain timeout.
        var killedDrains: [RolloutFigures.Drain]
    }

    /// The findings for what the load counted, one per kind seen, most telling first.
    static func findings(
        failures: [RequestFailure: (count: Int, styles: [String])],
        context: Context
    ) -> [Finding] {
        var findings: [Finding] = []
        for kind in RequestFailure.allCases {
            guard let seen = failures[kind], seen.count > 0 else { continue }
            let (cause, fix) = advice(for: kind, context: context)
            findings.append(
                Finding(kind: kind.rawValue, count: seen.count, styles: seen.styles, cause: cause, fix: fix))
        }
        if !context.killedDrains.isEmpty {
            let held = context.killedDrains.compactMap(\.openConnections).reduce(0, +)
            let count = context.killedDrains.count
            findings.append(
                Finding(
                    kind: "drain_killed", count: count, styles: [],
                    cause: "\(count == 1 ? "1 old instance" : "\(count) old instances") did not exit within the drain "
                        + "timeout and got SIGKILL, holding \(held) connections between them: the drain never ended. A "
                        + "server that keeps answering with keep-alive while it drains never lets busy connections "
                        + "go, so old generations pile up until reloads are refused (--max-draining).",
                    fix: "While draining, answer every request with `Connection: close` so a busy connection ends "
                        + "after its next response, and exit once no connection is left (integrations/ shows how "
                        + "for Go, Node and Python); raise --drain-timeout only if single requests take that long."))
        }
        return findings
    }

    private static func advice(for kind: RequestFailure, context: Context) -> (cause: String, fix: String) {
        let signal = context.stopSignal
        switch kind {
        case .closedIdle:
            return (
                "The server closed idle keep-alive connections as soon as it got \(signal), racing the client's next "
                    + "request on them: the request was already on its way when the close arrived.",
                "On the stop signal, stop accepting; answer requests in flight, and those that arrive during a grace "
                    + "period (about a second), with `Connection: close`; close connections still idle only after "
                    + "the grace, then exit. integrations/go does this for net/http, integrations/node for Node's "
                    + "http, integrations/python for uvicorn; SupervisedServer for SwiftNIO. nginx cannot "
                    + "(integrations/nginx)."
            )
        case .resetNew:
            if context.listenMode == "app" && !context.lossless {
                return (
                    "Connections queued on the listening socket of a stopping instance were reset when it closed it "
                        + "(\(context.losslessReason ?? "tcp_migrate_req=0")).",
                    "Set net.ipv4.tcp_migrate_req = 1 (a file in /etc/sysctl.d/, or run the supervisor where it may "
                        + "set it), or let the supervisor own the socket: --listen-mode reuseport or shared."
                )
            }
            return (
                "New connections were closed or reset before any answer: the server accepted them and exited, or "
                    + "was killed, before it answered (the listening side is lossless here, so nothing queued was "
                    + "reset by the kernel).",
                "On the stop signal, stop accepting first, then answer every connection already accepted before "
                    + "exiting; a server that exits at \(signal) without handling it loses them."
            )
        case .cutMidResponse:
            let killed =
                context.killedDrains.isEmpty
                ? "" : " Some old instances got SIGKILL at the drain timeout, which cuts what they were sending."
            return (
                "Responses were cut off: the server exited, or was killed, while it was still sending them.\(killed)",
                "On the stop signal, finish the requests in flight before exiting (a server without a handler for "
                    + "\(signal) dies at once); if SIGKILL at the drain timeout cut them, make the drain end sooner "
                    + "(`Connection: close`) or raise --drain-timeout."
            )
        case .refused:
            return (
                "Nothing listened on the port for a moment: an old instance closed its socket before a new one "
                    + "listened, or a new instance was judged ready before it bound.",
                "In app mode bind with SO_REUSEPORT (and SO_REUSEADDR) and be ready only once listening "
                    + "(--ready notify after the bind, or --ready listen); or use --listen-mode reuseport or shared, "
                    + "where the supervisor's socket never closes."
            )
        case .timeout:
            return (
                "Requests got no answer within \(context.requestTimeout): queued on an instance that stopped "
                    + "accepting without closing its listening socket, or on a server too slow for this load.",
                "Close the listening socket as the first step of the drain (the supervisor keeps its own copy in "
                    + "reuseport and shared mode, and tcp_migrate_req moves the queue in app mode); check that the "
                    + "server keeps up with fewer --connections."
            )
        case .non2xx:
            let statuses = context.statuses.sorted { $0.key < $1.key }.map { "\($0.key) ×\($0.value)" }
            let steady =
                context.steadyFailures > 0
                ? " Requests failed before any reload too: check --path and the server itself." : ""
            return (
                "The server answered with an error status (\(statuses.joined(separator: ", "))).\(steady)",
                "Be ready only once you can serve (READY=1 after start-up, or a --ready http: probe), and keep "
                    + "answering normally while draining."
            )
        case .connectFailed:
            return (
                "Connections failed for another reason: \(context.examples.joined(separator: "; ")).",
                "Read the errors above: out of local ports (fewer --connections), a firewall, or a wrong address."
            )
        }
    }
}
