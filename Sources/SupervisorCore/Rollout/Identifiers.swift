/// The number of a rollout: generation 1 is what `run` starts, each reload makes the next one. A generation whose
/// rollout was rolled back keeps its number, so log lines stay unambiguous.
public struct Generation: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let number: Int
    public init(_ number: Int) { self.number = number }
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.number < rhs.number }
    /// `generation 3`.
    public var description: String { "generation \(number)" }
}

/// A position in the set of instances, `0..<instances`. A slot's replacement takes over its position, and
/// `SUPERVISOR_INSTANCE` tells an instance its slot.
public struct Slot: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let index: Int
    public init(_ index: Int) { self.index = index }
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.index < rhs.index }
    /// `#2`.
    public var description: String { "#\(index)" }
}

/// One process started for a slot; a restart in the same slot and generation is a new instance.
public struct InstanceID: Hashable, Comparable, Sendable {
    public let serial: Int
    public init(_ serial: Int) { self.serial = serial }
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.serial < rhs.serial }
}

/// One `supervisor reload` call (or SIGHUP) waiting for the outcome of the rollout that covers it.
public struct ReloadRequestID: Hashable, Sendable {
    public let value: Int
    public init(_ value: Int) { self.value = value }
}
