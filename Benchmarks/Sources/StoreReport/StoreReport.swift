// `store-report`: measures the store in one run and prints the table quoted in the README
// (compression, codec speed, embedded ingest, query latency, statistics scan, restart, memory),
// plus the same numbers as JSON.
import ArgumentParser
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import StorageEngine
import SyntheticData
import TelemetryModel

@main
struct StoreReport: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store-report",
        abstract: "Measure Sinter's store (compression, ingest, queries, restart, memory) and print a table and JSON.",
        discussion: "Build with -c release. Uses a scratch directory that is deleted afterwards.")

    @Option(help: "Frames per compression configuration.") var compressionFrames = 200
    @Option(help: "Frames ingested for the ingest-rate runs (each of durable and relaxed).") var ingestFrames = 40_000
    @Option(help: "Concurrent writers in the ingest runs.") var writers = 8
    @Option(help: "Frames per append call in the ingest runs.") var batch = 32
    @Option(help: "Raw gigabytes ingested before measuring restart time and memory (0 skips).") var gigabytes = 4.0
    @Option(help: "fsync interval of the relaxed ingest run, ms.") var relaxedSyncMilliseconds = 100
    @Option(help: "Scratch directory (deleted before and after).") var directory = "/tmp/sinter-store-report"
    @Option(help: "Write the results as JSON to this file.") var json: String?

    mutating func run() async throws {
        var results = Results()
        print("# Sinter store report (\(ProcessInfo.processInfo.processorCount) cores, release build)\n")

        // 1. Codec on synthetic frames.
        print("## Frame compression (100 × 100 Float32, \(compressionFrames) frames per row)\n")
        print("| frames | plain LZ4 | byte-shuffle+LZ4 | Sinter codec | entropy bound | codec vs bound | encode µs p50 | decode µs p50 |")
        print("|---|---|---|---|---|---|---|---|")
        for decimals in [1, 2] {
            for sigma: Float in [0.05, 0.2, 0.5] {
                let row = measureCodec(sigma: sigma, decimals: decimals, frames: compressionFrames)
                results.codec.append(row)
                print("| σ \(sigma), \(decimals) dec | \(f(row.lz4Ratio))× | \(f(row.shuffleRatio))× | **\(f(row.codecRatio))×** | \(f(row.entropyRatio))× | \(f(row.codecRatio / row.entropyRatio * 100, 1))% | \(f(row.encodeMicros, 1)) | \(f(row.decodeMicros, 1)) |")
            }
        }

        // 2. Whole-store ratio, everything on disk counted.
        print("\n## Store size (raw Float32 frame bytes / all segment and index bytes on disk)\n")
        print("| frames | records | on disk | ratio |")
        print("|---|---|---|---|")
        for decimals in [2, 1] {
            let (records, bytes) = try await storeSize(sigma: 0.2, decimals: decimals, frames: 4096)
            let ratio = Double(records * 40_000) / Double(bytes)
            results.storeRatios["sigma0.2_\(decimals)dec"] = ratio
            print("| σ 0.2, \(decimals) dec | \(records) | \(bytes) B | **\(f(ratio))×** |")
        }

        // 3. Ingest.
        print("\n## Embedded ingest (\(ingestFrames) frames, \(writers) writers × \(batch)-frame appends, encode included)\n")
        print("| mode | frames/s, median of 3 | min – max | MB/s raw | WAL fsyncs | mean fsync ms |")
        print("|---|---|---|---|---|---|")
        let pool = framePool(count: 256)
        for mode in ["durable", "relaxed"] {
            var runs: [IngestResult] = []
            for _ in 0..<3 {
                // Each run starts with no dirty pages left by the one before (their writeback
                // would otherwise land in this run's time).
                sync()
                runs.append(try await ingestRate(mode: mode, pool: pool))
            }
            runs.sort { $0.framesPerSecond < $1.framesPerSecond }
            let r = runs[1]
            results.ingest[mode] = r.framesPerSecond
            print("| \(mode) | **\(Int(r.framesPerSecond))** | \(Int(runs[0].framesPerSecond)) – \(Int(runs[2].framesPerSecond)) | \(Int(r.framesPerSecond * 40_000 / 1e6)) | \(r.syncs) | \(f(r.meanSyncMillis, 2)) |")
        }

        // 4. Queries, on the relaxed-run store (\(ingestFrames) frames over 4 machines).
        print("\n## Queries (store of \(ingestFrames) frames, 4 machines)\n")
        print("| query | p50 ms | p99 ms |")
        print("|---|---|---|")
        let q = try queryLatencies()
        results.queries = q
        for (name, p) in q.sorted(by: { $0.key < $1.key }) { print("| \(name) | \(f(p.p50, 3)) | \(f(p.p99, 3)) |") }

        // 5. Restart and memory after a few GB.
        if gigabytes > 0 {
            print("\n## Restart and memory after ingesting \(gigabytes) GB of raw frames\n")
            let r = try await bigIngest(pool: pool)
            results.restart = r
            print("| frames | on disk | RSS before | RSS peak during ingest | RSS after | restart ms p50 (5 opens) |")
            print("|---|---|---|---|---|---|")
            print("| \(r.frames) | \(r.diskBytes / 1_000_000) MB | \(r.rssBeforeMB) MB | \(r.rssPeakMB) MB | \(r.rssAfterMB) MB | **\(f(r.restartMillis, 1))** |")
        }
        try? FileManager.default.removeItem(atPath: directory)
        if let json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(results).write(to: URL(fileURLWithPath: json))
            print("\nJSON written to \(json)")
        }
    }

    // MARK: Measurements

    func measureCodec(sigma: Float, decimals: Int, frames: Int) -> CodecRow {
        let generator = ThermalFieldGenerator(noiseSigma: sigma, decimals: decimals, seed: 42)
        var lz4 = 0, shuffle = 0, codec = 0
        var entropyBits = 0.0
        var encodeTimes: [Double] = [], decodeTimes: [Double] = []
        for i in 0..<frames {
            let frame = try! ThermalFrame(values: generator.frame(at: i))
            let analysis = FrameCompression.analyze(frame)
            lz4 += analysis.lz4Bytes
            shuffle += analysis.byteShuffleLZ4Bytes
            entropyBits += analysis.residualEntropyBitsPerValue
            var t0 = DispatchTime.now().uptimeNanoseconds
            let encoded = FrameCompression.encode(frame)
            encodeTimes.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1000)
            codec += encoded.count
            t0 = DispatchTime.now().uptimeNanoseconds
            let decoded = try! FrameCompression.decode(encoded, width: 100, height: 100)
            decodeTimes.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1000)
            precondition(decoded == frame, "codec round trip failed")
        }
        let raw = Double(frames * 40_000)
        return CodecRow(sigma: Double(sigma), decimals: decimals, lz4Ratio: raw / Double(lz4), shuffleRatio: raw / Double(shuffle),
                        codecRatio: raw / Double(codec), entropyRatio: 32 / (entropyBits / Double(frames)),
                        encodeMicros: median(encodeTimes), decodeMicros: median(decodeTimes))
    }

    func storeSize(sigma: Float, decimals: Int, frames: Int) async throws -> (Int, Int64) {
        let path = directory + "/size"
        try? FileManager.default.removeItem(atPath: path)
        let store = try TelemetryStore.open(at: path, logger: quiet)
        let generator = ThermalFieldGenerator(noiseSigma: sigma, decimals: decimals, seed: 7)
        let base = Int64(1_800_000_000) * 1_000_000_000
        for chunk in stride(from: 0, to: frames, by: 64) {
            try await store.append((chunk..<min(chunk + 64, frames)).map { i in
                TelemetryRecord(machineID: try! MachineID("dmls-0\(i % 4)"), timestamp: Timestamp(nanoseconds: base + Int64(i) * 100_000_000),
                                kind: "dmls", channels: ["power_kw": Float(i % 500) / 100, "vibration_mm_s": Float(i % 90) / 100],
                                frame: try! ThermalFrame(values: generator.frame(at: i)))
            })
        }
        try await store.flush()
        let stats = store.statistics()
        try await store.close()
        return (stats.records, stats.segmentBytes)
    }

    func framePool(count: Int) -> [ThermalFrame] {
        let generator = ThermalFieldGenerator(noiseSigma: 0.2, decimals: 2, seed: 1)
        return (0..<count).map { try! ThermalFrame(values: generator.frame(at: $0)) }
    }

    struct IngestResult { var framesPerSecond: Double; var syncs: Int; var meanSyncMillis: Double }

    func ingestRate(mode: String, pool: [ThermalFrame]) async throws -> IngestResult {
        let path = directory + "/ingest-\(mode)"
        try? FileManager.default.removeItem(atPath: path)
        var configuration = StoreConfiguration()
        if mode == "relaxed" { configuration.durability = .relaxed(syncInterval: .milliseconds(relaxedSyncMilliseconds)) }
        let store = try TelemetryStore.open(at: path, configuration: configuration, logger: quiet)
        let perWriter = ingestFrames / writers
        let batch = self.batch
        let started = DispatchTime.now().uptimeNanoseconds
        try await withThrowingTaskGroup(of: Void.self) { group in
            for w in 0..<writers {
                group.addTask {
                    let machine = try MachineID("dmls-0\(w % 4)")
                    var i = 0
                    while i < perWriter {
                        let n = min(batch, perWriter - i)
                        let records = (i..<(i + n)).map { k in
                            // Writers sharing a machine interleave their timestamps.
                            let sequence = Int64(k * writers + w)
                            return TelemetryRecord(machineID: machine, timestamp: Timestamp(nanoseconds: 1_800_000_000_000_000_000 + sequence * 1_000_000),
                                                   kind: "dmls", channels: ["power_kw": 3.5], frame: pool[(k + w) % pool.count])
                        }
                        try await store.append(records)
                        i += n
                    }
                }
            }
            try await group.waitForAll()
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        let stats = store.statistics()
        try await store.close()
        return IngestResult(framesPerSecond: Double(perWriter * writers) / seconds, syncs: stats.counters.walSyncs,
                            meanSyncMillis: Double(stats.counters.walSyncNanoseconds) / Double(max(1, stats.counters.walSyncs)) / 1e6)
    }

    func queryLatencies() throws -> [String: Percentiles] {
        let store = try TelemetryStore.open(at: directory + "/ingest-relaxed", logger: quiet)
        defer { Task { [store] in try? await store.close() } }
        let machine = try MachineID("dmls-00")
        let all = try store.records(machine: machine, limit: .max)
        guard all.count > 200 else { return [:] }
        var rng = SystemRandomNumberGenerator()
        func measure(_ body: (Int) throws -> Void) rethrows -> Percentiles {
            var times: [Double] = []
            for _ in 0..<300 {
                let start = Int.random(in: 0..<(all.count - 100), using: &rng)
                let t0 = DispatchTime.now().uptimeNanoseconds
                try body(start)
                times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
            }
            return Percentiles(times)
        }
        var out: [String: Percentiles] = [:]
        out["100-record range, statistics only"] = try measure { s in
            let r = try store.records(machine: machine, from: all[s].timestamp, to: .max, limit: 100)
            precondition(r.count == 100)
        }
        out["100-record range with frames"] = try measure { s in
            let r = try store.records(machine: machine, from: all[s].timestamp, to: .max, limit: 100, includeFrames: true)
            precondition(r.count == 100 && r.allSatisfy { $0.frame != nil })
        }
        out["latest record with frame"] = try measure { _ in _ = try store.latest(machine: machine, includeFrame: true) }
        out["record by id (frame)"] = try measure { s in _ = try store.record(id: all[s].id) }
        out["statistics scan, whole machine (\(all.count) records)"] = try measure { _ in
            var n = 0
            try store.forEachRecord(machine: machine) { _ in n += 1; return true }
            precondition(n == all.count)
        }
        out["series frame_max, 100 buckets, whole machine"] = try measure { _ in
            let span = all.last!.timestamp.nanoseconds - all.first!.timestamp.nanoseconds
            _ = try store.series(machine: machine, channel: "frame_max", from: all.first!.timestamp, to: all.last!.timestamp,
                                 step: .nanoseconds(max(1, span / 100)))
        }
        return out
    }

    func bigIngest(pool: [ThermalFrame]) async throws -> RestartResult {
        let path = directory + "/big"
        try? FileManager.default.removeItem(atPath: path)
        let frames = Int(gigabytes * 1e9 / 40_000)
        let rssBefore = residentMB()
        var configuration = StoreConfiguration()
        configuration.durability = .relaxed(syncInterval: .milliseconds(100))
        let store = try TelemetryStore.open(at: path, configuration: configuration, logger: quiet)
        var peak = rssBefore
        var written = 0
        let startTime = DispatchTime.now().uptimeNanoseconds
        while written < frames {
            let chunk = min(2048, frames - written)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for part in stride(from: 0, to: chunk, by: 64) {
                    let lo = written + part, hi = written + min(part + 64, chunk)
                    group.addTask {
                        try await store.append((lo..<hi).map { k in
                            TelemetryRecord(machineID: try! MachineID("dmls-0\(k % 8)"), timestamp: Timestamp(nanoseconds: 1_800_000_000_000_000_000 + Int64(k) * 1_000_000),
                                            kind: "dmls", channels: ["power_kw": 3.5], frame: pool[k % pool.count])
                        })
                    }
                }
                try await group.waitForAll()
            }
            written += chunk
            peak = max(peak, residentMB())
            if written % (chunk * 10) == 0 || written == frames {
                let rate = Double(written) / (Double(DispatchTime.now().uptimeNanoseconds - startTime) / 1e9)
                FileHandle.standardError.write(Data("  ingested \(written)/\(frames) frames (\(Int(rate))/s), RSS \(residentMB()) MB\n".utf8))
            }
        }
        try await store.close()
        let after = residentMB()
        var opens: [Double] = []
        var disk: Int64 = 0
        for _ in 0..<5 {
            let t0 = DispatchTime.now().uptimeNanoseconds
            let s = try TelemetryStore.open(at: path, configuration: configuration, logger: quiet)
            opens.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
            disk = s.statistics().segmentBytes + s.statistics().walBytes
            try await s.close()
        }
        return RestartResult(frames: frames, diskBytes: disk, rssBeforeMB: rssBefore, rssPeakMB: peak, rssAfterMB: after,
                             restartMillis: median(opens))
    }
}

// MARK: Results

struct CodecRow: Codable {
    var sigma: Double
    var decimals: Int
    var lz4Ratio: Double
    var shuffleRatio: Double
    var codecRatio: Double
    var entropyRatio: Double
    var encodeMicros: Double
    var decodeMicros: Double
}

struct Percentiles: Codable {
    var p50: Double
    var p99: Double
    init(_ values: [Double]) {
        let s = values.sorted()
        p50 = s[s.count / 2]
        p99 = s[min(s.count - 1, Int(Double(s.count) * 0.99))]
    }
}

struct RestartResult: Codable {
    var frames: Int
    var diskBytes: Int64
    var rssBeforeMB: Int
    var rssPeakMB: Int
    var rssAfterMB: Int
    var restartMillis: Double
}

struct Results: Codable {
    var codec: [CodecRow] = []
    var storeRatios: [String: Double] = [:]
    var ingest: [String: Double] = [:]
    var queries: [String: Percentiles] = [:]
    var restart: RestartResult?
}

import Logging
let quiet = Logger(label: "report", factory: { _ in SwiftLogNoOpLogHandler() })

func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

func f(_ v: Double, _ digits: Int = 2) -> String { String(format: "%.\(digits)f", v) }

/// Resident set size of this process in MB (Linux /proc).
func residentMB() -> Int {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
        return (Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) / 1024
    }
    return 0
}
