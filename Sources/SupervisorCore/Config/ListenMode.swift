/// Who binds the listening sockets, and so what makes a handover lossless (README.md, "Listen modes").
package enum ListenMode: String, Sendable, CaseIterable {
    /// Each instance binds the port itself with `SO_REUSEPORT`; `SUPERVISOR_LISTEN` tells it where. Lossless when
    /// the kernel migrates the connections queued on a closing listener (`net.ipv4.tcp_migrate_req=1`).
    case app
    /// The supervisor binds one `SO_REUSEPORT` socket per slot and passes it as fd 3 (`LISTEN_FDS`); a slot's
    /// replacement gets the same socket, so no listener closes during a rollout.
    case reuseport
    /// The supervisor binds one socket per address (or takes it from systemd socket activation) and passes the same
    /// socket to every instance.
    case shared
}

/// What the supervisor may do about `net.ipv4.tcp_migrate_req` in `app` mode.
package enum KernelMigrate: String, Sendable, CaseIterable {
    /// Set it to 1 where permitted; otherwise warn and report "lossless: no".
    case auto
    /// Set it to 1, and refuse to start when that is not possible.
    case on
    /// Leave it alone.
    case off
}
