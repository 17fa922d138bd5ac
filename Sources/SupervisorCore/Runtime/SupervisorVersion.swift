/// The version of this supervisor, as `--version`, `status` and `/status` report it.
package enum SupervisorVersion {
    /// The release's version; the Debian package takes it from here (`packaging/build-deb`).
    package static let release = "0.1.0"

    /// What this build reports: a debug build says so (`0.1.0-debug`). The upgrade tests execute a debug and a
    /// release build in turn, and tell them apart by it.
    #if DEBUG
    package static let current = release + "-debug"
    #else
    package static let current = release
    #endif
}
