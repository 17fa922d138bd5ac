import Foundation
import TestSupport
import Testing

@testable import SupervisorCore

#if canImport(Glibc)
import Glibc
#endif

/// A `supervisor run` started for a test, in a private directory, with the test playing systemd: its
/// `NOTIFY_SOCKET` receives the supervisor's own `READY=1`, `RELOADING=1`, `STOPPING=1`.
///
/// On deinit it kills the supervisor and everything below it, so a failing test leaves no process behind.
final class SupervisorHarness {
    static var supervisorPath: String { Products.path(of: "supervisor") }
    static var demoServerPath: String { Products.path(of: "demo-server") }
    /// The release build, for listen modes in which processes share a listening socket (see
    /// ``Products/releasePath(of:)``).
    static var releaseDemoServerPath: String { Products.releasePath(of: "demo-server") }

    let directory: String
    let name: String
    let controlSocket: String
    let systemd: NotifyReceiver
    let process: ChildProcess
    /// Everything `systemd` received so far, oldest first.
    private(set) var systemdMessages: [String] = []

    /// Starts `supervisor run --name NAME --control-socket DIR/NAME.sock arguments…`, inside `network` when given, or
    /// through `launcher` (a program and its arguments that ends by executing the supervisor).
    ///
    /// Unless `arguments` choose otherwise, it passes `--kernel-migrate off`: tests run as root on a shared machine,
    /// and the host's `net.ipv4.tcp_migrate_req` is not theirs to change.
    init(
        _ arguments: [String],
        environment: [String: String] = [:],
        directory: String? = nil,
        network: PrivateNetwork? = nil,
        launcher: [String] = []
    ) throws {
        self.directory = try directory ?? TemporaryDirectory.make()
        name = "t\(UInt16.random(in: 0...UInt16.max))"
        controlSocket = "\(self.directory)/\(name).sock"
        systemd = try NotifyReceiver()
        var variables = environment
        variables["NOTIFY_SOCKET"] = systemd.path
        let migrate = arguments.contains("--kernel-migrate") ? [] : ["--kernel-migrate", "off"]
        let fullArguments = ["run", "--name", name, "--control-socket", controlSocket] + migrate + arguments
        if let network {
            process = try network.start(Self.supervisorPath, fullArguments, environment: variables)
        } else if let program = launcher.first {
            // A program that execs the supervisor, e.g. systemd-socket-activate.
            process = try ChildProcess(
                Array(launcher.dropFirst()) + [Self.supervisorPath] + fullArguments, environment: variables,
                executable: program)
        } else {
            process = try ChildProcess(fullArguments, environment: variables, executable: Self.supervisorPath)
        }
    }

    deinit {
        let everything = ProcessTable.current().tree(of: process.pid)
        for pid in everything where pid != process.pid { kill(pid, SIGKILL) }
        process.send(SIGKILL)
        _ = process.waitForExit(timeout: .seconds(5))
    }

    /// The supervisor's log (its stderr, with the instances' lines).
    var log: String { process.output }

    /// Waits for the supervisor's own `READY=1` (every instance of the first generation is ready).
    func waitUntilReady(timeout: Duration = .seconds(30)) throws {
        guard waitForSystemd("READY=1", timeout: timeout) != nil else {
            throw HarnessError("the supervisor did not send READY=1 within \(timeout); its log:\n\(log)")
        }
    }

    /// Waits for a systemd message with the line `key`, and returns it.
    @discardableResult
    func waitForSystemd(_ key: String, timeout: Duration = .seconds(30)) -> String? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            guard let message = systemd.receive(timeout: deadline - .now) else { return nil }
            systemdMessages.append(message)
            if message.split(separator: "\n").contains(where: { $0 == key }) { return message }
        }
        return nil
    }

    /// Runs `supervisor COMMAND --control-socket … arguments…` and waits for it.
    func cli(_ command: String, _ arguments: [String] = [], timeout: Duration = .seconds(60)) throws -> CommandResult {
        try CommandResult.run(
            Self.supervisorPath, [command, "--name", name, "--control-socket", controlSocket] + arguments,
            timeout: timeout)
    }

    /// `count` reloads back to back, each expected to exit 0 (an issue names the reload and its output otherwise); on
    /// an error running the client, records it with the end of the supervisor's log and stops.
    func reloadRepeatedly(_ count: Int, sourceLocation: SourceLocation = #_sourceLocation) {
        for index in 0..<count {
            do {
                let reload = try cli("reload", timeout: .seconds(20))
                #expect(
                    reload.exitCode == 0, "reload \(index): \(reload.stdout)\(reload.stderr)",
                    sourceLocation: sourceLocation)
            } catch {
                Issue.record("\(error); the supervisor's log:\n\(log.suffix(6000))", sourceLocation: sourceLocation)
                return
            }
        }
    }

    /// `supervisor status --json`, decoded.
    func status() throws -> StatusReport {
        let result = try cli("status", ["--json"])
        guard result.exitCode == 0 else { throw HarnessError("status failed: \(result.stderr)") }
        return try JSONDecoder().decode(StatusReport.self, from: Data(result.stdout.utf8))
    }

    /// Pids of the ready instances of `generation` (or of the current generation).
    func readyPIDs(generation: Int? = nil) throws -> Set<Int32> {
        let report = try status()
        let wanted = generation ?? report.generation
        return Set(report.instances.filter { $0.state == "ready" && $0.generation == wanted }.compactMap(\.pid))
    }

    /// Waits until the supervisor process exits; returns its exit status, or `nil` if it still runs.
    func waitForExit(timeout: Duration = .seconds(30)) -> ChildProcess.Termination? {
        process.waitForExit(timeout: timeout)
    }
}

struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The output and exit status of a command the test ran to completion.
struct CommandResult {
    let exitCode: Int32
    let stdout: String
    let stderr: String

    /// Runs `executable arguments…` with the test's environment (minus `NOTIFY_SOCKET`) and waits for it.
    static func run(
        _ executable: String,
        _ arguments: [String],
        environment: [String: String] = [:],
        timeout: Duration = .seconds(60)
    ) throws -> CommandResult {
        let directory = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var variables = ProcessInfo.processInfo.environment
        variables["NOTIFY_SOCKET"] = nil
        process.environment = variables.merging(environment) { _, new in new }
        _ = FileManager.default.createFile(atPath: "\(directory)/out", contents: nil)
        _ = FileManager.default.createFile(atPath: "\(directory)/err", contents: nil)
        let out = FileHandle(forWritingAtPath: "\(directory)/out")!
        let err = FileHandle(forWritingAtPath: "\(directory)/err")!
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let deadline = ContinuousClock.now + timeout
        while process.isRunning && ContinuousClock.now < deadline { usleep(10_000) }
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
            throw HarnessError("\(executable) \(arguments.joined(separator: " ")) did not finish within \(timeout)")
        }
        try out.close()
        try err.close()
        return CommandResult(
            exitCode: process.terminationStatus,
            stdout: (try? String(contentsOfFile: "\(directory)/out", encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOfFile: "\(directory)/err", encoding: .utf8)) ?? "")
    }
}

/// Polls `condition` every 20 ms until it holds or `timeout` passes; returns whether it held.
func eventually(timeout: Duration = .seconds(10), _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try condition() { return true }
        usleep(20_000)
    }
    return try condition()
}

/// Whether a process exists and is not a zombie.
func isAlive(_ pid: Int32) -> Bool {
    guard kill(pid, 0) == 0 else { return false }
    guard let stat = FileText.read("/proc/\(pid)/stat"), let close = stat.lastIndex(of: ")") else { return false }
    return stat[stat.index(close, offsetBy: 2)] != "Z"
}

/// Sends `GET /` over new connections until every pid in `expected` has answered; returns the pids that did.
func pidsAnswering(port: Int, expected: Set<Int32>, attempts: Int = 300) -> Set<Int32> {
    var seen = Set<Int32>()
    for _ in 0..<attempts where !expected.isSubset(of: seen) {
        guard let connection = try? RawHTTPConnection(port: port),
            let response = try? connection.request(headers: ["Connection: close"], timeout: .seconds(2)),
            let pid = response.pid
        else { continue }
        seen.insert(pid)
    }
    return seen
}

/// Writes an executable shell script and returns its path.
func writeScript(_ directory: String, _ name: String, _ body: String) throws -> String {
    let path = "\(directory)/\(name)"
    try ("#!/bin/sh\n" + body).write(toFile: path, atomically: true, encoding: .utf8)
    chmod(path, 0o755)
    return path
}
