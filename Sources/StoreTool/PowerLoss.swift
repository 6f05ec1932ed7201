// Simulated power cuts and I/O errors under a randomized store + alert workload, on the
// fault-injecting file system (Sources/DurableFiles): what `make soak-powerloss` and the
// power-loss tests run.
package import DurableFiles
import ArgumentParser
import Foundation
import Logging
package import StorageEngine
import Synchronization
package import SyntheticData
package import TelemetryModel

/// What a workload had acknowledged when the power went, and what it tried.
package struct PowerLossLedger: Sendable {
    /// Records whose `append` returned, by id.
    package var acknowledged: [RecordID: TelemetryRecord] = [:]
    /// Every record any `append` was given (acknowledged or not), by id.
    package var attempted: [RecordID: TelemetryRecord] = [:]
    /// Alerts whose raise returned, and the last acknowledged change of each: 0 raised, 1 acknowledged, 2 resolved.
    package var alerts: [AlertID: (machine: MachineID, rule: String, stage: Int)] = [:]
    /// Errors the workload's calls threw, as text.
    package var errors: [String] = []
    /// The stores' own reports before closing: `failure` and `problems` of both stores.
    package var reported: [String] = []

    package init() {}

    mutating func merge(_ other: PowerLossLedger) {
        acknowledged.merge(other.acknowledged) { a, _ in a }
        attempted.merge(other.attempted) { a, _ in a }
        alerts.merge(other.alerts) { a, b in a.stage >= b.stage ? a : b }
        errors += other.errors
        reported += other.reported
    }
}

/// The outcome of checking a reopened store against a ledger.
package struct PowerLossCheck: Sendable {
    package var acknowledgedRecords = 0
    package var lostRecords: [String] = []
    package var changedRecords: [String] = []
    package var inventedRecords: [String] = []
    package var acknowledgedAlertChanges = 0
    package var lostAlertChanges: [String] = []
    package var problems: [String] = []

    package var lost: Int { lostRecords.count + changedRecords.count + inventedRecords.count + lostAlertChanges.count }
    package var summary: String {
        (lostRecords.prefix(3) + changedRecords.prefix(3) + inventedRecords.prefix(3) + lostAlertChanges.prefix(3)).joined(separator: "; ")
    }
}

/// A randomized workload on one store directory: concurrent writers (out-of-order and
/// duplicate records, small blocks, small WAL files so that seals, index flushes, checkpoints
/// and WAL rotation happen often), retention over a virtual clock, and alert raise /
/// acknowledge / resolve.
package struct PowerLossWorkload: Sendable {
    package var directory: String
    package var writers = 3
    package var appendsPerWriter = 40
    package var alertOperations = 20
    package var seed: UInt64 = 1
    /// Retention on the virtual clock (records advance it by one second each); nil for none.
    package var retentionSeconds: Int64? = 120
    package static let partitionSeconds: Int64 = 30
    package static let epoch: Int64 = 1_790_000_000 * 1_000_000_000

    package init(directory: String) { self.directory = directory }

    /// The store configuration every open of this workload uses.
    package func configuration(fileSystem: any DurableFileSystem, clock: VirtualClock) -> StoreConfiguration {
        var c = StoreConfiguration()
        c.fileSystem = fileSystem
        c.blockSize = 8
        c.walFileSize = 16 << 10
        c.partitionDuration = .seconds(Self.partitionSeconds)
        if let retentionSeconds {
            c.retention = .seconds(retentionSeconds)
            c.retentionCheckInterval = .milliseconds(5)
        }
        c.now = { clock.now }
        return c
    }

    /// Runs the workload on `fileSystem` until it is done or the file system dies; returns what
    /// was acknowledged. `start` is the first virtual second of this round (rounds continue one another).
    package func run(fileSystem: any DurableFileSystem, clock: VirtualClock, round: Int) async -> PowerLossLedger {
        let logger = Logger(label: "sinter.powerloss", factory: { _ in SwiftLogNoOpLogHandler() })
        var ledger = PowerLossLedger()
        let store: TelemetryStore
        let alerts: AlertStore
        do {
            store = try TelemetryStore.open(at: directory, configuration: configuration(fileSystem: fileSystem, clock: clock), logger: logger)
        } catch {
            ledger.errors.append("open: \(error)")
            return ledger
        }
        do {
            alerts = try AlertStore.open(at: directory + "/alerts", logger: logger, now: { clock.now }, fileSystem: fileSystem)
        } catch {
            ledger.errors.append("alerts open: \(error)")
            try? await store.close()
            return ledger
        }
        let parts = await withTaskGroup(of: PowerLossLedger.self) { group in
            for w in 0..<writers {
                group.addTask { await self.write(store: store, writer: w, round: round, clock: clock) }
            }
            group.addTask { self.alertChanges(alerts, round: round) }
            var all = PowerLossLedger()
            for await part in group { all.merge(part) }
            return all
        }
        ledger.merge(parts)
        ledger.reported = store.problems.map { "\($0)" } + alerts.problems.map { "\($0)" }
        do { try await store.close() } catch { ledger.errors.append("close: \(error)") }
        alerts.close()
        return ledger
    }

    private func write(store: TelemetryStore, writer: Int, round: Int, clock: VirtualClock) async -> PowerLossLedger {
        var rng = SeededRandom(seed: seed &* 1_000_003 &+ UInt64(writer) &* 7919 &+ UInt64(round))
        var ledger = PowerLossLedger()
        let machines = [try! MachineID("w\(writer)-a"), try! MachineID("w\(writer)-b")]
        var previous: [TelemetryRecord] = []
        // Every record of a writer gets its own nanoseconds within the second, so that no two
        // different records ever share an id (a late record may land on another's second).
        var made = 0
        for _ in 0..<appendsPerWriter {
            var batch: [TelemetryRecord] = []
            for _ in 0..<(1 + Int(rng.next() % 4)) {
                let second = clock.tick()
                // Now and then a late record (a few seconds back) and a retried one.
                let late = rng.next() % 8 == 0 ? Int64(rng.next() % 20) : 0
                let machine = machines[Int(rng.next() % 2)]
                made += 1
                let nanos = Int64(writer) * 1_000_000 + Int64(round % 100) * 10_000 + Int64(made % 10_000)
                let ts = Timestamp(nanoseconds: Self.epoch + (second - late) * 1_000_000_000 + nanos)
                batch.append(Self.record(machine: machine, timestamp: ts, rng: &rng))
            }
            if let retry = previous.randomElement(using: &rng), rng.next() % 5 == 0 { batch.append(retry) }
            for r in batch where ledger.attempted[r.id] == nil { ledger.attempted[r.id] = r }
            do {
                _ = try await store.append(batch)
                for r in batch { ledger.acknowledged[r.id] = ledger.attempted[r.id] }
                previous = batch
            } catch {
                ledger.errors.append("append: \(error)")
                if (error as? StorageError)?.code == .storeFailed || (error as? StorageError)?.code == .closed { break }
                if "\(error)".contains("errno 5") { break }
            }
        }
        return ledger
    }

    private func alertChanges(_ alerts: AlertStore, round: Int) -> PowerLossLedger {
        var rng = SeededRandom(seed: seed &+ 77 &+ UInt64(round) &* 31)
        var ledger = PowerLossLedger()
        var open: [AlertID] = []
        for i in 0..<alertOperations {
            do {
                if open.isEmpty || rng.next() % 3 == 0 {
                    let machine = try MachineID("w\(rng.next() % UInt64(max(1, writers)))-a")
                    let rule = "rule_\(round)_\(i)"
                    let (alert, _) = try alerts.raise(NewAlert(machineID: machine, rule: rule, severity: .critical,
                                                               message: "power-loss workload \(round).\(i)"))
                    ledger.alerts[alert.id] = (machine, rule, 0)
                    open.append(alert.id)
                } else {
                    let id = open.removeFirst()
                    let entry = ledger.alerts[id]!
                    if rng.next() % 2 == 0 {
                        _ = try alerts.acknowledge(id: id, by: "soak")
                        ledger.alerts[id] = (entry.machine, entry.rule, 1)
                        open.append(id)
                    } else {
                        _ = try alerts.resolve(id: id, by: "soak")
                        ledger.alerts[id] = (entry.machine, entry.rule, 2)
                    }
                }
            } catch {
                ledger.errors.append("alert: \(error)")
                break
            }
        }
        return ledger
    }

    /// A small record: an 8 × 8 frame of random floats (NaN payloads, ±inf, −0 included) and two channels.
    static func record(machine: MachineID, timestamp: Timestamp, rng: inout SeededRandom) -> TelemetryRecord {
        var values: [Float] = []
        for _ in 0..<64 {
            switch rng.next() % 50 {
            case 0: values.append(Float(bitPattern: 0x7FC0_0000 | UInt32(truncatingIfNeeded: rng.next() & 0x3F_FFFF)))
            case 1: values.append(-0.0)
            case 2: values.append(.infinity)
            default: values.append(Float(Int(rng.next() % 40_000)) / 100)
            }
        }
        let frame = try! ThermalFrame(width: 8, height: 8, values: values)
        return TelemetryRecord(machineID: machine, timestamp: timestamp, kind: "dmls",
                               channels: ["power_kw": Float(rng.next() % 1000) / 10, "vibration_mm_s": Float(rng.next() % 100) / 10],
                               state: rng.next() % 4 == 0 ? "printing" : nil, frame: frame)
    }

    /// Opens the directory on the real file system and checks it against `ledger`.
    package func check(_ ledger: PowerLossLedger, clock: VirtualClock) async throws -> PowerLossCheck {
        let logger = Logger(label: "sinter.powerloss", factory: { _ in SwiftLogNoOpLogHandler() })
        var result = PowerLossCheck()
        let store = try TelemetryStore.open(at: directory, configuration: configuration(fileSystem: PosixFileSystem(), clock: clock),
                                            logger: logger)
        // Retention may have dropped whole partitions that ended before the horizon.
        // (A partition is dropped once it ends before now − retention; records at or after that are kept.)
        let horizon = retentionSeconds.map { Self.epoch + (clock.second - $0) * 1_000_000_000 } ?? .min
        // One scan of everything stored: each record must be one that was written, bit for bit
        // (an acknowledged record is the one written under its id).
        var stored = Set<RecordID>()
        for machine in store.machines() {
            for record in try store.records(machine: machine.id, limit: 1_000_000, includeFrames: true) {
                stored.insert(record.id)
                guard let tried = ledger.attempted[record.id] else {
                    result.inventedRecords.append("record \(record.id) was never written")
                    continue
                }
                if !Self.same(record, tried) { result.changedRecords.append("record \(record.id) is half-visible (differs from what was written)") }
            }
        }
        for id in ledger.acknowledged.keys where id.timestamp.nanoseconds >= horizon {
            result.acknowledgedRecords += 1
            if !stored.contains(id) { result.lostRecords.append("acknowledged record \(id) is missing") }
        }
        result.problems = store.problems.map { "\($0)" }
        try await store.close()
        let alerts = try AlertStore.open(at: directory + "/alerts", logger: logger, now: { clock.now })
        for (id, entry) in ledger.alerts {
            result.acknowledgedAlertChanges += 1
            guard let alert = alerts.alert(id: id) else {
                result.lostAlertChanges.append("alert \(id) (\(entry.rule)) is missing")
                continue
            }
            if alert.machineID != entry.machine || alert.rule != entry.rule {
                result.lostAlertChanges.append("alert \(id) changed machine or rule")
            }
            let stage = alert.state == .resolved ? 2 : (alert.acknowledgedAt != nil ? 1 : 0)
            if stage < entry.stage { result.lostAlertChanges.append("alert \(id) lost its \(entry.stage == 2 ? "resolve" : "acknowledgement")") }
        }
        alerts.close()
        return result
    }

    static func same(_ a: TelemetryRecord, _ b: TelemetryRecord) -> Bool {
        guard a.machineID == b.machineID, a.timestamp == b.timestamp, a.kind == b.kind, a.state == b.state else { return false }
        let mine = a.channels.filter { !$0.key.hasPrefix("frame_") }, theirs = b.channels.filter { !$0.key.hasPrefix("frame_") }
        guard mine.count == theirs.count, mine.allSatisfy({ theirs[$0.key]?.bitPattern == $0.value.bitPattern }) else { return false }
        switch (a.frame, b.frame) {
        case (nil, nil): return true
        case (let x?, let y?): return x.width == y.width && x.height == y.height && x.values.map(\.bitPattern) == y.values.map(\.bitPattern)
        default: return false
        }
    }
}

/// The workload's clock: one virtual second per record, shared by writers and retention.
package final class VirtualClock: Sendable {
    private let seconds = Atomic<Int64>(0)
    package init(second: Int64 = 0) { seconds.store(second, ordering: .relaxed) }
    /// Advances by one second and returns the new second.
    package func tick() -> Int64 { seconds.add(1, ordering: .relaxed).newValue }
    package var second: Int64 { seconds.load(ordering: .relaxed) }
    package var now: Timestamp { Timestamp(nanoseconds: PowerLossWorkload.epoch + second * 1_000_000_000) }
}

/// Power cuts at random points of ``PowerLossWorkload``, one after another on one directory.
package struct PowerLossSoak: Sendable {
    package var workload: PowerLossWorkload
    package var cuts: Int
    package var tornWrites = true

    package init(workload: PowerLossWorkload, cuts: Int) {
        self.workload = workload
        self.cuts = cuts
    }

    package struct Report: Sendable {
        package var cuts = 0
        /// Records acknowledged over all rounds.
        package var acknowledgedTotal = 0
        /// Acknowledged records checked, summed over the checks after every cut.
        package var recordChecks = 0
        /// Acknowledged records (within retention) checked after the last cut.
        package var acknowledgedRecords = 0
        package var acknowledgedAlertChanges = 0
        package var lost = 0
        package var failures: [String] = []
    }

    /// Runs `cuts` rounds: a dry round counts the workload's mutating calls, then each round
    /// arms a power cut at a random one of them, runs, cuts, reopens and checks everything
    /// acknowledged so far. `progress` is called after each round.
    package func run(progress: (Int, Report) -> Void = { _, _ in }) async throws -> Report {
        var report = Report()
        var rng = SeededRandom(seed: workload.seed)
        let clock = VirtualClock()
        var ledger = PowerLossLedger()
        // Dry round: how many mutating calls a round makes.
        let dry = FaultInjectingFileSystem()
        ledger.merge(await workload.run(fileSystem: dry, clock: clock, round: 0))
        let span = max(10, dry.mutations)
        for round in 1...max(1, cuts) {
            let fs = FaultInjectingFileSystem()
            fs.armPowerCut(atMutation: Int.random(in: 1...(span + span / 5), using: &rng))
            ledger.merge(await workload.run(fileSystem: fs, clock: clock, round: round))
            fs.cutPower(tornWrites: tornWrites, using: &rng)
            let check = try await workload.check(ledger, clock: clock)
            report.cuts += 1
            report.acknowledgedTotal = ledger.acknowledged.count
            report.recordChecks += check.acknowledgedRecords
            report.acknowledgedRecords = check.acknowledgedRecords
            report.acknowledgedAlertChanges = check.acknowledgedAlertChanges
            report.lost += check.lost
            if check.lost > 0 {
                report.failures.append("cut \(round) (seed \(workload.seed), \(fs.injected.first ?? "no cut")): \(check.summary)")
            }
            progress(round, report)
        }
        return report
    }
}

/// `sinter-store powerloss-soak`: simulated power cuts (unsynced writes and directory entries
/// dropped, torn last writes) at random points of a concurrent workload.
struct PowerLossSoakCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "powerloss-soak",
        abstract: "Cut the power (simulated) at random points of a store + alert workload; check everything acknowledged survives.",
        discussion: """
            Runs the workload on a fault-injecting file system that keeps what was written but not \
            fsynced apart. Each round arms a power cut at a random file-system call; at the cut, \
            unsynced writes are dropped (a random prefix kept, the last one torn) and directory \
            entries created, renamed or removed since the last directory fsync are undone. The store \
            is then reopened on the real file system and every acknowledged record (bit-identical), \
            alert raise, acknowledgement and resolve is checked; records never written or \
            half-visible count as lost. Rounds continue on the same directory. Exit 1 if anything was lost.

            Example:
              sinter-store powerloss-soak --cuts 1000 --directory /tmp/sinter-powerloss
            """)

    @Option(parsing: .unconditional, help: "How many power cuts (rounds).")
    var cuts = 1000
    @Option(help: "Scratch directory (emptied first).")
    var directory = "/tmp/sinter-powerloss"
    @Option(parsing: .unconditional, help: "Seed of the workload and of the cut points.")
    var seed: UInt64 = 1
    @Option(parsing: .unconditional, help: "Concurrent writers.")
    var writers = 3
    @Flag(help: "Drop every unsynced write instead of keeping a random torn prefix.")
    var noTornWrites = false
    @Flag(help: "No retention (by default partitions older than 120 virtual seconds are dropped while the workload runs).")
    var noRetention = false

    func validate() throws {
        guard cuts > 0 else { throw ValidationError("--cuts must be at least 1, got \(cuts)") }
        guard (1...16).contains(writers) else { throw ValidationError("--writers must be 1…16, got \(writers)") }
    }

    func run() async throws {
        try? FileManager.default.removeItem(atPath: directory)
        var workload = PowerLossWorkload(directory: directory)
        workload.seed = seed
        workload.writers = writers
        if noRetention { workload.retentionSeconds = nil }
        var soak = PowerLossSoak(workload: workload, cuts: cuts)
        soak.tornWrites = !noTornWrites
        let started = Date()
        let report = try await soak.run { round, report in
            if round % 50 == 0 || round == cuts {
                let line = "\r  cuts \(round)/\(cuts)  acknowledged records \(report.acknowledgedTotal)  alert changes \(report.acknowledgedAlertChanges)  lost \(report.lost)"
                FileHandle.standardError.write(Data(line.utf8))
            }
        }
        FileHandle.standardError.write(Data("\n".utf8))
        for failure in report.failures.prefix(20) { print("LOST: \(failure)") }
        print(String(format: "power-loss soak: %d cuts; acknowledged %d records (%d record checks after cuts, each bit-identical) and %d alert changes; lost %d (%.1f s, seed %llu)",
                     report.cuts, report.acknowledgedTotal, report.recordChecks, report.acknowledgedAlertChanges, report.lost,
                     Date().timeIntervalSince(started), seed))
        if report.lost > 0 { throw ExitCode(1) }
    }
}
