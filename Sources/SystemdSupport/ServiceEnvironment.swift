#if canImport(Glibc)
import Glibc
#endif

/// The environment through which a service manager (systemd, or the supervisor playing its part) tells a server what
/// it needs, and the supervisor's own additions: each variable's name, and how its value is written and read. The
/// supervisor writes them for each instance; `SupervisedServer` and the demo server read them. Nothing else spells a
/// name or a format.
public enum ServiceEnvironment {
    // systemd's protocol: sd_notify(3), sd_listen_fds(3), sd_watchdog_enabled(3).

    /// The datagram socket to send `READY=1`, `STATUS=`, `WATCHDOG=1` to.
    public static let notifySocket = "NOTIFY_SOCKET"
    /// How many listening sockets are passed, from descriptor 3 on.
    public static let listenFDs = "LISTEN_FDS"
    /// The process the sockets are meant for.
    public static let listenPID = "LISTEN_PID"
    /// The sockets' names, colon-separated (``fileDescriptorNames(_:)``).
    public static let listenFDNames = "LISTEN_FDNAMES"
    /// The watchdog timeout in microseconds (``watchdogValue(_:)``).
    public static let watchdogMicroseconds = "WATCHDOG_USEC"
    /// The process that must send `WATCHDOG=1`.
    public static let watchdogPID = "WATCHDOG_PID"

    // The supervisor's additions.

    /// The supervisor's `--name`.
    public static let supervisorName = "SUPERVISOR_NAME"
    /// The instance's slot, `0` to instances - 1.
    public static let instance = "SUPERVISOR_INSTANCE"
    /// The number of the generation the instance belongs to.
    public static let generation = "SUPERVISOR_GENERATION"
    /// Where the instances serve: ``listenValue(_:)``.
    public static let listen = "SUPERVISOR_LISTEN"
    /// The instance's own admin port, with `--admin-port-base`.
    public static let adminPort = "SUPERVISOR_ADMIN_PORT"
    /// For an `exec:` probe: the pid of the instance it checks.
    public static let probedPID = "SUPERVISOR_PID"

    // Between a supervisor and the program it executes in place (`supervisor upgrade`); never passed to instances.

    /// The descriptor of the memory file that holds the state handed over.
    public static let handoverState = "SUPERVISOR_HANDOVER_STATE"
    /// Set when the program executed could not take over and executed the previous one again: why.
    public static let handoverFailure = "SUPERVISOR_HANDOVER_FAILURE"
    /// A failure to simulate, for the tests of the upgrade's refusals (`docs/architecture.md`, "Failpoints").
    public static let failpoint = "SUPERVISOR_FAILPOINT"

    /// The variables of the supervisor's own upgrade, which instances do not inherit.
    public static let supervisorInternal: Set<String> = [handoverState, handoverFailure, failpoint]

    /// `environment` as `NAME=value` lines in name order, without ``supervisorInternal``: what instances inherit.
    public static func inheritable(_ environment: [String: String]) -> [String] {
        environment.filter { !supervisorInternal.contains($0.key) }.map { "\($0.key)=\($0.value)" }.sorted()
    }

    /// Every variable the supervisor sets for its instances and probes; a configuration may not set them.
    public static let setBySupervisor: Set<String> = [
        notifySocket, listenFDs, listenPID, listenFDNames, watchdogMicroseconds, watchdogPID, supervisorName,
        instance, generation, listen, adminPort, probedPID,
    ]

    /// `HOST:PORT`, an IPv6 host in brackets: one address as ``listen`` writes it.
    public static func address(host: String, port: Int) -> String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// The value of ``listen``: the addresses (``address(host:port:)``), comma-separated.
    public static func listenValue(_ addresses: [String]) -> String { addresses.joined(separator: ",") }

    /// The addresses in a value of ``listen``, blanks around them trimmed and empty entries skipped.
    public static func listenAddresses(in value: some StringProtocol) -> [String] {
        value.split(separator: ",").compactMap { entry in
            let trimmed = entry.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed()
            return trimmed.isEmpty ? nil : String(trimmed)
        }
    }

    /// The value of ``listenFDNames``.
    public static func fileDescriptorNames(_ names: [String]) -> String { names.joined(separator: ":") }

    /// The value of ``watchdogMicroseconds``.
    public static func watchdogValue(_ timeout: Duration) -> String {
        let (seconds, attoseconds) = timeout.components
        return String(seconds * 1_000_000 + attoseconds / 1_000_000_000_000)
    }

    /// The value of `name` in this process's environment, `nil` when it is unset.
    public static func value(of name: String) -> String? { getenv(name).map { String(cString: $0) } }

    /// `NAME='value'` for each of `names` that is set, `NAME unset` for the others: what an error shows.
    static func describe(_ names: [String]) -> String {
        names.map { name in value(of: name).map { "\(name)='\($0)'" } ?? "\(name) unset" }.joined(separator: ", ")
    }
}
