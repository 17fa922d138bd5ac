/// The version of this supervisor, as `--version`, `status` and `/status` report it. A debug build says so
/// (`0.1.0-debug`): the upgrade tests execute a debug and a release build in turn, and tell them apart by it.
package enum SupervisorVersion {
    #if DEBUG
    package static let current = "0.1.0-debug"
    #else
    package static let current = "0.1.0"
    #endif
}
