/// The control requests that wait for an answer: reloads by request, stops in the order they came. Every reply leaves
/// through here and is finished once: a reload caller when its rollout ends, every caller when the run ends.
struct PendingReplies {
    typealias Reply = AsyncStream<ControlReply>.Continuation

    private var reloads: [ReloadRequestID: Reply] = [:]
    private var stops: [Reply] = []
    private var lastReloadID = 0

    /// How many reload callers wait.
    var waitingReloads: Int { reloads.count }
    /// How many stop callers wait.
    var waitingStops: Int { stops.count }

    /// A number for a reload nobody waits on (SIGHUP).
    mutating func newReload() -> ReloadRequestID {
        lastReloadID += 1
        return ReloadRequestID(lastReloadID)
    }

    /// A number for a reload whose caller waits on `reply`.
    mutating func newReload(answering reply: Reply) -> ReloadRequestID {
        let id = newReload()
        reloads[id] = reply
        return id
    }

    /// A stop caller, answered when the run ends.
    mutating func addStop(_ reply: Reply) { stops.append(reply) }

    /// A line of progress for the callers of these reloads.
    func progress(_ message: String, to waiters: [ReloadRequestID]) {
        for waiter in waiters { reloads[waiter]?.yield(.progress(message)) }
    }

    /// Answers the callers of these reloads with `result`, and ends their replies.
    mutating func finish(_ waiters: [ReloadRequestID], with result: ControlResult) {
        for waiter in waiters {
            guard let reply = reloads.removeValue(forKey: waiter) else { continue }
            reply.yield(.result(result))
            reply.finish()
        }
    }

    /// The run has ended: every stop caller gets `result`; a reload caller still waiting gets its reply ended (its
    /// client reports the lost connection).
    mutating func finishAll(with result: ControlResult) {
        for reply in stops {
            reply.yield(.result(result))
            reply.finish()
        }
        stops = []
        for reply in reloads.values { reply.finish() }
        reloads = [:]
    }
}
