/// What the rollout machine needs to know about a generation; fixed when its rollout begins.
package struct GenerationPolicy: Equatable, Codable, Sendable {
    /// The `max-draining` setting's default.
    package static var defaultMaxDraining: Int { Settings.maxDraining.fallback }

    /// How many slots the generation fills.
    package var instances: Int
    /// How many replacements may be starting at once while the instances they replace still serve.
    package var maxSurge: Int
    /// How long a new instance may take to become ready.
    package var readyTimeout: Duration
    /// How long an instance may drain after its stop signal before it gets SIGKILL.
    package var drainTimeout: Duration
    /// The signal that asks an instance of this generation to drain and exit.
    package var stopSignal: UnixSignal
    /// How long the previous generation keeps serving after every instance of this one is ready; a new instance
    /// that fails meanwhile rolls the reload back. Zero: the previous instances are stopped as their replacements
    /// become ready.
    package var bake: Duration
    /// A reload is refused while this many earlier generations still have instances draining, so instances that
    /// drain slowly (long-lived connections) cannot pile up without bound.
    package var maxDraining: Int

    package init(
        instances: Int,
        maxSurge: Int,
        readyTimeout: Duration,
        drainTimeout: Duration,
        stopSignal: UnixSignal,
        bake: Duration = .zero,
        maxDraining: Int = GenerationPolicy.defaultMaxDraining
    ) {
        self.instances = instances
        self.maxSurge = max(1, maxSurge)
        self.readyTimeout = readyTimeout
        self.drainTimeout = drainTimeout
        self.stopSignal = stopSignal
        self.bake = bake
        self.maxDraining = max(1, maxDraining)
    }
}
