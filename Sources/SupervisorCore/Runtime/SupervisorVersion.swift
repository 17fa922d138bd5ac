/// The version of this supervisor, as `--version`, `status` and `/status` report it.
public enum SupervisorVersion {
    public static let current = "0.1.0"
}
