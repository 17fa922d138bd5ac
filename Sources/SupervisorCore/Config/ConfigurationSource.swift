/// Where the configuration comes from, so a reload can read it again: the config file (if any) under the
/// command-line flags given to `run`.
package struct ConfigurationSource: Sendable {
    /// The `--config` file.
    package let file: String?
    /// What the flags set; it wins over the file.
    package let flags: ConfigurationLayer
    /// `instances` when neither sets it: the CPU count.
    package let defaultInstances: Int
    /// The supervisor's `PATH`, to resolve the command.
    package let searchPath: String?

    package init(file: String?, flags: ConfigurationLayer, defaultInstances: Int, searchPath: String?) {
        self.file = file
        self.flags = flags
        self.defaultInstances = defaultInstances
        self.searchPath = searchPath
    }

    /// Reads the file, applies the flags, checks every value, checks that the command can be executed, and reads the
    /// release's label from its file (`release = "file:…"`).
    ///
    /// - Throws: ``ConfigurationError`` naming the first problem and its fix.
    package func load() throws(ConfigurationError) -> Configuration {
        try load(fileBytes: file.map { path throws(ConfigurationError) in try ConfigurationFile.read(path: path) })
    }

    /// ``load()`` with the file's bytes read already (`nil` without a file): a reload parses exactly the bytes a
    /// ``ParserCheck`` child parsed first.
    ///
    /// Without `checkingFiles`, neither is the command checked nor the release file read: an upgrade reads the
    /// configurations of generations that run already, whose release may be gone from the disk (and whose label it
    /// hands over).
    package func load(fileBytes: [UInt8]?, checkingFiles: Bool = true) throws(ConfigurationError) -> Configuration {
        var fileLayer = ConfigurationLayer()
        if let file, let fileBytes { fileLayer = try ConfigurationFile.parse(fileBytes, path: file) }
        var configuration = try Configuration(flags.overriding(fileLayer), defaultInstances: defaultInstances)
        if checkingFiles {
            _ = try CommandResolver.resolve(configuration.command[0], searchPath: searchPath)
            configuration.releaseLabel = try configuration.release?.resolve()
        }
        return configuration
    }
}
