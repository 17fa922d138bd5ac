import ArgumentParser
import SupervisorCore
internal import SystemdSupport

#if canImport(Glibc)
import Glibc
#endif

/// `supervisor lifeline`: started by `run`, never by people; see ``Lifeline``.
struct LifelineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lifeline",
        abstract: "Stop the instances of a supervisor that died (internal: started by `run`).",
        shouldDisplay: false)

    func run() throws {
        // Its own session already (spawned so): a Ctrl-C meant for the supervisor does not reach it.
        signal(SIGHUP, SIG_IGN)
        signal(SIGINT, SIG_IGN)
        signal(SIGPIPE, SIG_IGN)
        let name = ServiceEnvironment.value(of: ServiceEnvironment.supervisorName) ?? Configuration.defaultName
        _ = Lifeline.run(input: 0) { line in
            writeAll(2, "supervisor[\(name)] lifeline: \(line)\n")
        }
    }
}
