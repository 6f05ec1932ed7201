// package-benchmark suites for the store: codec, durable append, range queries.
// Run: cd Benchmarks && swift package benchmark   (or `make bench` from the root)
import Benchmark
import Foundation
import Logging
import StorageEngine
import SyntheticData
import TelemetryModel

let quiet = Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .throughput, .mallocCountTotal, .peakMemoryResident],
                                           maxDuration: .seconds(5), maxIterations: 10_000)

    let generator = ThermalFieldGenerator(noiseSigma: 0.2, decimals: 2, seed: 3)
    let frames = (0..<64).map { try! ThermalFrame(values: generator.frame(at: $0)) }
    let encoded = frames.map { FrameCompression.encode($0) }

    Benchmark("codec encode 100x100 (σ 0.2, 2 decimals)") { benchmark in
        for i in benchmark.scaledIterations { blackHole(FrameCompression.encode(frames[i % frames.count])) }
    }

    Benchmark("codec decode 100x100 (σ 0.2, 2 decimals)") { benchmark in
        for i in benchmark.scaledIterations { blackHole(try FrameCompression.decode(encoded[i % encoded.count], width: 100, height: 100)) }
    }

    Benchmark("durable append, 32 frames per call", configuration: .init(maxDuration: .seconds(5), maxIterations: 2_000)) { (benchmark: Benchmark, store: TelemetryStore) in
        var sequence = 0
        for _ in benchmark.scaledIterations {
            let records = (0..<32).map { k in
                TelemetryRecord(machineID: try! MachineID("dmls-01"), timestamp: Timestamp(nanoseconds: 1_800_000_000_000_000_000 + Int64(sequence + k) * 1_000_000),
                                kind: "dmls", channels: ["power_kw": 3.5], frame: frames[(sequence + k) % frames.count])
            }
            sequence += 32
            blackHole(try await store.append(records))
        }
    } setup: {
        // A fixed scratch path, emptied first (package-benchmark's teardown gets no context).
        let path = NSTemporaryDirectory() + "sinter-bench-append"
        try? FileManager.default.removeItem(atPath: path)
        return try TelemetryStore.open(at: path, logger: quiet)
    }

    Benchmark("100-record range query (statistics only)") { (benchmark: Benchmark, context: (TelemetryStore, [Timestamp])) in
        let (store, timestamps) = context
        for i in benchmark.scaledIterations {
            blackHole(try store.records(machine: try MachineID("dmls-01"), from: timestamps[(i * 37) % (timestamps.count - 100)], to: .max, limit: 100))
        }
    } setup: { try await queryStore(frames, name: "q\(Int.random(in: 0..<1_000_000))") }

    Benchmark("100-record range query with frames") { (benchmark: Benchmark, context: (TelemetryStore, [Timestamp])) in
        let (store, timestamps) = context
        for i in benchmark.scaledIterations {
            blackHole(try store.records(machine: try MachineID("dmls-01"), from: timestamps[(i * 37) % (timestamps.count - 100)], to: .max,
                                        limit: 100, includeFrames: true))
        }
    } setup: { try await queryStore(frames, name: "q\(Int.random(in: 0..<1_000_000))") }
}

/// A store with 4,096 frames of one machine, sealed.
func queryStore(_ frames: [ThermalFrame], name: String) async throws -> (TelemetryStore, [Timestamp]) {
    let path = NSTemporaryDirectory() + "sinter-bench-" + name
    try? FileManager.default.removeItem(atPath: path)
    var configuration = StoreConfiguration()
    configuration.durability = .relaxed(syncInterval: .milliseconds(100))
    let store = try TelemetryStore.open(at: path, configuration: configuration, logger: quiet)
    var timestamps: [Timestamp] = []
    for chunk in stride(from: 0, to: 4096, by: 64) {
        let records = (chunk..<(chunk + 64)).map { k in
            TelemetryRecord(machineID: try! MachineID("dmls-01"), timestamp: Timestamp(nanoseconds: 1_800_000_000_000_000_000 + Int64(k) * 1_000_000),
                            kind: "dmls", channels: ["power_kw": 3.5], frame: frames[k % frames.count])
        }
        timestamps += records.map(\.timestamp)
        try await store.append(records)
    }
    try await store.flush()
    return (store, timestamps)
}
