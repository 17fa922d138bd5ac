package import NIOCore
internal import NIOExtras
internal import NIOPosix
import Synchronization
internal import SystemdSupport

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
package final class ControlServer: Sendable {
    /// Answers one request with a stream of replies; the connection closes when the stream ends.
    package typealias Handler = @Sendable (ControlRequest) -> AsyncStream<ControlReply>
    /// Told of each connection refused by ``ControlAccess``, with the answer it got.
    package typealias RefusalHandler = @Sendable (PeerCredentials, String) -> Void

    /// The longest request line taken; a client that sends more without a newline is cut off.
    package static let maximumRequestSize = 64 * 1024

    package let path: String
    /// The listening socket, which the server's channel uses a duplicate of: it outlives ``detach()``, and an
    /// in-place upgrade hands it to the next program, so connections made meanwhile wait in its queue.
    package let descriptor: Int32
    private let channel: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>
    private let access: ControlAccess
    private let name: String
    private let detached = Atomic(false)

    private init(
        path: String,
        descriptor: Int32,
        channel: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>,
        access: ControlAccess,
        name: String
    ) {
        self.path = path
        self.descriptor = descriptor
        self.channel = channel
        self.access = access
        self.name = name
    }

    /// Binds the socket at `path`, replacing a stale socket file (the caller holds the ``InstanceLock``, so no live
    /// supervisor owns it). Its mode is 0600, or 0660 owned by the ``ControlAccess/group``.
    ///
    /// - Throws: when the directory does not exist or is not writable, or the path is too long.
    package static func bind(
        path: String,
        group: any EventLoopGroup,
        access: ControlAccess,
        name: String
    ) async throws -> ControlServer {
        let fd = try systemCall("socket", subject: path) {
            socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        }
        do {
            unlink(path)
            _ = try UnixSocketAddress.withAddress(path: path) { address, length throws(SystemCallError) in
                try systemCall("bind", subject: path) { Glibc.bind(fd, address, length) }
            }
            try systemCall("listen", subject: path) { listen(fd, 128) }
        } catch {
            close(fd)
            throw error
        }
        // Not through a link (AT_SYMLINK_NOFOLLOW): the directory is checked to be this user's
        // (RuntimeDirectory.checkTrusted), and nothing here acts on what a link would point to.
        if let controlGroup = access.group {
            fchownat(AT_FDCWD, path, uid_t.max, controlGroup.gid, AT_SYMLINK_NOFOLLOW)
            RuntimeDirectory.changeMode(path, 0o660)
        } else {
            RuntimeDirectory.changeMode(path, 0o600)
        }
        do {
            return try await adopt(descriptor: fd, path: path, group: group, access: access, name: name)
        } catch {
            close(fd)
            unlink(path)
            throw error
        }
    }

    /// Serves the listening socket `descriptor` already bound at `path`: the one the program before an in-place
    /// upgrade bound, or this one's after a ``detach()``.
    package static func adopt(
        descriptor: Int32,
        path: String,
        group: any EventLoopGroup,
        access: ControlAccess,
        name: String
    ) async throws -> ControlServer {
        let duplicate = try systemCall("fcntl(F_DUPFD_CLOEXEC)") { fcntl(descriptor, F_DUPFD_CLOEXEC, 3) }
        let channel: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>
        do {
            channel = try await ServerBootstrap(group: group)
                .bind(duplicate) { child in
                    child.eventLoop.makeCompletedFuture {
                        try child.pipeline.syncOperations.addHandler(
                            ByteToMessageHandler(LineBasedFrameDecoder(), maximumBufferSize: maximumRequestSize))
                        return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: child)
                    }
                }
        } catch {
            close(duplicate)
            throw error
        }
        return ControlServer(path: path, descriptor: descriptor, channel: channel, access: access, name: name)
    }

    /// Stops accepting connections; ``serve(_:)`` returns once the connections in progress have been answered.
    package func stopAccepting() {
        channel.channel.close(promise: nil)
    }

    /// Stops accepting connections but keeps the socket (``descriptor``) and its file: connections that come now wait
    /// in its queue for whoever serves it next (``adopt(descriptor:path:group:access:name:)``). Returns once the
    /// channel no longer accepts.
    package func detach() async {
        detached.store(true, ordering: .relaxed)
        try? await channel.channel.close()
    }

    /// Serves connections until ``stopAccepting()`` or cancellation; then removes the socket file (not after a
    /// ``detach()``) and closes the socket.
    package func serve(onRefusal: @escaping RefusalHandler, _ handler: @escaping Handler) async {
        defer {
            if !detached.load(ordering: .relaxed) {
                unlink(path)
                close(descriptor)
            }
        }
        do {
            try await withThrowingDiscardingTaskGroup { group in
                try await channel.executeThenClose { connections in
                    for try await connection in connections {
                        group.addTask {
                            await Self.answer(
                                connection, access: self.access, name: self.name, onRefusal: onRefusal,
                                handler: handler)
                        }
                    }
                }
            }
        } catch {
            // Cancellation or a closed listener ends serving; individual connection errors never get here.
        }
    }

    private static func answer(
        _ connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>,
        access: ControlAccess,
        name: String,
        onRefusal: RefusalHandler,
        handler: Handler
    ) async {
        let peer = await peerCredentials(of: connection.channel)
        try? await connection.executeThenClose { inbound, outbound in
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            func send(_ reply: ControlReply) async throws {
                var data = try encoder.encode(reply)
                data.append(UInt8(ascii: "\n"))
                try await outbound.write(ByteBuffer(bytes: data))
            }
            var lines = inbound.makeAsyncIterator()
            guard let line = try await lines.next() else { return }
            // Refused after reading the request: closing with unread bytes would reset the connection, and the
            // client would never see why.
            guard let peer, access.allows(peer, supplementaryGroups: ControlAccess.supplementaryGroups(of: peer.pid))
            else {
                let message =
                    peer.map { access.refusal(for: $0, name: name) }
                    ?? "permission denied: cannot tell who is connecting (SO_PEERCRED failed)"
                onRefusal(peer ?? PeerCredentials(pid: 0, uid: UInt32.max, gid: UInt32.max), message)
                try await send(.result(ControlResult(ok: false, message: message)))
                return
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

    /// `struct ucred` of `SO_PEERCRED` (glibc declares it only under `_GNU_SOURCE`, which Swift's Glibc module does
    /// not define): three 32-bit fields, in this order.
    private struct KernelPeerCredentials: Sendable {
        var pid: Int32 = 0
        var uid: UInt32 = 0
        var gid: UInt32 = 0
    }

    /// The connecting process's pid, uid and gid, as the kernel recorded them at `connect`.
    private static func peerCredentials(of channel: any Channel) async -> PeerCredentials? {
        guard let provider = channel as? any SocketOptionProvider else { return nil }
        let credentials: KernelPeerCredentials
        do {
            credentials = try await provider.unsafeGetSocketOption(
                level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED)
            ).get()
        } catch {
            return nil
        }
        return PeerCredentials(pid: credentials.pid, uid: credentials.uid, gid: credentials.gid)
    }
}
