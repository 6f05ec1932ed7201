// The dead-letter file (Storage/Format/dead-letter.md): round trip, torn tails, damage, rewrite.
import CRC32C
import Foundation
import SinterHTTPClient
import TelemetryModel
import Testing
@testable import EdgeGateway

@Suite(.serialized)
struct DeadLetterFileTests {
    typealias Directory = SpoolTests.SpoolDirectory
    typealias LogCapture = SpoolTests.LogCapture

    func letter(_ i: Int) -> DeadLetter {
        let record = TelemetryRecord(machineID: try! MachineID("fdm-0\(i)"), timestamp: Timestamp(nanoseconds: 1_800_000_000_000_000_000 + Int64(i)),
                                     kind: "fdm", channels: ["nozzle_temp_c": Float(200 + i), "odd": Float(bitPattern: 0x7FC0_1234)],
                                     state: "printing", frame: nil)
        return DeadLetter(refusedAt: Timestamp(nanoseconds: 1_796_695_200_000_000_000 + Int64(i)), status: i % 2 == 0 ? 422 : 400,
                          sequence: UInt64(10 + i),
                          error: ServerErrorBody(code: "invalid_value", message: "value \(i) is out of range ✓",
                                                 field: i == 1 ? nil : "channels.x", position: i == 2 ? nil : 3 * i),
                          record: record)
    }

    func same(_ a: DeadLetter, _ b: DeadLetter) -> Bool {
        a.refusedAt == b.refusedAt && a.status == b.status && a.sequence == b.sequence && a.error == b.error
            && FrameBatch.encode([a.record]) == FrameBatch.encode([b.record])
    }

    func write(_ dir: Directory, _ letters: [DeadLetter], log: LogCapture = LogCapture()) async throws {
        let file = DeadLetterFile(directory: dir.path, logger: log.logger)
        for l in letters { try await file.append(l) }
        await file.close()
    }

    func bytes(_ path: String) -> [UInt8] { [UInt8](FileManager.default.contents(atPath: path) ?? Data()) }

    @Test func appendsAreReadBackBitIdenticalAndReopeningAppendsAfterThem() async throws {
        let dir = Directory()
        try await write(dir, [letter(0), letter(1), letter(2)])
        let path = dir.file("dead-letters")
        let header = bytes(path).prefix(24)
        #expect(Array(header.prefix(8)) == Array("SNTRDLT".utf8) + [0])
        #expect(header.dropFirst(24 - 4).elementsEqual(withUnsafeBytes(of: header.prefix(20).withUnsafeBytes {
            sinter_crc32c_extend(0, $0.baseAddress!, 20)
        }.littleEndian) { Array($0) }))
        let (_, scan) = try DeadLetterStore.read(directory: dir.path)
        #expect(scan.entries.count == 3 && scan.problems.isEmpty && scan.tornTail == nil)
        for (i, entry) in scan.entries.enumerated() { #expect(same(entry.letter, letter(i)), "entry \(i)") }

        let file = DeadLetterFile(directory: dir.path, logger: LogCapture().logger)
        try await file.open()
        #expect(await file.count == 3)
        try await file.append(letter(3))
        await file.close()
        let after = try DeadLetterStore.read(directory: dir.path).scan
        #expect(after.entries.count == 4 && same(after.entries[3].letter, letter(3)))
    }

    @Test(arguments: ["cut", "zeros"])
    func aTornTailIsReportedByListAndCutWhenTheGatewayOpensTheFile(kind: String) async throws {
        let dir = Directory()
        try await write(dir, [letter(0), letter(1), letter(2)])
        let path = dir.file("dead-letters")
        let whole = bytes(path)
        let third = try DeadLetterStore.read(directory: dir.path).scan.entries[2].range
        if kind == "cut" {
            try Data(whole.prefix(third.upperBound - 5)).write(to: URL(fileURLWithPath: path))
        } else {
            try Data(whole + [UInt8](repeating: 0, count: 100)).write(to: URL(fileURLWithPath: path))
        }
        let scan = try DeadLetterStore.read(directory: dir.path).scan
        #expect(scan.entries.count == (kind == "cut" ? 2 : 3))
        #expect(scan.tornTail == (kind == "cut" ? third.lowerBound : third.upperBound))
        #expect(scan.problems.isEmpty)
        let listed = try DeadLetterCommand.List.parse(["--spool", dir.path]).render()
        #expect(listed.problems.count == 1 && listed.problems[0].contains("torn tail"))

        let log = LogCapture()
        let file = DeadLetterFile(directory: dir.path, logger: log.logger)
        try await file.open()
        #expect(log.events("edge.dead_letter_torn_tail").count == 1)
        #expect(bytes(path).count == (kind == "cut" ? third.lowerBound : third.upperBound))
        try await file.append(letter(7))
        await file.close()
        let after = try DeadLetterStore.read(directory: dir.path).scan
        #expect(after.tornTail == nil && after.problems.isEmpty)
        #expect(after.entries.map(\.letter.sequence) == (kind == "cut" ? [10, 11, 17] : [10, 11, 12, 17]))
    }

    @Test func aDamagedEntryIsReportedAndSkippedAndTheOthersAreKept() async throws {
        let dir = Directory()
        try await write(dir, [letter(0), letter(1), letter(2)])
        let path = dir.file("dead-letters")
        var damaged = bytes(path)
        let second = try DeadLetterStore.read(directory: dir.path).scan.entries[1].range
        damaged[second.lowerBound + 30] ^= 0x10
        try Data(damaged).write(to: URL(fileURLWithPath: path))

        let scan = try DeadLetterStore.read(directory: dir.path).scan
        #expect(scan.entries.map(\.letter.sequence) == [10, 12])
        #expect(scan.problems.count == 1)
        #expect(scan.problems.first?.message == "CRC mismatch in dead-letters at offset \(second.lowerBound) (\(second.count) bytes skipped)")
        #expect(scan.tornTail == nil)

        let log = LogCapture()
        let file = DeadLetterFile(directory: dir.path, logger: log.logger)
        try await file.open()
        let corrupt = await file.corruptEntries
        #expect(await file.count == 2 && corrupt == 1)
        #expect(log.events("edge.dead_letter_corrupt_entry").count == 1)
        await file.close()
        #expect(bytes(path) == damaged)   // damage is never "repaired" away by the gateway

        // A rewrite keeps the damaged original aside.
        let (all, before) = try DeadLetterStore.read(directory: dir.path)
        try DeadLetterStore.rewrite(directory: dir.path, bytes: all, keep: [before.entries[1].range], saveOriginal: true,
                                    now: Timestamp(nanoseconds: 1_796_695_200_000_000_000))
        #expect(try DeadLetterStore.read(directory: dir.path).scan.entries.map(\.letter.sequence) == [12])
        #expect(bytes(dir.file("dead-letters.1796695200.damaged")) == damaged)
        #expect(!FileManager.default.fileExists(atPath: dir.file("dead-letters.tmp")))
    }

    @Test func anEntryWithAGoodCRCButAnUndecodableRecordIsSkippedAlone() async throws {
        let dir = Directory()
        try await write(dir, [letter(0)])
        let path = dir.file("dead-letters")
        // A well-framed entry whose batch is garbage, then a good one.
        var payload = [UInt8](repeating: 0, count: 26) + [0, 0, 0, 0] + Array("not a batch!".utf8)
        payload[8] = 0xA6; payload[9] = 0x01
        var frame: [UInt8] = withUnsafeBytes(of: UInt32(payload.count).littleEndian) { Array($0) }
        let crc = (frame + payload).withUnsafeBytes { sinter_crc32c_extend(0, $0.baseAddress!, 4 + payload.count) }
        frame += withUnsafeBytes(of: crc.littleEndian) { Array($0) } + payload
        let good = DeadLetterFormat.encode(letter(1))
        try Data(bytes(path) + frame + good).write(to: URL(fileURLWithPath: path))
        let scan = try DeadLetterStore.read(directory: dir.path).scan
        #expect(scan.entries.map(\.letter.sequence) == [10, 11])
        #expect(scan.problems.count == 1 && scan.problems[0].message.contains("undecodable entry in dead-letters at offset"))
    }

    @Test func aBadHeaderIsSetAsideByTheGatewayAndRefusedByList() async throws {
        let dir = Directory()
        try await write(dir, [letter(0)])
        let path = dir.file("dead-letters")
        var damaged = bytes(path)
        damaged[3] ^= 0xFF
        try Data(damaged).write(to: URL(fileURLWithPath: path))
        #expect { try DeadLetterStore.read(directory: dir.path) } throws: { "\($0)".contains("CRC mismatch in the header") }
        #expect { try DeadLetterCommand.List.parse(["--spool", dir.path]).render() } throws: { "\($0)".contains("CRC mismatch") }

        let log = LogCapture()
        let file = DeadLetterFile(directory: dir.path, logger: log.logger)
        try await file.append(letter(1))
        await file.close()
        #expect(log.events("edge.dead_letter_corrupt").count == 1)
        #expect(bytes(dir.file("dead-letters.corrupt")) == damaged)
        #expect(try DeadLetterStore.read(directory: dir.path).scan.entries.map(\.letter.sequence) == [11])
    }
}
