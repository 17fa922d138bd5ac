import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The demo server as a real process on real sockets. Serialized: the tests start processes and send signals, and
/// some measure time, which a busy 2-core machine would blur.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct DemoServerTests {
    @Test("GET / answers 200 text/plain with pid, generation, instance and version, and keeps the connection")
    func rootAnswersWithIdentity() throws {
        let port = try freePort()
        let server = try ChildProcess(
            ["--port", "\(port)", "--version-string", "1.2.3"],
            environment: ["SUPERVISOR_GENERATION": "7", "SUPERVISOR_INSTANCE": "2"]
        )
        try #require(server.waitUntilServing(port: port), "not serving: \(server.output)")
        let connection = try RawHTTPConnection(port: port)
        let response = try connection.request()
        #expect(response.status == 200)
        #expect(response.header("Content-Type")?.hasPrefix("text/plain") == true)
        #expect(response.body == "pid=\(server.pid) generation=7 instance=2 version=1.2.3\n")
        #expect(!response.closesConnection)
        #expect(try connection.request().status == 200, "a second request on the kept-alive connection")
    }

    @Test("Without supervisor variables the line says generation=0 instance=0 version=dev")
    func defaultsInTheIdentityLine() throws {
        let port = try freePort()
        let server = try ChildProcess(["--port", "\(port)"])
        try #require(server.waitUntilServing(port: port), "not serving: \(server.output)")
        let response = try RawHTTPConnection(port: port).request()
        #expect(response.body == "pid=\(server.pid) generation=0 instance=0 version=dev\n")
    }

    @Test("Other paths answer 404 and other methods on / answer 405")
    func notFoundAndMethodNotAllowed() throws {
        let port = try freePort()
        let server = try ChildProcess(["--port", "\(port)"])
        try #require(server.waitUntilServing(port: port), "not serving: \(server.output)")
        let connection = try RawHTTPConnection(port: port)
        #expect(try connection.request(path: "/nothing-here").status == 404)
        let post = try connection.request(method: "POST", headers: ["Content-Length: 0"])
        #expect(post.status == 405)
        #expect(post.header("Allow") == "GET, HEAD")
        #expect(try connection.request(method: "DELETE").status == 405)
        #expect(try connection.request(path: "/?query=1").status == 200)
    }

    @Test("Without --port it listens on the first address of SUPERVISOR_LISTEN")
    func listensOnSupervisorListen() throws {
        let port = try freePort()
        let server = try ChildProcess([], environment: ["SUPERVISOR_LISTEN": "127.0.0.1:\(port),127.0.0.1:1"])
        #expect(server.waitUntilServing(port: port), "not serving: \(server.output)")
        #expect(server.output.contains("listening on 127.0.0.1:\(port)"))
    }

    @Test("Without --port and SUPERVISOR_LISTEN it exits with a usage error that says what to pass")
    func noAddressIsAnError() throws {
        let server = try ChildProcess([])
        let termination = server.waitForExit(timeout: .seconds(10))
        #expect(termination == .exited(64))
        #expect(server.output.contains("no address to listen on"), "\(server.output)")
    }

    @Test("A port held by a socket without SO_REUSEPORT makes it exit 1 naming the address")
    func portInUseIsAnError() throws {
        let blocker = try TCPListeningSocket(port: 0)
        let server = try ChildProcess(["--port", "\(blocker.port)"])
        #expect(server.waitForExit(timeout: .seconds(10)) == .exited(1))
        #expect(server.output.contains("cannot listen on 127.0.0.1:\(blocker.port)"), "\(server.output)")
    }
}
