// A record as the write-ahead log stores it. Format: Storage/Format/wal.md ("Record payload").
import TelemetryModel

/// A frame already passed through ``FrameCodec``: what the WAL and blocks hold.
struct EncodedFrame: Sendable {
    var width: UInt16
    var height: UInt16
    var bytes: [UInt8]
}

/// One scalar channel value.
struct ChannelValue: Sendable, Equatable {
    var name: String
    var value: Float
}

/// A validated record with its frame encoded and its statistics computed: the form in which
/// records travel through the write path (WAL, head, block builder).
struct IngestRecord: Sendable {
    var machineID: MachineID
    var timestamp: Int64
    var kind: String
    /// Sorted by name; never contains the `frame_*` statistics channels.
    var channels: [ChannelValue]
    var state: String?
    var statistics: FrameStatistics?
    var frame: EncodedFrame?

    static let recordType: UInt8 = 1

    /// Validates `record`, computes its frame statistics and encodes its frame.
    init(_ record: TelemetryRecord) throws(ModelError) {
        try record.validate()
        machineID = record.machineID
        timestamp = record.timestamp.nanoseconds
        kind = record.kind
        channels = record.channels.map { ChannelValue(name: $0.key, value: $0.value) }.sorted { $0.name < $1.name }
        state = record.state
        if let frame = record.frame {
            statistics = frame.statistics()
            var bytes: [UInt8] = []
            bytes.reserveCapacity(frame.values.count)
            frame.values.withUnsafeBufferPointer { FrameCodec.encode($0, width: frame.width, height: frame.height, into: &bytes) }
            self.frame = EncodedFrame(width: UInt16(frame.width), height: UInt16(frame.height), bytes: bytes)
        } else {
            statistics = nil
            self.frame = nil
        }
    }

    init(machineID: MachineID, timestamp: Int64, kind: String, channels: [ChannelValue], state: String?,
         statistics: FrameStatistics?, frame: EncodedFrame?) {
        self.machineID = machineID
        self.timestamp = timestamp
        self.kind = kind
        self.channels = channels
        self.state = state
        self.statistics = statistics
        self.frame = frame
    }

    /// Appends the WAL payload of this record.
    func encode(into w: inout ByteWriter) {
        w.write(Self.recordType)
        w.writeShortString(machineID.rawValue)
        w.write(timestamp)
        w.writeShortString(kind)
        if let state {
            w.write(UInt8(1))
            w.writeShortString(state)
        } else {
            w.write(UInt8(0))
        }
        w.write(UInt16(channels.count))
        for c in channels {
            w.writeShortString(c.name)
            w.write(c.value)
        }
        if let frame {
            w.write(UInt8(1))
            w.write(frame.width)
            w.write(frame.height)
            let s = statistics ?? FrameStatistics(min: .nan, max: .nan, mean: .nan, std: .nan)
            w.write(s.min)
            w.write(s.max)
            w.write(s.mean)
            w.write(s.std)
            w.write(UInt32(frame.bytes.count))
            w.write(bytes: frame.bytes)
        } else {
            w.write(UInt8(0))
        }
    }

    /// Cheap check used when searching for the next record after damage: type byte, then a
    /// machine id of 1–64 bytes.
    static func isPlausiblePayload(_ payload: UnsafeRawBufferPointer) -> Bool {
        payload.count >= 20 && payload[0] == recordType && (1...64).contains(payload[1])
    }

    /// Decodes a WAL payload; every field is bounds-checked.
    init(decoding r: inout ByteReader) throws {
        let type = try r.read(UInt8.self)
        guard type == Self.recordType else { throw r.error("unknown WAL entry type \(type)") }
        let rawID = try r.readShortString()
        guard let id = try? MachineID(rawID) else { throw r.error("invalid machine id") }
        machineID = id
        timestamp = try r.read(Int64.self)
        kind = try r.readShortString()
        state = try r.read(UInt8.self) == 1 ? try r.readShortString() : nil
        let count = Int(try r.read(UInt16.self))
        var channels: [ChannelValue] = []
        channels.reserveCapacity(count)
        for _ in 0..<count {
            let name = try r.readShortString()
            channels.append(ChannelValue(name: name, value: try r.readFloat()))
        }
        self.channels = channels
        if try r.read(UInt8.self) == 1 {
            let width = try r.read(UInt16.self)
            let height = try r.read(UInt16.self)
            let s = FrameStatistics(min: try r.readFloat(), max: try r.readFloat(), mean: try r.readFloat(), std: try r.readFloat())
            statistics = s.min.isNaN ? nil : s
            let length = try r.readLength(UInt32.self, limit: ChecksummedFrame.maximumPayload, what: "frame length")
            frame = EncodedFrame(width: width, height: height, bytes: Array(try r.readBytes(length)))
        } else {
            statistics = nil
            frame = nil
        }
    }

    /// The scalar channels including the four frame statistics, sorted by name.
    var allChannels: [ChannelValue] {
        guard let s = statistics else { return channels }
        var all = channels
        all.append(ChannelValue(name: ChannelName.frameMax, value: s.max))
        all.append(ChannelValue(name: ChannelName.frameMean, value: s.mean))
        all.append(ChannelValue(name: ChannelName.frameMin, value: s.min))
        all.append(ChannelValue(name: ChannelName.frameStd, value: s.std))
        return all.sorted { $0.name < $1.name }
    }

    /// The record without frame decoding (frame omitted) or with it.
    func telemetryRecord(includeFrame: Bool) throws -> TelemetryRecord {
        var dict: [String: Float] = [:]
        dict.reserveCapacity(channels.count + 4)
        for c in allChannels { dict[c.name] = c.value }
        var record = TelemetryRecord(machineID: machineID, timestamp: Timestamp(nanoseconds: timestamp), kind: kind,
                                     channels: dict, state: state)
        if includeFrame, let frame {
            record.frame = try frame.decoded(context: "record \(machineID)@\(timestamp)")
        }
        return record
    }
}

extension EncodedFrame {
    func decoded(context: String) throws -> ThermalFrame {
        let w = Int(width), h = Int(height)
        var values = [Float](repeating: 0, count: w * h)
        try bytes.withUnsafeBytes { (raw) throws in
            try values.withUnsafeMutableBufferPointer { (out) in
                try FrameCodec.decode(raw, width: w, height: h, into: out)
            }
        }
        do {
            return try ThermalFrame(width: w, height: h, values: values)
        } catch {
            throw StorageError(.corruptData, "frame of \(context) has an impossible size \(w) x \(h)")
        }
    }
}
