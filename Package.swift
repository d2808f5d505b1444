// swift-tools-version:6.1
// cio-relay is licensed under the Apache License, Version 2.0 (LICENSE), as SwiftNIO and Hummingbird are.
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    // A file uses only members of modules it imports, so the dependencies below stay equal to the imports.
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "cio-relay",
    // Linux only (Debian 12, in CI and in the image): the system libraries below come from apt
    // through pkg-config, and no Apple platform is built or tested, so none is claimed here.
    products: [
        .executable(name: "cio-relay", targets: ["cio-relay"]),
        // Built with libFuzzer by scripts/fuzz.sh; an ordinary build replays saved inputs.
        .executable(name: "cio-relay-fuzz", targets: ["cio-relay-fuzz"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CHiredis",
            pkgConfig: "hiredis",
            providers: [.apt(["libhiredis-dev"])]
        ),
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "libssl",
            providers: [.apt(["libssl-dev"])]
        ),
        .systemLibrary(
            name: "CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        .target(
            name: "RelayMetrics",
            dependencies: [
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Warehouse",
            dependencies: [
                "CSQLite",
                "COpenSSL",
                "CustomerIO",
                "RelayMetrics",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Hiredis",
            dependencies: [
                "CHiredis",
                // libssl for TLS to Redis (rediss://): hiredis 0.14 (Debian 12) has no TLS of its own.
                "COpenSSL",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "CustomerIO",
            dependencies: [
                "COpenSSL",
                "RelayMetrics",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "EventQueue",
            dependencies: ["Hiredis"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Receiver",
            dependencies: [
                "CustomerIO",
                "EventQueue",
                "Hiredis",
                "RelayMetrics",
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Worker",
            dependencies: [
                "CustomerIO",
                "EventQueue",
                "Warehouse",
                "Hiredis",
                "RelayMetrics",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "LoadGenerator",
            dependencies: [
                "CustomerIO",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // The settings table, its loading from the environment and CIO_RELAY_CONFIG, and what a
        // role may do on Redis.
        .target(
            name: "RelaySettings",
            dependencies: [
                "CustomerIO",
                "EventQueue",
                "Hiredis",
                "Receiver",
                "Warehouse",
                "Worker",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swiftSettings
        ),
        // What operators ask of a running deployment (status, trace, dead letters, migrate, policy
        // check), as typed results with the text the command line prints.
        .target(
            name: "Operations",
            dependencies: [
                "CustomerIO",
                "EventQueue",
                "Hiredis",
                "Warehouse",
                "Worker",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The console on the admin port: routes, and views from Operations' results to HTML.
        .target(
            name: "Console",
            dependencies: [
                "EventQueue",
                "Hiredis",
                "Operations",
                "RelayMetrics",
                "Warehouse",
                "CustomerIO",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            // Compiled into the binary: the console needs no file beside it.
            resources: [.embedInCode("Resources/console.css")],
            swiftSettings: swiftSettings
        ),
        // Process wiring and start-up: the services of each role under one ServiceGroup, the admin
        // port, logging and metrics, the reference pages.
        // Writes the git commit of the build into RelayApp (BuildInfo.commit).
        .plugin(name: "BuildCommitPlugin", capability: .buildTool()),
        .target(
            name: "RelayApp",
            dependencies: [
                "Console",
                "Receiver",
                "RelaySettings",
                "Worker",
                "Warehouse",
                "EventQueue",
                "Hiredis",
                "CustomerIO",
                "RelayMetrics",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings,
            plugins: ["BuildCommitPlugin"]
        ),
        .executableTarget(
            name: "cio-relay",
            dependencies: [
                "RelayApp",
                "RelaySettings",
                "Operations",
                "Receiver",
                "LoadGenerator",
                "EventQueue",
                "Hiredis",
                "Warehouse",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The invariants of every parser of outside input, for the fuzzer and the corpus replay.
        .target(
            name: "FuzzTargets",
            dependencies: ["CustomerIO", "Hiredis", "Warehouse", "Worker"],
            swiftSettings: swiftSettings
        ),
        .executableTarget(name: "cio-relay-fuzz", dependencies: ["FuzzTargets"], swiftSettings: swiftSettings),
        // Shared by the test targets: test servers, fixtures, signing helpers.
        .target(
            name: "TestSupport",
            dependencies: [
                "Hiredis", "CustomerIO", "EventQueue", "Receiver", "Warehouse",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/TestSupport",
            resources: [.copy("Fixtures")],
            swiftSettings: swiftSettings
        ),
        // Unit tests, one target per library target: they pass under a plain `swift test` with no
        // server and no environment (`scripts/test.sh unit`). Stand-ins for Customer.io and Google
        // run in process (TestSupport).
        .testTarget(
            name: "RelayMetricsTests",
            dependencies: [
                "RelayMetrics",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "FuzzTargetsTests", dependencies: ["FuzzTargets"], swiftSettings: swiftSettings),
        .testTarget(name: "LoadGeneratorTests", dependencies: ["LoadGenerator", "CustomerIO", "TestSupport"], swiftSettings: swiftSettings),
        .testTarget(name: "HiredisTests", dependencies: ["Hiredis", "TestSupport"], swiftSettings: swiftSettings),
        .testTarget(name: "CustomerIOTests", dependencies: ["CustomerIO", "TestSupport"], swiftSettings: swiftSettings),
        .testTarget(
            name: "WorkerTests", dependencies: ["Worker", "CustomerIO", .product(name: "Yams", package: "Yams")], swiftSettings: swiftSettings),
        .testTarget(
            name: "WarehouseTests",
            dependencies: [
                "Warehouse", "CustomerIO", "TestSupport", .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"), .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "EventQueueTests", dependencies: ["EventQueue", "Hiredis"], resources: [.copy("Fixtures")], swiftSettings: swiftSettings),
        .testTarget(
            name: "ReceiverTests",
            dependencies: [
                "Receiver", "EventQueue", "CustomerIO", "TestSupport",
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "RelaySettingsTests",
            dependencies: ["RelaySettings", "TestSupport", "Hiredis", "Receiver", "Worker", "EventQueue", "CustomerIO", "Warehouse"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "OperationsTests",
            dependencies: ["Operations", "TestSupport", "EventQueue", "Hiredis", "Worker"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ConsoleTests",
            dependencies: [
                "Console", "Operations", "EventQueue", "Hiredis", "Receiver", "RelayMetrics", "Warehouse", "TestSupport",
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "RelayAppTests",
            dependencies: [
                "RelayApp", "RelaySettings", "TestSupport", "RelayMetrics",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // Tests against real servers (Redis, a Redis Cluster, Sentinels, PostgreSQL, the BigQuery
        // emulator) that `scripts/test.sh integration` starts and names in CIO_RELAY_TEST_*
        // variables; a missing one fails the test with the variable it needs.
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "Hiredis", "EventQueue", "CustomerIO", "Receiver", "Worker", "Warehouse", "RelaySettings", "Operations", "Console", "RelayApp",
                "RelayMetrics", "TestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            // Stand-ins the tests run by path (Google's Python client, a token endpoint).
            exclude: ["Resources"],
            swiftSettings: swiftSettings
        ),
    ]
)
