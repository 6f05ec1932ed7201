// One block's entry in a segment index. Format: Storage/Format/index.md.
import TelemetryModel

/// Summary of one channel over one block: lets series queries skip blocks that fall inside a bucket.
struct ChannelSummary: Sendable, Equatable {
    var name: String
    /// Finite values counted.
    var count: Int
    var min: Float
    var max: Float
    var sum: Double
}

/// Where a block is and what it holds, without reading it.
struct IndexEntry: Sendable {
    /// Offset of the block in its segment file.
    var offset: Int64
    /// Bytes of the whole block.
    var length: UInt32
    /// Bytes from the block start to the end of its scalar columns (what a statistics read needs).
    var scalarLength: UInt32
    var machineID: MachineID
    var count: Int
    var minTimestamp: Int64
    var maxTimestamp: Int64
    /// The kind of the newest record in the block.
    var lastKind: String
    var frameCount: Int
    var channels: [ChannelSummary]

    func encode(into w: inout ByteWriter) {
        w.write(UInt64(offset))
        w.write(length)
        w.write(scalarLength)
        w.writeShortString(machineID.rawValue)
        w.write(UInt16(count))
        w.write(minTimestamp)
        w.write(maxTimestamp)
        w.writeShortString(lastKind)
        w.write(UInt16(frameCount))
        w.write(UInt16(channels.count))
        for c in channels {
            w.writeShortString(c.name)
            w.write(UInt16(c.count))
            w.write(c.min)
            w.write(c.max)
            w.write(c.sum)
        }
    }

    init(offset: Int64, length: UInt32, scalarLength: UInt32, machineID: MachineID, count: Int, minTimestamp: Int64,
         maxTimestamp: Int64, lastKind: String, frameCount: Int, channels: [ChannelSummary]) {
        self.offset = offset
        self.length = length
        self.scalarLength = scalarLength
        self.machineID = machineID
        self.count = count
        self.minTimestamp = minTimestamp
        self.maxTimestamp = maxTimestamp
        self.lastKind = lastKind
        self.frameCount = frameCount
        self.channels = channels
    }

    init(decoding r: inout ByteReader) throws {
        offset = Int64(bitPattern: try r.read(UInt64.self))
        length = try r.read(UInt32.self)
        scalarLength = try r.read(UInt32.self)
        guard let id = try? MachineID(try r.readShortString()) else { throw r.error("invalid machine id") }
        machineID = id
        count = Int(try r.read(UInt16.self))
        minTimestamp = try r.read(Int64.self)
        maxTimestamp = try r.read(Int64.self)
        lastKind = try r.readShortString()
        frameCount = Int(try r.read(UInt16.self))
        let n = Int(try r.read(UInt16.self))
        var channels: [ChannelSummary] = []
        for _ in 0..<n {
            channels.append(ChannelSummary(name: try r.readShortString(), count: Int(try r.read(UInt16.self)),
                                           min: try r.readFloat(), max: try r.readFloat(), sum: try r.readDouble()))
        }
        self.channels = channels
        guard offset >= 0, scalarLength <= length, count > 0, minTimestamp <= maxTimestamp else {
            throw r.error("inconsistent index entry")
        }
    }
}
