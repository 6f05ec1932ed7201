import Testing
import TelemetryModel

/// A seeded generator, so that failures reproduce.
private struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Little-endian bytes written by hand, to build batches the encoder would never produce.
private struct Bytes {
    var bytes: [UInt8] = []
    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func i64(_ v: Int64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func str(_ s: String) {
        u8(UInt8(s.utf8.count))
        bytes.append(contentsOf: s.utf8)
    }
    mutating func header(count: UInt32, version: UInt16 = 1, flags: UInt16 = 0) {
        bytes.append(contentsOf: Array("SNFB".utf8))
        u16(version)
        u16(flags)
        u32(count)
    }
    /// One record without channels; `frame` values are written as given.
    mutating func record(id: String = "dmls-01", ns: Int64 = 1, kind: String = "dmls", state: String = "",
                         width: UInt16 = 0, height: UInt16 = 0, values: [Float] = [], lengthDelta: Int = 0) {
        var body = Bytes()
        body.i64(ns)
        body.str(id)
        body.str(kind)
        body.str(state)
        body.u16(0)
        body.u16(width)
        body.u16(height)
        for v in values { body.u32(v.bitPattern) }
        u32(UInt32(body.bytes.count + lengthDelta))
        bytes.append(contentsOf: body.bytes)
    }
}

private func decodeError(_ bytes: [UInt8], maximumRecords: Int = 100_000,
                         allowReservedChannels: Bool = false) -> FrameBatchError? {
    do {
        _ = try FrameBatch.decode(bytes, maximumRecords: maximumRecords, allowReservedChannels: allowReservedChannels)
        return nil
    } catch {
        return error
    }
}

/// Bit-for-bit comparison of records, channel values included (NaN payloads too).
private func sameBits(_ a: [TelemetryRecord], _ b: [TelemetryRecord]) -> Bool {
    guard a.count == b.count else { return false }
    for (x, y) in zip(a, b) {
        guard x.machineID == y.machineID, x.timestamp == y.timestamp, x.kind == y.kind, x.state == y.state,
              x.frame == y.frame, x.channels.count == y.channels.count else { return false }
        for (name, value) in x.channels where y.channels[name]?.bitPattern != value.bitPattern { return false }
    }
    return true
}

private func sampleRecords() throws -> [TelemetryRecord] {
    let odd: [Float] = [
        .nan, Float(bitPattern: 0x7FC0_1234), Float(bitPattern: 0xFFA0_0001), Float(bitPattern: 0x7F80_0001),
        .infinity, -.infinity, -0.0, 0, .leastNonzeroMagnitude, -.leastNormalMagnitude, .greatestFiniteMagnitude, 23.45,
    ]
    var big = (0..<10_000).map { Float($0 % 600) / 10 + 20 }
    big[17] = Float(bitPattern: 0x7FC0_BEEF)
    var manyChannels: [String: Float] = [:]
    for i in 0..<300 { manyChannels["ch_\(i)"] = Float(i) * 0.5 - 7 }
    return [
        TelemetryRecord(machineID: try MachineID("dmls-01"), timestamp: Timestamp(nanoseconds: 1_795_255_200_123_456_789),
                        kind: "dmls", channels: ["power_kw": 3.2, "vibration_mm_s": 0.8], state: "printing",
                        frame: try ThermalFrame(values: big)),
        TelemetryRecord(machineID: try MachineID("fdm-01"), timestamp: Timestamp(nanoseconds: -5), kind: "fdm",
                        channels: ["nozzle_temp_c": 210.5, "bed_temp_c": 60]),
        TelemetryRecord(machineID: try MachineID("x"), timestamp: .min, kind: "", channels: manyChannels, state: nil,
                        frame: try ThermalFrame(width: 4, height: 3, values: odd)),
        TelemetryRecord(machineID: try MachineID(String(repeating: "z", count: 64)), timestamp: .max,
                        kind: String(repeating: "k", count: 64), state: "ünïcödé ✓"),
    ]
}

/// A small batch: two records, one with a 2 x 2 frame.
private func smallBatch() throws -> [UInt8] {
    FrameBatch.encode([
        TelemetryRecord(machineID: try MachineID("dmls-01"), timestamp: Timestamp(nanoseconds: 42), kind: "dmls",
                        channels: ["power_kw": 3.5], state: "idle",
                        frame: try ThermalFrame(width: 2, height: 2, values: [1, 2, 3, .nan])),
        TelemetryRecord(machineID: try MachineID("fdm-01"), timestamp: Timestamp(nanoseconds: 43), kind: "fdm"),
    ])
}

struct FrameBatchTests {
    @Test func roundTripIsBitExact() throws {
        let records = try sampleRecords()
        let bytes = FrameBatch.encode(records)
        let back = try FrameBatch.decode(bytes)
        #expect(sameBits(records, back))
        #expect(back[0].frame?.values[17].bitPattern == 0x7FC0_BEEF)
        #expect(back[2].frame?.values[1].bitPattern == 0x7FC0_1234)
        #expect(back[2].frame?.values[3].bitPattern == 0x7F80_0001)   // signalling NaN kept
        #expect(back[1].frame == nil)
        #expect(back[2].channels.count == 300)
        #expect(back[3].state == "ünïcödé ✓")
        // The raw-buffer overload gives the same, and appending keeps what was there.
        let viaPointer = try bytes.withUnsafeBytes { raw in
            try Result { () throws(FrameBatchError) in try FrameBatch.decode(raw) }.get()
        }
        #expect(sameBits(records, viaPointer))
        var appended: [UInt8] = [9, 9]
        FrameBatch.encode(records, into: &appended)
        #expect(appended == [9, 9] + bytes)
    }

    @Test func channelValuesKeepTheirBits() throws {
        let record = TelemetryRecord(machineID: try MachineID("m"), timestamp: Timestamp(nanoseconds: 0),
                                     channels: ["a": Float(bitPattern: 0x7FC0_0042), "b": -0.0, "c": .infinity])
        let back = try FrameBatch.decode(FrameBatch.encode([record]))
        #expect(back[0].channels["a"]?.bitPattern == 0x7FC0_0042)
        #expect(back[0].channels["b"]?.bitPattern == (-0.0 as Float).bitPattern)
        #expect(back[0].channels["c"] == .infinity)
    }

    @Test func layoutIsAsDocumented() throws {
        let record = TelemetryRecord(machineID: try MachineID("m1"), timestamp: Timestamp(nanoseconds: 1), kind: "k",
                                     channels: ["b": 2, "a": 1], state: "s",
                                     frame: try ThermalFrame(width: 1, height: 1, values: [0.5]))
        var expected = Bytes()
        expected.header(count: 1)
        expected.u32(37)       // 8 + 3 + 2 + 2 + 2 + (2 + 4) * 2 + 4 + 4
        expected.i64(1)
        expected.str("m1")
        expected.str("k")
        expected.str("s")
        expected.u16(2)
        expected.str("a")      // channels in byte order of their names
        expected.u32(Float(1).bitPattern)
        expected.str("b")
        expected.u32(Float(2).bitPattern)
        expected.u16(1)
        expected.u16(1)
        expected.u32(Float(0.5).bitPattern)
        #expect(FrameBatch.encode([record]) == expected.bytes)
        #expect(Array(FrameBatch.encode([]).prefix(4)) == FrameBatch.magic)
        #expect(FrameBatch.encode([]) == [0x53, 0x4E, 0x46, 0x42, 1, 0, 0, 0, 0, 0, 0, 0])
        #expect(try FrameBatch.decode(FrameBatch.encode([])).isEmpty)
    }

    @Test func emptyStateIsWrittenAsNoState() throws {
        let record = TelemetryRecord(machineID: try MachineID("m"), timestamp: Timestamp(nanoseconds: 0), state: "")
        #expect(try FrameBatch.decode(FrameBatch.encode([record]))[0].state == nil)
    }

    @Test func everyTruncationThrowsMalformed() throws {
        let bytes = try smallBatch()
        #expect(try FrameBatch.decode(bytes).count == 2)
        for length in 0..<bytes.count {
            let error = decodeError(Array(bytes.prefix(length)))
            #expect(error?.kind == .malformed, "prefix of \(length) bytes")
            #expect((error?.offset ?? -1) <= length)
        }
    }

    @Test func randomDamageNeverTraps() throws {
        let bytes = try smallBatch()
        var rng = SplitMix(state: 7)
        var outcomes = (ok: 0, malformed: 0, invalid: 0)
        for _ in 0..<20_000 {
            var damaged = bytes
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let i = Int.random(in: 0..<damaged.count, using: &rng)
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: damaged[i] ^= UInt8(1) << UInt8.random(in: 0...7, using: &rng)
                case 1: damaged[i] = [0x00, 0xFF, 0x7F, 0x80, 0x10].randomElement(using: &rng) ?? 0
                default: damaged[i] = UInt8.random(in: 0...255, using: &rng)
                }
            }
            if Bool.random(using: &rng) { damaged.removeLast(Int.random(in: 0...8, using: &rng)) }
            do {
                let records = try FrameBatch.decode(damaged)
                outcomes.ok += 1
                for r in records { #expect(throws: Never.self) { try r.validate() } }
            } catch {
                if error.kind == .malformed { outcomes.malformed += 1 } else { outcomes.invalid += 1 }
                #expect(error.offset >= 0 && error.offset <= damaged.count)
            }
        }
        #expect(outcomes.malformed > 0 && outcomes.invalid > 0 && outcomes.ok > 0)
        // Random garbage, too, with and without a valid header.
        for n in 0..<3_000 {
            var garbage = (0..<Int.random(in: 0...64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            if n % 2 == 0 { garbage = Array(bytes.prefix(12)) + garbage }
            _ = decodeError(garbage)
        }
    }

    @Test func lyingCountsAndLengthsAreMalformed() throws {
        let bytes = try smallBatch()
        // Count says 3: the batch ends where the third record should start.
        var more = bytes
        more[8] = 3
        let truncated = try #require(decodeError(more))
        #expect(truncated.kind == .malformed && truncated.code == "truncated" && truncated.offset == bytes.count)
        #expect(truncated.field == "records[2]")
        // Count says 1: the second record is trailing garbage.
        var fewer = bytes
        fewer[8] = 1
        let trailing = try #require(decodeError(fewer))
        #expect(trailing.code == "trailing_bytes" && trailing.kind == .malformed)
        // A count of 4 billion with a generous limit: refused without reserving memory for it.
        // (0xFFFF_FFFF itself means a streaming batch.)
        var huge = bytes
        huge.replaceSubrange(8..<12, with: [0xFE, 0xFF, 0xFF, 0xFF])
        #expect(decodeError(huge, maximumRecords: .max)?.code == "truncated")
        let tooMany = try #require(decodeError(huge))
        #expect(tooMany.kind == .invalid && tooMany.code == "too_many_records" && tooMany.offset == 8)
        // Record lengths: longer than the data, shorter and longer than the fields.
        for delta in [1_000_000, -1, 1, -20] {
            var b = Bytes()
            b.header(count: 1)
            b.record(lengthDelta: delta)
            if delta == 1 { b.u8(0) }    // the extra byte exists, but no field covers it
            let error = try #require(decodeError(b.bytes), "delta \(delta)")
            #expect(error.kind == .malformed, "delta \(delta)")
            // Past the end of the data: the batch was cut; otherwise the length disagrees with the fields.
            #expect(error.code == (delta == 1_000_000 ? "truncated" : "bad_record_length"), "delta \(delta)")
            #expect(error.offset >= 12, "delta \(delta)")
        }
        // A frame claiming 65535 x 65535 values with none present.
        var frame = Bytes()
        frame.header(count: 1)
        frame.record(width: 0xFFFF, height: 0xFFFF)
        #expect(decodeError(frame.bytes)?.code == "bad_record_length")
    }

    @Test func streamingBatchesRunToTheEnd() throws {
        let records = try sampleRecords()
        let body = FrameBatch.streamingHeader() + FrameBatch.encodeRecords(records)
        #expect(Array(body[8..<12]) == [0xFF, 0xFF, 0xFF, 0xFF])
        #expect(sameBits(try FrameBatch.decode(body), records))
        #expect(try FrameBatch.decode(FrameBatch.streamingHeader()).isEmpty)
        // Pages written one after the other read as one batch.
        let paged = FrameBatch.streamingHeader() + FrameBatch.encodeRecords(Array(records[0..<2]))
            + FrameBatch.encodeRecords(Array(records[2...]))
        #expect(sameBits(try FrameBatch.decode(paged), records))
        // A cut-off last record is truncated, wherever the cut is.
        let small = FrameBatch.streamingHeader() + FrameBatch.encodeRecords(
            [TelemetryRecord(machineID: try MachineID("m"), timestamp: Timestamp(nanoseconds: 1))])
        for length in 13..<small.count {
            let error = decodeError(Array(small.prefix(length)))
            #expect(error?.kind == .malformed && error?.code == "truncated", "prefix \(length)")
        }
        // maximumRecords applies as the records are read.
        let tooMany = try #require(decodeError(body, maximumRecords: 3))
        #expect(tooMany.kind == .invalid && tooMany.code == "too_many_records" && tooMany.field == "records")
        #expect(tooMany.offset == FrameBatch.streamingHeader().count + FrameBatch.encodeRecords(Array(records[0..<3])).count)
        #expect(try FrameBatch.decode(body, maximumRecords: 4).count == 4)
    }

    @Test func trailingBytesAreMalformed() throws {
        let bytes = try smallBatch() + [0]
        let error = try #require(decodeError(bytes))
        #expect(error.code == "trailing_bytes" && error.offset == bytes.count - 1)
    }

    @Test func headerIsChecked() throws {
        let bytes = try smallBatch()
        var magic = bytes
        magic[0] = UInt8(ascii: "X")
        #expect(decodeError(magic).map { ($0.kind, $0.code, $0.offset) } ?? (.invalid, "", -1) == (.malformed, "bad_magic", 0))
        var version = bytes
        version[4] = 2
        #expect(decodeError(version).map { ($0.code, $0.offset) } ?? ("", -1) == ("unsupported_version", 4))
        var flags = bytes
        flags[7] = 0x80
        #expect(decodeError(flags).map { ($0.code, $0.offset) } ?? ("", -1) == ("unsupported_flags", 6))
    }

    @Test func badMachineIDIsInvalidWithItsField() throws {
        var b = Bytes()
        b.header(count: 3)
        b.record(id: "dmls-01")
        let second = b.bytes.count
        b.record(id: "dmls 01")
        b.record(id: "fine")
        let error = try #require(decodeError(b.bytes))
        #expect(error.kind == .invalid)
        #expect(error.code == "invalid_machine_id")
        #expect(error.field == "records[1].machine_id")
        #expect(error.offset == second)
        for id in ["", ".", "..", "a/b"] {
            var one = Bytes()
            one.header(count: 1)
            one.record(id: id)
            #expect(decodeError(one.bytes)?.field == "records[0].machine_id", "id \(id)")
        }
    }

    @Test func wrongFrameSizesAreInvalid() throws {
        for (w, h) in [(0, 5), (5, 0), (4097, 1)] as [(UInt16, UInt16)] {
            var b = Bytes()
            b.header(count: 1)
            b.record(width: w, height: h, values: Array(repeating: 1, count: Int(w) * Int(h)))
            let error = try #require(decodeError(b.bytes))
            #expect(error.kind == .invalid && error.code == "invalid_frame_size", "\(w) x \(h)")
            #expect(error.field == "records[0].frame")
            #expect(error.offset == 12)
        }
    }

    @Test func recordsAreValidated() throws {
        func one(_ record: TelemetryRecord, allowReserved: Bool = false) -> FrameBatchError? {
            decodeError(FrameBatch.encode([record]), allowReservedChannels: allowReserved)
        }
        let id = try MachineID("m")
        let t = Timestamp(nanoseconds: 0)
        let reserved = TelemetryRecord(machineID: id, timestamp: t, channels: ["frame_min": 1, "power_kw": 2])
        #expect(one(reserved)?.field == "records[0].channels.frame_min")
        #expect(one(reserved)?.code == "reserved_channel")
        #expect(one(reserved, allowReserved: true) == nil)
        // Everything else is still checked with allowReservedChannels.
        let badName = TelemetryRecord(machineID: id, timestamp: t, channels: ["frame_min": 1, "bad name": 2])
        #expect(one(badName, allowReserved: true)?.code == "invalid_channel")
        #expect(one(TelemetryRecord(machineID: id, timestamp: t, kind: String(repeating: "k", count: 65)))?.field
            == "records[0].kind")
        #expect(one(TelemetryRecord(machineID: id, timestamp: t, channels: ["": 1]))?.code == "invalid_channel")
    }

    @Test func storedRecordsWithStatisticsRoundTrip() throws {
        let frame = try ThermalFrame(width: 2, height: 1, values: [10, 20])
        var record = TelemetryRecord(machineID: try MachineID("dmls-01"), timestamp: Timestamp(nanoseconds: 9), frame: frame)
        record.channels = try #require(frame.statistics()).channels
        let back = try FrameBatch.decode(FrameBatch.encode([record]), allowReservedChannels: true)
        #expect(back == [record])
        #expect(back[0].frameStatistics?.mean == 15)
    }

    @Test func malformedWinsOverAnEarlierInvalidRecord() throws {
        var b = Bytes()
        b.header(count: 2)
        b.record(id: "bad id")
        b.record(kind: "k", lengthDelta: 3)
        let error = try #require(decodeError(b.bytes))
        #expect(error.kind == .malformed)
        // Without the damage the invalid record is reported.
        var c = Bytes()
        c.header(count: 2)
        c.record(id: "bad id")
        c.record(id: "bad id 2")
        #expect(decodeError(c.bytes)?.field == "records[0].machine_id")
    }

    @Test func badUTF8AndDuplicateChannelsAreMalformed() throws {
        var b = Bytes()
        b.header(count: 1)
        b.record(kind: "ok")
        let kindAt = 12 + 4 + 8 + 1 + 7 + 1
        b.bytes[kindAt] = 0xFF
        let utf8 = try #require(decodeError(b.bytes))
        #expect(utf8.kind == .malformed && utf8.code == "invalid_utf8" && utf8.offset == kindAt)
        // Two channels with the same name (the encoder never writes this).
        var body = Bytes()
        body.i64(0)
        body.str("m")
        body.str("")
        body.str("")
        body.u16(2)
        body.str("a")
        body.u32(0)
        body.str("a")
        body.u32(0)
        body.u32(0)
        var d = Bytes()
        d.header(count: 1)
        d.u32(UInt32(body.bytes.count))
        d.bytes += body.bytes
        let duplicate = try #require(decodeError(d.bytes))
        #expect(duplicate.code == "duplicate_channel" && duplicate.field == "records[0].channels.a")
    }
}
