// Power cuts and I/O errors on the fault-injecting file system: the file system itself, the
// store and the alert log fail-stop, a full disk recovered in place, a sweep of EIO and ENOSPC
// over every write, fsync, rename and truncate, and a fast power-loss soak.
import DurableFiles
import Foundation
import Logging
@testable import StorageEngine
import StoreTool
import SyntheticData
import Testing
import TelemetryModel

#if canImport(Glibc)
import Glibc
#endif

private let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

@Suite("Fault-injecting file system")
struct FaultInjectingFileSystemTests {
    @Test func aPowerCutDropsUnsyncedWritesAndKeepsSyncedOnes() throws {
        let dir = TemporaryDirectory()
        let fs = FaultInjectingFileSystem()
        try fs.syncDirectory(dir.path)
        let file = try fs.open(dir.file("a"), mode: .createIfMissing)
        try fs.syncDirectory(dir.path)
        try file.write(Array("durable".utf8), at: 0)
        try file.sync()
        try file.write(Array("-lost".utf8), at: 7)
        var rng = SeededRandom(seed: 1)
        fs.cutPower(tornWrites: false, using: &rng)
        #expect(try PosixFileSystem().readFile(dir.file("a")) == Array("durable".utf8))
    }

    @Test func aFileWhoseDirectoryWasNotSyncedVanishesAndARenameIsUndone() throws {
        let dir = TemporaryDirectory()
        let fs = FaultInjectingFileSystem()
        let posix = PosixFileSystem()
        let old = try fs.open(dir.file("MANIFEST"), mode: .createIfMissing)
        try old.write(Array("v1".utf8), at: 0)
        try old.sync()
        try fs.syncDirectory(dir.path)
        // A new file, synced, but its directory entry is not: gone after the cut.
        let orphan = try fs.open(dir.file("orphan"), mode: .createIfMissing)
        try orphan.write(Array("x".utf8), at: 0)
        try orphan.sync()
        // A replacement renamed over MANIFEST without a directory sync: the old one comes back.
        try fs.replaceFileWithoutDirectorySync(dir.file("MANIFEST"), with: Array("v2".utf8), temporary: dir.file("MANIFEST.tmp"))
        #expect(try posix.readFile(dir.file("MANIFEST")) == Array("v2".utf8))
        var rng = SeededRandom(seed: 2)
        fs.cutPower(tornWrites: false, using: &rng)
        #expect(!posix.exists(dir.file("orphan")))
        #expect(!posix.exists(dir.file("MANIFEST.tmp")))
        #expect(try posix.readFile(dir.file("MANIFEST")) == Array("v1".utf8))
    }

    @Test func aFailedSyncLosesTheDataEvenIfALaterSyncSucceeds() throws {
        let dir = TemporaryDirectory()
        let fs = FaultInjectingFileSystem()
        let file = try fs.open(dir.file("wal"), mode: .createIfMissing)
        try fs.syncDirectory(dir.path)
        fs.inject(.init(site: .sync, occurrence: 1, errno: EIO))
        try file.write(Array("record".utf8), at: 0)
        #expect(throws: FileError.self) { try file.sync() }
        try file.sync()   // "succeeds", as Linux's second fsync does
        var rng = SeededRandom(seed: 3)
        fs.cutPower(tornWrites: true, using: &rng)
        #expect(try PosixFileSystem().readFile(dir.file("wal")).isEmpty)
    }

    @Test func faultsFireAtTheChosenCallWithTheChosenErrno() throws {
        let dir = TemporaryDirectory()
        let fs = FaultInjectingFileSystem()
        fs.inject(.init(site: .write, occurrence: 2, errno: ENOSPC, shortWrite: true))
        let file = try fs.open(dir.file("f"), mode: .createIfMissing)
        try file.write([1, 2, 3, 4], at: 0)
        do {
            try file.write([5, 6, 7, 8], at: 4)
            Issue.record("the second write should fail")
        } catch {
            #expect(error.errno == ENOSPC)
            #expect(error.message.contains("No space left on device"))
        }
        // A short write: half of the bytes reached the file before the error.
        #expect(try file.size() == 6)
        #expect(fs.counts[.write] == 2)
    }

    @Test func aTornCutKeepsAPrefixOfTheUnsyncedWrites() throws {
        // Over many seeds, a torn cut leaves every length between "nothing" and "everything".
        var sizes = Set<Int64>()
        for seed in 0..<40 {
            let dir = TemporaryDirectory()
            let fs = FaultInjectingFileSystem()
            let file = try fs.open(dir.file("log"), mode: .createIfMissing)
            try fs.syncDirectory(dir.path)
            for i in 0..<4 { try file.write([UInt8](repeating: UInt8(i), count: 100), at: Int64(i * 100)) }
            var rng = SeededRandom(seed: UInt64(seed))
            fs.cutPower(tornWrites: true, using: &rng)
            let bytes = try PosixFileSystem().readFile(dir.file("log"))
            sizes.insert(Int64(bytes.count))
            for (i, b) in bytes.enumerated() { #expect(b == UInt8(i / 100)) }
        }
        #expect(sizes.contains { $0 < 100 })
        #expect(sizes.count > 5)
    }
}

extension FaultInjectingFileSystem {
    /// The first half of `replaceFile`: written, synced and renamed, the directory not synced.
    func replaceFileWithoutDirectorySync(_ path: String, with bytes: [UInt8], temporary: String) throws {
        let file = try open(temporary, mode: .truncate)
        try file.write(bytes, at: 0)
        try file.sync()
        try rename(temporary, to: path)
    }
}

@Suite("Power loss and I/O errors")
struct PowerLossTests {
    func records(_ machine: String, _ range: Range<Int>) -> [TelemetryRecord] {
        range.map { sampleRecord(machine, $0) }
    }

    func configuration(_ fs: any DurableFileSystem) -> StoreConfiguration {
        var c = StoreConfiguration()
        c.fileSystem = fs
        c.blockSize = 4
        c.walFileSize = 8 << 10
        return c
    }

    /// Cuts the power on `fs`, reopens on the real file system and returns the stored ids.
    func survivors(_ dir: TemporaryDirectory, _ fs: FaultInjectingFileSystem, machine: String) async throws -> Set<RecordID> {
        var rng = SeededRandom(seed: 9)
        fs.cutPower(tornWrites: true, using: &rng)
        let store = try TelemetryStore.open(at: dir.path, configuration: configuration(PosixFileSystem()), logger: quiet)
        let ids = Set(try store.records(machine: try MachineID(machine), limit: 100_000).map(\.id))
        try await store.close()
        return ids
    }

    @Test func aFailedSegmentFsyncStopsTheStoreAndKeepsTheWAL() async throws {
        // Linux reports a writeback error once: retrying the flush would "succeed", the
        // checkpoint would retire the WAL, and the power cut would lose the sealed records.
        // (The segment's first fsync is at its creation, the second when its blocks are flushed.)
        let dir = TemporaryDirectory()
        let fs = FaultInjectingFileSystem()
        fs.inject(.init(site: .sync, occurrence: 2, errno: EIO, pathContains: ".seg"))
        let store = try TelemetryStore.open(at: dir.path, configuration: configuration(fs), logger: quiet)
        var acknowledged: [RecordID] = []
        var failure: StorageError?
        for i in 0..<400 {
            do {
                acknowledged += try await store.append(records("m1", i..<(i + 1))).ids
            } catch let error as StorageError {
                failure = error
                break
            }
        }
        let error = try #require(failure)
        #expect(error.code == .storeFailed)
        #expect(fs.injected.count == 1)
        #expect(error.message.contains(".seg"))
        #expect(error.message.contains("errno 5"))
        #expect(store.failure?.code == .storeFailed)
        // Every later write is refused with the same error; reads still answer.
        await #expect(throws: StorageError.self) { try await store.append(records("m1", 1000..<1001)) }
        #expect(try store.records(machine: try MachineID("m1"), limit: 10_000).count == acknowledged.count)
        await #expect(throws: StorageError.self) { try await store.close() }
        let stored = try await survivors(dir, fs, machine: "m1")
        #expect(Set(acknowledged).isSubset(of: stored))
        #expect(acknowledged.count > 0)
    }

    @Test func aFullDiskFailsTheAppendAndTheStoreGoesOnOnceSpaceIsBack() async throws {
        let dir = TemporaryDirectory()
        let fs = FaultInjectingFileSystem()
        let store = try TelemetryStore.open(at: dir.path, configuration: configuration(fs), logger: quiet)
        var acknowledged = try await store.append(records("m1", 0..<3)).ids
        fs.inject(.init(site: .write, occurrence: 1, errno: ENOSPC, persistent: true,
                        shortWrite: true, pathContains: ".wal"))
        do {
            _ = try await store.append(records("m1", 3..<6))
            Issue.record("the append should fail while the disk is full")
        } catch let error as StorageError {
            #expect(error.code == .noSpace)
            #expect(error.message.contains("No space left on device"))
            #expect(error.message.contains(".wal"))
        }
        #expect(store.failure == nil)
        fs.clearFaults()
        acknowledged += try await store.append(records("m1", 6..<9)).ids
        try await store.close()
        let stored = try await survivors(dir, fs, machine: "m1")
        #expect(Set(acknowledged).isSubset(of: stored))
        // The refused records were undone, never half-visible.
        #expect(stored.count == acknowledged.count)
    }

    @Test func aFailedAlertLogFsyncStopsTheAlertStoreUntilReopened() throws {
        let dir = TemporaryDirectory()
        let fs = FaultInjectingFileSystem()
        let alerts = try AlertStore.open(at: dir.path, logger: quiet, fileSystem: fs)
        let first = try alerts.raise(NewAlert(machineID: try MachineID("m1"), rule: "r1", severity: .warning, message: "one")).alert
        fs.inject(.init(site: .sync, occurrence: 1, errno: EIO))
        #expect(throws: StorageError.self) {
            _ = try alerts.raise(NewAlert(machineID: try MachineID("m1"), rule: "r2", severity: .warning, message: "two"))
        }
        #expect(alerts.failure?.code == .storeFailed)
        #expect(alerts.failure?.message.contains("alerts.log") == true)
        // Refused afterwards, though the disk "works" again.
        #expect(throws: StorageError.self) { _ = try alerts.acknowledge(id: first.id) }
        alerts.close()
        var rng = SeededRandom(seed: 4)
        fs.cutPower(tornWrites: true, using: &rng)
        let reopened = try AlertStore.open(at: dir.path, logger: quiet)
        #expect(reopened.alert(id: first.id)?.rule == "r1")
        #expect(reopened.failure == nil)
        _ = try reopened.acknowledge(id: first.id)
        reopened.close()
    }

    /// An EIO and an ENOSPC at every write, fsync, rename, truncate, create and directory fsync of
    /// one representative workload (one writer, alerts, seals, index flushes, checkpoints): the
    /// failure is reported naming the file and errno, nothing acknowledged is lost across a power
    /// cut right after, and the reopened store takes writes.
    @Test(arguments: [EIO, ENOSPC])
    func anErrorAtEverySiteLosesNothingAcknowledged(errno code: Int32) async throws {
        let sites: [FaultInjectingFileSystem.Site] = [.write, .sync, .rename, .truncate, .create, .syncDirectory]
        // The dry run counts the calls at each site.
        let dryDir = TemporaryDirectory()
        var dryWorkload = PowerLossWorkload(directory: dryDir.path)
        dryWorkload.writers = 1
        dryWorkload.appendsPerWriter = 24
        dryWorkload.alertOperations = 0
        dryWorkload.retentionSeconds = nil
        let dry = FaultInjectingFileSystem()
        _ = await dryWorkload.run(fileSystem: dry, clock: VirtualClock(), round: 0)
        var runs = 0
        for site in sites {
            let count = dry.counts[site, default: 0]
            #expect(count > 0 || site == .truncate, "the workload never reached \(site)")
            for occurrence in stride(from: 1, through: count, by: max(1, count / 6)) {
                let dir = TemporaryDirectory()
                var workload = dryWorkload
                workload.directory = dir.path
                let fs = FaultInjectingFileSystem()
                fs.inject(.init(site: site, occurrence: occurrence, errno: code, persistent: code == ENOSPC, shortWrite: site == .write))
                let clock = VirtualClock()
                let ledger = await workload.run(fileSystem: fs, clock: clock, round: 0)
                guard !fs.injected.isEmpty else { continue }
                runs += 1
                let where_ = "\(site) #\(occurrence) errno \(code)"
                let said = ledger.errors + ledger.reported
                #expect(said.contains { $0.contains("errno \(code)") }, "\(where_): no error named the cause: \(said.prefix(3))")
                var rng = SeededRandom(seed: UInt64(occurrence))
                fs.cutPower(tornWrites: false, using: &rng)
                let check = try await workload.check(ledger, clock: clock)
                #expect(check.lost == 0, "\(where_): \(check.summary)")
                // The reopened store works.
                let store = try TelemetryStore.open(at: dir.path, configuration: workload.configuration(fileSystem: PosixFileSystem(), clock: clock),
                                                    logger: quiet)
                let id = try await store.append([sampleRecord("after", 1)]).ids[0]
                #expect(try store.record(id: id) != nil)
                try await store.close()
            }
        }
        #expect(runs >= 20)
    }

    @Test func powerCutsAtRandomPointsLoseNothingAcknowledged() async throws {
        let dir = TemporaryDirectory()
        var workload = PowerLossWorkload(directory: dir.path)
        workload.seed = 20_261_208
        let report = try await PowerLossSoak(workload: workload, cuts: 25).run()
        #expect(report.cuts == 25)
        #expect(report.lost == 0, "\(report.failures.prefix(3))")
        #expect(report.acknowledgedRecords > 0)
        #expect(report.acknowledgedAlertChanges > 0)
    }
}
