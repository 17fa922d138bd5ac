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
    /// What each generation runs (``ReleaseIdentity``).
    private(set) var releases: [Generation: ReleaseIdentity] = [:]
    /// What ``loaded`` runs, and the executable whose digest is still being computed.
    var loadedRelease = ReleaseIdentity()
    var loadedDigestPending: ExecutableDigests.FileKey?
    /// The generations whose executable's digest is still being computed.
    private var digestsPending: [Generation: ExecutableDigests.FileKey] = [:]

    subscript(generation: Generation) -> Configuration? { byGeneration[generation] }

    /// What `generation` runs, as reports show it (only its number for one no longer kept); `nil` for none.
    func release(of generation: Generation?) -> GenerationRelease? {
        generation.map { GenerationRelease(generation: $0.number, releases[$0] ?? ReleaseIdentity()) }
    }

    /// `generation` gets the digest of the executable read under `key` once it is known.
    mutating func awaitDigest(of generation: Generation, _ key: ExecutableDigests.FileKey) {
        digestsPending[generation] = key
    }

    /// The digest of the executable read under `key` is known: the generations that run it get it.
    mutating func executableDigested(_ key: ExecutableDigests.FileKey, _ digest: String) {
        if loadedDigestPending == key {
            loadedRelease.executableDigest = digest
            loadedDigestPending = nil
        }
        for (generation, pending) in digestsPending where pending == key {
            releases[generation]?.executableDigest = digest
            digestsPending[generation] = nil
        }
    }

    /// Every configuration kept.
    var all: Dictionary<Generation, Configuration>.Values { byGeneration.values }

    /// The loaded configuration becomes `generation`'s.
    mutating func begin(_ generation: Generation) {
        byGeneration[generation] = loaded
        files[generation] = .some(loadedFile)
        releases[generation] = loadedRelease
        digestsPending[generation] = loadedDigestPending
        loaded = nil
        loadedFile = nil
        loadedRelease = ReleaseIdentity()
        loadedDigestPending = nil
    }

    /// A generation's configuration as an in-place upgrade handed it over.
    mutating func restore(
        _ generation: Generation, _ configuration: Configuration, file: [UInt8]?, release: ReleaseIdentity
    ) {
        byGeneration[generation] = configuration
        files[generation] = .some(file)
        releases[generation] = release
    }

    /// Drops the configurations of generations not in `inUse`.
    mutating func keep(only inUse: Set<Generation>) {
        for generation in byGeneration.keys where !inUse.contains(generation) {
            byGeneration[generation] = nil
            files[generation] = nil
            releases[generation] = nil
            digestsPending[generation] = nil
        }
    }

    /// The configuration of `target`, else `fallback` (before the first generation begins).
    func current(target: Generation?, or fallback: Configuration) -> Configuration {
        target.flatMap { byGeneration[$0] } ?? fallback
    }
}
