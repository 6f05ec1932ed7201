// Tests of the edge gateway's disk spool (Sources/EdgeGateway/Spool, Storage/Format/spool.md).
import CRC32C
import Foundation
import Logging
import Synchronization
import TelemetryModel
import Testing
@testable import EdgeGateway

struct SpoolTests {
    // MARK: Round trip and order

    @Test func roundTripIsBitIdentical() async throws {
        let dir = SpoolDirectory()
        let records = (0..<12).map { spoolRecord($0, frame: $0 % 3 != 2) }
        do {
            var configuration = SpoolConfiguration(directory: dir.path + "/nested/spool")
            configuration.segmentBytes = 700
            let spool = try Spool(configuration: configuration, logger: LogCapture().logger)
            try await spool.append(records)
            let fromMemory = try await spool.peek(maxRecords: 100)
            #expect(fromMemory.map(\.sequence) == Array(1...12))
            #expect(encoded(fromMemory.map(\.record)) == encoded(records))
            await spool.close()
        }
        var configuration = SpoolConfiguration(directory: dir.path + "/nested/spool")
        configuration.memoryBytes = 0
        let reopened = try Spool(configuration: configuration, logger: LogCapture().logger)
        let fromDisk = try await reopened.peek(maxRecords: 100)
        #expect(fromDisk.map(\.sequence) == Array(1...12))
        #expect(encoded(fromDisk.map(\.record)) == encoded(records))
        let first = try #require(fromDisk.first?.record)
        #expect(first.frame?.values[0].bitPattern == nanPayload.bitPattern)
        #expect(first.frame?.values[1].sign == .minus)
        #expect(first.channels["odd"]?.bitPattern == nanPayload.bitPattern)
        #expect(first.state == nil)
        #expect(fromDisk[1].record.state == "printing")
        #expect(fromDisk[2].record.frame == nil)
        await reopened.close()
    }

    @Test func peekReturnsTheOldestInOrderUntilAcknowledged() async throws {
        let dir = SpoolDirectory()
        let spool = try openSpool(dir)
        #expect(try await spool.peek(maxRecords: 10).isEmpty)
        try await spool.append([spoolRecord(0), spoolRecord(1)])
        try await spool.append([spoolRecord(2), spoolRecord(3), spoolRecord(4)])
        let first = try await spool.peek(maxRecords: 3)
        #expect(first.map(\.sequence) == [1, 2, 3])
        #expect(encoded(first.map(\.record)) == encoded((0..<3).map { spoolRecord($0) }))
        let again = try await spool.peek(maxRecords: 3)
        #expect(again.map(\.sequence) == [1, 2, 3])
        #expect(try await spool.peek(maxRecords: 100).map(\.sequence) == [1, 2, 3, 4, 5])
        #expect(try await spool.peek(maxRecords: 0).isEmpty)
        try await spool.acknowledge(through: 2)
        #expect(try await spool.peek(maxRecords: 2).map(\.sequence) == [3, 4])
        try await spool.acknowledge(through: 1)    // below the cursor: nothing happens
        #expect(try await spool.peek(maxRecords: 1).map(\.sequence) == [3])
        let status = await spool.status
        #expect(status.pendingRecords == 3)
        #expect(status.appendedRecords == 5)
        #expect(status.acknowledgedRecords == 2)
        await spool.close()
    }

    @Test func acknowledgedRecordsAreNotReplayedAndSequencesKeepIncreasing() async throws {
        let dir = SpoolDirectory()
        let records = (0..<10).map { spoolRecord($0) }
        do {
            let spool = try openSpool(dir)
            try await spool.append(records)
            try await spool.acknowledge(through: 6)
            await spool.close()
        }
        do {
            let spool = try openSpool(dir)
            let status = await spool.status
            #expect(status.recoveredRecords == 4)
            #expect(status.pendingRecords == 4)
            let replayed = try await spool.peek(maxRecords: 100)
            #expect(replayed.map(\.sequence) == [7, 8, 9, 10])
            #expect(encoded(replayed.map(\.record)) == encoded(Array(records[6...])))
            try await spool.append([spoolRecord(10), spoolRecord(11)])
            #expect(try await spool.peek(maxRecords: 100).map(\.sequence) == [7, 8, 9, 10, 11, 12])
            try await spool.acknowledge(through: 12)
            #expect(await spool.status.pendingRecords == 0)
            await spool.close()
        }
        let spool = try openSpool(dir)
        #expect(await spool.status.recoveredRecords == 0)
        #expect(segmentFiles(dir).isEmpty)
        try await spool.append([spoolRecord(12)])
        #expect(try await spool.peek(maxRecords: 10).map(\.sequence) == [13])
        await spool.close()
    }

    // MARK: Segments

    @Test func segmentsRollAtSegmentBytesAndAreDeletedWhenDelivered() async throws {
        let dir = SpoolDirectory()
        let spool = try openSpool(dir) { $0.segmentBytes = 600 }
        for i in 0..<20 { try await spool.append([spoolRecord(i)]) }
        let names = segmentFiles(dir)
        var status = await spool.status
        #expect(names.count >= 4)
        #expect(status.segments == names.count)
        #expect(status.diskBytes == names.reduce(0) { $0 + fileSize(dir.file($1)) })
        let largestEntry = names.flatMap { entries(in: dir.file($0)) }.map(\.size).max() ?? 0
        for name in names {
            let segmentEntries = entries(in: dir.file(name))
            let firstSequence = try #require(segmentEntries.first?.sequence)
            #expect(name == String(format: "%016llx.spool", firstSequence))
            #expect(fileSize(dir.file(name)) < 600 + largestEntry)
        }
        #expect(names.first == "0000000000000001.spool")
        #expect(status.pendingBytes == names.flatMap { entries(in: dir.file($0)) }.reduce(0) { $0 + $1.size })

        // Acknowledging the records of the first two segments deletes exactly those files.
        let lastOfSecond = try #require(entries(in: dir.file(names[1])).last?.sequence)
        try await spool.acknowledge(through: lastOfSecond)
        #expect(segmentFiles(dir) == Array(names.dropFirst(2)))
        status = await spool.status
        #expect(status.segments == names.count - 2)
        #expect(status.pendingRecords == 20 - Int(lastOfSecond))
        #expect(try await spool.peek(maxRecords: 1).first?.sequence == lastOfSecond + 1)

        try await spool.acknowledge(through: 20)
        #expect(segmentFiles(dir).count <= 1)    // the active segment may be kept while it has room
        status = await spool.status
        #expect(status.pendingRecords == 0)
        #expect(status.pendingBytes == 0)
        #expect(status.acknowledgedRecords == 20)
        await spool.close()
        let reopened = try openSpool(dir) { $0.segmentBytes = 600 }
        #expect(segmentFiles(dir).isEmpty)
        #expect(await reopened.status.diskBytes == 0)
        await reopened.close()
    }

    // MARK: Recovery

    @Test func openDeletesSegmentsAtOrBelowTheCursorAndSkipsAcknowledgedEntries() async throws {
        let dir = SpoolDirectory()
        let records = (0..<16).map { spoolRecord($0) }
        let spool = try openSpool(dir) { $0.segmentBytes = 600 }
        for record in records { try await spool.append([record]) }
        let names = segmentFiles(dir)
        #expect(names.count >= 4)
        // Keep copies, acknowledge into the third segment, then put the deleted files back, as
        // if the gateway had died between writing the cursor and deleting them.
        let saved = try names.map { try Data(contentsOf: URL(fileURLWithPath: dir.file($0))) }
        let third = entries(in: dir.file(names[2]))
        let through = third[1].sequence
        try await spool.acknowledge(through: through)
        await spool.close()
        #expect(segmentFiles(dir) == Array(names.dropFirst(2)))
        for (name, data) in zip(names, saved) where !FileManager.default.fileExists(atPath: dir.file(name)) {
            try data.write(to: URL(fileURLWithPath: dir.file(name)))
        }
        #expect(segmentFiles(dir) == names)

        let reopened = try openSpool(dir) { $0.segmentBytes = 600 }
        #expect(segmentFiles(dir) == Array(names.dropFirst(2)))
        let status = await reopened.status
        #expect(status.recoveredRecords == 16 - Int(through))
        #expect(status.corruptEntries == 0)
        let replayed = try await reopened.peek(maxRecords: 100)
        #expect(replayed.map(\.sequence) == Array((through + 1)...16))
        #expect(encoded(replayed.map(\.record)) == encoded(Array(records[Int(through)...])))
        await reopened.close()
    }

    /// Cut points inside the last entry: inside its 16-byte header, and inside its payload.
    @Test(arguments: [1, 7, 12, 15, 21, -1])
    func tornTailIsTruncatedToTheLastWholeEntry(cut: Int) async throws {
        let dir = SpoolDirectory()
        let records = (0..<5).map { spoolRecord($0) }
        do {
            let spool = try openSpool(dir)
            try await spool.append(records)
            await spool.close()
        }
        let name = try #require(segmentFiles(dir).first)
        let last = try #require(entries(in: dir.file(name)).last)
        let cutAt = cut > 0 ? last.offset + cut : last.offset + last.size + cut
        try truncate(dir.file(name), to: cutAt)

        let log = LogCapture()
        do {
            let spool = try openSpool(dir, log: log)
            let status = await spool.status
            #expect(status.pendingRecords == 4)
            #expect(status.corruptEntries == 0)
            #expect(await spool.problems.isEmpty)
            #expect(fileSize(dir.file(name)) == last.offset)
            let torn = log.events("spool.torn_tail")
            #expect(torn.count == 1)
            #expect(torn.first?.level == .notice)
            #expect(torn.first?.metadata["segment"] == name)
            #expect(torn.first?.metadata["offset"] == "\(last.offset)")
            let kept = try await spool.peek(maxRecords: 100)
            #expect(encoded(kept.map(\.record)) == encoded(Array(records[0..<4])))
            try await spool.append([spoolRecord(5)])
            await spool.close()
        }
        let spool = try openSpool(dir)
        let replayed = try await spool.peek(maxRecords: 100)
        #expect(replayed.map(\.sequence) == [1, 2, 3, 4, 5])
        #expect(encoded(replayed.map(\.record)) == encoded(Array(records[0..<4]) + [spoolRecord(5)]))
        #expect(await spool.status.corruptEntries == 0)
        await spool.close()
    }

    @Test func zeroFilledTailIsTornAndASegmentCutInsideItsHeaderIsDeleted() async throws {
        let dir = SpoolDirectory()
        do {
            let spool = try openSpool(dir) { $0.segmentBytes = 500 }
            for i in 0..<12 { try await spool.append([spoolRecord(i)]) }
            await spool.close()
        }
        let names = segmentFiles(dir)
        #expect(names.count >= 3)
        // The last segment was being created (cut inside its header); the one before it has
        // zeros after its last entry, as a file system may leave after a power loss.
        let lastName = try #require(names.last)
        let lastCount = entries(in: dir.file(lastName)).count
        try truncate(dir.file(lastName), to: 10)
        let spool = try openSpool(dir)
        #expect(!FileManager.default.fileExists(atPath: dir.file(lastName)))
        #expect(await spool.status.pendingRecords == 12 - lastCount)
        await spool.close()

        let previous = names[names.count - 2]
        let size = fileSize(dir.file(previous))
        let handle = try #require(FileHandle(forUpdatingAtPath: dir.file(previous)))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(count: 300))
        try handle.close()
        let log = LogCapture()
        let again = try openSpool(dir, log: log)
        #expect(fileSize(dir.file(previous)) == size)
        #expect(log.events("spool.torn_tail").count == 1)
        #expect(await again.status.corruptEntries == 0)
        #expect(await again.status.pendingRecords == 12 - lastCount)
        await again.close()
    }

    /// A flipped bit in the payload of an entry of a middle segment or of the last one, and in
    /// the length of an entry of the last one (the length then runs past the end of the file,
    /// like a torn write, but valid entries follow).
    @Test(arguments: [(600, 30, "CRC mismatch"), (1 << 20, 30, "CRC mismatch"), (1 << 20, 2, "bad length")])
    func aDamagedEntryInTheMiddleIsReportedAndEverythingElseKept(segmentBytes: Int, byte: Int, reason: String) async throws {
        let dir = SpoolDirectory()
        let records = (0..<20).map { spoolRecord($0) }
        do {
            let spool = try openSpool(dir) { $0.segmentBytes = segmentBytes }
            for record in records { try await spool.append([record]) }
            await spool.close()
        }
        let names = segmentFiles(dir)
        #expect(names.count >= (segmentBytes == 600 ? 4 : 1))
        let middle = names[names.count / 2]
        let middleEntries = entries(in: dir.file(middle))
        let damaged = middleEntries[middleEntries.count / 2]
        let size = fileSize(dir.file(middle))
        try flipBit(dir.file(middle), at: damaged.offset + byte)

        let log = LogCapture()
        let spool = try openSpool(dir, log: log) { $0.segmentBytes = segmentBytes }
        let status = await spool.status
        #expect(status.corruptEntries == 1)
        #expect(status.recoveredRecords == 19)
        let problems = await spool.problems
        try #require(problems.count == 1)
        #expect(problems[0].code == .corrupt)
        let digits = String(middle.prefix(16))
        #expect(problems[0].message.hasPrefix(reason))
        #expect(problems[0].message.contains("in segment \(digits) at offset \(damaged.offset)"))
        #expect(problems[0].file == middle)
        #expect(problems[0].offset == damaged.offset)
        let errors = log.entries.filter { $0.level == .error }
        #expect(errors.count == 1)
        #expect(errors.first?.event == "spool.corrupt_entry")
        #expect(errors.first?.metadata["segment"] == middle)
        #expect(segmentFiles(dir) == names)
        #expect(fileSize(dir.file(middle)) == size)
        #expect(log.events("spool.torn_tail").isEmpty)

        let replayed = try await spool.peek(maxRecords: 100)
        #expect(replayed.map(\.sequence) == (1...20).filter { $0 != damaged.sequence })
        #expect(encoded(replayed.map(\.record)) == encoded(records.enumerated().filter { UInt64($0.offset + 1) != damaged.sequence }.map(\.element)))
        await spool.close()
    }

    @Test func anEntryThatPassesItsCRCButDoesNotDecodeIsSkippedAlone() async throws {
        let dir = SpoolDirectory()
        do {
            let spool = try openSpool(dir)
            try await spool.append((0..<5).map { spoolRecord($0) })
            await spool.close()
        }
        let name = try #require(segmentFiles(dir).first)
        let third = entries(in: dir.file(name))[2]
        // Break the batch magic, then give the entry a matching CRC.
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: dir.file(name))))
        bytes[third.offset + 16] = UInt8(ascii: "X")
        let crc = bytes.withUnsafeBytes { raw -> UInt32 in
            let start = raw.baseAddress! + third.offset
            return sinter_crc32c_extend(sinter_crc32c_extend(0, start, 4), start + 8, third.size - 8)
        }
        withUnsafeBytes(of: crc.littleEndian) { bytes.replaceSubrange((third.offset + 4)..<(third.offset + 8), with: $0) }
        try Data(bytes).write(to: URL(fileURLWithPath: dir.file(name)))

        let spool = try openSpool(dir)
        #expect(await spool.status.corruptEntries == 1)
        let problems = await spool.problems
        #expect(problems.first?.message.hasPrefix("undecodable entry") == true)
        #expect(problems.first?.message.contains("in segment \(name.prefix(16)) at offset \(third.offset)") == true)
        #expect(try await spool.peek(maxRecords: 10).map(\.sequence) == [1, 2, 4, 5])
        await spool.close()
    }

    @Test(arguments: [false, true])
    func aBadSegmentHeaderSetsTheFileAside(otherVersion: Bool) async throws {
        let dir = SpoolDirectory()
        do {
            let spool = try openSpool(dir) { $0.segmentBytes = 600 }
            for i in 0..<12 { try await spool.append([spoolRecord(i)]) }
            await spool.close()
        }
        let names = segmentFiles(dir)
        #expect(names.count >= 2)
        let first = names[0]
        let lost = entries(in: dir.file(first)).count
        if otherVersion {
            // An intact header of version 2 (CRC recomputed): another format, set aside too.
            var header = try [UInt8](Data(contentsOf: URL(fileURLWithPath: dir.file(first))).prefix(24))
            header[8] = 2
            let crc = header.withUnsafeBytes { sinter_crc32c_extend(0, $0.baseAddress!, 20) }
            withUnsafeBytes(of: crc.littleEndian) { header.replaceSubrange(20..<24, with: $0) }
            let handle = try #require(FileHandle(forUpdatingAtPath: dir.file(first)))
            try handle.write(contentsOf: header)
            try handle.close()
        } else {
            try flipBit(dir.file(first), at: 3)
        }

        let log = LogCapture()
        let spool = try openSpool(dir, log: log) { $0.segmentBytes = 600 }
        #expect(FileManager.default.fileExists(atPath: dir.file(first + ".corrupt")))
        #expect(segmentFiles(dir) == Array(names.dropFirst()))
        let status = await spool.status
        #expect(status.corruptEntries == 1)
        #expect(status.pendingRecords == 12 - lost)
        let problem = try #require(await spool.problems.first)
        #expect(problem.code == (otherVersion ? .unsupportedFormat : .corrupt))
        #expect(problem.message.contains("segment \(first.prefix(16))"))
        #expect(problem.message.contains(first + ".corrupt"))
        #expect(log.events("spool.corrupt_segment").count == 1)
        #expect(try await spool.peek(maxRecords: 100).map(\.sequence) == Array(UInt64(lost + 1)...12))
        await spool.close()
    }

    @Test(arguments: ["damaged", "missing"])
    func withoutAGoodCursorEverythingOnDiskIsReplayed(cursor: String) async throws {
        let dir = SpoolDirectory()
        do {
            let spool = try openSpool(dir)
            try await spool.append((0..<10).map { spoolRecord($0) })
            try await spool.acknowledge(through: 6)
            await spool.close()
        }
        if cursor == "damaged" {
            try flipBit(dir.file("cursor"), at: 13)
        } else {
            try FileManager.default.removeItem(atPath: dir.file("cursor"))
        }
        let log = LogCapture()
        let spool = try openSpool(dir, log: log)
        #expect(await spool.status.recoveredRecords == 10)
        let replayed = try await spool.peek(maxRecords: 100)
        #expect(replayed.map(\.sequence) == Array(1...10))
        #expect(encoded(replayed.map(\.record)) == encoded((0..<10).map { spoolRecord($0) }))
        let warning = try #require(log.events("spool.cursor_\(cursor)").first)
        #expect(warning.level == .warning)
        try await spool.append([spoolRecord(10)])
        #expect(try await spool.peek(maxRecords: 100).last?.sequence == 11)
        await spool.close()
    }

    @Test func damageFoundWhenReadingBackLosesOnlyTheRestOfThatSegment() async throws {
        let dir = SpoolDirectory()
        let spool = try openSpool(dir) { $0.segmentBytes = 600; $0.memoryBytes = 0 }
        for i in 0..<12 { try await spool.append([spoolRecord(i)]) }
        let names = segmentFiles(dir)
        let firstEntries = entries(in: dir.file(names[0]))
        #expect(firstEntries.count >= 3)
        try flipBit(dir.file(names[0]), at: firstEntries[1].offset + 40)

        let peeked = try await spool.peek(maxRecords: 100)
        let lost = firstEntries.count - 1
        #expect(peeked.map(\.sequence) == [1] + Array(UInt64(firstEntries.count + 1)...12))
        let status = await spool.status
        #expect(status.corruptEntries == 1)
        #expect(status.pendingRecords == 12 - lost)
        let problem = try #require(await spool.problems.first)
        #expect(problem.message.contains("CRC mismatch in segment \(names[0].prefix(16)) at offset \(firstEntries[1].offset)"))
        try await spool.acknowledge(through: 12)
        #expect(await spool.status.pendingRecords == 0)
        #expect(await spool.status.acknowledgedRecords == 12 - lost)
        await spool.close()
    }

    // MARK: Space

    @Test func rejectRefusesWhenFullAndAcceptsAgainAfterAcknowledge() async throws {
        let dir = SpoolDirectory()
        let log = LogCapture()
        let spool = try openSpool(dir, log: log) { $0.maximumBytes = 1000; $0.segmentBytes = 400 }
        var appended = 0
        var refusal: SpoolError?
        while appended < 50 {
            do throws(SpoolError) {
                try await spool.append([spoolRecord(appended)])
                appended += 1
            } catch {
                refusal = error
                break
            }
        }
        let error = try #require(refusal)
        #expect(error.code == .full)
        #expect(error.message.contains("spool is full (1000 bytes, --spool-max-mb)"))
        let full = await spool.status
        #expect(full.isFull)
        #expect(full.rejectedRecords == 1)
        #expect(full.pendingRecords == appended)
        #expect(full.diskBytes <= 1000)

        // A second refusal appends nothing either, and is not logged again.
        let second = await #expect(throws: SpoolError.self) { try await spool.append([spoolRecord(100), spoolRecord(101)]) }
        #expect(second?.code == .full)
        var status = await spool.status
        #expect(status.rejectedRecords == 3)
        #expect(status.pendingRecords == full.pendingRecords)
        #expect(status.diskBytes == full.diskBytes)
        #expect(status.appendedRecords == appended)
        #expect(try await spool.peek(maxRecords: 100).count == appended)
        #expect(log.events("spool.full").count == 1)
        #expect(log.events("spool.full").first?.level == .warning)

        try await spool.acknowledge(through: UInt64(appended))
        status = await spool.status
        #expect(!status.isFull)
        #expect(log.events("spool.accepting").count == 1)
        try await spool.append([spoolRecord(200)])
        #expect(try await spool.peek(maxRecords: 10).map(\.sequence) == [UInt64(appended + 1)])
        await spool.close()
    }

    @Test func dropOldestDropsWholeOldestSegmentsAndKeepsTheNewest() async throws {
        let dir = SpoolDirectory()
        let log = LogCapture()
        let records = (0..<30).map { spoolRecord($0) }
        let spool = try openSpool(dir, log: log) {
            $0.maximumBytes = 1500
            $0.segmentBytes = 400
            $0.whenFull = .dropOldest
        }
        for record in records { try await spool.append([record]) }
        let status = await spool.status
        #expect(status.droppedRecords > 0)
        #expect(status.pendingRecords + status.droppedRecords == 30)
        #expect(status.rejectedRecords == 0)
        #expect(status.diskBytes <= 1500)
        #expect(status.isFull)
        let drops = log.events("spool.dropped")
        #expect(!drops.isEmpty)
        #expect(drops.compactMap { Int($0.metadata["records.dropped"] ?? "") }.reduce(0, +) == status.droppedRecords)

        let kept = try await spool.peek(maxRecords: 100)
        #expect(kept.map(\.sequence) == Array(UInt64(status.droppedRecords + 1)...30))
        #expect(encoded(kept.map(\.record)) == encoded(Array(records[status.droppedRecords...])))
        try await spool.acknowledge(through: 3)    // a dropped record: nothing happens
        #expect(await spool.status.pendingRecords == status.pendingRecords)
        try await spool.acknowledge(through: 30)
        #expect(await spool.status.isFull == false)
        await spool.close()

        let reopened = try openSpool(dir)
        #expect(await reopened.status.pendingRecords == 0)
        try await reopened.append([spoolRecord(30)])
        #expect(try await reopened.peek(maxRecords: 1).first?.sequence == 31)
        await reopened.close()
    }

    @Test(arguments: SpoolFullPolicy.allCases)
    func anAppendLargerThanTheWholeSpoolIsRefused(policy: SpoolFullPolicy) async throws {
        let dir = SpoolDirectory()
        let spool = try openSpool(dir) { $0.maximumBytes = 600; $0.whenFull = policy }
        try await spool.append([spoolRecord(0)])
        let error = await #expect(throws: SpoolError.self) { try await spool.append([spoolRecord(1, side: 16)]) }
        #expect(error?.code == .full)
        #expect(error?.message.contains("more than the whole spool") == true)
        let status = await spool.status
        #expect(status.pendingRecords == 1)
        #expect(status.rejectedRecords == 1)
        #expect(status.droppedRecords == 0)
        await spool.close()
    }

    @Test func anInvalidRecordRefusesTheWholeAppend() async throws {
        let dir = SpoolDirectory()
        let spool = try openSpool(dir)
        var bad = spoolRecord(1)
        bad.kind = String(repeating: "k", count: 100)
        let error = await #expect(throws: SpoolError.self) { try await spool.append([spoolRecord(0), bad]) }
        #expect(error?.code == .invalidRecord)
        #expect(await spool.status.pendingRecords == 0)
        #expect(segmentFiles(dir).isEmpty)
        var withStatistics = spoolRecord(2)
        withStatistics.channels["frame_min"] = 20    // reserved channels are spooled as they are
        try await spool.append([withStatistics])
        #expect(try await spool.peek(maxRecords: 1).first?.record.channels["frame_min"] == Float(20))
        await spool.close()
    }

    // MARK: Lock, close, waiting

    @Test func aSecondOpenOfTheSameDirectoryIsLocked() async throws {
        let dir = SpoolDirectory()
        let spool = try openSpool(dir)
        let error = #expect(throws: SpoolError.self) { _ = try openSpool(dir) }
        #expect(error?.code == .locked)
        #expect(error?.message.contains(dir.path) == true)
        await spool.close()
        let again = try openSpool(dir)
        await again.close()
    }

    @Test func aClosedSpoolRefusesCalls() async throws {
        let dir = SpoolDirectory()
        let spool = try openSpool(dir)
        try await spool.append([spoolRecord(0)])
        await spool.close()
        await spool.close()
        let append = await #expect(throws: SpoolError.self) { try await spool.append([spoolRecord(1)]) }
        #expect(append?.code == .closed)
        let peek = await #expect(throws: SpoolError.self) { try await spool.peek(maxRecords: 1) }
        #expect(peek?.code == .closed)
        let acknowledge = await #expect(throws: SpoolError.self) { try await spool.acknowledge(through: 1) }
        #expect(acknowledge?.code == .closed)
        #expect(await spool.status.pendingRecords == 1)
    }

    @Test func waitForRecordsReturnsAfterAnAppendFromAnotherTask() async throws {
        let dir = SpoolDirectory()
        let spool = try openSpool(dir)
        try await withThrowingTaskGroup(of: Int.self) { group in
            group.addTask {
                await spool.waitForRecords()
                return await spool.status.pendingRecords
            }
            while await spool.waiterCount == 0 { await Task.yield() }
            try await spool.append([spoolRecord(0)])
            #expect(try await group.next() == 1)
        }
        #expect(await spool.waiterCount == 0)
        await spool.waitForRecords()    // a record is pending: returns at once

        // Cancellation and close also end a wait.
        try await spool.acknowledge(through: 1)
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await spool.waitForRecords() }
            while await spool.waiterCount == 0 { await Task.yield() }
            group.cancelAll()
            await group.waitForAll()
        }
        #expect(await spool.waiterCount == 0)
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await spool.waitForRecords() }
            while await spool.waiterCount == 0 { await Task.yield() }
            await spool.close()
            await group.waitForAll()
        }
        #expect(await spool.waiterCount == 0)
    }

    // MARK: Memory and disk

    @Test func theMemoryAndDiskPathsReturnIdenticalRecords() async throws {
        let records = (0..<15).map { spoolRecord($0, frame: $0 % 4 != 3) }
        var spools: [Spool] = []
        var directories: [SpoolDirectory] = []
        for memory in [64 << 20, 500, 0] {
            let dir = SpoolDirectory()
            directories.append(dir)
            let spool = try openSpool(dir) { $0.segmentBytes = 500; $0.memoryBytes = memory }
            try await spool.append(Array(records[0..<4]))
            try await spool.append(Array(records[4...]))
            spools.append(spool)
        }
        func snapshot(_ spool: Spool, _ n: Int) async throws -> [[UInt8]] {
            try await spool.peek(maxRecords: n).map { withUnsafeBytes(of: $0.sequence) { Array($0) } + encoded([$0.record])[0] }
        }
        let all = try await snapshot(spools[0], 100)
        #expect(all.count == 15)
        for spool in spools.dropFirst() { #expect(try await snapshot(spool, 100) == all) }
        for spool in spools { try await spool.acknowledge(through: 5) }
        let afterAcknowledge = try await snapshot(spools[0], 4)
        #expect(afterAcknowledge.count == 4)
        for spool in spools.dropFirst() { #expect(try await snapshot(spool, 4) == afterAcknowledge) }
        let statuses = await [spools[0].status, spools[1].status, spools[2].status]
        #expect(statuses[0] == statuses[1])
        #expect(statuses[0] == statuses[2])
        for spool in spools { await spool.close() }
    }
}

// MARK: - Support

// Members of SpoolTests, not top-level declarations: this target also holds the gateway's other
// tests, and a member shadows any helper of the same name they may declare.
extension SpoolTests {
    /// A fresh directory under the system temp dir, removed when the value is released.
    final class SpoolDirectory: Sendable {
        let path: String

        init(_ label: String = #function) {
            let name = label.filter { $0.isLetter || $0.isNumber }.prefix(40)
            path = NSTemporaryDirectory() + "sinter-spool-\(name)-\(UUID().uuidString.prefix(8))"
            try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        }

        deinit { try? FileManager.default.removeItem(atPath: path) }

        func file(_ name: String) -> String { path + "/" + name }
    }

    /// Keeps every log entry, so that tests can check events, levels and metadata.
    final class LogCapture: Sendable {
        struct Entry: Sendable {
            let level: Logger.Level
            let event: String
            let metadata: [String: String]
        }

        private let storage = Mutex<[Entry]>([])
        var entries: [Entry] { storage.withLock { $0 } }
        func events(_ event: String) -> [Entry] { entries.filter { $0.event == event } }
        var logger: Logger { Logger(label: "sinter.edge.spool.test") { _ in Handler(capture: self) } }

        fileprivate func add(_ entry: Entry) { storage.withLock { $0.append(entry) } }

        struct Handler: LogHandler {
            let capture: LogCapture
            var logLevel: Logger.Level = .trace
            var metadata: Logger.Metadata = [:]

            subscript(metadataKey key: String) -> Logger.Metadata.Value? {
                get { metadata[key] }
                set { metadata[key] = newValue }
            }

            func log(event: LogEvent) {
                var flat: [String: String] = [:]
                for (key, value) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) { flat[key] = "\(value)" }
                capture.add(Entry(level: event.level, event: event.message.description, metadata: flat))
            }
        }
    }

    /// A quiet, non-syncing spool in `dir`.
    func openSpool(_ dir: SpoolDirectory, log: LogCapture = LogCapture(),
                   _ configure: (inout SpoolConfiguration) -> Void = { _ in }) throws(SpoolError) -> Spool {
        var configuration = SpoolConfiguration(directory: dir.path)
        configuration.syncInterval = .zero
        configure(&configuration)
        return try Spool(configuration: configuration, logger: log.logger)
    }

    /// A quiet NaN with a payload, which must survive bit for bit.
    var nanPayload: Float { Float(bitPattern: 0x7FC0_1234) }

    /// A small record, deterministic in `i`: NaN, -0.0 and infinity in the frame, a NaN channel,
    /// no state for every fourth record.
    func spoolRecord(_ i: Int, frame: Bool = true, side: Int = 4) -> TelemetryRecord {
        var values = (0..<(side * side)).map { Float($0) + Float(i) / 8 }
        values[0] = nanPayload
        values[1] = -0.0
        values[2] = .infinity
        return TelemetryRecord(
            machineID: try! MachineID("dmls-0\(i % 3)"),
            timestamp: Timestamp(nanoseconds: 1_800_000_000_000_000_000 + Int64(i) * 1_000_000),
            kind: i % 2 == 0 ? "dmls" : "fdm",
            channels: ["power_kw": Float(i) / 10, "odd": nanPayload],
            state: i % 4 == 0 ? nil : "printing",
            frame: frame ? try! ThermalFrame(width: side, height: side, values: values) : nil)
    }

    /// The frame-batch bytes of each record: equal bytes mean bit-identical records (NaN payloads
    /// included, which `==` on Float cannot compare).
    func encoded(_ records: [TelemetryRecord]) -> [[UInt8]] { records.map { FrameBatch.encode([$0]) } }

    func segmentFiles(_ dir: SpoolDirectory) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).filter { $0.hasSuffix(".spool") }.sorted()
    }

    func fileSize(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.intValue ?? -1
    }

    /// The whole entries of a segment file, parsed independently of the spool's code.
    func entries(in path: String) -> [(offset: Int, size: Int, sequence: UInt64)] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        let bytes = [UInt8](data)
        func u32(_ o: Int) -> Int { (0..<4).reduce(0) { $0 | Int(bytes[o + $1]) << (8 * $1) } }
        func u64(_ o: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(bytes[o + $1]) << (8 * UInt64($1)) } }
        var result: [(offset: Int, size: Int, sequence: UInt64)] = []
        var offset = 24
        while offset + 16 <= bytes.count {
            let size = 8 + u32(offset)
            guard offset + size <= bytes.count else { break }
            result.append((offset, size, u64(offset + 8)))
            offset += size
        }
        return result
    }

    func flipBit(_ path: String, at offset: Int, bit: UInt8 = 0x10) throws {
        let handle = try #require(FileHandle(forUpdatingAtPath: path))
        try handle.seek(toOffset: UInt64(offset))
        var byte = try #require(try handle.read(upToCount: 1))
        byte[0] ^= bit
        try handle.seek(toOffset: UInt64(offset))
        try handle.write(contentsOf: byte)
        try handle.close()
    }

    func truncate(_ path: String, to size: Int) throws {
        let handle = try #require(FileHandle(forUpdatingAtPath: path))
        try handle.truncate(atOffset: UInt64(size))
        try handle.close()
    }
}

extension SpoolTests {
    /// Forwarded records do not wait in the active segment until it fills (32 MiB by default):
    /// once they are all delivered and the segment holds 1 MiB or more, it is deleted.
    @Test func aDeliveredActiveSegmentIsDeletedOnceItHoldsAMebibyte() async throws {
        let dir = SpoolDirectory()
        let spool = try openSpool(dir)
        // 100 × 100 frames: about 40 KB per record, so 30 records pass 1 MiB.
        for i in 0..<30 { try await spool.append([spoolRecord(i, side: 100)]) }
        let before = await spool.status
        #expect(before.segments == 1 && before.diskBytes > 1 << 20)
        let batch = try await spool.peek(maxRecords: 100)
        try await spool.acknowledge(through: try #require(batch.last).sequence)
        let after = await spool.status
        #expect(after.segments == 0)
        #expect(after.diskBytes == 0)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".spool") }.isEmpty)
        // Appending goes on in a new segment.
        try await spool.append([spoolRecord(30)])
        #expect(await spool.status.pendingRecords == 1)
        await spool.close()
    }

    @Test func aSmallDeliveredActiveSegmentIsKept() async throws {
        let dir = SpoolDirectory()
        let spool = try openSpool(dir)
        for i in 0..<3 { try await spool.append([spoolRecord(i)]) }
        let batch = try await spool.peek(maxRecords: 100)
        try await spool.acknowledge(through: try #require(batch.last).sequence)
        let after = await spool.status
        #expect(after.pendingRecords == 0)
        #expect(after.segments == 1)   // spares a file creation per append in a steady stream
        await spool.close()
    }
}
