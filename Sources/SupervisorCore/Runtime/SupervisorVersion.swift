import CSupervisorShims

/// The version of this supervisor, as `--version`, `status` and `/status` report it.
package enum SupervisorVersion {
    /// The release of this source tree; the Debian package takes its version from here (`packaging/build-deb`).
    package static let sourceRelease = "0.1.0"

    /// The release this binary is: `sourceRelease`, unless `packaging/build-deb --version` stamped another into the
    /// built binary (the systemd test builds two packages of different versions from one build that way).
    package static let release: String = {
        let stamped = String(cString: supervisor_release_stamp())
        return stamped.isEmpty ? sourceRelease : stamped
    }()

    /// What this build reports: a debug build says so (`0.1.0-debug`). The upgrade tests execute a debug and a
    /// release build in turn, and tell them apart by it.
    #if DEBUG
    package static let current = release + "-debug"
    #else
    package static let current = release
    #endif
}
