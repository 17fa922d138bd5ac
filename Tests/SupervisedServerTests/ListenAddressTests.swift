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
