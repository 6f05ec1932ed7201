// The spool on the fault-injecting file system: simulated power cuts at random points of
// durable appends, segment rolls and cursor moves, and an EIO or ENOSPC at every write, fsync,
// rename, truncate, creation and directory fsync. Every record whose durable append returned and
// that was not acknowledged as delivered is in the reopened spool, bit-identical; nothing else is.
import DurableFiles
import Foundation
import Logging
import TelemetryModel
import SyntheticData
import Testing
@testable import EdgeGateway

#if canImport(Glibc)
import Glibc
#endif

struct SpoolPowerLossTests {
    let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    /// What a round was told: records durably appended, and the last sequence acknowledged.
    struct Ledger {
        var durable: [TelemetryRecord] = []
        var delivered = Set<Timestamp>()
        var attempted: [Timestamp: TelemetryRecord] = [:]
        var errors: [String] = []
    }

    func configuration(_ directory: String, _ fs: any DurableFileSystem) -> SpoolConfiguration {
        var c = SpoolConfiguration(directory: directory)
        c.fileSystem = fs
        c.segmentBytes = 4 << 10        // a new segment every few records
        c.memoryBytes = 2 << 10         // peeks read back from disk too
        c.syncInterval = .zero
        return c
    }

    func record(_ n: Int, rng: inout SeededRandom) -> TelemetryRecord {
        let values = (0..<64).map { _ in Float(Int(rng.next() % 40_000)) / 100 }
        return TelemetryRecord(machineID: try! MachineID("dmls-0\(n % 3 + 1)"), timestamp: Timestamp(nanoseconds: 1_790_000_000_000_000_000 + Int64(n) * 1_000_000),
                               kind: "dmls", channels: ["power_kw": Float(n % 100) / 10], frame: try! ThermalFrame(width: 8, height: 8, values: values))
    }

    /// Appends durably (batches of 1–3) and now and then acknowledges a prefix of the pending
    /// records, as the forwarder does, until `count` appends are done or the file system dies.
    func workload(_ spool: Spool, from first: Int, count: Int, rng: inout SeededRandom, ledger: inout Ledger) async {
        var n = first
        for _ in 0..<count {
            let batch = (0..<(1 + Int(rng.next() % 3))).map { _ in
                defer { n += 1 }
                return record(n, rng: &rng)
            }
            for r in batch { ledger.attempted[r.timestamp] = r }
            do throws(SpoolError) {
                try await spool.appendDurably(batch)
                ledger.durable += batch
                if rng.next() % 3 == 0 {
                    let pending = try await spool.peek(maxRecords: Int(rng.next() % 6) + 1)
                    if let last = pending.last {
                        // The forwarder acknowledges only what the server took: from here on these
                        // records are delivered, whether or not the acknowledgement reaches the disk.
                        for p in pending { ledger.delivered.insert(p.record.timestamp) }
                        try await spool.acknowledge(through: last.sequence)
                    }
                }
            } catch {
                ledger.errors.append(error.description)
                if error.code == .failed || error.code == .closed || error.message.contains("errno 5") { return }
            }
        }
    }

    /// Reopens on the real file system and checks the ledger: returns the problems, and the
    /// records that were pending (appended again, durably, so that the next round starts from them).
    func check(_ directory: String, _ ledger: Ledger) async throws -> (problems: [String], pending: [TelemetryRecord]) {
        let spool = try Spool(configuration: configuration(directory, PosixFileSystem()), logger: quiet)
        var pending: [TelemetryRecord] = []
        while true {
            let batch = try await spool.peek(maxRecords: 500)
            guard let last = batch.last else { break }
            pending += batch.map(\.record)
            try await spool.acknowledge(through: last.sequence)
        }
        // Put the newest (at most 40) back, so that the next round starts with pending records
        // (and a cut may land in their recovery) without the spool growing round after round.
        let carried = Array(pending.suffix(40))
        if !carried.isEmpty { try await spool.appendDurably(carried) }
        await spool.close()
        var problems: [String] = []
        let present = Dictionary(pending.map { ($0.timestamp, $0) }, uniquingKeysWith: { a, _ in a })
        for r in ledger.durable where !ledger.delivered.contains(r.timestamp) {
            guard let got = present[r.timestamp] else {
                problems.append("durable record \(r.timestamp) lost")
                continue
            }
            if got.frame?.values.map(\.bitPattern) != r.frame?.values.map(\.bitPattern) || got.channels != r.channels {
                problems.append("record \(r.timestamp) differs")
            }
        }
        for r in pending where ledger.attempted[r.timestamp] == nil { problems.append("record \(r.timestamp) was never appended") }
        return (problems, carried)
    }

    @Test func powerCutsAtRandomPointsLoseNoDurableRecord() async throws {
        let dir = SpoolTests.SpoolDirectory()
        var rng = SeededRandom(seed: 20_261_208)
        var ledger = Ledger()
        // Dry round: how many mutating calls a round makes.
        let dry = FaultInjectingFileSystem()
        let drySpool = try Spool(configuration: configuration(dir.path, dry), logger: quiet)
        await workload(drySpool, from: 0, count: 30, rng: &rng, ledger: &ledger)
        await drySpool.close()
        var (problems, carried) = try await check(dir.path, ledger)
        let span = max(10, dry.mutations)
        var next = 100_000
        // 20 rounds in `make test`; `make soak-powerloss` sets SINTER_SPOOL_POWERLOSS_ROUNDS=1000.
        let rounds = ProcessInfo.processInfo.environment["SINTER_SPOOL_POWERLOSS_ROUNDS"].flatMap(Int.init) ?? 20
        for round in 0..<rounds {
            // Each round starts from the survivors of the last (appended again, durably, by `check`).
            ledger = Ledger(durable: carried, delivered: [], attempted: ledger.attempted, errors: [])
            let fs = FaultInjectingFileSystem()
            fs.armPowerCut(atMutation: Int.random(in: 1...(span + span / 5), using: &rng))
            do {
                let spool = try Spool(configuration: configuration(dir.path, fs), logger: quiet)
                await workload(spool, from: next, count: 30, rng: &rng, ledger: &ledger)
                await spool.close()
            } catch {
                ledger.errors.append("open: \(error)")
            }
            next += 1000
            fs.cutPower(tornWrites: true, using: &rng)
            let (found, pending) = try await check(dir.path, ledger)
            carried = pending
            problems += found.map { "round \(round) (\(fs.injected.first ?? "no cut")): \($0)" }
        }
        #expect(problems.isEmpty, "\(problems.prefix(5))")
        print("spool power-loss: \(rounds) cuts, \(ledger.attempted.count) records appended, lost \(problems.count)")
    }

    @Test(arguments: [EIO, ENOSPC])
    func anErrorAtEverySiteLosesNoDurableRecord(errno code: Int32) async throws {
        let sites: [FaultInjectingFileSystem.Site] = [.write, .sync, .rename, .truncate, .create, .remove, .syncDirectory]
        let dryDir = SpoolTests.SpoolDirectory()
        let dry = FaultInjectingFileSystem()
        var rng = SeededRandom(seed: 7)
        var dryLedger = Ledger()
        let drySpool = try Spool(configuration: configuration(dryDir.path, dry), logger: quiet)
        await workload(drySpool, from: 0, count: 24, rng: &rng, ledger: &dryLedger)
        await drySpool.close()
        var runs = 0
        for site in sites {
            let count = dry.counts[site, default: 0]
            for occurrence in stride(from: 1, through: count, by: max(1, count / 5)) {
                let dir = SpoolTests.SpoolDirectory()
                let fs = FaultInjectingFileSystem()
                fs.inject(.init(site: site, occurrence: occurrence, errno: code, persistent: code == ENOSPC, shortWrite: site == .write))
                var ledger = Ledger()
                var rng = SeededRandom(seed: 7)
                do {
                    let spool = try Spool(configuration: configuration(dir.path, fs), logger: quiet)
                    await workload(spool, from: 0, count: 24, rng: &rng, ledger: &ledger)
                    await spool.close()
                } catch {
                    ledger.errors.append("open: \(error)")
                }
                guard !fs.injected.isEmpty else { continue }
                runs += 1
                let place = "\(site) #\(occurrence) errno \(code)"
                // The failure reached a caller naming the cause (or it hit the cursor, which the
                // spool only logs: the next acknowledgement writes it again).
                if !ledger.errors.isEmpty {
                    #expect(ledger.errors.contains { $0.contains("errno \(code)") }, "\(place): \(ledger.errors.prefix(2))")
                }
                var cut = SeededRandom(seed: UInt64(occurrence))
                fs.cutPower(tornWrites: false, using: &cut)
                let problems = try await check(dir.path, ledger).problems
                #expect(problems.isEmpty, "\(place): \(problems.prefix(3))")
            }
        }
        #expect(runs >= 15)
    }
}
