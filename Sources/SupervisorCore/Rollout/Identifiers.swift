/// The number of a rollout: generation 1 is what `run` starts, each reload makes the next one. A generation whose
/// rollout was rolled back keeps its number, so log lines stay unambiguous.
package struct Generation: Hashable, Comparable, Codable, Sendable, CustomStringConvertible {
    package let number: Int
    package init(_ number: Int) { self.number = number }
    package static func < (lhs: Self, rhs: Self) -> Bool { lhs.number < rhs.number }
    /// `generation 3`.
    package var description: String { "generation \(number)" }
}

/// A position in the set of instances, `0..<instances`. A slot's replacement takes over its position, and
/// `SUPERVISOR_INSTANCE` tells an instance its slot.
package struct Slot: Hashable, Comparable, Codable, Sendable, CustomStringConvertible {
    package let index: Int
    package init(_ index: Int) { self.index = index }
    package static func < (lhs: Self, rhs: Self) -> Bool { lhs.index < rhs.index }
    /// `#2`.
    package var description: String { "#\(index)" }
}

/// One process started for a slot; a restart in the same slot and generation is a new instance.
package struct InstanceID: Hashable, Comparable, Codable, Sendable {
    package let serial: Int
    package init(_ serial: Int) { self.serial = serial }
    package static func < (lhs: Self, rhs: Self) -> Bool { lhs.serial < rhs.serial }
}

/// One `supervisor reload` call (or SIGHUP) waiting for the outcome of the rollout that covers it.
package struct ReloadRequestID: Hashable, Codable, Sendable {
    package let value: Int
    package init(_ value: Int) { self.value = value }
}
