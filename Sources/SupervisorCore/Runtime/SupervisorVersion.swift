/// The version of this supervisor, as `--version`, `status` and `/status` report it.
package enum SupervisorVersion {
    package static let current = "0.1.0"
}
