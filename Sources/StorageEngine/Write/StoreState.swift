// The in-memory state shared by the writer and the readers, guarded by one mutex.
import Synchronization
import TelemetryModel

/// An open segment file (one time partition). Readers hold a reference while they read, so a
/// segment dropped by retention stays readable until its last query ends.
final class Segment: Sendable {
    let id: UInt32
    let partitionStart: Int64
    let file: FileHandle
    /// "segments/000042.seg", for messages.
    var name: String { FileNames.segment(id) }

    init(id: UInt32, partitionStart: Int64, file: FileHandle) {
        self.id = id
        self.partitionStart = partitionStart
        self.file = file
    }
}

/// A sealed block and where it lives.
struct BlockRef: Sendable {
    let segment: Segment
    let entry: IndexEntry
}

/// One machine: its sealed blocks (sorted by first timestamp) and its unsealed head.
struct MachineState: Sendable {
    let id: MachineID
    var kind: String = ""
    /// Sorted by `entry.minTimestamp`.
    private(set) var blocks: [BlockRef] = []
    /// `prefixMax[i]` is the largest `maxTimestamp` of `blocks[0...i]`: lets range searches stop early
    /// even when late data made block ranges overlap.
    private(set) var prefixMax: [Int64] = []
    /// Unsealed records by timestamp; queries see them at once (read-your-writes).
    var head: [Int64: IngestRecord] = [:]
    private(set) var sealedCount = 0
    private(set) var sealedMin = Int64.max
    private(set) var sealedMax = Int64.min

    init(id: MachineID) { self.id = id }

    mutating func addBlocks(_ refs: [BlockRef]) {
        guard !refs.isEmpty else { return }
        let inOrder = refs.allSatisfy { $0.entry.minTimestamp >= (blocks.last?.entry.minTimestamp ?? .min) }
        blocks.append(contentsOf: refs)
        if !inOrder || !zip(refs, refs.dropFirst()).allSatisfy({ $0.entry.minTimestamp <= $1.entry.minTimestamp }) {
            blocks.sort { $0.entry.minTimestamp < $1.entry.minTimestamp }
        }
        recompute()
    }

    mutating func removeBlocks(where shouldRemove: (BlockRef) -> Bool) {
        blocks.removeAll(where: shouldRemove)
        recompute()
    }

    private mutating func recompute() {
        prefixMax.removeAll(keepingCapacity: true)
        var running = Int64.min
        sealedCount = 0
        sealedMin = .max
        sealedMax = .min
        for b in blocks {
            running = max(running, b.entry.maxTimestamp)
            prefixMax.append(running)
            sealedCount += b.entry.count
            sealedMin = min(sealedMin, b.entry.minTimestamp)
            sealedMax = max(sealedMax, b.entry.maxTimestamp)
        }
    }

    /// Blocks that may hold records in `from...to`, in ascending `minTimestamp` order.
    func candidateBlocks(from: Int64, to: Int64) -> [BlockRef] {
        // First block whose minTimestamp > to.
        var lo = 0, hi = blocks.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if blocks[mid].entry.minTimestamp <= to { lo = mid + 1 } else { hi = mid }
        }
        var result: [BlockRef] = []
        var i = lo - 1
        while i >= 0, prefixMax[i] >= from {
            if blocks[i].entry.maxTimestamp >= from { result.append(blocks[i]) }
            i -= 1
        }
        return result.reversed()
    }

    var count: Int { sealedCount + head.count }
    var firstTimestamp: Int64? {
        let h = head.keys.min()
        let m = min(sealedMin, h ?? .max)
        return m == .max ? nil : m
    }
    var lastTimestamp: Int64? {
        let h = head.keys.max()
        let m = max(sealedMax, h ?? .min)
        return m == .min ? nil : m
    }
}

/// Everything readers may look at.
struct SharedState: Sendable {
    var machines: [MachineID: MachineState] = [:]
    var isClosed = false
    /// The failure that stopped the writer (see ``StoreWriter/fail(_:_:)``).
    var failure: StorageError?
    /// Problems found since open (corruption, failed seals), newest last, at most 100.
    var problems: [StorageError] = []
    var counters = StoreCounters()

    /// Puts a record in its machine's head; the machine's kind follows its newest record.
    mutating func addToHead(_ r: IngestRecord) {
        let newest = machines[r.machineID]?.lastTimestamp.map { r.timestamp >= $0 } ?? true
        machines[r.machineID, default: MachineState(id: r.machineID)].head[r.timestamp] = r
        if newest { machines[r.machineID]!.kind = r.kind }
    }

    mutating func report(_ problem: StorageError) {
        problems.append(problem)
        if problems.count > 100 { problems.removeFirst(problems.count - 100) }
    }
}

/// Running totals for metrics and benchmarks.
public struct StoreCounters: Sendable, Equatable {
    /// Records accepted (duplicates excluded) since open.
    public var recordsAppended = 0
    /// Duplicate records dropped since open.
    public var duplicatesDropped = 0
    /// WAL bytes written since open.
    public var walBytesWritten: Int64 = 0
    /// WAL fsyncs since open and their total duration.
    public var walSyncs = 0
    public var walSyncNanoseconds: UInt64 = 0
    /// Blocks sealed since open.
    public var blocksSealed = 0
    /// Raw Float32 bytes of the frames in sealed blocks since open, and the bytes those blocks take.
    public var sealedFrameRawBytes: Int64 = 0
    public var sealedBlockBytes: Int64 = 0
}

/// The mutex around ``SharedState``, as a class so that the writer and the façade share it.
final class SharedStateBox: Sendable {
    private let mutex = Mutex(SharedState())

    func withLock<T>(_ body: (inout SharedState) throws -> T) rethrows -> T {
        try mutex.withLock { try body(&$0) }
    }
}
