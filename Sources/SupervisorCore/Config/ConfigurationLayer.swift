/// Settings from one source (the config file, or command-line flags); `nil` means "not set here".
public struct ConfigurationLayer: Equatable, Sendable {
    public var name: String?
    public var instances: Int?
    public var listen: [ListenAddress]?
    public var listenMode: ListenMode?
    public var kernelMigrate: KernelMigrate?
    public var backlog: Int?
    public var readiness: ReadinessProbe?
    public var adminPortBase: UInt16?
    public var watchdog: Duration?
    public var liveness: LivenessProbe?
    public var livenessInterval: Duration?
    public var livenessThreshold: Int?
    public var health: ListenAddress?
    public var minReady: Int?
    public var shutdownDelay: Duration?
    public var readyTimeout: Duration?
    public var stopSignal: UnixSignal?
    public var drainTimeout: Duration?
    public var maxSurge: Int?
    public var controlSocket: String?
    public var controlGroup: String?
    public var user: String?
    public var group: String?
    public var bake: Duration?
    public var maxDraining: Int?
    /// Merged key by key: a flag overrides the file's value of the same variable only.
    public var environment: [String: String] = [:]
    public var command: [String]?

    public init() {}

    /// This layer on top of `base`: every setting made here wins.
    public func overriding(_ base: ConfigurationLayer) -> ConfigurationLayer {
        var merged = base
        if let name { merged.name = name }
        if let instances { merged.instances = instances }
        if let listen { merged.listen = listen }
        if let listenMode { merged.listenMode = listenMode }
        if let kernelMigrate { merged.kernelMigrate = kernelMigrate }
        if let backlog { merged.backlog = backlog }
        if let readiness { merged.readiness = readiness }
        if let adminPortBase { merged.adminPortBase = adminPortBase }
        if let watchdog { merged.watchdog = watchdog }
        if let liveness { merged.liveness = liveness }
        if let livenessInterval { merged.livenessInterval = livenessInterval }
        if let livenessThreshold { merged.livenessThreshold = livenessThreshold }
        if let health { merged.health = health }
        if let minReady { merged.minReady = minReady }
        if let shutdownDelay { merged.shutdownDelay = shutdownDelay }
        if let readyTimeout { merged.readyTimeout = readyTimeout }
        if let stopSignal { merged.stopSignal = stopSignal }
        if let drainTimeout { merged.drainTimeout = drainTimeout }
        if let maxSurge { merged.maxSurge = maxSurge }
        if let controlSocket { merged.controlSocket = controlSocket }
        if let controlGroup { merged.controlGroup = controlGroup }
        if let user { merged.user = user }
        if let group { merged.group = group }
        if let bake { merged.bake = bake }
        if let maxDraining { merged.maxDraining = maxDraining }
        merged.environment.merge(environment) { _, flag in flag }
        if let command { merged.command = command }
        return merged
    }
}
