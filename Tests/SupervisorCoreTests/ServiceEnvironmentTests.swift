import SupervisedServer
import SystemdSupport
import Testing

@testable import SupervisorCore

/// The environment contract: what the supervisor writes for an instance is what `SupervisedServer` reads.
@Suite("Service environment: one contract for writer and readers")
struct ServiceEnvironmentTests {
    @Test("SUPERVISOR_LISTEN as the supervisor writes it is read back address by address, IPv6 in brackets")
    func listenRoundTrip() throws {
        var layer = ConfigurationLayer()
        layer[Settings.command] = ["/bin/true"]
        layer[Settings.listen] = try ["127.0.0.1:8080", "web=[::1]:8443", "0.0.0.0:80"].map {
            try SupervisorCore.ListenAddress(parsing: $0)
        }
        let configuration = try Configuration(layer, defaultInstances: 1)
        let value = ServiceEnvironment.listenValue(configuration.listen.map(\.description))
        #expect(value == "127.0.0.1:8080,[::1]:8443,0.0.0.0:80")
        let read = try SupervisedServer.ListenAddress.parseList(value)
        #expect(read.map(\.host) == ["127.0.0.1", "::1", "0.0.0.0"])
        #expect(read.map(\.port) == [8080, 8443, 80])
        #expect(read.map(\.description) == configuration.listen.map(\.description))
    }

    @Test("blanks and empty entries in SUPERVISOR_LISTEN are skipped")
    func listenEntries() {
        #expect(ServiceEnvironment.listenAddresses(in: " 127.0.0.1:1 ,, [::1]:2,") == ["127.0.0.1:1", "[::1]:2"])
    }

    @Test("the supervisor's variables are reserved: a configuration may not set them")
    func reserved() throws {
        for name in ServiceEnvironment.setBySupervisor {
            var layer = ConfigurationLayer()
            layer[Settings.command] = ["/bin/true"]
            layer[Settings.environment] = [name: "x"]
            #expect(throws: ConfigurationError.self, "\(name)") { try Configuration(layer, defaultInstances: 1) }
        }
        #expect(ServiceEnvironment.setBySupervisor.contains(ServiceEnvironment.listen))
        #expect(ServiceEnvironment.setBySupervisor.count == 12)
    }

    @Test("WATCHDOG_USEC is written in microseconds, LISTEN_FDNAMES colon-separated")
    func values() {
        #expect(ServiceEnvironment.watchdogValue(.milliseconds(1500)) == "1500000")
        #expect(ServiceEnvironment.fileDescriptorNames(["web", "admin"]) == "web:admin")
    }
}
