// `sinter-bench check`: CI's deterministic gate (bytes per frame, bit-exact read back).
public import ArgumentParser
import Foundation
import Logging
import StorageEngine
import SyntheticData
import TelemetryModel

public struct Check: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        abstract: "CI gate: a fixed, seeded set of frames into an embedded Sinter store and the LZ4 files; fails on a size regression.",
        discussion: """
            Deterministic: the same frames, batches and single writer every run, so the byte counts are exact and \
            no clock is read. Fails (exit 1) if Sinter's bytes per frame exceed --max-bytes-per-frame, if Sinter is \
            not at least --min-advantage times smaller than byte-shuffle+LZ4, or if any frame does not read back bit for bit.
            """)

    /// The committed bound: 8,558 B/frame measured on 2026-11-22 plus about 2 %.
    public static let committedBound = FleetDataset.sizeGateBytesPerFrame

    @Option(help: "Frames ingested (the committed bound is for 1024).")
    var frames = 1024
    @Option(help: "Most bytes on disk per frame Sinter may use (the committed bound).")
    var maxBytesPerFrame = Check.committedBound
    @Option(help: "How many times smaller than byte-shuffle+LZ4 files Sinter must be (3.57 measured).")
    var minAdvantage = 3.3
    @Option(help: "Scratch directory, removed afterwards.")
    var directory = "/tmp/sinter-bench-check"

    public init() {}

    public func validate() throws {
        guard frames > 0, frames % 64 == 0 else { throw ValidationError("--frames must be a positive multiple of 64") }
        guard maxBytesPerFrame > 0 else { throw ValidationError("--max-bytes-per-frame must be > 0") }
        guard minAdvantage > 0 else { throw ValidationError("--min-advantage must be > 0") }
    }

    func label(_ store: any ComparedStore) -> String {
        switch store {
        case is SinterEmbedded: StoreKind.sinter.title
        case let files as LZ4Files: files.shuffle ? StoreKind.shuffleLZ4.title : StoreKind.lz4.title
        default: "?"
        }
    }

    public func run() async throws {
        let logger = Logger(label: "sinter-bench", factory: { _ in SwiftLogNoOpLogHandler() })
        try? FileManager.default.removeItem(atPath: directory)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let dataset = FleetDataset(machines: 4, intervalSeconds: 1)
        let batches = dataset.batches(0..<frames, writer: 0, writers: 1, batch: 64)
        let sinter = try SinterEmbedded(path: directory + "/sinter", writers: 1, logger: logger)
        let lz4 = try LZ4Files(directory: directory + "/lz4", shuffle: false)
        let shuffle = try LZ4Files(directory: directory + "/shuffle-lz4", shuffle: true)
        var sizes: [(String, Int64)] = []
        for store in [sinter, lz4, shuffle] as [any ComparedStore] {
            for b in batches { try await store.append(b.map { dataset.record(machine: $0.machine, sequence: $0.sequence) }, writer: 0) }
            sizes.append((label(store), try await store.diskUsage().bytes))
        }
        // Every frame back, bit for bit.
        var mismatches = 0
        for (m, id) in dataset.machines.enumerated() {
            let records = try sinter.store.records(machine: id, limit: .max, includeFrames: true)
            let held = dataset.count(machine: m, total: frames)
            if records.count != held { mismatches += abs(records.count - held) }
            for (k, r) in records.enumerated() {
                let expected = dataset.record(machine: m, sequence: k)
                if r.timestamp != expected.timestamp || r.frame.map({ $0.values.map(\.bitPattern) }) != expected.frame!.values.map(\.bitPattern) { mismatches += 1 }
            }
        }
        for store in [sinter, lz4, shuffle] as [any ComparedStore] { try await store.close() }

        let perFrame = sizes.map { ($0.0, Double($0.1) / Double(frames)) }
        print("| store | bytes on disk | bytes/frame | raw Float32 ÷ bytes |")
        print("|---|---:|---:|---:|")
        for ((name, bytes), (_, pf)) in zip(sizes, perFrame) {
            print("| \(name) | \(bytes) | \(fmt(pf, 1)) | \(fmt(40_000 / pf))× |")
        }
        let sinterPF = perFrame[0].1, shufflePF = perFrame[2].1
        var failures: [String] = []
        if sinterPF > Double(maxBytesPerFrame) { failures.append("Sinter uses \(fmt(sinterPF, 1)) bytes per frame, more than the bound \(maxBytesPerFrame) (--max-bytes-per-frame)") }
        if shufflePF / sinterPF < minAdvantage { failures.append("Sinter is only \(fmt(shufflePF / sinterPF))× smaller than byte-shuffle+LZ4, less than \(minAdvantage) (--min-advantage)") }
        if mismatches > 0 { failures.append("\(mismatches) records did not read back bit for bit") }
        print("")
        if failures.isEmpty {
            print("check: \(frames) frames, Sinter \(fmt(sinterPF, 1)) B/frame (bound \(maxBytesPerFrame)), \(fmt(shufflePF / sinterPF))× smaller than byte-shuffle+LZ4, every frame bit-exact: passed")
        } else {
            for f in failures { print("check failed: \(f)") }
            throw ExitCode.failure
        }
    }
}
