internal import NIOCore
internal import NIOHTTP1
internal import NIOPosix

/// `GET` on one instance's URL, for the `http:` readiness and liveness probes: it passes when the answer's status is
/// 2xx within the timeout.
enum HTTPProbe {
    /// How one attempt went.
    struct Outcome: Equatable, Sendable {
        let passed: Bool
        /// `GET http://127.0.0.1:9000/health: 200 in 3 ms`, or why it failed.
        let detail: String
    }

    static func get(host: String, port: UInt16, path: String, timeout: Duration) async -> Outcome {
        let target = "GET http://\(host.contains(":") ? "[\(host)]" : host):\(port)\(path)"
        let start = ContinuousClock.now
        do {
            let status = try await withThrowingTaskGroup(of: UInt.self) { group in
                group.addTask { try await request(host: host, port: port, path: path, timeout: timeout) }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    throw ProbeTimeout()
                }
                defer { group.cancelAll() }
                return try await group.next()!
            }
            let took = (ContinuousClock.now - start).milliseconds
            return Outcome(passed: (200..<300).contains(status), detail: "\(target): \(status) in \(took) ms")
        } catch is ProbeTimeout {
            return Outcome(passed: false, detail: "\(target): no answer within \(timeout.secondsText)")
        } catch {
            return Outcome(passed: false, detail: "\(target): \(error)")
        }
    }

    private struct ProbeTimeout: Error {}

    private static func request(host: String, port: UInt16, path: String, timeout: Duration) async throws -> UInt {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.milliseconds(timeout.milliseconds))
            .connect(host: host, port: Int(port)) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(
                        wrappingChannelSynchronously: channel)
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            var headers = HTTPHeaders()
            headers.add(name: "Host", value: "\(host):\(port)")
            headers.add(name: "Connection", value: "close")
            headers.add(name: "User-Agent", value: "supervisor-probe")
            try await outbound.write(
                .head(HTTPRequestHead(version: .http1_1, method: .GET, uri: path, headers: headers)))
            try await outbound.write(.end(nil))
            for try await part in inbound {
                if case .head(let head) = part { return head.status.code }
            }
            throw ProbeClosed()
        }
    }

    private struct ProbeClosed: Error, CustomStringConvertible {
        var description: String { "the connection closed before an answer" }
    }
}
