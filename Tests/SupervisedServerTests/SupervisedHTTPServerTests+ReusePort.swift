import NIOCore
import NIOHTTP1
import SupervisedServer
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension SupervisedHTTPServerTests {
    private static func startOn(port: Int, reusePort: Bool) async throws -> SupervisedHTTPServer {
        try await SupervisedHTTPServer.start(
            listeningOn: [.address(ListenAddress(host: "127.0.0.1", port: port))],
            configuration: .init(reusePort: reusePort),
            responder: .onEventLoop { _ in HTTPServerResponse(status: .ok, text: "ok") }
        )
    }

    @Test("reusePort false owns the port: a second server on it fails with ListenError (address in use)")
    func exclusivePortRejectsASecondServer() async throws {
        let (first, port) = try await Self.start(
            configuration: .init(reusePort: false),
            responder: .onEventLoop { _ in HTTPServerResponse(status: .ok, text: "first") }
        )
        for reusePort in [true, false] {
            await #expect {
                _ = try await Self.startOn(port: port, reusePort: reusePort)
            } throws: { error in
                guard let error = error as? ListenError else { return false }
                return error.isAddressInUse
                    && "\(error)".hasPrefix("cannot listen on 127.0.0.1:\(port): ")
                    && "\(error)".contains("Address already in use")
            }
        }
        #expect(throws: PosixError.self, "a plain SO_REUSEPORT socket cannot join it either") {
            _ = try TCPListeningSocket(port: port, reusePort: true)
        }
        let body = try await onThread { try RawHTTPConnection(port: port).request().body }
        #expect(body == "first", "the first server still serves")
        await first.drain()
    }

    @Test("reusePort false fails on a port that SO_REUSEPORT servers share, naming the exclusive bind")
    func exclusivePortFailsWhereOthersShare() async throws {
        let (shared, port) = try await Self.start(responder: .onEventLoop { _ in HTTPServerResponse(status: .ok) })
        let second = try await Self.startOn(port: port, reusePort: true)
        await #expect {
            _ = try await Self.startOn(port: port, reusePort: false)
        } throws: { error in
            guard let error = error as? ListenError else { return false }
            return error.isAddressInUse && "\(error)".contains("must have the port to itself")
        }
        await second.drain()
        await shared.drain()
        let exclusive = try await Self.startOn(port: port, reusePort: false)
        #expect(exclusive.localAddresses.first?.port == port, "free again once the others closed")
        await exclusive.drain()
    }
}
