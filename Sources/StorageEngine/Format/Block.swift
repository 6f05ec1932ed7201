// A sealed column block: the records of one machine (blockSize of them, 128 by default), column by column.
// Format: Storage/Format/segment.md ("Block").
import TelemetryModel

/// The column kinds of a block.
enum ColumnKind: UInt8, Sendable {
    case timestamps = 1
    case kind = 2
    case state = 3
    case channel = 4
    case frames = 5
}

/// How a column's bytes are stored.
enum ColumnEncoding: UInt8, Sendable {
    case plain = 0
    case lz4 = 1
}

struct ColumnDescriptor: Equatable, Sendable {
    var kind: ColumnKind
    var name: String
    var encoding: ColumnEncoding
    /// Offset from the start of the column area.
    var offset: UInt32
    var storedLength: UInt32
    var rawLength: UInt32
    /// CRC-32C of the stored bytes (for `frames`: of the frame directory only; each frame has its own).
    var crc: UInt32
}

/// The header of a block, which says where every column is.
struct BlockHeader: Sendable {
    static let version: UInt8 = 1
    /// Bytes before the header: total length u32, header length u32, header CRC u32.
    static let prefixSize = 12

    var machineID: MachineID
    var count: Int
    var minTimestamp: Int64
    var maxTimestamp: Int64
    var columns: [ColumnDescriptor]

    func encode(into w: inout ByteWriter) {
        w.write(Self.version)
        w.writeShortString(machineID.rawValue)
        w.write(UInt16(count))
        w.write(minTimestamp)
        w.write(maxTimestamp)
        w.write(UInt16(columns.count))
        for c in columns {
            w.write(c.kind.rawValue)
            w.writeShortString(c.name)
            w.write(c.encoding.rawValue)
            w.write(c.offset)
            w.write(c.storedLength)
            w.write(c.rawLength)
            w.write(c.crc)
        }
    }

    init(machineID: MachineID, count: Int, minTimestamp: Int64, maxTimestamp: Int64, columns: [ColumnDescriptor]) {
        self.machineID = machineID
        self.count = count
        self.minTimestamp = minTimestamp
        self.maxTimestamp = maxTimestamp
        self.columns = columns
    }

    init(decoding r: inout ByteReader) throws {
        let version = try r.read(UInt8.self)
        guard version == Self.version else { throw r.error("unknown block version \(version)") }
        guard let id = try? MachineID(try r.readShortString()) else { throw r.error("invalid machine id") }
        machineID = id
        count = Int(try r.read(UInt16.self))
        minTimestamp = try r.read(Int64.self)
        maxTimestamp = try r.read(Int64.self)
        let n = Int(try r.read(UInt16.self))
        var columns: [ColumnDescriptor] = []
        for _ in 0..<n {
            guard let kind = ColumnKind(rawValue: try r.read(UInt8.self)) else { throw r.error("unknown column kind") }
            let name = try r.readShortString()
            guard let encoding = ColumnEncoding(rawValue: try r.read(UInt8.self)) else { throw r.error("unknown column encoding") }
            columns.append(ColumnDescriptor(kind: kind, name: name, encoding: encoding, offset: try r.read(UInt32.self),
                                            storedLength: try r.read(UInt32.self), rawLength: try r.read(UInt32.self),
                                            crc: try r.read(UInt32.self)))
        }
        self.columns = columns
    }
}

/// Builds the bytes of a block from the records of one machine.
enum BlockBuilder {
    /// The block bytes and the index entry describing them (offset still 0).
    static func build(_ records: [IngestRecord]) -> (bytes: [UInt8], entry: IndexEntry) {
        precondition(!records.isEmpty && records.count <= Int(UInt16.max))
        let count = records.count
        var columns: [ColumnDescriptor] = []
        var area: [UInt8] = []

        func add(_ kind: ColumnKind, _ name: String, raw: [UInt8], compress: Bool = true) {
            var stored = raw
            var encoding = ColumnEncoding.plain
            if compress && raw.count > 32 {
                var lz: [UInt8] = []
                raw.withUnsafeBytes { LZ4Block.compress($0, into: &lz) }
                if lz.count < raw.count {
                    stored = lz
                    encoding = .lz4
                }
            }
            columns.append(ColumnDescriptor(kind: kind, name: name, encoding: encoding, offset: UInt32(area.count),
                                            storedLength: UInt32(stored.count), rawLength: UInt32(raw.count),
                                            crc: crc32c(stored)))
            area.append(contentsOf: stored)
        }

        // Timestamps: first value, then zigzag delta-of-delta varints.
        var ts = ByteWriter(capacity: count * 2 + 8)
        ts.write(records[0].timestamp)
        var previousDelta: Int64 = 0
        for i in 1..<max(1, count) where count > 1 {
            let delta = records[i].timestamp &- records[i - 1].timestamp
            ts.writeZigzag(delta &- previousDelta)
            previousDelta = delta
        }
        add(.timestamps, "", raw: ts.bytes)
        add(.kind, "", raw: dictionaryColumn(records.map { Optional($0.kind) }))
        add(.state, "", raw: dictionaryColumn(records.map(\.state)))

        // Channels (frame statistics included), one column each.
        var byName: [String: [(Int, Float)]] = [:]
        for (i, r) in records.enumerated() {
            for c in r.allChannels { byName[c.name, default: []].append((i, c.value)) }
        }
        var summaries: [ChannelSummary] = []
        for name in byName.keys.sorted() {
            let values = byName[name]!
            add(.channel, name, raw: channelColumn(values, count: count))
            var summary = ChannelSummary(name: name, count: 0, min: .infinity, max: -.infinity, sum: 0)
            for (_, v) in values where v.isFinite {
                summary.count += 1
                summary.min = min(summary.min, v)
                summary.max = max(summary.max, v)
                summary.sum += Double(v)
            }
            summaries.append(summary)
        }

        // Frames last, so that scalar reads stop before them.
        let scalarAreaLength = area.count
        let frameCount = records.reduce(0) { $0 + ($1.frame == nil ? 0 : 1) }
        if frameCount > 0 {
            var directory = ByteWriter(capacity: count * 12)
            var payload: [UInt8] = []
            payload.reserveCapacity(records.reduce(0) { $0 + ($1.frame?.bytes.count ?? 0) })
            for r in records {
                if let f = r.frame {
                    directory.write(f.width)
                    directory.write(f.height)
                    directory.write(UInt32(f.bytes.count))
                    directory.write(crc32c(f.bytes))
                    payload.append(contentsOf: f.bytes)
                } else {
                    directory.write(UInt64(0))
                    directory.write(UInt32(0))
                }
            }
            columns.append(ColumnDescriptor(kind: .frames, name: "", encoding: .plain, offset: UInt32(area.count),
                                            storedLength: UInt32(directory.count + payload.count),
                                            rawLength: UInt32(directory.count + payload.count), crc: crc32c(directory.bytes)))
            area.append(contentsOf: directory.bytes)
            area.append(contentsOf: payload)
        }

        let header = BlockHeader(machineID: records[0].machineID, count: count, minTimestamp: records[0].timestamp,
                                 maxTimestamp: records[count - 1].timestamp, columns: columns)
        var hw = ByteWriter()
        header.encode(into: &hw)
        var out = ByteWriter(capacity: BlockHeader.prefixSize + hw.count + area.count)
        let total = BlockHeader.prefixSize + hw.count + area.count
        out.write(UInt32(total))
        out.write(UInt32(hw.count))
        out.write(crc32c(hw.bytes))
        out.write(bytes: hw.bytes)
        out.write(bytes: area)

        let entry = IndexEntry(offset: 0, length: UInt32(total),
                               scalarLength: UInt32(BlockHeader.prefixSize + hw.count + scalarAreaLength),
                               machineID: header.machineID, count: count, minTimestamp: header.minTimestamp,
                               maxTimestamp: header.maxTimestamp, lastKind: records[count - 1].kind,
                               frameCount: frameCount, channels: summaries)
        return (out.bytes, entry)
    }

    static func dictionaryColumn(_ values: [String?]) -> [UInt8] {
        var dictionary: [String] = []
        var codes: [String: UInt64] = [:]
        var w = ByteWriter(capacity: values.count + 16)
        var body = ByteWriter(capacity: values.count)
        for v in values {
            guard let v else {
                body.writeVarint(0)
                continue
            }
            if let code = codes[v] {
                body.writeVarint(code)
            } else {
                dictionary.append(v)
                codes[v] = UInt64(dictionary.count)
                body.writeVarint(UInt64(dictionary.count))
            }
        }
        w.writeVarint(UInt64(dictionary.count))
        for s in dictionary { w.writeShortString(s) }
        w.write(bytes: body.bytes)
        return w.bytes
    }

    /// Presence flag (and bitmap), then the present values' bit patterns XORed with the previous
    /// one and split into 4 byte planes, so that LZ4 finds the repeated high bytes.
    static func channelColumn(_ values: [(Int, Float)], count: Int) -> [UInt8] {
        var w = ByteWriter(capacity: values.count * 4 + count / 8 + 4)
        if values.count == count {
            w.write(UInt8(1))
        } else {
            w.write(UInt8(0))
            var bitmap = [UInt8](repeating: 0, count: (count + 7) / 8)
            for (i, _) in values { bitmap[i >> 3] |= 1 << UInt8(i & 7) }
            w.write(bytes: bitmap)
        }
        let n = values.count
        var planes = [UInt8](repeating: 0, count: n * 4)
        var previous: UInt32 = 0
        for (k, (_, v)) in values.enumerated() {
            let x = v.bitPattern ^ previous
            previous = v.bitPattern
            planes[k] = UInt8(truncatingIfNeeded: x)
            planes[n + k] = UInt8(truncatingIfNeeded: x >> 8)
            planes[2 * n + k] = UInt8(truncatingIfNeeded: x >> 16)
            planes[3 * n + k] = UInt8(truncatingIfNeeded: x >> 24)
        }
        w.write(bytes: planes)
        return w.bytes
    }
}

/// The decoded scalar part of a block: everything but the frames.
struct BlockScalars: Sendable {
    var header: BlockHeader
    var timestamps: [Int64]
    var kinds: [String]
    var states: [String?]
    /// Channel name → value per record (nil where absent).
    var channels: [(name: String, values: [Float?])]
    /// Per record: (width, height, offset in the block, length, crc) of its frame, if any.
    var frames: [FrameLocation?]

    struct FrameLocation: Sendable {
        var width: UInt16
        var height: UInt16
        /// Offset of the encoded frame from the start of the block.
        var offset: Int
        var length: Int
        var crc: UInt32
    }

    /// Decodes the header and the scalar columns from the first `scalarLength` bytes of a block
    /// (the frame directory too when `bytes` reaches that far). `name` and `fileOffset` place
    /// the block in its file for error messages.
    init(decoding bytes: UnsafeRawBufferPointer, name: String, fileOffset: Int64, needFrames: Bool,
         timestampsOnly: Bool = false) throws {
        var prefix = ByteReader(bytes, context: name, fileOffset: fileOffset, code: .corruptBlock)
        _ = try prefix.read(UInt32.self)
        let headerLength = try prefix.readLength(UInt32.self, limit: bytes.count, what: "block header length")
        let headerCRC = try prefix.read(UInt32.self)
        let headerBytes = try prefix.readBytes(headerLength)
        guard crc32c(headerBytes) == headerCRC else {
            throw StorageError(.corruptBlock, "CRC mismatch in the block header in \(name) at offset \(fileOffset)",
                               file: name, offset: fileOffset)
        }
        var hr = ByteReader(headerBytes, context: name, fileOffset: fileOffset + 12, code: .corruptBlock)
        header = try BlockHeader(decoding: &hr)
        let areaStart = BlockHeader.prefixSize + headerLength
        let count = header.count

        func column(_ c: ColumnDescriptor, verifyLength: Int? = nil) throws -> [UInt8] {
            let start = areaStart + Int(c.offset)
            let checked = verifyLength ?? Int(c.storedLength)
            guard start >= areaStart, start + checked <= bytes.count else {
                throw StorageError(.corruptBlock, "column \(c.kind) \(c.name) lies outside the block in \(name) at offset \(fileOffset)",
                                   file: name, offset: fileOffset)
            }
            let stored = UnsafeRawBufferPointer(rebasing: bytes[start..<(start + checked)])
            guard crc32c(stored) == c.crc else {
                throw StorageError(.corruptBlock, "CRC mismatch in column \(c.kind) \(c.name) in \(name) at offset \(fileOffset + Int64(start))",
                                   file: name, offset: fileOffset + Int64(start))
            }
            switch c.encoding {
            case .plain:
                return Array(stored)
            case .lz4:
                guard c.rawLength <= 64 << 20 else { throw StorageError(.corruptBlock, "column too large in \(name) at offset \(fileOffset)") }
                var out: [UInt8] = []
                try LZ4Block.decompress(stored, decompressedSize: Int(c.rawLength), into: &out)
                return out
            }
        }

        var timestamps: [Int64] = []
        var kinds: [String] = Array(repeating: "", count: count)
        var states: [String?] = Array(repeating: nil, count: count)
        var channels: [(name: String, values: [Float?])] = []
        var frames: [FrameLocation?] = Array(repeating: nil, count: count)
        let context = "\(name) block at offset \(fileOffset)"
        for c in header.columns where !timestampsOnly || c.kind == .timestamps {
            switch c.kind {
            case .timestamps:
                let raw = try column(c)
                timestamps = try raw.withUnsafeBytes { (b) in
                    var r = ByteReader(b, context: context, code: .corruptBlock)
                    var out: [Int64] = []
                    out.reserveCapacity(count)
                    guard count > 0 else { return out }
                    var t = try r.read(Int64.self)
                    out.append(t)
                    var delta: Int64 = 0
                    for _ in 1..<max(1, count) where count > 1 {
                        delta = delta &+ (try r.readZigzag())
                        t = t &+ delta
                        out.append(t)
                    }
                    return out
                }
            case .kind:
                kinds = try Self.decodeDictionary(try column(c), count: count, context: context).map { $0 ?? "" }
            case .state:
                states = try Self.decodeDictionary(try column(c), count: count, context: context)
            case .channel:
                channels.append((c.name, try Self.decodeChannel(try column(c), count: count, context: context)))
            case .frames:
                guard needFrames else { continue }
                let directory = try column(c, verifyLength: count * 12)
                var r = ByteReader(UnsafeRawBufferPointer(start: nil, count: 0), context: context)
                var position = areaStart + Int(c.offset) + count * 12
                let end = areaStart + Int(c.offset) + Int(c.storedLength)
                try directory.withUnsafeBytes { (d) in
                    r = ByteReader(d, context: context, code: .corruptBlock)
                    for i in 0..<count {
                        let width = try r.read(UInt16.self)
                        let height = try r.read(UInt16.self)
                        let length = Int(try r.read(UInt32.self))
                        let crc = try r.read(UInt32.self)
                        guard width > 0 else { continue }
                        guard position + length <= end else { throw r.error("frame directory points past the column") }
                        frames[i] = FrameLocation(width: width, height: height, offset: position, length: length, crc: crc)
                        position += length
                    }
                }
            }
        }
        guard timestamps.count == count else { throw StorageError(.corruptBlock, "block without timestamps in \(context)", file: name, offset: fileOffset) }
        self.timestamps = timestamps
        self.kinds = kinds
        self.states = states
        self.channels = channels
        self.frames = frames
    }

    static func decodeDictionary(_ raw: [UInt8], count: Int, context: String) throws -> [String?] {
        try raw.withUnsafeBytes { (b) in
            var r = ByteReader(b, context: context, code: .corruptBlock)
            let n = try r.readVarint()
            guard n <= UInt64(count) else { throw r.error("dictionary larger than the block") }
            var dictionary: [String] = []
            for _ in 0..<n { dictionary.append(try r.readShortString()) }
            var out: [String?] = []
            out.reserveCapacity(count)
            for _ in 0..<count {
                let code = try r.readVarint()
                guard code <= n else { throw r.error("dictionary code out of range") }
                out.append(code == 0 ? nil : dictionary[Int(code - 1)])
            }
            return out
        }
    }

    static func decodeChannel(_ raw: [UInt8], count: Int, context: String) throws -> [Float?] {
        try raw.withUnsafeBytes { (b) in
            var r = ByteReader(b, context: context, code: .corruptBlock)
            var present = [Bool](repeating: true, count: count)
            if try r.read(UInt8.self) == 0 {
                let bitmap = try r.readBytes((count + 7) / 8)
                for i in 0..<count { present[i] = bitmap[i >> 3] & (1 << UInt8(i & 7)) != 0 }
            }
            let n = present.reduce(0) { $0 + ($1 ? 1 : 0) }
            let planes = try r.readBytes(n * 4)
            var out = [Float?](repeating: nil, count: count)
            var previous: UInt32 = 0
            var k = 0
            for i in 0..<count where present[i] {
                let x = UInt32(planes[k]) | UInt32(planes[n + k]) << 8 | UInt32(planes[2 * n + k]) << 16 | UInt32(planes[3 * n + k]) << 24
                previous ^= x
                out[i] = Float(bitPattern: previous)
                k += 1
            }
            return out
        }
    }
}
