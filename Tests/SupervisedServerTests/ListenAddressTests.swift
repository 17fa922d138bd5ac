import SupervisedServer
import TestSupport
import Testing

@Suite("ListenAddress parses ADDR:PORT as SUPERVISOR_LISTEN writes it")
struct ListenAddressTests {
    @Test("IPv4, names and bracketed IPv6 parse, and print back the same")
    func parsesAndPrints() throws {
        for (text, host, port) in [
            ("127.0.0.1:8080", "127.0.0.1", 8080), ("localhost:80", "localhost", 80), ("[::1]:8080", "::1", 8080),
            ("0.0.0.0:0", "0.0.0.0", 0), ("[::]:65535", "::", 65535),
        ] {
            let address = try ListenAddress(parsing: text)
            #expect(address == ListenAddress(host: host, port: port))
            #expect(address.description == text)
        }
    }

    @Test("udp: marks a UDP address; unix: is refused, as only LISTEN_FDS carries one")
    func transports() throws {
        let udp = try ListenAddress(parsing: "udp:[::1]:53")
        #expect(udp == ListenAddress(host: "::1", port: 53, transport: .udp))
        #expect(udp.description == "udp:[::1]:53")
        #expect(try ListenAddress(parsing: "tcp:127.0.0.1:80") == ListenAddress(host: "127.0.0.1", port: 80))
        #expect(try ListenAddress.parseList("127.0.0.1:80,udp:127.0.0.1:53").map(\.transport) == [.tcp, .udp])
        #expect {
            try ListenAddress(parsing: "unix:/run/app.sock")
        } throws: { error in
            "\(error)".contains("passed in LISTEN_FDS")
        }
    }

    @Test(
        "Malformed addresses are rejected with a reason",
        arguments: [
            "8080", "127.0.0.1", "127.0.0.1:", "127.0.0.1:http", "127.0.0.1:65536", "::1:8080", "[::1]8080",
            "[::1:8080", ":8080", "127.0.0.1:-1",
        ]
    )
    func rejectsMalformed(text: String) {
        #expect(throws: ListenAddressError.self) { try ListenAddress(parsing: text) }
    }

    @Test("A comma-separated list keeps its order and skips blanks")
    func parsesLists() throws {
        let list = try ListenAddress.parseList(" 127.0.0.1:8080, [::1]:9090 ,,")
        #expect(list == [ListenAddress(host: "127.0.0.1", port: 8080), ListenAddress(host: "::1", port: 9090)])
        #expect(try ListenAddress.parseList("").isEmpty)
    }
}
