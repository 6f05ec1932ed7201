import Foundation
import Testing
@testable import StorageEngine
import TelemetryModel

/// Bit flips and truncation in every file kind: a clear error naming file and offset, and
/// everything else stays readable.
struct CorruptionTests {
    /// Two machines, sealed into blocks of 16, then closed: a store with no WAL records left to help.
    func sealedStore(_ dir: TemporaryDirectory) async throws -> [TelemetryRecord] {
        let store = try openStore(dir)
        let records = (0..<32).map { sampleRecord("a", $0) } + (0..<32).map { sampleRecord("b", $0) }
        try await store.append(records)
        try await store.flush()
        try await store.close()
        return records
    }

    func blocks(_ store: TelemetryStore, _ m: String) -> [BlockRef] {
        store.state.withLock { $0.machines[machine(m)]!.blocks }
    }

    @Test func bitFlipInABlockHeaderNamesSegmentAndOffsetAndSparesOtherBlocks() async throws {
        let dir = TemporaryDirectory()
        let records = try await sealedStore(dir)
        var store = try openStore(dir)
        let target = blocks(store, "a")[0].entry
        try await store.close()
        try flipBit(dir.file("segments/000001.seg"), at: Int(target.offset) + BlockHeader.prefixSize + 3)
        store = try openStore(dir)
        let error = #expect(throws: StorageError.self) { try store.records(machine: machine("a"), limit: 5) }
        #expect(error?.code == .corruptBlock)
        #expect(error?.message.contains("segments/000001.seg") == true)
        #expect(error?.message.contains("offset \(target.offset)") == true)
        // The other block of the machine and the other machine are intact.
        let later = try store.records(machine: machine("a"), from: records[16].timestamp, to: .max, includeFrames: true)
        #expect(later.count == 16)
        #expect(try store.records(machine: machine("b"), includeFrames: true).count == 32)
        try await store.close()
    }

    @Test func bitFlipInAFrameFailsOnlyFrameReads() async throws {
        let dir = TemporaryDirectory()
        _ = try await sealedStore(dir)
        var store = try openStore(dir)
        let target = blocks(store, "b")[1].entry
        try await store.close()
        // First byte of the first frame: after the scalar columns and the 12-byte-per-record frame directory.
        try flipBit(dir.file("segments/000001.seg"), at: Int(target.offset) + Int(target.scalarLength) + target.count * 12 + 2)
        store = try openStore(dir)
        // Statistics never touch frames, so they still read.
        let stats = try store.records(machine: machine("b"), limit: 100)
        #expect(stats.count == 32)
        #expect(stats.allSatisfy { $0.frameStatistics != nil })
        let error = #expect(throws: StorageError.self) { try store.records(machine: machine("b"), limit: 100, includeFrames: true) }
        #expect(error?.code == .corruptBlock)
        #expect(error?.message.contains("CRC mismatch in a frame in segment 000001") == true)
        try await store.close()
    }

    @Test func truncatedSegmentIsReportedAndTheRestStaysReadable() async throws {
        let dir = TemporaryDirectory()
        _ = try await sealedStore(dir)
        let path = dir.file("segments/000001.seg")
        try truncateFile(path, to: fileSize(path) - 100)
        let store = try openStore(dir)
        let problem = try #require(store.problems.first)
        #expect(problem.code == .corruptBlock)
        #expect(problem.message.contains("000001"))
        let total = store.machines().reduce(0) { $0 + $1.recordCount }
        #expect(total == 48)   // the last block (16 records) is gone, the other three read
        for m in store.machines() { _ = try store.records(machine: m.id, includeFrames: true) }
        try await store.close()
    }

    @Test func damagedIndexIsRebuiltFromTheSegment() async throws {
        let dir = TemporaryDirectory()
        let records = try await sealedStore(dir)
        try flipBit(dir.file("segments/000001.idx"), at: FileHeader.size + ChecksummedFrame.overhead + 2)
        var store = try openStore(dir)
        #expect(store.problems.contains { $0.code == .corruptIndex })
        for r in records { #expect(try store.record(id: r.id)?.frame == r.frame) }
        try await store.close()
        // The rebuilt index is written back: the next open is clean.
        store = try openStore(dir)
        #expect(store.problems.isEmpty)
        #expect(store.machines().reduce(0) { $0 + $1.recordCount } == 64)
        try await store.close()
    }

    @Test func truncatedIndexLosesNoBlock() async throws {
        let dir = TemporaryDirectory()
        let records = try await sealedStore(dir)
        let path = dir.file("segments/000001.idx")
        try truncateFile(path, to: fileSize(path) - 7)
        let store = try openStore(dir)
        for r in records { #expect(try store.record(id: r.id) != nil) }
        try await store.close()
    }

    @Test func damagedOrMissingManifestIsRebuilt() async throws {
        let dir = TemporaryDirectory()
        let records = try await sealedStore(dir)
        try flipBit(dir.file("MANIFEST"), at: 40)
        var store = try openStore(dir)
        #expect(store.problems.first?.code == .corruptManifest)
        #expect(store.problems.first?.message.contains("MANIFEST") == true)
        for r in records { #expect(try store.record(id: r.id) != nil) }
        try await store.close()
        try truncateFile(dir.file("MANIFEST"), to: 10)
        store = try openStore(dir)
        #expect(!store.problems.isEmpty)
        #expect(store.machines().reduce(0) { $0 + $1.recordCount } == 64)
        try await store.close()
    }

    func walFile(_ dir: TemporaryDirectory) throws -> String {
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.file("wal")).filter { $0.hasSuffix(".wal") }
        #expect(names.count == 1)
        return dir.file("wal/" + names[0])
    }

    /// Ten records that stay in the WAL (the block size is never reached).
    func unsealedStore(_ dir: TemporaryDirectory) async throws -> [TelemetryRecord] {
        let store = try openStore(dir) { $0.blockSize = 1000 }
        let records = (0..<10).map { sampleRecord("a", $0) }
        for r in records { try await store.append(r) }
        try await store.close()
        return records
    }

    @Test func tornLastWALRecordIsDiscardedSilently() async throws {
        let dir = TemporaryDirectory()
        let records = try await unsealedStore(dir)
        let path = try walFile(dir)
        try truncateFile(path, to: fileSize(path) - 5)
        let store = try openStore(dir) { $0.blockSize = 1000 }
        #expect(store.problems.isEmpty)
        let back = try store.records(machine: machine("a"), includeFrames: true)
        #expect(back.count == 9)
        #expect(zip(records, back).allSatisfy { $0.frame == $1.frame })
        try await store.close()
    }

    @Test func corruptWALRecordInTheMiddleIsReportedAndKept() async throws {
        let dir = TemporaryDirectory()
        _ = try await unsealedStore(dir)
        let path = try walFile(dir)
        try flipBit(path, at: fileSize(path) / 2)
        let store = try openStore(dir) { $0.blockSize = 1000 }
        let problem = try #require(store.problems.first)
        #expect(problem.code == .corruptLog)
        #expect(problem.message.contains(".wal"))
        // Only the damaged record is lost: the scan resynchronises on the next valid one.
        #expect(try store.records(machine: machine("a")).count == 9)
        let kept = try FileManager.default.contentsOfDirectory(atPath: dir.file("wal")).filter { $0.hasSuffix(".corrupt") }
        #expect(kept.count == 1)
        try await store.close()
    }

    @Test func foreignFileInPlaceOfASegmentIsReported() async throws {
        let dir = TemporaryDirectory()
        _ = try await sealedStore(dir)
        try Data(repeating: 0x41, count: 200).write(to: URL(fileURLWithPath: dir.file("segments/000001.seg")))
        let store = try openStore(dir)
        #expect(store.problems.contains { $0.code == .corruptBlock && $0.message.contains("segments/000001.seg") })
        #expect(store.machines().isEmpty)
        try await store.close()
    }

    @Test func blocksAfterADamagedBlockSurviveAnIndexRebuild() async throws {
        let dir = TemporaryDirectory()
        let records = try await sealedStore(dir)
        var store = try openStore(dir)
        let first = blocks(store, "a")[0].entry
        try await store.close()
        // Damage the first block and the index: the rebuild must step over the block, not stop at it.
        try flipBit(dir.file("segments/000001.seg"), at: Int(first.offset) + BlockHeader.prefixSize + 3)
        try flipBit(dir.file("segments/000001.idx"), at: FileHeader.size + ChecksummedFrame.overhead + 2)
        store = try openStore(dir)
        #expect(store.problems.contains { $0.code == .corruptIndex })
        #expect(store.problems.contains { $0.code == .corruptBlock })
        let readable = records.filter { r in (try? store.record(id: r.id)) != nil }
        #expect(readable.count == 48)   // all but the 16 records of the damaged block
        try await store.close()
        store = try openStore(dir)
        #expect(store.machines().reduce(0) { $0 + $1.recordCount } == 48)
        try await store.close()
    }

    @Test func segmentLeftOutOfARebuiltManifestIsNeverDeleted() async throws {
        let dir = TemporaryDirectory()
        _ = try await sealedStore(dir)
        let segment = dir.file("segments/000001.seg")
        try flipBit(segment, at: 30)          // the partition record: the segment cannot be adopted
        try flipBit(dir.file("MANIFEST"), at: 40)
        var store = try openStore(dir)
        #expect(store.problems.contains { $0.code == .corruptManifest })
        try await store.close()
        store = try openStore(dir)
        #expect(store.problems.contains { $0.message.contains("not in the manifest") })
        try await store.close()
        #expect(fileSize(segment) > 1000)
    }

    @Test func aNewerFormatVersionIsRefusedNotRepaired() async throws {
        let dir = TemporaryDirectory()
        _ = try await sealedStore(dir)
        // Rewrite the manifest header as version 2, with a valid CRC.
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir.file("MANIFEST"))))
        bytes[8] = 2
        let crc = bytes[0..<20].withUnsafeBytes { crc32c(UnsafeRawBufferPointer($0)) }
        withUnsafeBytes(of: crc.littleEndian) { for i in 0..<4 { bytes[20 + i] = $0[i] } }
        try Data(bytes).write(to: URL(fileURLWithPath: dir.file("MANIFEST")))
        let error = #expect(throws: StorageError.self) { try openStore(dir) }
        #expect(error?.code == .unsupportedFormat)
        #expect(error?.message.contains("version 2") == true)
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir.file("MANIFEST")))[8] == 2)
    }

    @Test func indexEntriesWrittenTwiceCountOnce() async throws {
        let dir = TemporaryDirectory()
        let records = try await sealedStore(dir)
        // A flush retried after a failed fsync can leave the same entries twice.
        let path = dir.file("segments/000001.idx")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        try (bytes + bytes[FileHeader.size...]).write(to: URL(fileURLWithPath: path))
        let store = try openStore(dir)
        #expect(store.problems.isEmpty)
        #expect(store.machines().reduce(0) { $0 + $1.recordCount } == records.count)
        #expect(try store.records(machine: machine("a"), limit: 1000).count == 32)
        try await store.close()
    }
}
