import Foundation
import Testing

@testable import SupervisorCore

@Suite("Configuration")
struct ConfigurationTests {
    private func layer(_ toml: String) throws -> ConfigurationLayer {
        try ConfigurationFile.parse(toml, path: "app.toml")
    }

    /// The configuration of `toml` with a command added, for one instance.
    private func load(_ toml: String) throws -> Configuration {
        try Configuration(try layer(toml + "\ncommand = [\"/bin/true\"]\n"), defaultInstances: 1)
    }

    @Test("every key of the file is read")
    func fullFile() throws {
        let parsed = try layer(
            """
            name = "app"
            instances = 4
            listen = ["127.0.0.1:8080", "[::1]:8080"]
            ready = "listen"
            ready-timeout = "90s"
            stop-signal = "QUIT"
            drain-timeout = 10
            max-surge = 2
            control-socket = "/tmp/app.sock"
            command = ["/srv/app/bin/server", "--port", "8080"]

            [environment]
            LOG_LEVEL = "debug"
            WORKERS = 8
            """)
        let configuration = try Configuration(parsed, defaultInstances: 2)
        #expect(configuration.name == "app")
        #expect(configuration.instances == 4)
        #expect(configuration.listen.map(\.description) == ["127.0.0.1:8080", "[::1]:8080"])
        #expect(configuration.readiness == .listen)
        #expect(configuration.readyTimeout == .seconds(90))
        #expect(configuration.stopSignal == UnixSignal(name: "QUIT"))
        #expect(configuration.drainTimeout == .seconds(10))
        #expect(configuration.maxSurge == 2)
        #expect(configuration.controlSocket == "/tmp/app.sock")
        #expect(configuration.command == ["/srv/app/bin/server", "--port", "8080"])
        #expect(
            configuration.environment == [
                EnvironmentVariable(name: "LOG_LEVEL", value: "debug"),
                EnvironmentVariable(name: "WORKERS", value: "8"),
            ])
    }

    @Test("defaults: notify readiness, 60 s ready timeout, SIGTERM, 30 s drain, all at once, the CPU count, app mode")
    func defaults() throws {
        var flags = ConfigurationLayer()
        flags[Settings.command] = ["/bin/true"]
        flags[Settings.listen] = [
            ListenAddress(host: "127.0.0.1", port: 80), ListenAddress(host: "::1", port: 80, name: "v6"),
        ]
        let configuration = try Configuration(flags, defaultInstances: 3)
        #expect(configuration.listen.map(\.name) == ["listen0", "v6"])
        #expect(configuration.listenMode == .app)
        #expect(configuration.kernelMigrate == .auto)
        #expect(configuration.backlog == 1024)
        #expect(configuration.name == "default")
        #expect(configuration.instances == 3)
        #expect(configuration.readiness == .notify)
        #expect(configuration.readyTimeout == .seconds(60))
        #expect(configuration.stopSignal == .terminate)
        #expect(configuration.drainTimeout == .seconds(30))
        #expect(configuration.policy.maxSurge == 3)
    }

    @Test("a flag overrides the file; environment variables merge name by name")
    func flagsOverrideFile() throws {
        let file = try layer(
            """
            instances = 4
            command = ["/bin/sleep", "1"]
            [environment]
            A = "file"
            B = "file"
            """)
        var flags = ConfigurationLayer()
        flags[Settings.instances] = 2
        flags[Settings.environment] = ["B": "flag"]
        let configuration = try Configuration(flags.overriding(file), defaultInstances: 1)
        #expect(configuration.instances == 2)
        #expect(configuration.command == ["/bin/sleep", "1"])
        #expect(configuration.environment.map(\.value) == ["file", "flag"])
    }

    @Test("an unknown key is refused with a suggestion and the list of valid keys")
    func unknownKey() {
        #expect {
            try layer("instance = 2")
        } throws: { error in
            let message = (error as? ConfigurationError)?.message ?? ""
            return message.hasPrefix("app.toml: unknown key 'instance'; did you mean 'instances'? valid keys are name,")
        }
    }

    @Test("a value of the wrong kind names the key and the expected kind")
    func wrongType() {
        #expect(throws: ConfigurationError("app.toml: instances must be an integer, not string")) {
            try layer("instances = \"four\"")
        }
    }

    @Test(
        "a refused value is named as the file wrote it: numbers bare, text quoted, choices quoted",
        arguments: [
            ("admin-port-base = 0", "app.toml: admin-port-base = 0 is not a port; use 1 to 65535"),
            (
                "stop-signal = 99",
                "app.toml: stop-signal = 99 is not a signal; use a name like TERM, INT, QUIT, USR1 or WINCH"
            ),
            (
                "stop-signal = \"SIGFOO\"",
                "app.toml: stop-signal = \"SIGFOO\" is not a signal; use a name like TERM, INT, QUIT, USR1 or WINCH"
            ),
            (
                "max-surge = \"some\"",
                "app.toml: max-surge = \"some\" is not a count; use a number of instances or \"all\""
            ),
            (
                "listen-mode = \"proxy\"",
                "app.toml: listen-mode = \"proxy\" is not a listen mode; use \"app\", \"reuseport\" or \"shared\""
            ),
            (
                "environment = \"A=1\"",
                "app.toml: environment must be a table like [environment] with NAME = \"value\" lines, not string"
            ),
        ])
    func refusedValues(toml: String, message: String) {
        #expect(throws: ConfigurationError(message)) { try layer(toml) }
    }

    @Test("malformed TOML is refused with the line and column")
    func malformed() {
        #expect {
            try layer("name = \"app\"\ninstances = = 3")
        } throws: { error in
            ((error as? ConfigurationError)?.message ?? "").hasPrefix("app.toml:2:")
        }
    }

    @Test("a command given as one string with spaces is refused with the array form")
    func commandString() {
        #expect {
            try layer("command = \"/bin/server --port 80\"")
        } throws: { error in
            ((error as? ConfigurationError)?.message ?? "").contains("must be an array of words")
        }
    }

    @Test(
        "invalid settings are refused with the fix",
        arguments: [
            ("instances = 0\ncommand = [\"/bin/true\"]", "instances must be between 1 and 1024, not 0"),
            ("max-surge = 0\ncommand = [\"/bin/true\"]", "max-surge must be at least 1, not 0"),
            (
                "ready = \"listen\"\ncommand = [\"/bin/true\"]",
                "ready = listen needs at least one listen address; add --listen ADDRESS:PORT"
            ),
            ("name = \"a b\"\ncommand = [\"/bin/true\"]", "name 'a b' is not usable"),
            (
                "stop-signal = \"KILL\"\ncommand = [\"/bin/true\"]",
                "stop-signal KILL gives instances no chance to drain"
            ),
            (
                "command = [\"/bin/true\"]\n[environment]\nNOTIFY_SOCKET = \"x\"",
                "environment variable NOTIFY_SOCKET is set by the supervisor"
            ),
            ("instances = 1", "no command to supervise"),
            (
                "listen-mode = \"shared\"\ncommand = [\"/bin/true\"]",
                "listen-mode shared needs at least one listen address"
            ),
            (
                "listen = [\"a=127.0.0.1:1\", \"a=127.0.0.1:2\"]\ncommand = [\"/bin/true\"]",
                "two listen addresses have the same name"
            ),
            (
                "listen = [\"127.0.0.1:1\", \"x=127.0.0.1:1\"]\ncommand = [\"/bin/true\"]",
                "a listen address is given twice"
            ),
            ("backlog = 0\ncommand = [\"/bin/true\"]", "backlog must be between 1 and 65535"),
        ])
    func invalid(toml: String, expected: String) throws {
        let parsed = try layer(toml)
        #expect {
            try Configuration(parsed, defaultInstances: 1)
        } throws: { error in
            ((error as? ConfigurationError)?.message ?? "").hasPrefix(expected)
        }
    }

    @Test("durations: seconds, milliseconds, minutes, compound, and plain numbers")
    func durations() throws {
        #expect(try Duration.parse("30s", for: "x") == .seconds(30))
        #expect(try Duration.parse("500ms", for: "x") == .milliseconds(500))
        #expect(try Duration.parse("1.5s", for: "x") == .milliseconds(1500))
        #expect(try Duration.parse("2m", for: "x") == .seconds(120))
        #expect(try Duration.parse("1m30s", for: "x") == .seconds(90))
        #expect(try Duration.parse("1h", for: "x") == .seconds(3600))
        #expect(try Duration.parse("45", for: "x") == .seconds(45))
        #expect(try Duration.parse("0.25", for: "x") == .milliseconds(250))
        for bad in ["", "5x", "s", "-3", "1.2.3s", "ms5"] {
            #expect(throws: ConfigurationError.self) { try Duration.parse(bad, for: "--ready-timeout") }
        }
    }

    @Test("listen addresses: IPv4, bracketed IPv6, every address, and names")
    func listenAddresses() throws {
        #expect(try ListenAddress(parsing: "127.0.0.1:8080") == ListenAddress(host: "127.0.0.1", port: 8080))
        #expect(try ListenAddress(parsing: "[::1]:443").description == "[::1]:443")
        #expect(try ListenAddress(parsing: "[::]:80").isWildcard)
        #expect(try ListenAddress(parsing: "0.0.0.0:80").isWildcard)
        let named = try ListenAddress(parsing: "http=127.0.0.1:8080")
        #expect(named.name == "http")
        #expect(named.description == "127.0.0.1:8080")
        #expect(named.unnamed == ListenAddress(host: "127.0.0.1", port: 8080))
        let bads = [
            "8080", "localhost:8080", "::1:8080", "127.0.0.1:0", "127.0.0.1:70000", "[zz]:80", ":80", "*:80",
            "a:b=127.0.0.1:80", "=127.0.0.1:80",
        ]
        for bad in bads {
            #expect(throws: ConfigurationError.self) { try ListenAddress(parsing: bad) }
        }
    }

    @Test("listen addresses of the other kinds: udp:ADDR:PORT and unix:/PATH, named, printed back as written")
    func otherListenKinds() throws {
        let udp = try ListenAddress(parsing: "dns=udp:[::1]:53")
        #expect(udp.kind == .udp && udp.host == "::1" && udp.port == 53 && udp.name == "dns")
        #expect(udp.description == "udp:[::1]:53")
        #expect(udp.tcpPort == nil)
        #expect(try ListenAddress(parsing: "tcp:127.0.0.1:80") == ListenAddress(host: "127.0.0.1", port: 80))
        #expect(try ListenAddress(parsing: "udp:127.0.0.1:80") != ListenAddress(host: "127.0.0.1", port: 80))
        // A '=' inside the path is not a name.
        let unix = try ListenAddress(parsing: "api=unix:/run/app/a=b.sock")
        #expect(unix.kind == .unix && unix.path == "/run/app/a=b.sock" && unix.name == "api")
        #expect(unix.description == "unix:/run/app/a=b.sock")
        #expect(unix.named("x").unnamed == ListenAddress(unixPath: "/run/app/a=b.sock"))
        let longest = "/" + String(repeating: "p", count: ListenAddress.maximumPathLength - 1)
        #expect(try ListenAddress(parsing: "unix:" + longest).path == longest)
        let reasons = [
            ("unix:run/app.sock", "give an absolute path"), ("unix:@abstract", "abstract sockets are not supported"),
            ("unix:/run/app/", "the path must name a file"), ("unix:" + longest + "p", "can have at most 107"),
            ("udp:127.0.0.1", "has no port"), ("udp:localhost:53", "is not an IP address"),
            ("unix:/run/a,b.sock", "separates the addresses of SUPERVISOR_LISTEN"),
        ]
        for (text, reason) in reasons {
            #expect {
                try ListenAddress(parsing: text)
            } throws: { error in
                "\(error)".contains(reason)
            }
        }
    }

    @Test("start-nice is off by default, and a nice value from 0 to 19")
    func startNiceRange() throws {
        #expect(try load("").startNice == 0)
        #expect(try load("start-nice = 19").startNice == 19)
        for bad in ["start-nice = 20", "start-nice = -1"] {
            #expect {
                try load(bad)
            } throws: { error in
                "\(error)".contains("start-nice must be a nice value from 0 (off) to 19")
            }
        }
    }

    @Test("start-idle is off by default, and a duration")
    func startIdleDuration() throws {
        #expect(try load("").startIdle == .zero)
        #expect(try load(#"start-idle = "1.5s""#).startIdle == .milliseconds(1500))
        #expect(try load("start-idle = 2").startIdle == .seconds(2))
    }

    @Test("stop-pace is 0 (together) by default, and a duration")
    func stopPaceDuration() throws {
        #expect(try load("").stopPace == .zero)
        #expect(try load(#"stop-pace = "50ms""#).stopPace == .milliseconds(50))
        #expect(throws: ConfigurationError.self) { try load(#"stop-pace = "-1s""#) }
        // 4 instances 10 s apart: the last is signalled 30 s after the first, when drain-timeout kills it.
        let error = #expect(throws: ConfigurationError.self) { try load("instances = 4\nstop-pace = \"10s\"") }
        #expect(error?.description.contains("within drain-timeout 30 s") == true, "\(String(describing: error))")
        #expect(try load("instances = 4\nstop-pace = \"9s\"").stopPace == .seconds(9))
    }

    @Test("a handover state written before listen kinds existed reads as TCP")
    func listenAddressDecodesOldState() throws {
        let old = #"{"host":"127.0.0.1","port":8080,"name":"web"}"#
        let decoded = try JSONDecoder().decode(ListenAddress.self, from: Data(old.utf8))
        #expect(decoded == ListenAddress(host: "127.0.0.1", port: 8080, name: "web"))
        let unix = ListenAddress(unixPath: "/run/a.sock", name: "api")
        #expect(try JSONDecoder().decode(ListenAddress.self, from: JSONEncoder().encode(unix)) == unix)
    }

    @Test("unix: needs shared mode; udp: cannot serve the health endpoint; socket-mode and socket-group are checked")
    func listenKindRules() throws {
        let shared = try load(
            #"listen = ["api=unix:/run/app.sock", "udp:127.0.0.1:53"]"# + "\nlisten-mode = \"shared\"")
        #expect(shared.listen.map(\.description) == ["unix:/run/app.sock", "udp:127.0.0.1:53"])
        #expect(shared.listen.map(\.name) == ["api", "listen1"])
        #expect(shared.socketPermissions == .standard)
        for mode in ["app", "reuseport"] {
            #expect {
                try load("listen = \"unix:/run/app.sock\"\nlisten-mode = \"\(mode)\"")
            } throws: { error in
                "\(error)".contains("needs listen-mode shared, not \(mode)")
            }
        }
        #expect(try load("listen = \"udp:127.0.0.1:53\"\nlisten-mode = \"reuseport\"").listen.first?.kind == .udp)
        #expect {
            try load("listen = \"udp:127.0.0.1:53\"\nready = \"listen\"")
        } throws: { error in
            "\(error)".contains("every listen address is UDP")
        }
        #expect {
            try load("listen = \"127.0.0.1:80\"\nhealth = \"udp:127.0.0.1:81\"")
        } throws: { error in
            "\(error)".contains("the health endpoint speaks HTTP")
        }
        #expect(try load("listen = \"127.0.0.1:80\"\nhealth = \"unix:/run/h.sock\"").health?.kind == .unix)
        let modes = try load("listen = \"127.0.0.1:80\"\nsocket-mode = \"0o600\"\nsocket-group = \"0\"")
        #expect(modes.socketPermissions == SocketPermissions(mode: 0o600, uid: nil, gid: 0))
        for (mode, reason) in [("888", "is not a file mode"), ("1777", "is not a file mode"), ("0444", "not even")] {
            #expect {
                try load("listen = \"127.0.0.1:80\"\nsocket-mode = \"\(mode)\"")
            } throws: { error in
                "\(error)".contains(reason)
            }
        }
        #expect {
            try load("listen = \"127.0.0.1:80\"\nsocket-group = \"no-such-group-here\"")
        } throws: { error in
            "\(error)".contains("socket-group 'no-such-group-here' does not exist")
        }
        #expect {
            try load("listen = \"127.0.0.1:80\"\nreceive-buffer = 10")
        } throws: { error in
            "\(error)".contains("receive-buffer must be between 4096")
        }
    }

    @Test("the /proc hex form of an address matches what the kernel prints")
    func procHex() throws {
        #expect(try ListenAddress(parsing: "127.0.0.1:80").procHexAddress == "0100007F")
        #expect(try ListenAddress(parsing: "[::1]:80").procHexAddress == "00000000000000000000000001000000")
    }

    @Test("signal names: with or without SIG, any case, numbers, real-time signals")
    func signalNames() {
        #expect(UnixSignal(name: "TERM") == .terminate)
        #expect(UnixSignal(name: "sigterm") == .terminate)
        #expect(UnixSignal(name: "15") == .terminate)
        #expect(UnixSignal(name: "WINCH")?.description == "SIGWINCH")
        #expect(UnixSignal(name: "RTMIN+2")?.description == "SIGRTMIN+2")
        #expect(UnixSignal(name: "TERMINATE") == nil)
        #expect(UnixSignal(name: "99") == nil)
    }

    @Test("the control socket goes to RUNTIME_DIRECTORY, /run/supervisor for root, else XDG_RUNTIME_DIR")
    func controlSocketLocation() throws {
        let systemd = try ControlSocketLocation(
            explicit: nil, name: "app", environment: ["RUNTIME_DIRECTORY": "/run/supervisor/app"], isRoot: true)
        #expect(systemd.path == "/run/supervisor/app/app.sock")
        let root = try ControlSocketLocation(explicit: nil, name: "app", environment: [:], isRoot: true)
        #expect(root.candidates == ["/run/supervisor/app.sock", "/run/supervisor/app/app.sock"])
        let user = try ControlSocketLocation(
            explicit: nil, name: "app", environment: ["XDG_RUNTIME_DIR": "/run/user/1000"], isRoot: false)
        #expect(user.path == "/run/user/1000/supervisor/app.sock")
        #expect(throws: ConfigurationError.self) {
            try ControlSocketLocation(explicit: nil, name: "app", environment: [:], isRoot: false)
        }
        #expect(try ControlSocketLocation(explicit: "/tmp/x.sock", name: "app", environment: [:]).directory == "/tmp")
    }
}

extension ConfigurationTests {
    @Test("a relative control socket path is made absolute, because sd_notify ignores a relative NOTIFY_SOCKET")
    func relativeControlSocket() throws {
        let location = try ControlSocketLocation(explicit: "run/app.sock", name: "app", environment: [:])
        #expect(location.path.hasPrefix("/"))
        #expect(location.path.hasSuffix("/run/app.sock"))
        #expect(location.directory.hasPrefix("/"))
    }
}
