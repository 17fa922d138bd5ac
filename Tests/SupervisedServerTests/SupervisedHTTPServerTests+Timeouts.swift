import NIOCore
import NIOHTTP1
import SupervisedServer
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension SupervisedHTTPServerTests {
    @Test("A client that sends half a request head and stops gets 408 and is disconnected after the request timeout")
    func halfHeadIsCutOffAfterTheRequestTimeout() async throws {
        let (server, port) = try await Self.start(
            configuration: .init(requestTimeout: .milliseconds(400)),
            responder: .onEventLoop { _ in HTTPServerResponse(status: .ok) }
        )
        let (response, peer, took) = try await onThread {
            let connection = try RawHTTPConnection(port: port)
            let start = ContinuousClock.now
            try connection.send("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            let response = try connection.readResponse(timeout: .seconds(5))
            let took = ContinuousClock.now - start
            return (response, connection.waitForPeer(timeout: .seconds(2)), took)
        }
        #expect(response.status == 408)
        #expect(response.closesConnection)
        #expect(peer == .closed, "closed after the 408, by FIN")
        #expect(took >= .milliseconds(350) && took < .seconds(3), "took \(took)")
        #expect(await server.drain().isComplete)
    }

    @Test("A request trickled byte by byte is cut off after the request timeout in all, not after a pause")
    func trickledRequestIsCutOffInTotal() async throws {
        let (server, port) = try await Self.start(
            configuration: .init(requestTimeout: .milliseconds(500)),
            responder: .onEventLoop { _ in HTTPServerResponse(status: .ok) }
        )
        let (status, took) = try await onThread {
            let connection = try RawHTTPConnection(port: port)
            let start = ContinuousClock.now
            // Never silent for more than 50 ms: an inactivity timeout would never fire.
            for byte in "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: 0123456789012345678901234567890123456789" {
                guard (try? connection.send(String(byte))) != nil else { break }
                if connection.waitForPeer(timeout: .milliseconds(50)) != .open { break }
            }
            let status = try? connection.readResponse(timeout: .milliseconds(100)).status
            return (status, ContinuousClock.now - start)
        }
        #expect(status == 408 || status == nil, "got \(String(describing: status))")
        #expect(took >= .milliseconds(450) && took < .seconds(2), "took \(took); the whole trickle takes 4 s")
        await server.drain()
    }

    @Test("A request whose body stops arriving gets 408 with Connection: close after the request timeout")
    func slowBodyGetsRequestTimeout() async throws {
        let (server, port) = try await Self.start(
            configuration: .init(requestTimeout: .milliseconds(300)),
            responder: .onEventLoop { _ in HTTPServerResponse(status: .ok) }
        )
        let (response, peer) = try await onThread {
            let connection = try RawHTTPConnection(port: port)
            try connection.send("POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10\r\n\r\n01234")
            return (try connection.readResponse(timeout: .seconds(5)), connection.waitForPeer(timeout: .seconds(2)))
        }
        #expect(response.status == 408)
        #expect(response.closesConnection)
        #expect(peer == .closed)
        #expect(await server.drain().isComplete)
    }

    @Test("The request timeout does not count the responder's time, nor the time before a request's first byte")
    func requestTimeoutCountsOnlyTheArrival() async throws {
        let (server, port) = try await Self.start(
            configuration: .init(requestTimeout: .milliseconds(200)),
            responder: HTTPResponder { _ in
                try await Task.sleep(for: .milliseconds(500))
                return HTTPServerResponse(status: .ok, text: "slow")
            }
        )
        let (first, second) = try await onThread {
            let connection = try RawHTTPConnection(port: port)
            usleep(400_000)  // idle, not receiving a request
            let first = try connection.request()
            usleep(400_000)  // idle between keep-alive requests
            return (first, try connection.request())
        }
        #expect(first.status == 200)
        #expect(!first.closesConnection)
        #expect(second.status == 200)
        await server.drain()
    }

    @Test("A keep-alive connection idle for the idle timeout is closed when not draining; one in use is not")
    func idleConnectionIsClosedAfterTheIdleTimeout() async throws {
        let (server, port) = try await Self.start(
            // The shorter request timeout sets the wake-ups: the idle deadline is checked more than once.
            configuration: .init(requestTimeout: .milliseconds(200), idleTimeout: .milliseconds(600)),
            responder: .onEventLoop { _ in HTTPServerResponse(status: .ok) }
        )
        let (statuses, idleEarly, idleLate, busyLate) = try await onThread {
            let idle = try RawHTTPConnection(port: port)
            _ = try idle.request()
            let busy = try RawHTTPConnection(port: port)
            var statuses: [Int] = []
            var idleEarly = RawHTTPConnection.PeerState.open
            // A request every 200 ms for 1.2 s: the busy connection is never idle for 600 ms, the other one is.
            for round in 0..<6 {
                statuses.append(try busy.request().status)
                if round == 1 { idleEarly = idle.waitForPeer(timeout: .zero) }
                usleep(200_000)
            }
            return (statuses, idleEarly, idle.waitForPeer(timeout: .seconds(2)), busy.waitForPeer(timeout: .zero))
        }
        #expect(statuses == Array(repeating: 200, count: 6))
        #expect(idleEarly == .open, "idle for about 300 ms: still open")
        #expect(idleLate == .closed, "idle for 1.2 s: closed, by FIN")
        #expect(busyLate == .open)
        await server.drain()
    }

    @Test("A request head over the size limit is answered with 400 and the connection is closed")
    func headOverLimitIsRejected() async throws {
        let (server, port) = try await Self.start(
            configuration: .init(maximumRequestHeadSize: 1024),
            responder: .onEventLoop { _ in HTTPServerResponse(status: .ok) }
        )
        let (small, large, peer) = try await onThread {
            let small = try RawHTTPConnection(port: port).request(headers: [
                "X-Fill: " + String(repeating: "a", count: 800)
            ])
            let connection = try RawHTTPConnection(port: port)
            let large = try connection.request(headers: ["X-Fill: " + String(repeating: "a", count: 2000)])
            return (small, large, connection.waitForPeer(timeout: .seconds(2)))
        }
        #expect(small.status == 200)
        #expect(large.status == 400)
        #expect(peer != .open)
        await server.drain()
    }
}
