internal import NIOCore
internal import NIOPosix

/// HTTP/1.1 load from this process, closed-loop like wrk: a fixed number of connections, each sending its next
/// request as soon as the previous response ended, spread over a few event loops of its own. Every failed request is
/// classified (``RequestFailure``) and counted in the phase it ended in.
final class LoadGenerator: Sendable {
    private let group: MultiThreadedEventLoopGroup
    private let clients: [NIOLoopBound<LoadClient>]
    private let loops: [any EventLoop]
    private let phases = PhaseSwitch()

    /// - Parameters:
    ///   - connections: how many clients run at once.
    ///   - threads: event loops (threads) they are spread over.
    init(settings: LoadSettings, connections: Int, threads: Int) {
        group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, threads))
        var clients: [NIOLoopBound<LoadClient>] = []
        var loops: [any EventLoop] = []
        for _ in 0..<max(1, connections) {
            let loop = group.next()
            let phases = phases
            // Each client is made on its own loop, which alone touches it from then on.
            let client = try! loop.submit {
                NIOLoopBound(LoadClient(loop: loop, settings: settings, phases: phases), eventLoop: loop)
            }.wait()
            clients.append(client)
            loops.append(loop)
        }
        self.clients = clients
        self.loops = loops
    }

    func start() {
        for (client, loop) in zip(clients, loops) { loop.execute { client.value.start() } }
    }

    /// Requests that end from now on count in `phase`.
    func enter(_ phase: LoadPhase) { phases.enter(phase) }

    /// The counts so far, per phase, summed over the clients.
    func counts() async -> [LoadPhase: LoadCounts] {
        var total: [LoadPhase: LoadCounts] = [:]
        for (client, loop) in zip(clients, loops) {
            guard let counts = try? await loop.submit({ client.value.counts }).get() else { continue }
            for (phase, value) in counts { total[phase, default: LoadCounts()].add(value) }
        }
        return total
    }

    /// Stops every client (what is in flight is not counted) and returns the counts.
    func stop() async -> [LoadPhase: LoadCounts] {
        for (client, loop) in zip(clients, loops) {
            _ = try? await loop.submit { client.value.stop() }.get()
        }
        let total = await counts()
        try? await group.shutdownGracefully()
        return total
    }
}
