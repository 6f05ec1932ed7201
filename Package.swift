// swift-tools-version: 6.2
// Sinter: a time-series engine and toolkit for fleets of industrial 3D printers.
import PackageDescription

/// One settings block for every Swift target (Swift 6 language mode is the tools-version default).
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "Sinter",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "TelemetryModel", targets: ["TelemetryModel"]),
        .library(name: "StorageEngine", targets: ["StorageEngine"]),
        .library(name: "SyntheticData", targets: ["SyntheticData"]),
        .library(name: "TelemetryServer", targets: ["TelemetryServer"]),
        .executable(name: "sinter-store", targets: ["sinter-store"]),
        .executable(name: "sinter-server", targets: ["sinter-server"]),
        .library(name: "PrinterSimulation", targets: ["PrinterSimulation"]),
        .executable(name: "sinter-sim", targets: ["sinter-sim"]),
        .library(name: "OPCUA", targets: ["OPCUA"]),
        .executable(name: "sinter-opcua", targets: ["sinter-opcua"]),
        .library(name: "SinterHTTPClient", targets: ["SinterHTTPClient"]),
        .library(name: "EdgeGateway", targets: ["EdgeGateway"]),
        .executable(name: "sinter-edge", targets: ["sinter-edge"]),
        .library(name: "AnomalyDetection", targets: ["AnomalyDetection"]),
        .executable(name: "sinter-detect", targets: ["sinter-detect"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        // HTTP server (sinter-server): Hummingbird 2 on SwiftNIO.
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.80.0"),
        // Graceful shutdown of long-lived services (server, store) on SIGINT/SIGTERM.
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        // Metrics API and its Prometheus exposition for /metrics.
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.0"),
        // HTTP client for the components that post to sinter-server (simulator, edge, detector):
        // connection pooling, timeouts and redirects we would otherwise write by hand.
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
    ],
    targets: [
        // The record model: machine ids, timestamps, records, thermal frames. No dependencies.
        .target(name: "TelemetryModel", swiftSettings: swiftSettings),
        // Seeded synthetic thermal frames and telemetry for tests, benchmarks and the crash tool.
        .target(name: "SyntheticData", dependencies: ["TelemetryModel"], swiftSettings: swiftSettings),
        // The system liblz4 (Debian: liblz4-dev).
        .systemLibrary(name: "CLZ4", pkgConfig: "liblz4", providers: [.apt(["liblz4-dev"])]),
        // CRC32C (Castagnoli) with the SSE4.2 instruction where the CPU has it.
        .target(name: "CRC32C"),
        // The one file layer of every durable file (store, alert log, spool, dead letters): POSIX calls
        // behind a protocol, and the fault-injecting file system the power-loss and I/O-error tests use.
        .target(name: "DurableFiles", dependencies: ["CRC32C"], swiftSettings: swiftSettings),
        // The store: one public façade (`TelemetryStore`), formats documented in Storage/Format/.
        .target(
            name: "StorageEngine",
            dependencies: [
                "TelemetryModel", "CLZ4", "CRC32C", "DurableFiles",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // Logic of the `sinter-store` maintenance tool (synthetic ingest, verify, crash soak).
        .target(
            name: "StoreTool",
            dependencies: [
                "StorageEngine", "TelemetryModel", "SyntheticData", "DurableFiles",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(name: "sinter-store", dependencies: ["StoreTool"], swiftSettings: swiftSettings),
        // The HTTP ingest/query server as a library: routes, ingest parsers, alerts, live stream, metrics.
        .target(
            name: "TelemetryServer",
            dependencies: [
                "StorageEngine", "TelemetryModel",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            // The dashboard, compiled into the binary (served at `/`).
            resources: [
                .embedInCode("Dashboard/Assets/index.html"),
                .embedInCode("Dashboard/Assets/dashboard.css"),
                .embedInCode("Dashboard/Assets/dashboard.js"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(name: "sinter-server", dependencies: ["TelemetryServer"], swiftSettings: swiftSettings),
        // The one HTTP client of Sinter's API (simulator, edge, detector): URL, token, timeouts, the batch codec, one retry policy.
        .target(
            name: "SinterHTTPClient",
            dependencies: [
                "TelemetryModel",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // Simulated DMLS and FDM printers: heat model, state cycle, faults with ground-truth labels,
        // the HTTP output to sinter-server and seed 001's status endpoint.
        .target(
            name: "PrinterSimulation",
            dependencies: [
                "TelemetryModel", "SyntheticData", "OPCUA", "SinterHTTPClient",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(name: "sinter-sim", dependencies: ["PrinterSimulation"], swiftSettings: swiftSettings),
        // OPC UA Binary on SwiftNIO: encoding, UACP framing, secure channel (None), sessions,
        // services, address space, subscriptions; a server and a client. No OPC UA package exists for Swift.
        .target(
            name: "OPCUA",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "TelemetryModelTests", dependencies: ["TelemetryModel"], swiftSettings: swiftSettings),
        .testTarget(
            name: "StorageEngineTests",
            dependencies: ["StorageEngine", "TelemetryModel", "StoreTool", "SyntheticData", "CRC32C", "DurableFiles"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "TelemetryServerTests",
            dependencies: [
                "TelemetryServer", "StorageEngine", "TelemetryModel", "SyntheticData", "DurableFiles",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "PrinterSimulationTests",
            dependencies: [
                "PrinterSimulation", "TelemetryModel", "TelemetryServer", "StorageEngine", "OPCUA",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ],
            swiftSettings: swiftSettings
        ),
        // `sinter-opcua serve|check|bench`: the OPC UA server and client on the command line.
        .target(
            name: "OPCUATool",
            dependencies: [
                "OPCUA",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(name: "sinter-opcua", dependencies: ["OPCUATool"], swiftSettings: swiftSettings),
        .testTarget(
            name: "OPCUATests",
            dependencies: [
                "OPCUA",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // The edge gateway: OPC UA intake (server for printers, client for real machines),
        // averaging and statistics, the on-disk spool, forwarding to sinter-server.
        .target(
            name: "EdgeGateway",
            dependencies: [
                "TelemetryModel", "OPCUA", "CRC32C", "DurableFiles", "SinterHTTPClient",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(name: "sinter-edge", dependencies: ["EdgeGateway"], swiftSettings: swiftSettings),
        .testTarget(
            name: "EdgeGatewayTests",
            dependencies: [
                "EdgeGateway", "TelemetryModel", "OPCUA", "CRC32C", "SinterHTTPClient", "DurableFiles", "SyntheticData",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // sinter-detect: rules, Isolation Forest, streaming features, evaluation (pure), and the
        // service that reads sinter-server's stream and writes alerts through its API.
        .target(
            name: "AnomalyDetection",
            dependencies: [
                "TelemetryModel", "SinterHTTPClient",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(name: "sinter-detect", dependencies: ["AnomalyDetection"], swiftSettings: swiftSettings),
        .testTarget(
            name: "AnomalyDetectionTests",
            dependencies: [
                "AnomalyDetection", "TelemetryModel", "TelemetryServer", "StorageEngine", "PrinterSimulation",
                .product(name: "Logging", package: "swift-log"),
            ],
            exclude: ["Fixtures"],
            swiftSettings: swiftSettings
        ),
        // sim -> edge -> server -> store -> query, in-process on loopback ports.
        .testTarget(
            name: "EndToEndTests",
            dependencies: [
                "EdgeGateway", "PrinterSimulation", "TelemetryServer", "StorageEngine", "TelemetryModel", "OPCUA",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
