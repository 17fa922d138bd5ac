internal import SystemdSupport

/// The environment an instance starts with: the supervisor's own, minus what belongs to the supervisor's own service
/// manager, plus the configured additions, plus what the supervisor tells each instance.
package enum InstanceEnvironment {
    /// Variables of the supervisor's environment that describe the supervisor's own relation to systemd; passing
    /// them on would make an instance answer systemd directly or adopt sockets meant for the supervisor.
    package static let withheld: Set<String> = [
        ServiceEnvironment.notifySocket, ServiceEnvironment.watchdogMicroseconds, ServiceEnvironment.watchdogPID,
        ServiceEnvironment.listenFDs, ServiceEnvironment.listenPID, ServiceEnvironment.listenFDNames, "MAINPID",
        "JOURNAL_STREAM", "MANAGERPID", "TRIGGER_UNIT", "TRIGGER_PATH", "TRIGGER_TIMER_REALTIME_USEC",
        "TRIGGER_TIMER_MONOTONIC_USEC",
    ]

    /// `NAME=VALUE` strings for an instance, in a stable order.
    package static func build(
        inherited: [String],
        additions: [EnvironmentVariable],
        instance: [EnvironmentVariable]
    ) -> [String] {
        var result: [String] = []
        var position: [String: Int] = [:]
        func set(_ name: String, _ assignment: String) {
            if let index = position[name] {
                result[index] = assignment
            } else {
                position[name] = result.count
                result.append(assignment)
            }
        }
        for assignment in inherited {
            guard let equals = assignment.firstIndex(of: "=") else { continue }
            let name = String(assignment[..<equals])
            if withheld.contains(name) || ServiceEnvironment.setBySupervisor.contains(name) { continue }
            set(name, assignment)
        }
        for variable in additions + instance { set(variable.name, "\(variable.name)=\(variable.value)") }
        return result
    }
}
