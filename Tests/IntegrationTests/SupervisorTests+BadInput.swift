import Foundation
import TestSupport
import Testing

@testable import SupervisorCore

#if canImport(Glibc)
import Glibc
#endif

extension SupervisorTests {
    /// Runs the supervisor CLI to completion.
    private func supervisor(_ arguments: [String]) throws -> CommandResult {
        try CommandResult.run(SupervisorHarness.supervisorPath, arguments, timeout: .seconds(30))
    }

    @Test("an unknown option is refused with its name")
    func unknownOption() throws {
        let result = try supervisor(["run", "--instancez", "2", "--", "/bin/true"])
        #expect(result.exitCode != 0)
        #expect(result.stderr.contains("Unknown option '--instancez'"))
    }

    @Test("an unknown config key is refused with a suggestion")
    func unknownConfigKey() throws {
        let directory = try TemporaryDirectory.make()
        try "instance = 2\ncommand = [\"/bin/true\"]\n".write(
            toFile: "\(directory)/app.toml", atomically: true, encoding: .utf8)
        let result = try supervisor([
            "run", "--config", "\(directory)/app.toml", "--control-socket", "\(directory)/s.sock",
        ])
        #expect(result.exitCode != 0)
        #expect(result.stderr.contains("unknown key 'instance'; did you mean 'instances'?"))
        let check = try supervisor(["check", "--config", "\(directory)/app.toml"])
        #expect(check.exitCode == 1)
        #expect(check.stderr.contains("unknown key 'instance'"))
    }

    @Test("check accepts a good config and prints what it would run")
    func checkGoodConfig() throws {
        let directory = try TemporaryDirectory.make()
        try "instances = 3\nlisten = \"0.0.0.0:8080\"\ncommand = [\"sleep\", \"1\"]\n"
            .write(toFile: "\(directory)/app.toml", atomically: true, encoding: .utf8)
        let check = try supervisor(["check", "--config", "\(directory)/app.toml"])
        #expect(check.exitCode == 0, "\(check.stderr)")
        #expect(check.stdout.contains("configuration ok"))
        #expect(check.stdout.contains("instances:     3"))
    }

    @Test("a command that does not exist is refused before anything starts")
    func commandNotFound() throws {
        let directory = try TemporaryDirectory.make()
        let result = try supervisor(["run", "--control-socket", "\(directory)/s.sock", "--", "/nonexistent/server"])
        #expect(result.exitCode == 1)
        #expect(result.stderr.contains("command not found: /nonexistent/server"))
        let bare = try supervisor(["run", "--control-socket", "\(directory)/s.sock", "--", "no-such-program-here"])
        #expect(bare.stderr.contains("command not found: 'no-such-program-here' is not in PATH"))
    }

    @Test("a command that is not executable is refused with the chmod fix")
    func commandNotExecutable() throws {
        let directory = try TemporaryDirectory.make()
        let path = "\(directory)/server"
        try "#!/bin/sh\n".write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o644)
        let result = try supervisor(["run", "--control-socket", "\(directory)/s.sock", "--", path])
        #expect(result.exitCode == 1)
        #expect(result.stderr.contains("command is not executable: \(path); make it executable with chmod +x"))
    }

    @Test("a port that another process listens on is refused, naming that process")
    func portInUse() throws {
        let directory = try TemporaryDirectory.make()
        let occupied = try TCPListeningSocket(port: 0)
        let result = try supervisor([
            "run", "--control-socket", "\(directory)/s.sock", "--listen", "127.0.0.1:\(occupied.port)", "--",
            SupervisorHarness.demoServerPath,
        ])
        #expect(result.exitCode == 1)
        #expect(
            result.stderr.contains(
                "port \(occupied.port) (127.0.0.1:\(occupied.port)) is already in use by pid \(getpid())"))
        withExtendedLifetime(occupied) {}
    }

    @Test("a client with no supervisor behind the socket says so, with the name and path")
    func noSupervisorRunning() throws {
        let directory = try TemporaryDirectory.make()
        for command in ["status", "reload", "stop"] {
            let result = try supervisor([command, "--name", "ghost", "--control-socket", "\(directory)/ghost.sock"])
            #expect(result.exitCode == 1)
            #expect(result.stderr.contains("no supervisor is running for ghost at \(directory)/ghost.sock"))
            // A socket given alone: the message does not name the default name as if it were asked for.
            let pathOnly = try supervisor([command, "--control-socket", "\(directory)/ghost.sock"])
            #expect(pathOnly.exitCode == 1)
            #expect(
                pathOnly.stderr.contains(
                    "no supervisor is running at \(directory)/ghost.sock; check the control socket's path"),
                "\(pathOnly.stderr)")
        }
    }

    @Test("a second run with the same name is refused, naming the first")
    func secondRunSameName() throws {
        let first = try SupervisorHarness([
            "--instances", "1", "--", "/bin/sh", "-c", "systemd-notify --ready; exec sleep 300",
        ])
        try first.waitUntilReady()
        let second = try supervisor([
            "run", "--name", first.name, "--control-socket", first.controlSocket, "--", "/bin/true",
        ])
        #expect(second.exitCode == 1)
        #expect(
            second.stderr.contains("a supervisor named '\(first.name)' is already running (pid \(first.process.pid)"))
        // The first one is unharmed.
        #expect(try first.status().instances.first?.state == "ready")
    }

    @Test(
        "invalid values name the option and the accepted forms",
        arguments: [
            (["--ready-timeout", "5x"], "invalid duration '5x' for --ready-timeout"),
            (["--stop-signal", "SIGFOO"], "--stop-signal SIGFOO is not a signal"),
            (["--listen", "localhost:80"], "'localhost' is not an IP address"),
            (["--ready", "tcp"], "--ready 'tcp' is not a readiness probe; use notify, listen, http:"),
            (["--instances", "0"], "instances must be between 1 and 1024"),
        ])
    func invalidValues(arguments: [String], expected: String) throws {
        let result = try supervisor(["check"] + arguments + ["--", "/bin/true"])
        #expect(result.exitCode != 0)
        #expect(result.stderr.contains(expected), "\(result.stderr)")
    }
}
