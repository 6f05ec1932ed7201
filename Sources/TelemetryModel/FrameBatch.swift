/// The binary record batch `application/vnd.sinter.frames`: many records, thermal frames
/// included, in one little-endian buffer.
///
/// It is the wire format for high-rate HTTP ingest (`POST /api/v1/telemetry`), for range
/// query responses that ask for it, and for the edge gateway's disk spool. The layout is
/// documented byte by byte in `Storage/Format/frames-batch.md`. Frames are copied with
/// `memcpy`, so encoding and decoding cost little more than the copy of the Float32 values.
/// (The fast paths assume a little-endian host, as every platform Sinter runs on is; a
/// big-endian build swaps value by value.)
///
/// Decoding is bounds-checked and never traps, whatever the bytes: a batch that does not
/// follow the format throws ``FrameBatchError`` of kind ``FrameBatchError/Kind/malformed``
/// (HTTP 400), one that follows it but carries an unacceptable record throws kind
/// ``FrameBatchError/Kind/invalid`` (HTTP 422) naming the field, e.g. `records[3].machine_id`.
///
/// ```swift
/// let bytes = FrameBatch.encode(records)
/// let back = try FrameBatch.decode(bytes)    // == records
/// ```
public enum FrameBatch {
    /// The HTTP media type of a batch.
    public static let mediaType = "application/vnd.sinter.frames"
    /// The first four bytes of every batch: ASCII `SNFB`.
    public static let magic: [UInt8] = Array("SNFB".utf8)
    /// The only version this build reads and writes.
    public static let version: UInt16 = 1
    /// Bytes before the first record: magic, version, flags, record count.
    public static let headerSize = 12

    // MARK: Encoding

    /// Encodes `records` as a batch.
    ///
    /// Channels are written as they are, reserved `frame_*` statistics included, in byte
    /// order of their names. Strings longer than 255 bytes are cut to 255 bytes and at most
    /// 65 535 channels are written (a record that passes ``TelemetryRecord/validate()`` never
    /// comes near either limit); an empty `state` is written as "no state".
    ///
    /// ```swift
    /// let body = FrameBatch.encode([record])   // POST with Content-Type FrameBatch.mediaType
    /// ```
    ///
    /// - Precondition: every frame's `values.count == width * height` (which
    ///   ``ThermalFrame/init(width:height:values:)`` guarantees unless `values` was replaced).
    public static func encode(_ records: [TelemetryRecord]) -> [UInt8] {
        let plan = Plan(records)
        // Written in place: no zero-filling pass over the frames.
        return [UInt8](unsafeUninitializedCapacity: plan.total) { buffer, initialized in
            if let base = buffer.baseAddress { plan.write(records, to: UnsafeMutableRawPointer(base)) }
            initialized = plan.total
        }
    }

    /// Appends the batch encoding of `records` to `bytes`.
    ///
    /// Computes the exact size first, grows `bytes` once, then writes through a raw pointer;
    /// frame values are copied with one `memcpy` each. See ``encode(_:)`` for the rules.
    ///
    /// ```swift
    /// var body: [UInt8] = []
    /// FrameBatch.encode(spooled, into: &body)
    /// ```
    public static func encode(_ records: [TelemetryRecord], into bytes: inout [UInt8]) {
        guard !bytes.isEmpty else {
            bytes = encode(records)
            return
        }
        let plan = Plan(records)
        let start = bytes.count
        bytes.reserveCapacity(start + plan.total)
        bytes.append(contentsOf: repeatElement(0, count: plan.total))
        bytes.withUnsafeMutableBytes { raw in
            if let base = raw.baseAddress { plan.write(records, to: base + start) }
        }
    }

    /// The channels of every record in write order, and the exact encoded size.
    private struct Plan {
        var channels: [[(key: String, value: Float)]] = []
        var total = headerSize

        init(_ records: [TelemetryRecord]) {
            channels.reserveCapacity(records.count)
            for record in records {
                let sorted = record.channels.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
                    .prefix(Int(UInt16.max))
                channels.append(Array(sorted))
                total += recordSize(record, channels: sorted)
            }
        }

        /// Writes the batch to `base`, which has room for `total` bytes.
        func write(_ records: [TelemetryRecord], to base: UnsafeMutableRawPointer) {
            var w = Writer(pointer: base)
            w.bytes(magic)
            w.u16(version)
            w.u16(0)
            w.u32(UInt32(truncatingIfNeeded: records.count))
            for (record, channels) in zip(records, channels) {
                if let frame = record.frame {
                    precondition(frame.values.count == frame.width * frame.height,
                                 "ThermalFrame.values has \(frame.values.count) values for \(frame.width) x \(frame.height)")
                }
                let size = recordSize(record, channels: channels[...])
                w.u32(UInt32(truncatingIfNeeded: size - 4))
                w.i64(record.timestamp.nanoseconds)
                w.shortString(record.machineID.rawValue)
                w.shortString(record.kind)
                w.shortString(record.state ?? "")
                w.u16(UInt16(channels.count))
                for (name, value) in channels {
                    w.shortString(name)
                    w.u32(value.bitPattern)
                }
                if let frame = record.frame {
                    w.u16(UInt16(truncatingIfNeeded: frame.width))
                    w.u16(UInt16(truncatingIfNeeded: frame.height))
                    w.floats(frame.values)
                } else {
                    w.u32(0)
                }
            }
            assert(w.pointer == base + total)
        }
    }

    /// The encoded size of one record, its length field included.
    private static func recordSize(_ record: TelemetryRecord, channels: ArraySlice<(key: String, value: Float)>) -> Int {
        var size = 4 + 8 + 1 + shortLength(record.machineID.rawValue) + 1 + shortLength(record.kind)
            + 1 + shortLength(record.state ?? "") + 2 + 4
        for (name, _) in channels { size += 1 + shortLength(name) + 4 }
        if let frame = record.frame { size += 4 * frame.width * frame.height }
        return size
    }

    private static func shortLength(_ s: String) -> Int { min(s.utf8.count, 255) }

    /// Writes little-endian fields through a pointer into storage sized beforehand.
    private struct Writer {
        var pointer: UnsafeMutableRawPointer

        mutating func u8(_ v: UInt8) {
            pointer.storeBytes(of: v, as: UInt8.self)
            pointer += 1
        }
        mutating func u16(_ v: UInt16) {
            pointer.storeBytes(of: v.littleEndian, as: UInt16.self)
            pointer += 2
        }
        mutating func u32(_ v: UInt32) {
            pointer.storeBytes(of: v.littleEndian, as: UInt32.self)
            pointer += 4
        }
        mutating func i64(_ v: Int64) {
            pointer.storeBytes(of: v.littleEndian, as: Int64.self)
            pointer += 8
        }
        mutating func bytes(_ b: [UInt8]) {
            b.withUnsafeBytes { raw in
                if let src = raw.baseAddress { pointer.copyMemory(from: src, byteCount: raw.count) }
            }
            pointer += b.count
        }
        /// `length <u8>` and at most 255 UTF-8 bytes.
        mutating func shortString(_ s: String) {
            var s = s
            s.withUTF8 { utf8 in
                let n = min(utf8.count, 255)
                u8(UInt8(n))
                if n > 0, let src = utf8.baseAddress {
                    pointer.copyMemory(from: src, byteCount: n)
                    pointer += n
                }
            }
        }
        mutating func floats(_ values: [Float]) {
            #if _endian(little)
            values.withUnsafeBytes { raw in
                if let src = raw.baseAddress { pointer.copyMemory(from: src, byteCount: raw.count) }
                pointer += raw.count
            }
            #else
            for v in values { u32(v.bitPattern) }
            #endif
        }
    }

    // MARK: Decoding

    /// Decodes a batch from `bytes`.
    ///
    /// Checks the header (magic, version 1, flags 0), that the record count is at most
    /// `maximumRecords`, that every record fills exactly its length and that nothing follows
    /// the last one. Each record is then checked like an ingested one: its machine id, its
    /// frame's size, and ``TelemetryRecord/validate()``. With `allowReservedChannels` (batches
    /// read back from the store) the `frame_min`, `frame_max`, `frame_mean` and `frame_std`
    /// channels are accepted; everything else is still validated. A structural error anywhere
    /// in the batch wins over an invalid record before it. An empty batch (count 0) decodes to
    /// `[]`; whether that is acceptable is the caller's decision. A streaming batch (count
    /// ``streamingCount``) is read to the end of `bytes`, `maximumRecords` applying as it goes.
    ///
    /// ```swift
    /// let records = try request.body.withUnsafeReadableBytes { try FrameBatch.decode($0) }
    /// ```
    public static func decode(_ bytes: UnsafeRawBufferPointer, maximumRecords: Int = 100_000,
                              allowReservedChannels: Bool = false) throws(FrameBatchError) -> [TelemetryRecord] {
        var decoder = Decoder(bytes: bytes, allowReservedChannels: allowReservedChannels)
        return try decoder.decodeBatch(maximumRecords: maximumRecords)
    }

    /// Decodes a batch from an array of bytes; see the `UnsafeRawBufferPointer` overload.
    ///
    /// The same checks as the raw-buffer overload, which this one calls without copying.
    ///
    /// ```swift
    /// let records = try FrameBatch.decode(spooledBytes, allowReservedChannels: true)
    /// ```
    public static func decode(_ bytes: [UInt8], maximumRecords: Int = 100_000,
                              allowReservedChannels: Bool = false) throws(FrameBatchError) -> [TelemetryRecord] {
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(FrameBatchError) -> [TelemetryRecord] in
                try decode(raw, maximumRecords: maximumRecords, allowReservedChannels: allowReservedChannels)
            }
        }
        return try result.get()
    }

    /// The smallest encoded record: length, timestamp, three empty short strings, no
    /// channels, no frame.
    static let minimumRecordSize = 4 + 8 + 3 + 2 + 4

    /// One pass over a batch. `limit` is the end of the current record (or of the buffer).
    private struct Decoder {
        let base: UnsafeRawPointer?
        let count: Int
        let allowReservedChannels: Bool
        var pos = 0
        /// The end of the current record while one is read, else `count`.
        var limit: Int
        var inRecord = false

        init(bytes: UnsafeRawBufferPointer, allowReservedChannels: Bool) {
            base = bytes.baseAddress
            count = bytes.count
            limit = bytes.count
            self.allowReservedChannels = allowReservedChannels
        }

        /// The fields of one record, checked for structure only.
        struct RawRecord {
            var start: Int
            var timestamp: Int64
            var machineID: Range<Int>
            var kind: String
            var state: String?
            var channels: [String: Float]
            var width: Int
            var height: Int
            var frameOffset: Int
        }

        mutating func decodeBatch(maximumRecords: Int) throws(FrameBatchError) -> [TelemetryRecord] {
            try need(4, "magic")
            guard load(UInt32.self, at: 0) == 0x4246_4E53 else {  // "SNFB" read little-endian
                throw malformed("bad_magic", "not a Sinter frame batch (magic is not \"SNFB\")", at: 0)
            }
            pos = 4
            try need(2, "version")
            let version = u16()
            guard version == FrameBatch.version else {
                throw malformed("unsupported_version", "unsupported batch version \(version) (this build reads 1)", at: 4)
            }
            try need(2, "flags")
            let flags = u16()
            guard flags == 0 else {
                throw malformed("unsupported_flags", "unsupported batch flags 0x\(String(flags, radix: 16)) (must be 0)", at: 6)
            }
            try need(4, "record count")
            let rawCount = u32()
            // A streaming batch (count `streamingCount`) has records until the end of the bytes.
            let streaming = rawCount == FrameBatch.streamingCount
            let declared = streaming ? nil : Int(rawCount)
            if let declared, declared > maximumRecords {
                throw FrameBatchError(kind: .invalid, code: "too_many_records",
                                      message: "batch declares \(declared) records, at most \(maximumRecords) are accepted",
                                      field: "records", offset: 8)
            }
            var records: [TelemetryRecord] = []
            // The count may lie: never reserve more than the bytes could hold.
            records.reserveCapacity(min(declared ?? maximumRecords, (count - pos) / minimumRecordSize))
            var firstInvalid: FrameBatchError?
            var lastID: (range: Range<Int>, id: MachineID)?
            var index = 0
            while streaming ? pos < count : index < declared ?? 0 {
                let raw = try readRecord(index)
                if firstInvalid == nil, index >= maximumRecords {
                    firstInvalid = FrameBatchError(kind: .invalid, code: "too_many_records",
                                                   message: "at most \(maximumRecords) records are accepted",
                                                   field: "records", offset: raw.start)
                    records = []
                }
                index += 1
                guard firstInvalid == nil else { continue }  // only structure is checked after an invalid record
                do throws(FrameBatchError) {
                    records.append(try build(raw, index: index - 1, lastID: &lastID))
                } catch {
                    firstInvalid = error
                    records = []
                }
            }
            if pos != count {
                throw malformed("trailing_bytes", "\(count - pos) byte(s) after the last of \(index) record(s)", at: pos)
            }
            if let firstInvalid { throw firstInvalid }
            return records
        }

        /// Reads record `index` at `pos`, checking its structure, and moves past it.
        mutating func readRecord(_ index: Int) throws(FrameBatchError) -> RawRecord {
            let start = pos
            limit = count
            guard count - pos >= 4 else {
                throw malformed("truncated", "batch ends at byte \(count), before the length of record \(index)",
                                at: pos, field: "records[\(index)]")
            }
            let length = Int(u32())
            guard length <= count - pos else {
                throw malformed("truncated",
                                "record \(index) says it is \(length) bytes, only \(count - pos) remain", at: start,
                                field: "records[\(index)]")
            }
            limit = pos + length
            inRecord = true
            defer {
                limit = count
                inRecord = false
            }
            func f() -> String { "records[\(index)]" }
            try need(8, "timestamp", f())
            let timestamp = Int64(bitPattern: u64())
            try need(1, "machine id length", f())
            let idLength = Int(u8())
            try need(idLength, "machine id", f())
            let idRange = pos..<(pos + idLength)
            pos += idLength
            let kind = try shortString("kind", f())
            let state = try shortString("state", f())
            try need(2, "channel count", f())
            let channelCount = Int(u16())
            var channels: [String: Float] = [:]
            if channelCount > 0 {
                channels.reserveCapacity(min(channelCount, (limit - pos) / 5))
                for c in 0..<channelCount {
                    let nameAt = pos
                    let name = try shortString("channel \(c) name", f()) ?? ""
                    try need(4, "channel \(c) value", f())
                    let value = Float(bitPattern: u32())
                    if channels.updateValue(value, forKey: name) != nil {
                        throw malformed("duplicate_channel", "record \(index) has channel \(MachineID.quoted(name)) twice",
                                        at: nameAt, field: "\(f()).channels.\(name)")
                    }
                }
            }
            try need(4, "frame size", f())
            let width = Int(u16())
            let height = Int(u16())
            let frameOffset = pos
            let frameBytes = 4 * width * height
            try need(frameBytes, "frame values (\(width) x \(height))", f())
            pos += frameBytes
            guard pos == limit else {
                throw malformed("bad_record_length",
                                "record \(index) says it is \(length) bytes but its fields end after \(pos - start - 4)",
                                at: start, field: f())
            }
            return RawRecord(start: start, timestamp: timestamp, machineID: idRange, kind: kind ?? "", state: state,
                             channels: channels, width: width, height: height, frameOffset: frameOffset)
        }

        /// Turns a structurally sound record into a validated ``TelemetryRecord``.
        func build(_ raw: RawRecord, index: Int, lastID: inout (range: Range<Int>, id: MachineID)?) throws(FrameBatchError)
            -> TelemetryRecord {
            func invalid(_ error: ModelError, field: String? = nil) -> FrameBatchError {
                FrameBatchError(kind: .invalid, code: error.code, message: error.message,
                                field: "records[\(index)]." + (field ?? error.field), offset: raw.start)
            }
            // Consecutive records of one machine (the usual batch) validate the id once.
            let machineID: MachineID
            if let last = lastID, sameBytes(last.range, raw.machineID) {
                machineID = last.id
            } else {
                let text = string(raw.machineID) ?? ""  // invalid UTF-8 is never a valid id either
                do throws(ModelError) {
                    machineID = try MachineID(text)
                } catch {
                    throw invalid(error)
                }
                lastID = (raw.machineID, machineID)
            }
            var frame: ThermalFrame?
            if raw.width != 0 || raw.height != 0 {
                let n = raw.width * raw.height
                let values = [Float](unsafeUninitializedCapacity: n) { buffer, initialized in
                    if n > 0, let base, let dst = buffer.baseAddress {
                        #if _endian(little)
                        UnsafeMutableRawPointer(dst).copyMemory(from: base + raw.frameOffset, byteCount: 4 * n)
                        #else
                        for i in 0..<n {
                            dst[i] = Float(bitPattern: UInt32(littleEndian: base.loadUnaligned(
                                fromByteOffset: raw.frameOffset + 4 * i, as: UInt32.self)))
                        }
                        #endif
                    }
                    initialized = n
                }
                do throws(ModelError) {
                    frame = try ThermalFrame(width: raw.width, height: raw.height, values: values)
                } catch {
                    throw invalid(error, field: "frame")
                }
            }
            let record = TelemetryRecord(machineID: machineID, timestamp: Timestamp(nanoseconds: raw.timestamp),
                                         kind: raw.kind, channels: raw.channels, state: raw.state, frame: frame)
            do throws(ModelError) {
                if allowReservedChannels {
                    var unreserved = record
                    for name in ChannelName.frameStatistics { unreserved.channels[name] = nil }
                    try unreserved.validate()
                } else {
                    try record.validate()
                }
            } catch {
                throw invalid(error)
            }
            return record
        }

        // MARK: Reading primitives (callers check `need` first)

        func load<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T {
            guard let base else { return 0 }
            return T(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: T.self))
        }
        mutating func u8() -> UInt8 { defer { pos += 1 }; return load(UInt8.self, at: pos) }
        mutating func u16() -> UInt16 { defer { pos += 2 }; return load(UInt16.self, at: pos) }
        mutating func u32() -> UInt32 { defer { pos += 4 }; return load(UInt32.self, at: pos) }
        mutating func u64() -> UInt64 { defer { pos += 8 }; return load(UInt64.self, at: pos) }

        /// Throws unless `n` more bytes remain in the current record (or buffer).
        func need(_ n: Int, _ what: @autoclosure () -> String, _ field: @autoclosure () -> String? = nil)
            throws(FrameBatchError) {
            guard n <= limit - pos else {
                let what = what(), field = field()
                let needed = "\(n) bytes needed at byte \(pos), \(limit - pos) left"
                if inRecord {
                    throw malformed("bad_record_length", "\(what) runs past the end of its record (\(needed) in the record)",
                                    at: pos, field: field)
                }
                throw malformed("truncated", "batch ends inside \(what) (\(needed))", at: pos, field: field)
            }
        }

        /// `length <u8>` then UTF-8; an empty string reads as nil.
        mutating func shortString(_ what: @autoclosure () -> String, _ field: @autoclosure () -> String)
            throws(FrameBatchError) -> String? {
            try need(1, "\(what()) length", field())
            let n = Int(u8())
            guard n > 0 else { return nil }
            try need(n, what(), field())
            let range = pos..<(pos + n)
            guard let s = string(range) else {
                throw malformed("invalid_utf8", "\(what()) is not valid UTF-8", at: pos, field: field())
            }
            pos += n
            return s
        }

        /// The bytes in `range` as a String, or nil if they are not UTF-8.
        func string(_ range: Range<Int>) -> String? {
            guard let base, !range.isEmpty else { return "" }
            let bytes = UnsafeRawBufferPointer(start: base + range.lowerBound, count: range.count)
            return String(validating: bytes, as: UTF8.self)
        }

        func sameBytes(_ a: Range<Int>, _ b: Range<Int>) -> Bool {
            guard a.count == b.count, let base else { return a.count == b.count }
            return UnsafeRawBufferPointer(start: base + a.lowerBound, count: a.count)
                .elementsEqual(UnsafeRawBufferPointer(start: base + b.lowerBound, count: b.count))
        }

        func malformed(_ code: String, _ message: String, at offset: Int, field: String? = nil) -> FrameBatchError {
            FrameBatchError(kind: .malformed, code: code, message: message, field: field, offset: offset)
        }
    }
}

/// Why a ``FrameBatch`` could not be decoded.
///
/// ``kind`` tells the HTTP layer the status: ``Kind/malformed`` bytes are a 400, an
/// ``Kind/invalid`` record a 422. ``code`` is stable for programs, ``message`` says what is
/// wrong, ``field`` names the record and field (`records[3].machine_id`) when there is one, and
/// ``offset`` is the byte offset of the problem (of the record, for an invalid record).
///
/// ```swift
/// do { _ = try FrameBatch.decode(body) } catch { print(error.kind, error.field ?? "-", error.offset) }
/// ```
public struct FrameBatchError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The class of failure, which decides the HTTP status.
    public enum Kind: Sendable, Hashable {
        /// The bytes do not follow the format (HTTP 400).
        case malformed
        /// The bytes follow the format, but a value is unacceptable (HTTP 422).
        case invalid
    }

    public var kind: Kind
    /// Stable, machine-readable reason, e.g. `truncated`, `bad_magic`, `invalid_machine_id`.
    public var code: String
    /// What is wrong, for a person.
    public var message: String
    /// The record field concerned, e.g. `records[3].machine_id`, if any.
    public var field: String?
    /// Byte offset in the batch: of the bad field (malformed) or of the record (invalid).
    public var offset: Int

    public init(kind: Kind, code: String, message: String, field: String? = nil, offset: Int) {
        self.kind = kind
        self.code = code
        self.message = message
        self.field = field
        self.offset = offset
    }

    public var description: String {
        (field.map { "\($0): " } ?? "") + "\(message) at byte \(offset) [\(code)]"
    }
}
