// What `compare` measured: JSON (`--json PATH`) and the tables.
import Foundation

/// p50 and p99 (nearest rank) of a set of latencies, milliseconds.
public struct Percentiles: Sendable, Codable {
    public var p50: Double
    public var p99: Double
    public var samples: Int

    init(_ values: [Double]) {
        let s = values.sorted()
        samples = s.count
        p50 = s.isEmpty ? .nan : s[(s.count - 1) / 2]
        p99 = s.isEmpty ? .nan : s[min(s.count - 1, Int((Double(s.count) * 0.99).rounded(.up)) - 1)]
    }
}

/// One store at one size.
public struct StepResult: Sendable, Codable {
    /// Multiple of `--frames` this step reached.
    public var scale: Int
    /// Records (frames) in the store after the step.
    public var records: Int
    /// Records added in this step and the wall time they took (durable when the clock stopped).
    public var ingestedRecords: Int
    public var ingestSeconds: Double
    public var ingestFramesPerSecond: Double
    public var disk: DiskUsage
    public var bytesPerFrame: Double
    /// Raw Float32 bytes of a frame (40,000) over bytes per frame.
    public var ratioToRawFloat32: Double
    public var latestMs: Percentiles
    public var rangeMs: Percentiles
    public var statisticsMs: Percentiles?
    public var seriesMs: Percentiles?
    /// Records the day-statistics query covered and buckets the week series returned.
    public var statisticsRecords: Int?
    public var seriesBuckets: Int?
    /// Whether the aggregate answers equal the first store's (count, extremes; means to 1e-4).
    public var answersAgree: Bool?
}

/// One store over all steps.
public struct StoreResult: Sendable, Codable {
    public var key: String
    public var title: String
    public var writers: Int
    public var steps: [StepResult]
    /// Why the store stopped early, if it did.
    public var error: String?
}

/// The whole run.
public struct CompareResults: Sendable, Codable {
    public var date: String
    public var command: String
    public var cores: Int
    public var memoryGiB: Double
    public var loadAverageAtStart: Double?
    public var configuration: CompareConfiguration
    public var intervalSeconds: Int
    public var rawBytesPerFrame: Int
    public var stores: [StoreResult]
}

// MARK: Tables

func fmt(_ v: Double, _ digits: Int = 2) -> String {
    guard v.isFinite else { return "—" }
    return String(format: "%.\(digits)f", v)
}

/// Thousands separators: 12,345.
func grouped(_ v: Double) -> String {
    guard v.isFinite else { return "—" }
    let n = Int(v.rounded())
    var s = String(abs(n)), out = ""
    while s.count > 3 {
        out = "," + s.suffix(3) + out
        s = String(s.dropLast(3))
    }
    return (n < 0 ? "-" : "") + s + out
}

/// Milliseconds with sensible digits.
func ms(_ v: Double?) -> String {
    guard let v, v.isFinite else { return "—" }
    return v < 1 ? fmt(v, 3) : v < 100 ? fmt(v, 2) : fmt(v, 0)
}

extension CompareResults {
    /// The Markdown report: main table at the largest size, growth, expected shape.
    public func markdown() -> String {
        var o = "# sinter-bench compare — \(date)\n\n"
        o += "`\(command)`\n\n"
        o += "\(cores) cores, \(fmt(memoryGiB, 0)) GiB, load average \(fmt(loadAverageAtStart ?? .nan)) at the start; "
        o += "\(configuration.machines) machines, a record every \(intervalSeconds) s per machine, \(configuration.batch)-record batches, "
        o += "100 × 100 Float32 frames (\(grouped(Double(rawBytesPerFrame))) B raw).\n\n"
        let largest = stores.compactMap { $0.steps.last?.records }.max() ?? 0
        o += "## At \(grouped(Double(largest))) frames\n\n"
        o += "| store | ingest frames/s | bytes/frame | raw Float32 ÷ bytes | latest p50 ms | 100-frame range p50 / p99 ms | day statistics p50 ms | week series (1 h) p50 ms |\n"
        o += "|---|---:|---:|---:|---:|---:|---:|---:|\n"
        for s in stores {
            guard let r = s.steps.last else {
                o += "| \(s.title) | failed: \(s.error ?? "?") | | | | | | |\n"
                continue
            }
            o += "| \(s.title) | \(grouped(r.ingestFramesPerSecond)) | \(grouped(r.bytesPerFrame)) | \(fmt(r.ratioToRawFloat32))× | \(ms(r.latestMs.p50)) | \(ms(r.rangeMs.p50)) / \(ms(r.rangeMs.p99)) | \(ms(r.statisticsMs?.p50)) | \(ms(r.seriesMs?.p50)) |\n"
        }
        let scales = configuration.scales
        o += "\n## As the store grows (\(scales.map { grouped(Double($0 * configuration.frames)) }.joined(separator: " → ")) frames)\n\n"
        o += "Ingest is the rate of each step's new records; queries run on the store as it stands after the step.\n\n"
        o += "| store | ingest frames/s | latest p50 ms | 100-frame range p50 ms | range p99 ms | day statistics p50 ms | week series p50 ms |\n"
        o += "|---|---:|---:|---:|---:|---:|---:|\n"
        for s in stores where !s.steps.isEmpty {
            func row(_ f: (StepResult) -> String) -> String { s.steps.map(f).joined(separator: " → ") }
            o += "| \(s.title) | \(row { grouped($0.ingestFramesPerSecond) }) | \(row { ms($0.latestMs.p50) }) | \(row { ms($0.rangeMs.p50) }) | \(row { ms($0.rangeMs.p99) }) | \(row { ms($0.statisticsMs?.p50) }) | \(row { ms($0.seriesMs?.p50) }) |\n"
        }
        o += "\n" + shape()
        let failed = stores.filter { $0.error != nil }
        if !failed.isEmpty {
            o += "\n## Failures\n\n"
            for s in failed { o += "- \(s.title): \(s.error!)\n" }
        }
        let disagree = stores.filter { $0.steps.contains { $0.answersAgree == false } }
        if !disagree.isEmpty { o += "\nAggregate answers differ from the first store's for: \(disagree.map(\.title).joined(separator: ", ")).\n" }
        return o
    }

    /// The issue's expected shape, checked at the largest size against PostgreSQL with seed
    /// 000's design (`real[]`, the faster of INSERT and COPY for each measure) and against the
    /// best PostgreSQL variant measured (bytea and lz4 TOAST included).
    func shape() -> String {
        func last(_ k: StoreKind) -> StepResult? { stores.first { $0.key == k.rawValue && $0.error == nil }?.steps.last }
        let all = StoreKind.allCases.filter(\.isPostgres).compactMap { k in last(k).map { (k, $0) } }
        let seed = all.filter { $0.0 == .postgres || $0.0 == .postgresCopy }
        guard !all.isEmpty else { return "" }
        let sinter = [last(.sinter), last(.sinterHTTP)]
        var o = "## Expected shape (at the largest size)\n\n"
        o += "| claim | against | Sinter, embedded | Sinter over HTTP | expected |\n|---|---|---:|---:|---|\n"
        func row(_ claim: String, _ group: [(StoreKind, StepResult)], groupName: String, bar: Double, atMost: Bool = false,
                 peer: ([(StoreKind, StepResult)]) -> (StoreKind, StepResult)?, value: (StepResult, StepResult) -> Double, unit: String) {
            guard let p = peer(group) else { return }
            let cells = sinter.map { r -> String in
                guard let r else { return "—" }
                let x = value(r, p.1)
                let met = atMost ? x <= bar : x >= bar
                return "\(fmt(x, atMost ? 2 : 1))\(unit) \(met ? "(met)" : "(**not met**)")"
            }
            o += "| \(claim) | \(groupName): \(p.0.title) | \(cells.joined(separator: " | ")) | \(atMost ? "≤" : "≥") \(fmt(bar, atMost ? 1 : 0))\(unit) |\n"
        }
        for (group, name) in [(seed, "seed design"), (all, "best variant")] where !group.isEmpty {
            row("ingest, faster by", group, groupName: name, bar: 10,
                peer: { $0.max { $0.1.ingestFramesPerSecond < $1.1.ingestFramesPerSecond } },
                value: { $0.ingestFramesPerSecond / $1.ingestFramesPerSecond }, unit: "×")
            row("100-frame range p50, faster by", group, groupName: name, bar: 20,
                peer: { $0.min { $0.1.rangeMs.p50 < $1.1.rangeMs.p50 } },
                value: { $1.rangeMs.p50 / $0.rangeMs.p50 }, unit: "×")
            row("bytes per frame, fraction of", group, groupName: name, bar: 0.5, atMost: true,
                peer: { $0.min { $0.1.bytesPerFrame < $1.1.bytesPerFrame } },
                value: { $0.bytesPerFrame / $1.bytesPerFrame }, unit: "")
        }
        return o
    }
}
