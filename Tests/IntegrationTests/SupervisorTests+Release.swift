import Foundation
import TestSupport
import Testing

@testable import SupervisorCore

#if canImport(Glibc)
import Glibc
#endif

/// Release identity and the deploy gate, end to end: releases under a `current` symlink that each name themselves
/// in a `RELEASE` file, as a deploy lays them out; `reload --json` and `/readyz?release=` as a deploy tool reads them.
extension SupervisorTests {
    /// A directory with `releases/NAME/bin/server` and `releases/NAME/RELEASE` for each release, a `current` symlink
    /// and a config file `app.toml` that runs `current/bin/server` with `release = "file:…/current/RELEASE"`.
    struct ReleaseLayout {
        let directory: String
        let port: Int
        let health: Int

        init(port: Int, health: Int) throws {
            directory = try TemporaryDirectory.make()
            self.port = port
            self.health = health
            let config = """
                instances = 2
                listen = ["127.0.0.1:\(port)"]
                health = "127.0.0.1:\(health)"
                release = "file:\(directory)/current/RELEASE"
                command = ["\(directory)/current/bin/server"]

                """
            try config.write(toFile: "\(directory)/app.toml", atomically: true, encoding: .utf8)
        }

        var configPath: String { "\(directory)/app.toml" }

        /// A release whose server is the demo server answering with its name; `script` replaces that.
        func add(_ name: String, releaseFile: String? = nil, startupDelay: Int = 0, script: String? = nil) throws {
            let bin = "\(directory)/releases/\(name)/bin"
            try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
            let body =
                script
                ?? "exec \(SupervisorHarness.demoServerPath) --port \(port) --version-string \(name) "
                + "--startup-delay \(startupDelay)\n"
            _ = try writeScript(bin, "server", body)
            try (releaseFile ?? "\(name)\n").write(
                toFile: "\(directory)/releases/\(name)/RELEASE", atomically: true, encoding: .utf8)
        }

        /// Points `current` at a release the way a deploy does: a new symlink renamed over the old one.
        func switchTo(_ name: String) throws {
            let temporary = "\(directory)/current.new"
            unlink(temporary)
            guard symlink("releases/\(name)", temporary) == 0, rename(temporary, "\(directory)/current") == 0 else {
                throw HarnessError("cannot point current at \(name): errno \(errno)")
            }
        }

        func sha256(_ path: String) throws -> String {
            let result = try CommandResult.run("/usr/bin/sha256sum", [path])
            guard result.exitCode == 0, let hex = result.stdout.split(separator: " ").first else {
                throw HarnessError("sha256sum \(path): \(result.stderr)")
            }
            return "sha256:\(hex)"
        }
    }

    /// What `reload --json` printed.
    struct ReloadJSON: Decodable {
        var result: String
        var from: GenerationRelease?
        var to: GenerationRelease?
        var durationSeconds: Double
        var message: String
        var output: [String]?

        init(_ stdout: String) throws {
            let lines = stdout.split(separator: "\n")
            guard lines.count == 1 else { throw HarnessError("reload --json printed \(lines.count) lines: \(stdout)") }
            self = try JSONDecoder().decode(ReloadJSON.self, from: Data(lines[0].utf8))
        }
    }

    @Test(
        "releases: reload --json names both generations' releases, executables and digests; /readyz?release= opens only while that release serves, not during its rollout nor after its rollback"
    )
    func releaseGateAndReloadJSON() throws {
        let layout = try ReleaseLayout(port: try freePort(), health: try freePort())
        try layout.add("v1")
        try layout.add("v2", releaseFile: "RELEASE=\"v2\"\n", startupDelay: 1500)
        try layout.add("v3", script: "echo 'v3: cannot open /srv/db: missing' >&2\nexit 1\n")
        try layout.switchTo("v1")
        let supervisor = try SupervisorHarness(["--config", layout.configPath], directory: layout.directory)
        try supervisor.waitUntilReady()

        func gate(_ query: String) throws -> RawHTTPResponse { try Self.get(layout.health, "/readyz?\(query)") }
        let before = try gate("release=v2")
        #expect(before.status == 503)
        #expect(before.body == "not ready: release v1 serves (generation 1), not v2\n")
        #expect(try gate("release=v1").status == 200)
        #expect(try gate("generation=1").status == 200)
        #expect(try gate("generation=2").status == 503)
        // A gate misspelt must not open.
        let misspelt = try gate("relase=v1")
        #expect(misspelt.status == 400)
        #expect(misspelt.body.contains("unknown parameter 'relase'"), "\(misspelt.body)")
        #expect(try Self.get(layout.health, "/readyz").status == 200)

        // v2 takes 1.5 s to start: the gate stays shut while it rolls out, and opens once it serves.
        try layout.switchTo("v2")
        let out = "\(layout.directory)/reload.json"
        let reload = try ChildProcess(
            [
                "-c",
                "exec \"$0\" reload --json --name \(supervisor.name) --control-socket \(supervisor.controlSocket) "
                    + "> \(out)",
                SupervisorHarness.supervisorPath,
            ], executable: "/bin/sh")
        #expect(eventually { (try? supervisor.status().rollout) != nil })
        let during = try gate("release=v2")
        #expect(during.status == 503)
        #expect(
            during.body == "not ready: a rollout from generation 1 to generation 2 (release v2) is in progress\n",
            "\(during.body)")
        #expect(reload.waitForExit(timeout: .seconds(30)) == .exited(0), "\(reload.output)")
        let completed = try ReloadJSON(try String(contentsOfFile: out, encoding: .utf8))
        #expect(completed.result == "completed")
        #expect(completed.message.hasPrefix("generation 2 is serving"))
        #expect(completed.output == nil)
        #expect(completed.durationSeconds >= 1.0)
        #expect(completed.from?.generation == 1)
        #expect(completed.from?.release == "v1")
        #expect(completed.to?.generation == 2)
        #expect(completed.to?.release == "v2")
        // The symlink resolved: the executable is the release's own file, and its digest is that file's.
        let v2Server = "\(layout.directory)/releases/v2/bin/server"
        #expect(completed.to?.executable == v2Server)
        #expect(completed.to?.executableDigest == (try layout.sha256(v2Server)))
        #expect(completed.from?.executableDigest == (try layout.sha256("\(layout.directory)/releases/v1/bin/server")))
        #expect(completed.to?.configDigest == (try layout.sha256(layout.configPath)))
        let after = try gate("release=v2")
        #expect(after.status == 200)
        #expect(after.body == "ready: release v2 serves: generation 2 (release v2), 2 instances ready (min-ready 1)\n")
        #expect(try gate("release=v1").status == 503)
        let response = try RawHTTPConnection(port: layout.port).request(headers: ["Connection: close"])
        #expect(response.body.contains("version=v2"), "\(response.body)")

        // v3 fails at start: rolled back, the JSON says why, and the gate for v3 stays shut, saying so.
        try layout.switchTo("v3")
        let failed = try supervisor.cli("reload", ["--json"])
        #expect(failed.exitCode == 1, "\(failed.stdout)\(failed.stderr)")
        let rolledBack = try ReloadJSON(failed.stdout)
        #expect(rolledBack.result == "rolled_back")
        #expect(rolledBack.from?.release == "v2")
        #expect(rolledBack.to?.release == "v3")
        #expect(rolledBack.to?.generation == 3)
        // A script is small enough to be read at once: the answer has its digest though its instance failed at once.
        #expect(rolledBack.to?.executableDigest == (try layout.sha256("\(layout.directory)/releases/v3/bin/server")))
        #expect(rolledBack.message.contains("rolled back to generation 2"), "\(rolledBack.message)")
        #expect(rolledBack.output?.contains("v3: cannot open /srv/db: missing") == true, "\(rolledBack.output ?? [])")
        // Progress went to stderr, so stdout held the object alone.
        #expect(failed.stderr.contains("rolling out generation 3"), "\(failed.stderr)")
        let v3 = try gate("release=v3")
        #expect(v3.status == 503)
        #expect(
            v3.body.hasPrefix(
                "not ready: release v2 serves (generation 2), not v3; the last reload, to generation 3, was rolled "
                    + "back: instance #"), "\(v3.body)")
        #expect(try gate("release=v2").status == 200)
        #expect(try gate("release=v2&generation=2").status == 200)
        #expect(try gate("release=v2&generation=3").status == 503)

        // status shows what each generation runs.
        let report = try supervisor.status()
        let serving = try #require(report.generations?.first { $0.generation == 2 })
        #expect(serving.release == "v2")
        #expect(serving.executable == v2Server)
        #expect(report.lastResult?.result == "rolled_back")
        #expect(report.lastResult?.toRelease == "v3")
        let table = try supervisor.cli("status")
        #expect(table.stdout.contains("generation 2: release v2, \(v2Server) (sha256:"), "\(table.stdout)")
    }

    @Test(
        "releases: a release file that cannot be read fails the reload (result failed, the file named), the serving generation goes on; at start it is refused"
    )
    func unreadableReleaseFile() throws {
        let layout = try ReleaseLayout(port: try freePort(), health: try freePort())
        try layout.add("v1")
        try layout.add("v2")
        try layout.add("v3", releaseFile: "v 3\n")
        try layout.switchTo("v1")
        let supervisor = try SupervisorHarness(["--config", layout.configPath], directory: layout.directory)
        try supervisor.waitUntilReady()
        let pids = try supervisor.readyPIDs()

        unlink("\(layout.directory)/releases/v2/RELEASE")
        try layout.switchTo("v2")
        let missing = try supervisor.cli("reload", ["--json"])
        #expect(missing.exitCode == 1)
        let failed = try ReloadJSON(missing.stdout)
        #expect(failed.result == "failed")
        #expect(failed.to == nil)
        #expect(failed.from?.release == "v1")
        #expect(
            failed.message.contains("release file \(layout.directory)/current/RELEASE cannot be read"),
            "\(failed.message)")

        try layout.switchTo("v3")
        let bad = try supervisor.cli("reload")
        #expect(bad.exitCode == 1)
        #expect(bad.stderr.contains("gives the label 'v 3', with ' ' in it"), "\(bad.stderr)")
        #expect(try supervisor.readyPIDs() == pids)
        #expect(try Self.get(layout.health, "/readyz?release=v1").status == 200)

        // The supervisor will not start on it either, and says why.
        let check = try CommandResult.run(SupervisorHarness.supervisorPath, ["check", "--config", layout.configPath])
        #expect(check.exitCode != 0)
        #expect(check.stderr.contains("release file"), "\(check.stdout)\(check.stderr)")
    }
}
