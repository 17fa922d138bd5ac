public import NIOCore
internal import NIOExtras
internal import NIOPosix

#if canImport(FoundationEssentials)
internal import FoundationEssentials
#else
internal import Foundation
#endif

#if canImport(Glibc)
import Glibc
#endif

/// The supervisor's end of the control socket: a Unix stream socket that takes one JSON request per connection and
/// answers with JSON lines (``ControlReply``), so `supervisor reload` can print progress as it happens.
public final class ControlServer: Sendable {
    /// Answers one request with a stream of replies; the connection closes when the stream ends.
    public typealias Handler = @Sendable (ControlRequest) -> AsyncStream<ControlReply>

    public let path: String
    private let channel: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>

    private init(path: String, channel: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>) {
        self.path = path
        self.channel = channel
    }

    /// Binds the socket at `path` with mode 0600, replacing a stale socket file (the caller holds the
    /// ``InstanceLock``, so no live supervisor owns it).
    ///
    /// - Throws: when the directory does not exist or is not writable, or the path is too long.
    public static func bind(path: String, group: any EventLoopGroup) async throws -> ControlServer {
        let channel = try await ServerBootstrap(group: group)
            .bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true) { child in
                child.eventLoop.makeCompletedFuture {
                    try child.pipeline.syncOperations.addHandler(
                        ByteToMessageHandler(LineBasedFrameDecoder()))
                    return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: child)
                }
            }
        chmod(path, 0o600)
        return ControlServer(path: path, channel: channel)
    }

    /// Stops accepting connections; ``serve(_:)`` returns once the connections in progress have been answered.
    public func stopAccepting() {
        channel.channel.close(promise: nil)
    }

    /// Serves connections until ``stopAccepting()`` or cancellation; then removes the socket file.
    public func serve(_ handler: @escaping Handler) async {
        defer { unlink(path) }
        do {
            try await withThrowingDiscardingTaskGroup { group in
                try await channel.executeThenClose { connections in
                    for try await connection in connections {
                        group.addTask { await Self.answer(connection, handler: handler) }
                    }
                }
            }
        } catch {
            // Cancellation or a closed listener ends serving; individual connection errors never get here.
        }
    }

    private static func answer(
        _ connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>,
        handler: Handler
    ) async {
        try? await connection.executeThenClose { inbound, outbound in
            var lines = inbound.makeAsyncIterator()
            guard let line = try await lines.next() else { return }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            func send(_ reply: ControlReply) async throws {
                var data = try encoder.encode(reply)
                data.append(UInt8(ascii: "\n"))
                try await outbound.write(ByteBuffer(bytes: data))
            }
            let request: ControlRequest
            do {
                request = try JSONDecoder().decode(ControlRequest.self, from: Data(line.readableBytesView))
            } catch {
                try await send(.result(ControlResult(ok: false, message: "malformed control request: \(error)")))
                return
            }
            for await reply in handler(request) { try await send(reply) }
        }
    }
}
