import Foundation
import Synchronization

/// Client threads that send requests back to back, as `wrk` does, and count every request that got no complete
/// `200` response.
package final class LoadGenerator: Sendable {
    /// How a client thread uses connections.
    package enum Style: Sendable {
        /// One connection for many requests; reconnect only after `Connection: close` or a failure.
        case keepAlive
        /// `Connection: close` on every request; wait for the server's close, then connect anew.
        case newConnectionPerRequest
    }

    package struct Counts: Sendable {
        package var succeeded = 0
        package var failed = 0
        package var failures: [String] = []
        package var connectionCloseResponses = 0
        package var requestsByPid: [Int32: Int] = [:]

        package init() {}
    }

    private let port: Int
    private let unixPath: String?
    private let namespacePath: String?
    private let stopping = Atomic<Bool>(false)
    private let counts = Mutex<[Style: Counts]>([:])
    private let running = DispatchGroup()

    package init(port: Int, network: PrivateNetwork?) {
        self.port = port
        self.unixPath = nil
        self.namespacePath = network?.namespacePath
    }

    /// Clients that connect to the Unix stream socket at `path`.
    package init(unixPath path: String) {
        self.port = 0
        self.unixPath = path
        self.namespacePath = nil
    }

    /// Starts `count` client threads of `style`.
    package func start(_ count: Int, _ style: Style) {
        for _ in 0..<count {
            running.enter()
            let thread = Thread { [self] in
                defer { running.leave() }
                run(style)
            }
            thread.start()
        }
    }

    /// Stops the clients, waits for them, and returns the counts per style.
    package func stop() -> [Style: Counts] {
        stopping.store(true, ordering: .relaxed)
        running.wait()
        return counts.withLock { $0 }
    }

    private func run(_ style: Style) {
        if let namespacePath {
            do {
                try PrivateNetwork.enterOnCurrentThread(namespacePath: namespacePath)
            } catch {
                record(style) { counts in
                    counts.failed += 1
                    counts.failures.append("cannot enter the network namespace: \(error)")
                }
                return
            }
        }
        var connection: RawHTTPConnection?
        while !stopping.load(ordering: .relaxed) {
            do {
                let current =
                    try connection ?? unixPath.map(RawHTTPConnection.init(unixPath:)) ?? RawHTTPConnection(port: port)
                connection = current
                let headers = style == .keepAlive ? [] : ["Connection: close"]
                let response = try current.request(headers: headers, timeout: .seconds(5))
                guard response.status == 200 else {
                    throw RawHTTPError.malformed("status \(response.status)")
                }
                if response.closesConnection {
                    // Let the server close first, as it said it would, then close: no TIME_WAIT on this side.
                    _ = current.waitForPeer(timeout: .seconds(1))
                    current.close()
                    connection = nil
                }
                record(style) { counts in
                    counts.succeeded += 1
                    counts.requestsByPid[response.pid ?? -1, default: 0] += 1
                    if response.closesConnection && style == .keepAlive { counts.connectionCloseResponses += 1 }
                }
            } catch {
                connection?.close()
                connection = nil
                record(style) { counts in
                    counts.failed += 1
                    if counts.failures.count < 10 { counts.failures.append("\(error)") }
                }
            }
        }
    }

    private func record(_ style: Style, _ update: (inout Counts) -> Void) {
        counts.withLock { update(&$0[style, default: Counts()]) }
    }
}
