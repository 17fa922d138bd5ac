import NIOCore
import NIOHTTP1
import SupervisedServer
import Synchronization
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The library in this process, on real sockets, with responders of its own. The client's blocking calls run on
/// threads of their own (``onThread(_:)``): async responders need the cooperative pool.
@Suite(.serialized, .timeLimit(.minutes(1)))
struct SupervisedHTTPServerTests {
    static func start(
        configuration: SupervisedHTTPServer.Configuration = .init(),
        responder: HTTPResponder
    ) async throws -> (server: SupervisedHTTPServer, port: Int) {
        let server = try await SupervisedHTTPServer.start(
            listeningOn: [.address(ListenAddress(host: "127.0.0.1", port: 0))],
            configuration: configuration,
            responder: responder
        )
        return (server, try #require(server.localAddresses.first?.port))
    }

    @Test("An async responder answers; one that throws yields 500 and the connection stays usable")
    func asyncResponder() async throws {
        let (server, port) = try await Self.start(
            responder: HTTPResponder { request in
                if request.head.uri == "/fail" { throw CancellationError() }
                try await Task.sleep(for: .milliseconds(10))
                return HTTPServerResponse(status: .ok, text: "echo \(String(buffer: request.body))")
            }
        )
        let responses = try await onThread {
            let connection = try RawHTTPConnection(port: port)
            return [
                try connection.request(method: "POST", headers: ["Content-Length: 5"], body: "hello"),
                try connection.request(path: "/fail"),
                try connection.request(method: "POST", headers: ["Content-Length: 2"], body: "ok"),
            ]
        }
        #expect(responses.map(\.status) == [200, 500, 200])
        #expect(responses.map(\.body) == ["echo hello", "internal server error\n", "echo ok"])
        #expect(await server.drain().isComplete)
    }

    @Test("A body over the limit is answered with 413 and Connection: close")
    func bodyOverLimit() async throws {
        let (server, port) = try await Self.start(
            configuration: .init(maximumRequestBodySize: 8),
            responder: .onEventLoop { _ in HTTPServerResponse(status: .ok) }
        )
        let (response, peer) = try await onThread {
            let connection = try RawHTTPConnection(port: port)
            let response = try connection.request(
                method: "POST",
                headers: ["Content-Length: 16"],
                body: "0123456789abcdef"
            )
            return (response, connection.waitForPeer(timeout: .seconds(2)))
        }
        #expect(response.status == 413)
        #expect(response.closesConnection)
        #expect(peer == .closed)
        await server.drain()
    }

    @Test("The last response of a draining connection arrives in full despite unread client bytes (no reset)")
    func lastResponseSurvivesUnreadClientBytes() async throws {
        let size = 32 << 20
        let (server, port) = try await Self.start(
            responder: HTTPResponder { _ in
                try await Task.sleep(for: .milliseconds(300))
                return HTTPServerResponse(status: .ok, body: ByteBuffer(repeating: UInt8(ascii: "x"), count: size))
            }
        )
        let connection = try await onThread {
            let connection = try RawHTTPConnection(port: port)
            try connection.sendRequest()
            // A pipelined request: the server reads nothing while a response is pending, so these bytes are still
            // unread in its socket when it closes. A plain close() would then send a reset and throw away the part
            // of the response still in its send buffer.
            usleep(50_000)
            try connection.sendRequest()
            return connection
        }
        try await Task.sleep(for: .milliseconds(100))
        async let outcome = server.drain()
        let (response, peer) = try await onThread {
            usleep(500_000)
            return (try connection.readResponse(timeout: .seconds(20)), connection.waitForPeer(timeout: .seconds(2)))
        }
        #expect(response.status == 200)
        #expect(response.body.utf8.count == size)
        #expect(response.closesConnection)
        #expect(peer == .closed, "the pipelined request is not answered: the server closes")
        connection.close()
        #expect(await outcome.isComplete)
    }

    @Test("A response still being computed when the drain starts goes out with Connection: close")
    func slowResponseDuringDrain() async throws {
        let (server, port) = try await Self.start(
            configuration: .init(idleGrace: .milliseconds(50)),
            responder: HTTPResponder { _ in
                try await Task.sleep(for: .milliseconds(500))
                return HTTPServerResponse(status: .ok, text: "slow")
            }
        )
        let connection = try await onThread { try RawHTTPConnection(port: port) }
        try await onThread { try connection.sendRequest() }
        try await Task.sleep(for: .milliseconds(100))
        let progress = Mutex<[DrainProgress]>([])
        async let outcome = server.drain { step in progress.withLock { $0.append(step) } }
        let response = try await onThread { try connection.readResponse() }
        #expect(response.body == "slow")
        #expect(response.closesConnection)
        #expect(try await onThread { connection.waitForPeer(timeout: .seconds(2)) } == .closed)
        connection.close()
        #expect(await outcome.isComplete)
        let steps = progress.withLock { $0 }
        #expect(steps.first == .started(openConnections: 1))
        if case .finished(let last) = steps.last {
            #expect(last.isComplete)
        } else {
            Issue.record("the last progress step is not .finished: \(steps)")
        }
        #expect(server.openConnectionCount == 0)
    }

    @Test("Draining twice runs one drain, and the deadline force-closes what the rules cannot finish")
    func deadlineAndRepeatedDrain() async throws {
        let (server, port) = try await Self.start(
            configuration: .init(idleGrace: .milliseconds(50), drainDeadline: .milliseconds(300)),
            responder: .onEventLoop { _ in HTTPServerResponse(status: .ok) }
        )
        let connection = try await onThread {
            let connection = try RawHTTPConnection(port: port)
            try connection.send("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n01234")
            return connection
        }
        try await Task.sleep(for: .milliseconds(100))
        async let first = server.drain()
        async let second = server.drain()
        let (outcome, again) = await (first, second)
        #expect(outcome == again)
        #expect(outcome.forciblyClosedConnections == 1)
        #expect(outcome.duration >= .milliseconds(250))
        #expect(server.isDraining)
        #expect(try await onThread { connection.waitForPeer(timeout: .seconds(1)) } != .open)
    }
}
