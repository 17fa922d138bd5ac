import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension SupervisorTests {
    /// `supervisor status` run as uid and gid 65534 (nobody, nogroup) with no supplementary groups.
    static func statusAsNobody(_ supervisor: SupervisorHarness) throws -> CommandResult {
        try CommandResult.run(
            "/usr/bin/setpriv",
            [
                "--reuid=65534", "--regid=65534", "--clear-groups", SupervisorHarness.supervisorPath, "status",
                "--name", supervisor.name, "--control-socket", supervisor.controlSocket,
            ])
    }

    @Test(
        "the control socket refuses other users: by its mode, and by peer credentials when the mode lets them in",
        .enabled(if: SupervisorTests.isRoot, "needs root to run a client as another user"))
    func controlSocketRefusesOtherUsers() throws {
        let directory = try TemporaryDirectory.make()
        chmod(directory, 0o755)
        let port = try freePort()
        let supervisor = try SupervisorHarness(
            ["--instances", "1", "--", SupervisorHarness.demoServerPath, "--port", String(port)],
            directory: directory)
        try supervisor.waitUntilReady()
        var information = stat()
        #expect(stat(supervisor.controlSocket, &information) == 0)
        #expect(information.st_mode & 0o777 == 0o600)

        let byMode = try Self.statusAsNobody(supervisor)
        #expect(byMode.exitCode != 0)
        #expect(byMode.stderr.contains("not allowed to use the control socket"), "\(byMode.stderr)")

        // A socket whose mode was widened by mistake still answers nobody but root and its own user.
        chmod(supervisor.controlSocket, 0o666)
        let byCredentials = try Self.statusAsNobody(supervisor)
        #expect(byCredentials.exitCode != 0)
        #expect(
            byCredentials.stderr.contains("permission denied: uid 65534 may not control supervisor"),
            "\(byCredentials.stderr)")
        #expect(supervisor.log.contains("refused a control request from pid"))
        #expect(try supervisor.cli("status").exitCode == 0)
    }

    @Test(
        "--control-group lets that group's members in (socket mode 0660, group-owned); others stay out",
        .enabled(if: SupervisorTests.isRoot, "needs root to run a client as another user"))
    func controlGroupLetsMembersIn() throws {
        let directory = try TemporaryDirectory.make()
        chmod(directory, 0o755)
        let port = try freePort()
        let supervisor = try SupervisorHarness(
            [
                "--instances", "1", "--control-group", "nogroup", "--", SupervisorHarness.demoServerPath, "--port",
                String(port),
            ],
            directory: directory)
        try supervisor.waitUntilReady()
        var information = stat()
        #expect(stat(supervisor.controlSocket, &information) == 0)
        #expect(information.st_mode & 0o777 == 0o660)
        #expect(information.st_gid == 65534)
        let member = try Self.statusAsNobody(supervisor)
        #expect(member.exitCode == 0, "\(member.stderr)")
        #expect(member.stdout.contains("generation 1"))

        let outsider = try CommandResult.run(
            "/usr/bin/setpriv",
            [
                "--reuid=65534", "--regid=1", "--clear-groups", SupervisorHarness.supervisorPath, "status",
                "--name", supervisor.name, "--control-socket", supervisor.controlSocket,
            ])
        #expect(outsider.exitCode != 0)
    }

    @Test("an unknown --control-group is refused, naming the group and the fix")
    func unknownControlGroup() throws {
        let result = try CommandResult.run(
            SupervisorHarness.supervisorPath,
            ["check", "--control-group", "no-such-group-here", "--", SupervisorHarness.demoServerPath])
        #expect(result.exitCode != 0)
        #expect(result.stderr.contains("control-group 'no-such-group-here' does not exist"), "\(result.stderr)")
    }

    @Test("a request line over 64 KiB is cut off; the supervisor goes on answering")
    func oversizedControlRequest() throws {
        let port = try freePort()
        let supervisor = try SupervisorHarness([
            "--instances", "1", "--", SupervisorHarness.demoServerPath, "--port", String(port),
        ])
        try supervisor.waitUntilReady()
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var sendTimeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &sendTimeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in supervisor.controlSocket.utf8.enumerated() { raw[index] = byte }
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        #expect(connected == 0)
        let junk = [UInt8](repeating: UInt8(ascii: "x"), count: 1024 * 1024)
        var written = 0
        while written < junk.count {
            let count = junk[written...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if count <= 0 { break }
            written += count
        }
        // The supervisor closed the connection long before a megabyte without a newline went through.
        #expect(written < junk.count, "\(written) bytes went through")
        #expect(try supervisor.cli("status").exitCode == 0)
    }
}
