import Foundation
import TestSupport
import Testing

@testable import SupervisorCore

#if canImport(Glibc)
import Glibc
#endif

/// `--ready listen` where instances inherit their sockets: the socket listens before the program runs, so the
/// instance is ready only once it waits for connections on it (epoll, or a blocking accept).
extension SupervisorTests {
    /// The seconds the log gives for the first readiness of generation `generation`.
    static func secondsToReady(in log: String, generation: Int) -> Double? {
        for line in log.split(separator: "\n") where line.contains("generation \(generation)) is ready after ") {
            guard let range = line.range(of: "is ready after ") else { continue }
            let rest = line[range.upperBound...]
            return Double(rest.prefix { $0 == "." || $0.isNumber })
        }
        return nil
    }

    @Test(
        "reuseport and shared: a server that waits 1 s before serving its inherited socket is not ready before",
        arguments: ["reuseport", "shared"])
    func slowAcceptIsNotReadyEarly(mode: String) throws {
        let port = try freePort()
        let supervisor = try Self.startInMode(
            mode, instances: 1, port: port,
            extra: ["--ready", "listen"], command: [SupervisorHarness.releaseDemoServerPath, "--startup-delay", "1000"])
        let seconds = try #require(Self.secondsToReady(in: supervisor.log, generation: 1), "\(supervisor.log)")
        #expect(seconds >= 1.0, "ready after \(seconds) s, before the server polled its socket")
        #expect(seconds < 3.0)
        #expect(pidsAnswering(port: port, expected: try supervisor.readyPIDs()).count == 1)
    }

    @Test("reuseport: a release that crashes 0.5 s after exec is rolled back, not taken as ready")
    func crashBeforeServingRollsBack() throws {
        let port = try freePort()
        let directory = try TemporaryDirectory.make()
        let release = "\(directory)/release"
        try "".write(toFile: release, atomically: true, encoding: .utf8)
        // The command reads which release to run from a file, as a deploy's symlink switch would.
        let server = try writeScript(
            directory, "server",
            """
            if [ -s \(release) ]; then exec \(SupervisorHarness.releaseDemoServerPath) --startup-delay 500 --fail-start
            else exec \(SupervisorHarness.releaseDemoServerPath); fi
            """)
        let supervisor = try Self.startInMode(
            "reuseport", instances: 1, port: port, extra: ["--ready", "listen"], command: [server])
        let before = try supervisor.readyPIDs()
        try "broken".write(toFile: release, atomically: true, encoding: .utf8)
        let reload = try supervisor.cli("reload")
        #expect(reload.exitCode == 1, "\(reload.stdout)")
        #expect(reload.stderr.contains("exited with status 2 before it was ready; rolled back to generation 1"))
        #expect(try supervisor.readyPIDs(generation: 1) == before)
    }

    @Test("shared: a server blocking in accept on its inherited socket is ready once it accepts, not before")
    func blockingAcceptIsReady() throws {
        let python = "/usr/bin/python3"
        try #require(access(python, X_OK) == 0, "python3 is needed for a server that blocks in accept")
        let port = try freePort()
        let directory = try TemporaryDirectory.make()
        let server = try writeScript(
            directory, "server",
            """
            exec \(python) -c '
            import socket, time
            listener = socket.socket(fileno=3)
            listener.setblocking(True)
            time.sleep(1)
            while True:
                connection, _ = listener.accept()
                connection.recv(65536)
                connection.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Length: 3\\r\\nConnection: close\\r\\n\\r\\nok\\n")
                connection.close()
            '
            """)
        let supervisor = try Self.startInMode(
            "shared", instances: 1, port: port, extra: ["--ready", "listen"], command: [server])
        let seconds = try #require(Self.secondsToReady(in: supervisor.log, generation: 1), "\(supervisor.log)")
        #expect(seconds >= 1.0, "ready after \(seconds) s")
        let response = try RawHTTPConnection(port: port).request(headers: ["Connection: close"], timeout: .seconds(5))
        #expect(response.status == 200)
    }
}
