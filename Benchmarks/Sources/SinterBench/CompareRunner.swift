// Runs every store through the same growth steps and queries.
import BenchKit
import Foundation
import Logging
import SyntheticData
import TelemetryModel

/// Runs `compare`: for each store, ingest to N, 10×N, 100×N records (each step adding what is
/// missing), and after each step measure size and the queries.
public struct CompareRunner: Sendable {
    public var configuration: CompareConfiguration
    public var logger: Logger
    public var command: String

    public init(configuration: CompareConfiguration, logger: Logger, command: String) {
        self.configuration = configuration
        self.logger = logger
        self.command = command
    }

    public func run() async throws -> CompareResults {
        let c = configuration
        let interval = c.effectiveIntervalSeconds
        let dataset = FleetDataset(machines: c.machines, intervalSeconds: interval)
        let progress = ProgressBar()
        var results = CompareResults(date: ISO8601DateFormatter().string(from: Date()), command: command,
                                     cores: ProcessInfo.processInfo.activeProcessorCount,
                                     memoryGiB: Double(ProcessInfo.processInfo.physicalMemory) / Double(1 << 30),
                                     loadAverageAtStart: loadAverage(), configuration: c, intervalSeconds: interval,
                                     rawBytesPerFrame: 40_000, stores: [])
        try? FileManager.default.removeItem(atPath: c.directory)
        try FileManager.default.createDirectory(atPath: c.directory, withIntermediateDirectories: true)
        var reference: [Int: (Aggregate, [Bucket])] = [:]
        for (i, kind) in c.stores.enumerated() {
            let label = "[\(i + 1)/\(c.stores.count) \(kind.rawValue)]"
            var result = StoreResult(key: kind.rawValue, title: kind.title, writers: 0, steps: [])
            do {
                let store = try await open(kind)
                result.writers = store.writers
                do {
                    var total = 0
                    for scale in c.scales {
                        var step = try await runStep(store, dataset: dataset, from: total, to: scale * c.frames, scale: scale,
                                                     label: label, progress: progress)
                        total = scale * c.frames
                        // Cross-check the aggregates against the first store that answered them.
                        if let agg = step.aggregate, let series = step.series {
                            if let (a, b) = reference[scale] {
                                step.result.answersAgree = agg.agrees(with: a) && Self.same(series, b)
                                if step.result.answersAgree == false {
                                    logger.warning("\(kind.rawValue): aggregates differ at ×\(scale): \(agg) vs \(a); \(series.count) vs \(b.count) buckets")
                                }
                            } else {
                                reference[scale] = (agg, series)
                                step.result.answersAgree = true
                            }
                        }
                        result.steps.append(step.result)
                    }
                } catch {
                    try? await store.close()
                    throw error
                }
                try await store.close()
            } catch {
                result.error = String(describing: error)
                logger.error("\(kind.rawValue) failed: \(error)")
                progress.end("failed: \(error)")
            }
            results.stores.append(result)
        }
        try? FileManager.default.removeItem(atPath: c.directory)
        return results
    }

    static func same(_ a: [Bucket], _ b: [Bucket]) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { x, y in
            x.offsetSeconds == y.offsetSeconds && x.count == y.count && x.min == y.min && x.max == y.max
                && abs(x.mean - y.mean) <= 1e-4 * max(1, abs(x.mean))
        }
    }

    func open(_ kind: StoreKind) async throws -> any ComparedStore {
        let c = configuration
        switch kind {
        case .sinter: return try SinterEmbedded(path: c.directory + "/sinter", writers: c.writers, logger: logger)
        case .sinterHTTP: return try await SinterHTTP.start(binary: c.serverBinary, path: c.directory + "/sinter-http", writers: c.writers)
        case .postgres, .postgresCopy, .postgresLZ4, .postgresBytea:
            var variant = PostgresPeer.Variant()
            switch kind {
            case .postgresCopy: variant.load = .copy
            case .postgresLZ4: variant.compression = "lz4"
            case .postgresBytea: variant.bytea = true
            default: break
            }
            return try await PostgresPeer.open(host: c.postgresHost, port: c.postgresPort, user: c.postgresUser, database: c.postgresDatabase,
                                               writers: c.writers, variant: variant, logger: logger)
        case .sqlite: return try SQLitePeer(path: c.directory + "/sqlite/readings.db")
        case .lz4: return try LZ4Files(directory: c.directory + "/lz4", shuffle: false)
        case .shuffleLZ4: return try LZ4Files(directory: c.directory + "/shuffle-lz4", shuffle: true)
        }
    }

    struct Step {
        var result: StepResult
        var aggregate: Aggregate?
        var series: [Bucket]?
    }

    func runStep(_ store: any ComparedStore, dataset: FleetDataset, from: Int, to: Int, scale: Int, label: String,
                 progress: ProgressBar) async throws -> Step {
        let c = configuration
        // Ingest [from, to): each writer its own machines, batches in order.
        let writers = max(1, min(store.writers, c.machines))
        progress.begin("\(label) ingest to ×\(scale)", total: to - from)
        let t0 = nowNanoseconds()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for w in 0..<writers {
                let batches = dataset.batches(from..<to, writer: w, writers: writers, batch: c.batch)
                group.addTask {
                    for batch in batches {
                        try await store.append(batch.map { dataset.record(machine: $0.machine, sequence: $0.sequence) }, writer: w)
                        progress.advance(batch.count)
                    }
                }
            }
            try await group.waitForAll()
        }
        let seconds = Double(nowNanoseconds() - t0) / 1e9
        let rate = Double(to - from) / seconds
        progress.end("\(to - from) frames in \(fmt(seconds)) s: \(grouped(rate)) frames/s")
        try await store.afterIngest()
        let disk = try await store.diskUsage()

        // Queries.
        var random = SeededRandom(seed: c.seed &+ UInt64(scale))   // reproducible query offsets
        let m = dataset.machines.count
        let queries = c.latestQueries + c.rangeQueries + 2 * c.aggregateQueries
        progress.begin("\(label) queries at ×\(scale)", total: queries)
        func timed(_ body: () async throws -> Void) async throws -> Double {
            let t = nowNanoseconds()
            try await body()
            return Double(nowNanoseconds() - t) / 1e6
        }
        // One unmeasured query of each kind first (connections, statement caches, page cache).
        _ = try await store.latest(machine: dataset.machines[0])
        _ = try await store.range(machine: dataset.machines[0], from: dataset.timestamp(0), limit: c.rangeLimit)

        var latest: [Double] = []
        for q in 0..<c.latestQueries {
            latest.append(try await timed {
                let n = try await store.latest(machine: dataset.machines[q % m])
                guard n == 10_000 else { throw BenchFailure("latest: a frame of \(n) values") }
            })
            progress.advance()
        }
        var ranges: [Double] = []
        for q in 0..<c.rangeQueries {
            let machine = q % m
            let held = dataset.count(machine: machine, total: to)
            let limit = min(c.rangeLimit, held)
            let start = held > limit ? Int(random.next() % UInt64(held - limit + 1)) : 0
            var got: [Timestamp] = []
            ranges.append(try await timed {
                got = try await store.range(machine: dataset.machines[machine], from: dataset.timestamp(start), limit: limit)
            })
            let expected = (start..<(start + limit)).map { dataset.timestamp($0) }
            guard got == expected else {
                throw BenchFailure("range query \(q) returned \(got.count) records starting \(got.first.map(\.description) ?? "-"), expected \(limit) from \(expected.first!)")
            }
            progress.advance()
        }
        // A day and a week up to just after the newest record of the first machine.
        let held0 = dataset.count(machine: 0, total: to)
        let end = Timestamp(nanoseconds: dataset.timestamp(held0 - 1).nanoseconds + Int64(dataset.intervalSeconds) * 1_000_000_000)
        let dayFrom = Timestamp(nanoseconds: end.nanoseconds - 86_400 * 1_000_000_000)
        let weekFrom = Timestamp(nanoseconds: end.nanoseconds - 7 * 86_400 * 1_000_000_000)
        var aggregate: Aggregate?, series: [Bucket]?
        var statistics: [Double] = [], seriesTimes: [Double] = []
        if try await store.statistics(machine: dataset.machines[0], from: dayFrom, to: end) != nil {
            for _ in 0..<c.aggregateQueries {
                statistics.append(try await timed { aggregate = try await store.statistics(machine: dataset.machines[0], from: dayFrom, to: end) })
                progress.advance()
            }
            for _ in 0..<c.aggregateQueries {
                seriesTimes.append(try await timed { series = try await store.series(machine: dataset.machines[0], from: weekFrom, to: end, stepSeconds: 3600) })
                progress.advance()
            }
        }
        let r = StepResult(scale: scale, records: to, ingestedRecords: to - from, ingestSeconds: seconds, ingestFramesPerSecond: rate,
                           disk: disk, bytesPerFrame: Double(disk.bytes) / Double(to), ratioToRawFloat32: 40_000 * Double(to) / Double(disk.bytes),
                           latestMs: Percentiles(latest), rangeMs: Percentiles(ranges),
                           statisticsMs: statistics.isEmpty ? nil : Percentiles(statistics),
                           seriesMs: seriesTimes.isEmpty ? nil : Percentiles(seriesTimes),
                           statisticsRecords: aggregate?.count, seriesBuckets: series?.count, answersAgree: nil)
        progress.end("\(grouped(r.bytesPerFrame)) B/frame; latest p50 \(ms(r.latestMs.p50)) ms; range p50 \(ms(r.rangeMs.p50)) / p99 \(ms(r.rangeMs.p99)) ms; "
                     + "day stats \(ms(r.statisticsMs?.p50)) ms; week series \(ms(r.seriesMs?.p50)) ms")
        return Step(result: r, aggregate: aggregate, series: series)
    }
}
