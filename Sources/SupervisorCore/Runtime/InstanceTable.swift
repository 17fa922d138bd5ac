/// The instances whose processes the supervisor started and has not released, with what each holds (its notify
/// socket, its output pipe); and the last output lines of the most recent instances that are gone, for failure
/// reports that come after an exit.
struct InstanceTable {
    /// How many gone instances' last lines are kept.
    static let retainedLimit = 16

    /// The last lines of an instance that is gone.
    struct Retained: Codable, Sendable {
        var id: InstanceID
        var lines: [String]
    }

    private var running: [InstanceID: Supervisor.RunningInstance] = [:]
    private var retained: [Retained] = []

    subscript(id: InstanceID) -> Supervisor.RunningInstance? { running[id] }

    var values: Dictionary<InstanceID, Supervisor.RunningInstance>.Values { running.values }
    /// Every instance with its id.
    var all: [(id: InstanceID, instance: Supervisor.RunningInstance)] { running.map { ($0.key, $0.value) } }
    /// The last lines of the instances gone, for an in-place upgrade to hand over.
    var retainedLines: [Retained] { retained }

    /// The last lines of instances gone, as an in-place upgrade handed them over.
    mutating func restoreRetained(_ lines: [Retained]) { retained = lines }
    var count: Int { running.count }
    var isEmpty: Bool { running.isEmpty }

    /// The admin ports live instances hold.
    var adminPortsInUse: Set<Int> { Set(running.values.compactMap(\.adminPort)) }

    mutating func insert(_ instance: Supervisor.RunningInstance, for id: InstanceID) { running[id] = instance }

    /// Closes what an instance that is gone used (its notify socket, its output pipe) and keeps its last lines;
    /// returns it, or `nil` when it was released already.
    mutating func release(_ id: InstanceID) -> Supervisor.RunningInstance? {
        guard let instance = running.removeValue(forKey: id) else { return nil }
        instance.notify.close()
        instance.output.close()
        retained.append(Retained(id: id, lines: instance.output.lastLines))
        if retained.count > Self.retainedLimit { retained.removeFirst(retained.count - Self.retainedLimit) }
        return instance
    }

    /// The last output lines of an instance, live or among the recently gone; `nil` when it is neither.
    func lastLines(of id: InstanceID) -> [String]? {
        if let instance = running[id] { return instance.output.lastLines }
        return retained.last { $0.id == id }?.lines
    }
}
