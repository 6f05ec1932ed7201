// Reading sealed blocks with pread: the scalar prefix for statistics, the whole block for frames.
import Dispatch
import TelemetryModel

/// A block's scalar columns (and frame directory, when frames are wanted), read from disk.
/// Frames are read one by one, only for the records a query returns.
final class LoadedBlock: Sendable {
    let ref: BlockRef
    let scalars: BlockScalars

    init(ref: BlockRef, scalars: BlockScalars) {
        self.ref = ref
        self.scalars = scalars
    }

    /// The record at `index`, with its frame read and decoded if `includeFrame` (and the frame
    /// directory was loaded).
    func record(at index: Int, includeFrame: Bool) throws -> TelemetryRecord {
        let s = scalars
        var channels: [String: Float] = [:]
        channels.reserveCapacity(s.channels.count)
        for c in s.channels {
            if let v = c.values[index] { channels[c.name] = v }
        }
        var record = TelemetryRecord(machineID: s.header.machineID, timestamp: Timestamp(nanoseconds: s.timestamps[index]),
                                     kind: s.kinds[index], channels: channels, state: s.states[index])
        if includeFrame, let location = s.frames[index] {
            let name = ref.segment.name
            let fileOffset = ref.entry.offset + Int64(location.offset)
            let frame = EncodedFrame(width: location.width, height: location.height,
                                     bytes: try ref.segment.file.read(at: fileOffset, count: location.length))
            guard crc32c(frame.bytes) == location.crc else {
                throw StorageError(.corruptBlock, "CRC mismatch in a frame in segment \(FileNames.segmentName(ref.segment.id)) at offset \(fileOffset)",
                                   file: name, offset: fileOffset)
            }
            record.frame = try frame.decoded(context: "\(name) at offset \(fileOffset)")
        }
        return record
    }
}

enum BlockReading {
    /// Reads and decodes a block's scalar columns, and its frame directory if `needFrames`.
    static func load(_ ref: BlockRef, needFrames: Bool) throws -> LoadedBlock {
        let withDirectory = needFrames && ref.entry.frameCount > 0
        let length = withDirectory ? min(Int(ref.entry.length), Int(ref.entry.scalarLength) + ref.entry.count * 12) : Int(ref.entry.scalarLength)
        let bytes = try ref.segment.file.read(at: ref.entry.offset, count: length)
        let scalars = try bytes.withUnsafeBytes { (raw) throws in
            try BlockScalars(decoding: raw, name: ref.segment.name, fileOffset: ref.entry.offset, needFrames: withDirectory)
        }
        guard scalars.header.count == ref.entry.count, scalars.header.machineID == ref.entry.machineID else {
            throw StorageError(.corruptBlock, "block in segment \(FileNames.segmentName(ref.segment.id)) at offset \(ref.entry.offset) does not match its index entry",
                               file: ref.segment.name, offset: ref.entry.offset)
        }
        return LoadedBlock(ref: ref, scalars: scalars)
    }

    static func scalars(_ ref: BlockRef, needFrames: Bool) throws -> BlockScalars {
        try load(ref, needFrames: needFrames).scalars
    }

    /// Only the timestamps of a block (the duplicate check needs nothing else): the other
    /// columns are neither checksummed nor decompressed.
    static func timestamps(_ ref: BlockRef) throws -> [Int64] {
        let bytes = try ref.segment.file.read(at: ref.entry.offset, count: Int(ref.entry.scalarLength))
        return try bytes.withUnsafeBytes { raw in
            try BlockScalars(decoding: raw, name: ref.segment.name, fileOffset: ref.entry.offset, needFrames: false,
                             timestampsOnly: true).timestamps
        }
    }
}

/// Walks the records of one machine in a time range in timestamp order, merging sealed blocks
/// (which may overlap when late data arrived) with the unsealed head, reading one block at a time.
struct RangeScan {
    let blocks: [BlockRef]
    let head: [IngestRecord]
    let from: Int64
    let to: Int64
    let descending: Bool
    let includeFrames: Bool
    /// At most this many records are wanted: frames beyond it are never decoded.
    var limit: Int = .max

    private enum Item: Sendable {
        case head(IngestRecord)
        case block(LoadedBlock, Int)

        var timestamp: Int64 {
            switch self {
            case .head(let r): return r.timestamp
            case .block(let b, let i): return b.scalars.timestamps[i]
            }
        }
    }

    /// Calls `body` with each record until it returns false.
    func forEach(_ body: (TelemetryRecord) throws -> Bool) throws {
        // Blocks in the order they can first contribute.
        let ordered = descending
            ? blocks.sorted { $0.entry.maxTimestamp > $1.entry.maxTimestamp }
            : blocks // already ascending by minTimestamp
        var pending: [Item] = head.filter { $0.timestamp >= from && $0.timestamp <= to }.map { .head($0) }
        sortPending(&pending)
        var next = 0
        var delivered = 0
        while true {
            // Records that no later block can precede may go out now.
            let bound: Int64? = next < ordered.count
                ? (descending ? ordered[next].entry.maxTimestamp : ordered[next].entry.minTimestamp) : nil
            var ready = 0
            for item in pending {
                if let bound, descending ? item.timestamp <= bound : item.timestamp >= bound { break }
                ready += 1
            }
            ready = min(ready, limit - delivered)
            for record in try materialize(pending[..<ready]) {
                delivered += 1
                guard try body(record) else { return }
            }
            pending.removeFirst(ready)
            guard delivered < limit else { return }
            guard next < ordered.count else { return }
            let block = try BlockReading.load(ordered[next], needFrames: includeFrames)
            next += 1
            for (i, t) in block.scalars.timestamps.enumerated() where t >= from && t <= to {
                pending.append(.block(block, i))
            }
            sortPending(&pending)
        }
    }

    /// Turns items into records; frames are decoded on all cores when there are several.
    private func materialize(_ items: ArraySlice<Item>) throws -> [TelemetryRecord] {
        let includeFrames = self.includeFrames
        let make: @Sendable (Item) throws -> TelemetryRecord = { item in
            switch item {
            case .head(let r): return try r.telemetryRecord(includeFrame: includeFrames)
            case .block(let b, let i): return try b.record(at: i, includeFrame: includeFrames)
            }
        }
        guard includeFrames, items.count >= 4 else { return try items.map(make) }
        let list = Array(items)
        let results = UnsafeMutableBufferPointer<Result<TelemetryRecord, any Error>?>.allocate(capacity: list.count)
        results.initialize(repeating: nil)
        defer { results.deinitialize(); results.deallocate() }
        let shared = UnsafeSendable(results)
        DispatchQueue.concurrentPerform(iterations: list.count) { i in
            shared.value[i] = Result { try make(list[i]) }
        }
        return try results.map { try $0!.get() }
    }

    private func sortPending(_ items: inout [Item]) {
        if descending { items.sort { $0.timestamp > $1.timestamp } } else { items.sort { $0.timestamp < $1.timestamp } }
    }
}

/// Hands a buffer to `concurrentPerform`, whose iterations write disjoint elements.
private struct UnsafeSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
