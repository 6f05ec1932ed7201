// swift-tools-version: 6.2
// Sinter's benchmarks: package-benchmark suites, the store report (compression, ingest,
// query latency, restart), the server report (HTTP load on sinter-server) and sinter-bench
// (Sinter side by side with PostgreSQL, SQLite and LZ4 files; CI's deterministic size gate).
// A separate package so that the root package's dependencies stay lean; `make test` builds it
// in debug only for `sinter-bench check` (`make bench-check`).
import PackageDescription

let package = Package(
    name: "SinterBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "Sinter", path: "../"),
        .package(url: "https://github.com/ordo-one/benchmark.git", from: "1.38.0", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        // HTTP client of server-report.
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.80.0"),
        // PostgreSQL peer of `sinter-bench compare` (binary bind parameters, text COPY).
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.0"),
    ],
    targets: [
        // `swift package benchmark`: codec, ingest and query micro-benchmarks with allocation counts.
        .executableTarget(
            name: "StoreBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "StorageEngine", package: "Sinter"),
                .product(name: "SyntheticData", package: "Sinter"),
                .product(name: "TelemetryModel", package: "Sinter"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/StoreBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // `swift package benchmark --target ServerBenchmarks`: the server's JSON telemetry parser.
        .executableTarget(
            name: "ServerBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "TelemetryServer", package: "Sinter"),
                .product(name: "SyntheticData", package: "Sinter"),
                .product(name: "TelemetryModel", package: "Sinter"),
            ],
            path: "Benchmarks/ServerBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // `swift package benchmark --target SimulationBenchmarks`: a fleet's simulated second.
        .executableTarget(
            name: "SimulationBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "PrinterSimulation", package: "Sinter"),
                .product(name: "TelemetryModel", package: "Sinter"),
            ],
            path: "Benchmarks/SimulationBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // `swift run -c release store-report`: the table in the README, measured in one run, and JSON.
        .executableTarget(
            name: "store-report",
            dependencies: [
                .product(name: "StorageEngine", package: "Sinter"),
                .product(name: "SyntheticData", package: "Sinter"),
                .product(name: "TelemetryModel", package: "Sinter"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/StoreReport"
        ),
        // `swift run -c release server-report`: HTTP load on a sinter-server child process (ingest
        // frames/s, range query latency) with pass/fail bars; `make bench-server`.
        .executableTarget(
            name: "server-report",
            dependencies: [
                .product(name: "SyntheticData", package: "Sinter"),
                .product(name: "TelemetryModel", package: "Sinter"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                "BenchKit",
            ],
            path: "Sources/ServerReport"
        ),
        // Helpers shared by the report executables: a sinter-server child process, progress output.
        .target(
            name: "BenchKit",
            dependencies: [.product(name: "Logging", package: "swift-log")],
            path: "Sources/BenchKit"
        ),
        // The system libsqlite3 (Debian: libsqlite3-dev): SQLite peer of `sinter-bench compare`.
        .systemLibrary(name: "CSQLite3", path: "Sources/CSQLite3", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        // The system liblz4 (Debian: liblz4-dev), for the plain LZ4 and byte-shuffle+LZ4 file baselines.
        .systemLibrary(name: "CLZ4Baseline", path: "Sources/CLZ4Baseline", pkgConfig: "liblz4", providers: [.apt(["liblz4-dev"])]),
        // `sinter-bench`'s logic: Sinter side by side with PostgreSQL, SQLite and LZ4 files
        // (`compare`), and the deterministic bytes-per-frame gate of CI (`check`).
        .target(
            name: "SinterBench",
            dependencies: [
                "BenchKit", "CSQLite3", "CLZ4Baseline",
                .product(name: "StorageEngine", package: "Sinter"),
                .product(name: "SyntheticData", package: "Sinter"),
                .product(name: "TelemetryModel", package: "Sinter"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            path: "Sources/SinterBench"
        ),
        // `sinter-bench compare | check`: a thin @main over SinterBench.
        .executableTarget(name: "sinter-bench", dependencies: ["SinterBench"], path: "Sources/sinter-bench"),
    ]
)
