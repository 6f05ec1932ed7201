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
        .executable(name: "sinter-store", targets: ["sinter-store"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
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
        // The store: one public façade (`TelemetryStore`), formats documented in Storage/Format/.
        .target(
            name: "StorageEngine",
            dependencies: [
                "TelemetryModel", "CLZ4", "CRC32C",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // Logic of the `sinter-store` maintenance tool (synthetic ingest, verify, crash soak).
        .target(
            name: "StoreTool",
            dependencies: [
                "StorageEngine", "TelemetryModel", "SyntheticData",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(name: "sinter-store", dependencies: ["StoreTool"], swiftSettings: swiftSettings),
        .testTarget(name: "TelemetryModelTests", dependencies: ["TelemetryModel"], swiftSettings: swiftSettings),
        .testTarget(
            name: "StorageEngineTests",
            dependencies: ["StorageEngine", "TelemetryModel", "StoreTool", "SyntheticData", "CRC32C"],
            swiftSettings: swiftSettings
        ),
    ]
)
