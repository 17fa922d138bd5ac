// swift-tools-version: 6.2
import PackageDescription

let strictSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

/// The executables do not export their symbols. Linking the Swift standard library statically adds
/// `-export-dynamic`, which puts every public symbol of every module in the dynamic symbol table (21,000 in
/// `supervisor`, 11,000 in `demo-server`): each start then pays for it in the dynamic loader's symbol lookups and in
/// a `dladdr` scan at start, 0.7-0.9 ms of CPU a start (bench/README.md, "What a start costs"). Nothing loads
/// code against these executables. The names stay in the symbol table of the unstripped build; a stripped one (the
/// Debian package's) loses the public names a profiler could read from the dynamic table. The last of the two flags
/// wins.
let executableLinkerSettings: [LinkerSetting] = [
    .unsafeFlags(["-Xlinker", "--no-export-dynamic"], .when(platforms: [.linux]))
]

let package = Package(
    name: "supervisor",
    products: [
        .executable(name: "supervisor", targets: ["supervisor"]),
        .executable(name: "demo-server", targets: ["demo-server"]),
        .library(name: "SupervisedServer", targets: ["SupervisedServer"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CSystemd",
            pkgConfig: "libsystemd",
            providers: [.apt(["libsystemd-dev"])]
        ),
        .target(name: "CSupervisorShims"),
        .target(
            name: "SystemdSupport",
            dependencies: [
                "CSystemd",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "SupervisorCore",
            dependencies: [
                "CSupervisorShims",
                "SystemdSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "TOMLKit", package: "TOMLKit"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "SupervisorHTTP",
            dependencies: [
                "SupervisorCore",
                "SupervisedServer",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "SupervisorVerify",
            dependencies: [
                "SupervisorCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "supervisor",
            dependencies: [
                "SupervisorCore",
                "SupervisorHTTP",
                "SupervisorVerify",
                "SystemdSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: strictSettings,
            linkerSettings: executableLinkerSettings
        ),
        .target(
            name: "SupervisedServer",
            dependencies: [
                "SystemdSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "demo-server",
            dependencies: [
                "SupervisedServer",
                "SystemdSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings,
            linkerSettings: executableLinkerSettings
        ),
        .testTarget(
            name: "SupervisorCoreTests",
            dependencies: [
                "SupervisorCore",
                "SupervisorHTTP",
                // The environment contract, written by the supervisor and read by the servers.
                "SupervisedServer",
                "SystemdSupport",
                // The fuzz tests run the control socket's server in process.
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        // The flags of `run` against the settings table; pure logic, though it imports the executable's module.
        .testTarget(
            name: "SupervisorCommandTests",
            dependencies: [
                "supervisor", "SupervisorCore", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "SupervisorVerifyTests",
            dependencies: ["SupervisorVerify", "SupervisorCore"],
            swiftSettings: strictSettings
        ),
        .target(
            name: "TestSupport",
            path: "Tests/TestSupport",
            // Test helpers hand out Glibc types (pid_t, sockaddr_in): their imports stay public.
            swiftSettings: [.swiftLanguageMode(.v6), .enableUpcomingFeature("ExistentialAny")]
        ),
        .testTarget(
            name: "SupervisedServerTests",
            dependencies: [
                "SupervisedServer",
                "TestSupport",
                "demo-server",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        // Fuzz targets (fuzz/README.md): libFuzzer drives them when built by fuzz/run; built as here, they replay
        // the corpus and the crashes once found (Tests/IntegrationTests/FuzzCorpusTests.swift).
        .target(name: "FuzzSupport", path: "fuzz/Sources/FuzzSupport", swiftSettings: strictSettings),
        .executableTarget(
            name: "fuzz-config", dependencies: ["FuzzSupport", "SupervisorCore"], path: "fuzz/Sources/fuzz-config",
            swiftSettings: strictSettings),
        .executableTarget(
            name: "fuzz-notify", dependencies: ["FuzzSupport", "SupervisorCore"], path: "fuzz/Sources/fuzz-notify",
            swiftSettings: strictSettings),
        .executableTarget(
            name: "fuzz-control", dependencies: ["FuzzSupport", "SupervisorCore"], path: "fuzz/Sources/fuzz-control",
            swiftSettings: strictSettings),
        .executableTarget(
            name: "fuzz-health",
            dependencies: [
                "FuzzSupport", "SupervisorCore", "SupervisorHTTP", "SupervisedServer",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            path: "fuzz/Sources/fuzz-health", swiftSettings: strictSettings),
        // Runs a program with close_range(2) refused by a seccomp filter, for the descriptor-leak test.
        .executableTarget(name: "no-close-range", path: "Tests/Tools/no-close-range"),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "SupervisorCore", "SupervisorHTTP", "SupervisorVerify", "TestSupport", "supervisor", "demo-server",
                "no-close-range", "fuzz-config", "fuzz-notify", "fuzz-control", "fuzz-health",
            ],
            swiftSettings: strictSettings
        ),
    ]
)
