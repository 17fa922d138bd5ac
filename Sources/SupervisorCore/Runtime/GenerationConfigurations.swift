/// The configuration of each generation that still has instances or is the target, and the one loaded for the
/// rollout the machine is about to begin.
struct GenerationConfigurations {
    private var byGeneration: [Generation: Configuration] = [:]
    /// The config file's bytes each was loaded from (`nil`: no file), which an in-place upgrade hands over.
    private(set) var files: [Generation: [UInt8]?] = [:]
    /// Loaded (and checked) for the generation the machine begins next.
    var loaded: Configuration?
    /// The bytes ``loaded`` was loaded from.
    var loadedFile: [UInt8]?

    subscript(generation: Generation) -> Configuration? { byGeneration[generation] }

    /// Every configuration kept.
    var all: Dictionary<Generation, Configuration>.Values { byGeneration.values }

    /// The loaded configuration becomes `generation`'s.
    mutating func begin(_ generation: Generation) {
        byGeneration[generation] = loaded
        files[generation] = .some(loadedFile)
        loaded = nil
        loadedFile = nil
    }

    /// A generation's configuration as an in-place upgrade handed it over.
    mutating func restore(_ generation: Generation, _ configuration: Configuration, file: [UInt8]?) {
        byGeneration[generation] = configuration
        files[generation] = .some(file)
    }

    /// Drops the configurations of generations not in `inUse`.
    mutating func keep(only inUse: Set<Generation>) {
        for generation in byGeneration.keys where !inUse.contains(generation) {
            byGeneration[generation] = nil
            files[generation] = nil
        }
    }

    /// The configuration of `target`, else `fallback` (before the first generation begins).
    func current(target: Generation?, or fallback: Configuration) -> Configuration {
        target.flatMap { byGeneration[$0] } ?? fallback
    }
}
