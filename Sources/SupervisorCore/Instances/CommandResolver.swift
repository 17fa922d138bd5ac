internal import SystemdSupport

#if canImport(Glibc)
import Glibc
#endif

/// Finds the file a command names, the way a shell would, and says precisely why when it cannot.
package enum CommandResolver {
    /// Resolves `program`: a name with a `/` is used as it is; a bare name is looked up in `searchPath`.
    ///
    /// - Throws: ``ConfigurationError`` saying that the command was not found, is a directory, or is not executable,
    ///   and what to do about it.
    package static func resolve(_ program: String, searchPath: String?) throws(ConfigurationError) -> String {
        if program.contains("/") {
            try checkExecutable(program, as: program)
            return program
        }
        let directories = (searchPath ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":").map(String.init)
        for directory in directories where !directory.isEmpty {
            let candidate = directory.hasSuffix("/") ? directory + program : directory + "/" + program
            if (try? checkExecutable(candidate, as: program)) != nil { return candidate }
        }
        throw ConfigurationError(
            "command not found: '\(program)' is not in PATH (\(searchPath ?? "unset")); give its full path")
    }

    private static func checkExecutable(_ path: String, as program: String) throws(ConfigurationError) {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw ConfigurationError(
                "command not found: \(path) (\(SystemCallError.reason(errno))); check the path, or build the "
                    + "program first")
        }
        if info.st_mode & S_IFMT == S_IFDIR {
            throw ConfigurationError("command \(path) is a directory, not a program")
        }
        guard access(path, X_OK) == 0 else {
            throw ConfigurationError("command is not executable: \(path); make it executable with chmod +x \(path)")
        }
    }
}
