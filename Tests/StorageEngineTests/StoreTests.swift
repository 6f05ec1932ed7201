import Foundation
import Synchronization
import Testing
@testable import StorageEngine
import TelemetryModel

struct StoreTests {
    @Test func appendedRecordsReadBackBitIdenticalBeforeAndAfterSealing() async throws {
        let dir = TemporaryDirectory()
        let store = try openStore(dir)
        let records = (0..<40).map { sampleRecord("dmls-01", $0) }
        let result = try await store.append(records)
        #expect(result.ids == records.map(\.id))
        #expect(result.duplicateCount == 0)
        await store.writerBarrier()   // sealing follows the acknowledgement on the writer queue
        let stats = store.statistics()
        #expect(stats.blocks == 2)          // 40 records, blocks of 16: two sealed, 8 in the head
        #expect(stats.unsealedRecords == 8)
        let back = try store.records(machine: machine("dmls-01"), includeFrames: true)
        #expect(back.count == 40)
        for (original, stored) in zip(records, back) {
            #expect(stored.frame == original.frame)
            #expect(stored.channels["power_kw"] == original.channels["power_kw"])
            #expect(stored.state == original.state)
            #expect(stored.kind == "dmls")
            let expected = original.frame!.statistics()!
            #expect(stored.frameStatistics == expected)
        }
        try await store.close()
    }

    @Test func queriesSeeUnsealedRecordsAtOnce() async throws {
        let dir = TemporaryDirectory()
        let store = try openStore(dir) { $0.blockSize = 1000 }
        try await store.append(sampleRecord("fdm-01", 1, frame: false))
        #expect(store.statistics().blocks == 0)
        let latest = try store.latest(machine: machine("fdm-01"))
        #expect(latest?.timestamp == sampleRecord("fdm-01", 1).timestamp)
        try await store.close()
    }

    @Test func duplicatesAreStoredOnceWhetherInTheHeadOrSealed() async throws {
        let dir = TemporaryDirectory()
        let store = try openStore(dir)
        let records = (0..<20).map { sampleRecord("dmls-01", $0) }
        try await store.append(records)
        let again = try await store.append(records + [records[3]])
        #expect(again.duplicateCount == 21)
        #expect(again.ids == (records + [records[3]]).map(\.id))
        #expect(store.machine(machine("dmls-01"))?.recordCount == 20)
        // A batch that repeats itself stores one copy.
        let twice = try await store.append([sampleRecord("dmls-02", 0), sampleRecord("dmls-02", 0)])
        #expect(twice.duplicateCount == 1)
        try await store.close()
        let reopened = try openStore(dir)
        #expect(reopened.machine(machine("dmls-01"))?.recordCount == 20)
        #expect(try await reopened.append(records).duplicateCount == 20)
        try await reopened.close()
    }

    @Test func outOfOrderRecordsAreMergedAtReadTime() async throws {
        let dir = TemporaryDirectory()
        let store = try openStore(dir) { $0.blockSize = 8 }
        var rng = SystemRandomNumberGenerator()
        let indices = Array(0..<200).shuffled(using: &rng)
        for chunk in stride(from: 0, to: indices.count, by: 13) {
            try await store.append(indices[chunk..<min(chunk + 13, indices.count)].map { sampleRecord("m", $0, frame: false) })
        }
        let all = try store.records(machine: machine("m"), limit: 10_000)
        #expect(all.map(\.timestamp) == (0..<200).map { sampleRecord("m", $0).timestamp })
        // Random ranges, limits and orders against the obvious answer.
        let t = (0..<200).map { sampleRecord("m", $0).timestamp }
        for _ in 0..<50 {
            let a = Int.random(in: 0..<200), b = Int.random(in: 0..<200)
            let lo = min(a, b), hi = max(a, b), limit = Int.random(in: 1...60)
            let descending = Bool.random()
            let got = try store.records(machine: machine("m"), from: t[lo], to: t[hi], limit: limit,
                                        order: descending ? .descending : .ascending)
            var expected = Array(t[lo...hi])
            if descending { expected.reverse() }
            #expect(got.map(\.timestamp) == Array(expected.prefix(limit)))
        }
        try await store.close()
    }

    @Test func everythingSurvivesCloseAndReopen() async throws {
        let dir = TemporaryDirectory()
        var store = try openStore(dir)
        let records = (0..<50).map { sampleRecord("dmls-0\($0 % 3)", $0) }
        try await store.append(records)
        try await store.close()
        store = try openStore(dir)
        #expect(store.problems.isEmpty)
        for r in records {
            let stored = try #require(try store.record(id: r.id))
            #expect(r.matchesIgnoringStatistics(stored))
        }
        #expect(store.machines().map(\.id.rawValue) == ["dmls-00", "dmls-01", "dmls-02"])
        try await store.close()
    }

    @Test func latestRecordByIDAndMachineSummaries() async throws {
        let dir = TemporaryDirectory()
        let store = try openStore(dir)
        try await store.append((0..<30).map { sampleRecord("a", $0) } + (0..<5).map { sampleRecord("b", $0, frame: false) })
        let latest = try #require(try store.latest(machine: machine("a"), includeFrame: true))
        #expect(latest.timestamp == sampleRecord("a", 29).timestamp)
        #expect(latest.frame == sampleRecord("a", 29).frame)
        #expect(try store.latest(machine: machine("a"))?.frame == nil)
        let id = try RecordID(parsing: sampleRecord("a", 7).id.description)
        #expect(try store.record(id: id)?.frame == sampleRecord("a", 7).frame)
        #expect(try store.record(id: RecordID(machineID: machine("a"), timestamp: Timestamp(nanoseconds: 1))) == nil)
        let summaries = store.machines()
        #expect(summaries.map(\.recordCount) == [30, 5])
        #expect(summaries[0].firstTimestamp == sampleRecord("a", 0).timestamp)
        #expect(summaries[0].lastTimestamp == sampleRecord("a", 29).timestamp)
        try await store.close()
    }

    @Test func seriesBucketsMatchAFullScan() async throws {
        let dir = TemporaryDirectory()
        let store = try openStore(dir)
        let records = (0..<100).map { sampleRecord("a", $0) }
        try await store.append(records)
        let from = records[3].timestamp, to = records[97].timestamp
        for channel in ["power_kw", ChannelName.frameMean] {
            for stepMS in [1, 7, 16, 50] {
                let buckets = try store.series(machine: machine("a"), channel: channel, from: from, to: to, step: .milliseconds(stepMS))
                var expected: [Int64: [Float]] = [:]
                for r in records where r.timestamp >= from && r.timestamp <= to {
                    let v = channel == "power_kw" ? r.channels["power_kw"]! : r.frame!.statistics()!.mean
                    expected[(r.timestamp.nanoseconds - from.nanoseconds) / (Int64(stepMS) * 1_000_000), default: []].append(v)
                }
                #expect(buckets.count == expected.count)
                for b in buckets {
                    let values = try #require(expected[(b.start.nanoseconds - from.nanoseconds) / (Int64(stepMS) * 1_000_000)])
                    #expect(b.count == values.count)
                    #expect(b.min == values.min())
                    #expect(b.max == values.max())
                    #expect(abs(b.mean - values.reduce(0.0) { $0 + Double($1) } / Double(values.count)) < 1e-6)
                }
            }
        }
        try await store.close()
    }

    @Test func retentionDropsWholeOldPartitions() async throws {
        let dir = TemporaryDirectory()
        let hour: Int64 = 3_600_000_000_000
        let t0: Int64 = 1_800_000_000 * 1_000_000_000 / hour * hour
        let clock = Clock(now: t0 + 5 * hour)
        let store = try openStore(dir) {
            $0.partitionDuration = .seconds(3600)
            $0.retention = .seconds(2 * 3600)
            $0.blockSize = 4
            $0.now = { clock.now }
        }
        // 8 records in each of 5 hourly partitions.
        let records = (0..<40).map { i in
            TelemetryRecord(machineID: machine("a"), timestamp: Timestamp(nanoseconds: t0 + Int64(i / 8) * hour + Int64(i % 8)),
                            channels: ["x": Float(i)])
        }
        try await store.append(records)
        await store.writerBarrier()
        #expect(store.statistics().segments == 5)
        let dropped = try await store.applyRetention()
        #expect(dropped == 3)   // partitions ending at or before now - 2 h
        let left = try store.records(machine: machine("a"))
        #expect(left.map(\.channels["x"]) == (24..<40).map { Float($0) })
        let segmentFiles = try FileManager.default.contentsOfDirectory(atPath: dir.file("segments")).filter { $0.hasSuffix(".seg") }
        #expect(segmentFiles.count == 2)
        try await store.close()
        let reopened = try openStore(dir) { $0.now = { clock.now } }
        #expect(try reopened.records(machine: machine("a")).count == 16)
        try await reopened.close()
    }

    @Test func hugeRetentionKeepsEverythingAndBadRetentionIsRefused() async throws {
        let dir = TemporaryDirectory()
        let store = try openStore(dir) { $0.retention = .seconds(Int64.max) }
        try await store.append((0..<20).map { sampleRecord("a", $0, frame: false) })
        #expect(try await store.applyRetention() == 0)
        #expect(store.machine(machine("a"))?.recordCount == 20)
        try await store.close()
        let error = #expect(throws: StorageError.self) { try openStore(dir) { $0.retention = .zero } }
        #expect(error?.code == .invalidArgument)
    }

    @Test func retentionRunsByItselfWhileTheStoreIsOpen() async throws {
        let dir = TemporaryDirectory()
        let hour: Int64 = 3_600_000_000_000
        let t0: Int64 = 1_800_000_000 * 1_000_000_000 / hour * hour
        let clock = Clock(now: t0 + hour)
        let store = try openStore(dir) {
            $0.partitionDuration = .seconds(3600)
            $0.retention = .seconds(2 * 3600)
            $0.retentionCheckInterval = .milliseconds(5)
            $0.blockSize = 4
            $0.now = { clock.now }
        }
        try await store.append((0..<20).map { i in
            TelemetryRecord(machineID: machine("a"), timestamp: Timestamp(nanoseconds: t0 + Int64(i / 4) * hour + Int64(i % 4)))
        })
        await store.writerBarrier()
        #expect(store.statistics().segments == 5)
        clock.set(t0 + 6 * hour)   // partitions ending at or before t0 + 4 h expire
        // Wait for the condition itself, bounded at 5 s.
        var waited = 0
        while store.statistics().segments > 1 && waited < 1_000 {
            try await Task.sleep(for: .milliseconds(5))
            waited += 1
        }
        #expect(store.statistics().segments == 1)
        #expect(try store.records(machine: machine("a")).count == 4)
        try await store.close()
    }

    @Test func readersRunWhileIngestGoesOn() async throws {
        let dir = TemporaryDirectory()
        let store = try openStore(dir)
        let total = 600
        try await withThrowingTaskGroup(of: Int.self) { group in
            group.addTask {
                for chunk in stride(from: 0, to: total, by: 10) {
                    try await store.append((chunk..<(chunk + 10)).map { sampleRecord("a", $0) })
                }
                return total
            }
            for _ in 0..<2 {
                group.addTask {
                    var reads = 0, lastCount = 0
                    // Bounded: at most 2,000 reads, ending early once the writer is done.
                    while reads < 2_000 && lastCount < total {
                        let got = try store.records(machine: machine("a"), limit: 10_000)
                        // Always a complete, ordered prefix of what was written: never a gap, never a repeat.
                        #expect(got.map(\.timestamp) == (0..<got.count).map { sampleRecord("a", $0).timestamp })
                        #expect(got.count >= lastCount)
                        lastCount = got.count
                        reads += 1
                    }
                    return reads
                }
            }
            for try await _ in group {}
        }
        #expect(try store.records(machine: machine("a"), limit: 10_000).count == total)
        try await store.close()
    }

    @Test func invalidRecordRejectsTheWholeBatch() async throws {
        let dir = TemporaryDirectory()
        let store = try openStore(dir)
        var bad = sampleRecord("a", 1)
        bad.channels["bad name"] = 1
        await #expect(throws: ModelError.self) { try await store.append([sampleRecord("a", 0), bad]) }
        var reserved = sampleRecord("a", 2)
        reserved.channels[ChannelName.frameMean] = 1
        let error = await #expect(throws: ModelError.self) { try await store.append([reserved]) }
        #expect(error?.field == "channels.frame_mean")
        #expect(store.machines().isEmpty)
        try await store.close()
    }

    @Test func relaxedDurabilityAcknowledgesAndPersists() async throws {
        let dir = TemporaryDirectory()
        let store = try openStore(dir) { $0.durability = .relaxed(syncInterval: .milliseconds(5)) }
        try await store.append((0..<20).map { sampleRecord("a", $0) })
        try await store.close()
        let reopened = try openStore(dir)
        #expect(try reopened.records(machine: machine("a")).count == 20)
        try await reopened.close()
    }

    @Test func closedStoreRefusesWritesAndASecondOpenIsLocked() async throws {
        let dir = TemporaryDirectory()
        let store = try openStore(dir)
        let error = #expect(throws: StorageError.self) { try openStore(dir) }
        #expect(error?.code == .locked)
        try await store.close()
        let closed = await #expect(throws: StorageError.self) { try await store.append(sampleRecord("a", 0)) }
        #expect(closed?.code == .closed)
        // Nothing else writes after close either: another process may own the directory by now.
        await #expect(throws: StorageError.self) { try await store.flush() }
        let reopened = try openStore(dir)   // the lock was released
        try await reopened.close()
    }

    @Test func walRotationKeepsUnsealedRecords() async throws {
        let dir = TemporaryDirectory()
        let store = try openStore(dir) {
            $0.walFileSize = 4096
            $0.blockSize = 64
        }
        try await store.append((0..<100).map { sampleRecord("a", $0, side: 16) })
        await store.writerBarrier()
        let walFiles = try FileManager.default.contentsOfDirectory(atPath: dir.file("wal"))
        #expect(walFiles.count == 1)
        try await store.close()
        let reopened = try openStore(dir) { $0.blockSize = 64 }
        let back = try reopened.records(machine: machine("a"), includeFrames: true)
        #expect(back.count == 100)
        #expect(back.last?.frame == sampleRecord("a", 99, side: 16).frame)
        try await reopened.close()
    }
}

/// A clock that tests set by hand.
final class Clock: Sendable {
    private let value: Mutex<Int64>
    init(now: Int64) { value = Mutex(now) }
    var now: Timestamp { Timestamp(nanoseconds: value.withLock { $0 }) }
    func set(_ ns: Int64) { value.withLock { $0 = ns } }
}

extension TelemetryRecord {
    func matchesIgnoringStatistics(_ stored: TelemetryRecord) -> Bool {
        var channels = stored.channels
        for name in ChannelName.frameStatistics { channels[name] = nil }
        return machineID == stored.machineID && timestamp == stored.timestamp && kind == stored.kind && state == stored.state
            && channels == self.channels && frame == stored.frame
    }
}
