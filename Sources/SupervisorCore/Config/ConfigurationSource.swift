/// Where the configuration comes from, so a reload can read it again: the config file (if any) under the
/// command-line flags given to `run`.
public struct ConfigurationSource: Sendable {
    /// The `--config` file.
    public let file: String?
    /// What the flags set; it wins over the file.
    public let flags: ConfigurationLayer
    /// `instances` when neither sets it: the CPU count.
    public let defaultInstances: Int
    /// The supervisor's `PATH`, to resolve the command.
    public let searchPath: String?

    public init(file: String?, flags: ConfigurationLayer, defaultInstances: Int, searchPath: String?) {
        self.file = file
        self.flags = flags
        self.defaultInstances = defaultInstances
        self.searchPath = searchPath
    }

    /// Reads the file, applies the flags, checks every value, and checks that the command can be executed.
    ///
    /// - Throws: ``ConfigurationError`` naming the first problem and its fix.
    public func load() throws(ConfigurationError) -> Configuration {
        let fileLayer = try file.map { path throws(ConfigurationError) in try ConfigurationFile.load(path: path) }
        let configuration = try Configuration(
            flags.overriding(fileLayer ?? ConfigurationLayer()), defaultInstances: defaultInstances)
        _ = try CommandResolver.resolve(configuration.command[0], searchPath: searchPath)
        return configuration
    }
}
