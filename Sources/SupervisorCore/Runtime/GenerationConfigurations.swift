/// The configuration of each generation that still has instances or is the target, and the one loaded for the
/// rollout the machine is about to begin.
struct GenerationConfigurations {
    private var byGeneration: [Generation: Configuration] = [:]
    /// Loaded (and checked) for the generation the machine begins next.
    var loaded: Configuration?

    subscript(generation: Generation) -> Configuration? { byGeneration[generation] }

    /// Every configuration kept.
    var all: Dictionary<Generation, Configuration>.Values { byGeneration.values }

    /// The loaded configuration becomes `generation`'s.
    mutating func begin(_ generation: Generation) {
        byGeneration[generation] = loaded
        loaded = nil
    }

    /// Drops the configurations of generations not in `inUse`.
    mutating func keep(only inUse: Set<Generation>) {
        for generation in byGeneration.keys where !inUse.contains(generation) { byGeneration[generation] = nil }
    }

    /// The configuration of `target`, else `fallback` (before the first generation begins).
    func current(target: Generation?, or fallback: Configuration) -> Configuration {
        target.flatMap { byGeneration[$0] } ?? fallback
    }
}
