// The public façade of the store: open, append, query, retention, close.
import Dispatch
public import Logging
import Synchronization
public import TelemetryModel
#if canImport(Glibc)
import Glibc
#endif

/// Sinter's embedded, append-only columnar store for machine telemetry.
///
/// Records go to a write-ahead log (CRC32C-checksummed, group-committed), wait in an in-memory
/// head per machine that queries already see, and are sealed into immutable LZ4 column blocks
/// in time-partitioned segment files. One writer, many concurrent readers: query methods are
/// synchronous, thread-safe, do blocking `pread`s, and never wait for ingest. Opening replays
/// the WAL tail, so everything acknowledged survives a crash. On-disk formats: `Storage/Format/`.
///
/// ```swift
/// let store = try TelemetryStore.open(at: "Storage/data")
/// let result = try await store.append([record])
/// let recent = try store.records(machine: record.machineID, limit: 100, order: .descending)
/// try await store.close()
/// ```
public final class TelemetryStore: Sendable {
    /// The store directory.
    public let directory: String
    /// The configuration the store was opened with (validated).
    public let configuration: StoreConfiguration
    let logger: Logger
    let state: SharedStateBox
    let writer: StoreWriter
    let queue: DispatchQueue
    let pending = Mutex<[StoreWriter.Pending]>([])
    let lockFile: FileHandle

    /// Result order of range queries.
    public enum Order: Sendable {
        case ascending
        case descending
    }

    private init(directory: String, configuration: StoreConfiguration, logger: Logger, state: SharedStateBox,
                 writer: StoreWriter, lockFile: FileHandle) {
        self.directory = directory
        self.configuration = configuration
        self.logger = logger
        self.state = state
        self.writer = writer
        self.lockFile = lockFile
        self.queue = DispatchQueue(label: "sinter.store.writer")
    }

    /// Opens the store in `directory`, creating it if needed, and recovers from any crash.
    ///
    /// Reads the manifest and the segment indexes (never the data), replays the WAL tail into the
    /// heads, discards a torn last WAL record, and truncates unindexed bytes at segment ends.
    /// Damage that does not prevent opening (a corrupt index, a corrupt WAL record in the middle)
    /// is repaired where possible and listed in ``problems``. Throws ``StorageError`` with code
    /// `.locked` if another process has the store open.
    public static func open(at directory: String, configuration: StoreConfiguration = StoreConfiguration(),
                            logger: Logger = Logger(label: "sinter.store")) throws -> TelemetryStore {
        let configuration = try configuration.validated()
        let files = StoreFiles(configuration.fileSystem)
        try files.makeDirectories(directory + "/" + FileNames.walDirectory)
        try files.makeDirectories(directory + "/" + FileNames.segmentDirectory)
        let lockFile = try files.open(directory + "/" + FileNames.lock, name: FileNames.lock, create: true)
        guard lockFile.lockExclusive() else {
            throw StorageError(.locked, "the store in \(directory) is open in another process (\(FileNames.lock) is locked)")
        }
        let started = monotonicNanoseconds()
        var problems: [StorageError] = []
        let manifestExisted = files.exists(directory + "/" + FileNames.manifest)
        let manifest = try StoreWriter.loadManifest(directory: directory, configuration: configuration, problems: &problems, logger: logger)
        let state = SharedStateBox()
        state.withLock { s in for p in problems { s.report(p) } }
        let writer = StoreWriter(directory: directory, configuration: configuration, logger: logger, state: state, manifest: manifest)
        if manifestExisted && problems.isEmpty { try writer.removeOrphanSegments() }
        let refs = writer.loadSegments()
        var machines: [MachineID: MachineState] = [:]
        var byMachine: [MachineID: [BlockRef]] = [:]
        for ref in refs { byMachine[ref.entry.machineID, default: []].append(ref) }
        for (id, list) in byMachine {
            var m = MachineState(id: id)
            m.addBlocks(list)
            m.kind = list.max { $0.entry.maxTimestamp < $1.entry.maxTimestamp }?.entry.lastKind ?? ""
            machines[id] = m
        }
        state.withLock { $0.machines = machines }
        let restored = try writer.replayWAL()
        writer.sealFullHeads()
        try writer.checkpoint()
        let store = TelemetryStore(directory: directory, configuration: configuration, logger: logger, state: state,
                                   writer: writer, lockFile: lockFile)
        if let retention = configuration.retention {
            _ = try writer.dropPartitions(endingBefore: configuration.now().nanoseconds &- retention.nanoseconds)
        }
        if configuration.retention != nil { store.scheduleRetention() }
        logger.info("store opened", metadata: [
            "store.directory": "\(directory)", "store.blocks": "\(refs.count)", "wal.restored": "\(restored)",
            "open.ms": "\(Double(monotonicNanoseconds() - started) / 1e6)",
        ])
        return store
    }

    // MARK: Writing

    /// Stores records and returns once they are durable (or, in relaxed mode, written to the OS).
    ///
    /// Validates every record first: one invalid record rejects the whole call with a
    /// `ModelError` naming the field, and nothing is stored. A record whose (machine id,
    /// timestamp) is already stored is a duplicate and is stored once; its id is returned all
    /// the same, so retries are safe. Concurrent calls share WAL writes and fsyncs.
    @discardableResult
    public func append(_ records: [TelemetryRecord]) async throws -> AppendResult {
        guard !records.isEmpty else { return AppendResult(ids: [], duplicateCount: 0) }
        var encoded: [IngestRecord] = []
        encoded.reserveCapacity(records.count)
        for r in records { encoded.append(try IngestRecord(r)) }
        if state.withLock({ $0.isClosed }) { throw StorageError(.closed, "the store is closed") }
        return try await withCheckedThrowingContinuation { continuation in
            let first = pending.withLock { p in
                p.append(StoreWriter.Pending(records: encoded, continuation: continuation))
                return p.count == 1
            }
            if first { queue.async { self.drain() } }
        }
    }

    /// Stores one record. See ``append(_:)``.
    @discardableResult
    public func append(_ record: TelemetryRecord) async throws -> RecordID {
        try await append([record]).ids[0]
    }

    /// Runs on the writer queue: commits whatever appends are waiting, as one group.
    private func drain() {
        if configuration.groupCommitWindow > .zero {
            let ns = configuration.groupCommitWindow.nanoseconds
            var ts = timespec(tv_sec: Int(ns / 1_000_000_000), tv_nsec: Int(ns % 1_000_000_000))
            nanosleep(&ts, nil)
        }
        let batch = pending.withLock { p in
            let taken = p
            p.removeAll(keepingCapacity: true)
            return taken
        }
        guard !batch.isEmpty else { return }
        if state.withLock({ $0.isClosed }) {
            for p in batch { p.continuation.resume(throwing: StorageError(.closed, "the store is closed")) }
            return
        }
        writer.commit(batch)
        if case .relaxed(let interval) = configuration.durability, writer.walDirty, !writer.syncScheduled {
            writer.syncScheduled = true
            let ns = max(1, interval.nanoseconds)
            queue.asyncAfter(deadline: .now() + .nanoseconds(Int(min(ns, Int64(Int.max))))) { [writer] in
                writer.syncScheduled = false
                if writer.walDirty { do { try writer.syncWAL() } catch { writer.report(error, "WAL fsync failed") } }
            }
        }
    }

    private func onWriter<T: Sendable>(_ body: @escaping @Sendable (StoreWriter) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { [writer] in
                continuation.resume(with: Result { try body(writer) })
            }
        }
    }

    /// Returns once the writer has finished everything queued before this call (sealing and
    /// checkpoints that follow an acknowledged append included). For tests and tools that look
    /// at blocks or files right after an append.
    func writerBarrier() async {
        await withCheckedContinuation { continuation in queue.async { continuation.resume() } }
    }

    /// Seals every head into blocks, even partial ones, and starts a fresh WAL file.
    ///
    /// Not needed for durability (the WAL already has everything); useful before a backup or
    /// to measure the on-disk size of everything written.
    public func flush() async throws {
        try await onWriter { [state] writer in
            guard !state.withLock({ $0.isClosed }) else { throw StorageError(.closed, "the store is closed") }
            try writer.syncWAL()
            writer.seal(machines: state.withLock { Array($0.machines.keys) }, all: true)
            try writer.checkpoint()
        }
    }

    /// Drops partitions older than ``StoreConfiguration/retention`` (measured from the configured clock).
    /// Returns the number of partitions deleted.
    @discardableResult
    public func applyRetention() async throws -> Int {
        guard let retention = configuration.retention else { return 0 }
        let horizon = configuration.now().nanoseconds &- retention.nanoseconds
        return try await onWriter { [state] writer in
            guard !state.withLock({ $0.isClosed }) else { throw StorageError(.closed, "the store is closed") }
            return try writer.dropPartitions(endingBefore: horizon).count
        }
    }

    /// Applies retention every `retentionCheckInterval` on the writer queue until the store closes.
    private func scheduleRetention() {
        let ns = configuration.retentionCheckInterval.nanoseconds
        queue.asyncAfter(deadline: .now() + .nanoseconds(Int(min(ns, Int64(Int.max))))) { [weak self] in
            guard let self, let retention = self.configuration.retention, !self.state.withLock({ $0.isClosed }) else { return }
            do {
                _ = try self.writer.dropPartitions(endingBefore: self.configuration.now().nanoseconds &- retention.nanoseconds)
            } catch {
                self.writer.report(error, "retention failed")
            }
            self.scheduleRetention()
        }
    }

    /// Finishes pending appends, syncs the WAL and closes the store. Later calls fail with `.closed`.
    public func close() async throws {
        defer { lockFile.unlock() }
        var closeError: (any Error)?
        do {
            try await onWriter { [state] writer in
                state.withLock { $0.isClosed = true }
                defer { writer.wal = nil }
                // A failed store has nothing to flush: what is durable is what reopening recovers.
                if let failure = writer.failure { throw failure }
                if writer.walDirty { try writer.syncWAL() }
                try writer.flushIndexes()
            }
        } catch {
            closeError = error
        }
        // Appends that queued before the close flag was seen are failed, not left hanging.
        queue.sync { self.drain() }
        if let closeError { throw closeError }
    }

    /// The failure that stopped the store, or nil while it accepts writes.
    ///
    /// After a failed fsync, or a write that failed and could not be undone, the store is
    /// fail-stop: every later append throws this error (code ``StorageError/Code/storeFailed``,
    /// naming the file and the cause) and no WAL file is retired. Reads keep working. Closing
    /// and reopening the store recovers everything that was acknowledged. A full disk alone
    /// does not stop the store: that append fails with ``StorageError/Code/noSpace``, its
    /// partial write is undone, and appends succeed again once space is freed.
    ///
    /// ```swift
    /// if let failure = store.failure { logger.critical("store stopped", metadata: ["error": "\(failure)"]) }
    /// ```
    public var failure: StorageError? { state.withLock { $0.failure } }

    // MARK: Reading

    /// A machine as the store knows it.
    public struct MachineSummary: Sendable, Equatable {
        /// The machine.
        public var id: MachineID
        /// The kind of the newest record.
        public var kind: String
        /// Timestamp of the oldest stored record.
        public var firstTimestamp: Timestamp
        /// Timestamp of the newest stored record.
        public var lastTimestamp: Timestamp
        /// Records stored (sealed and unsealed; duplicates counted once).
        public var recordCount: Int
    }

    /// Every machine with at least one record, sorted by id.
    public func machines() -> [MachineSummary] {
        state.withLock { s in s.machines.values.compactMap(Self.summary) }.sorted { $0.id < $1.id }
    }

    /// One machine's summary, or nil if it has no records.
    public func machine(_ id: MachineID) -> MachineSummary? {
        state.withLock { s in s.machines[id].flatMap(Self.summary) }
    }

    private static func summary(_ m: MachineState) -> MachineSummary? {
        guard let first = m.firstTimestamp, let last = m.lastTimestamp else { return nil }
        return MachineSummary(id: m.id, kind: m.kind, firstTimestamp: Timestamp(nanoseconds: first),
                              lastTimestamp: Timestamp(nanoseconds: last), recordCount: m.count)
    }

    private func snapshot(_ machine: MachineID, from: Int64, to: Int64) -> (blocks: [BlockRef], head: [IngestRecord])? {
        state.withLock { s in
            guard let m = s.machines[machine] else { return nil }
            return (m.candidateBlocks(from: from, to: to), m.head.values.filter { $0.timestamp >= from && $0.timestamp <= to })
        }
    }

    /// Calls `body` with each record of `machine` in `from...to`, in order, until it returns false.
    ///
    /// Streams block by block, so memory stays bounded whatever the range. Without
    /// `includeFrames` only the scalar columns are read (frame statistics included as channels);
    /// frames are never decompressed.
    public func forEachRecord(machine: MachineID, from: Timestamp = .min, to: Timestamp = .max, order: Order = .ascending,
                              includeFrames: Bool = false, _ body: (TelemetryRecord) throws -> Bool) throws {
        guard from <= to, let snap = snapshot(machine, from: from.nanoseconds, to: to.nanoseconds) else { return }
        try RangeScan(blocks: snap.blocks, head: snap.head, from: from.nanoseconds, to: to.nanoseconds,
                      descending: order == .descending, includeFrames: includeFrames).forEach(body)
    }

    /// The records of `machine` in `from...to` (inclusive), at most `limit`, in `order`.
    ///
    /// ```swift
    /// let lastHour = try store.records(machine: id, from: Timestamp(milliseconds: t0), to: .max, limit: 1000)
    /// ```
    public func records(machine: MachineID, from: Timestamp = .min, to: Timestamp = .max, limit: Int = 1000,
                        order: Order = .ascending, includeFrames: Bool = false) throws -> [TelemetryRecord] {
        var out: [TelemetryRecord] = []
        guard limit > 0, from <= to, let snap = snapshot(machine, from: from.nanoseconds, to: to.nanoseconds) else { return out }
        var scan = RangeScan(blocks: snap.blocks, head: snap.head, from: from.nanoseconds, to: to.nanoseconds,
                             descending: order == .descending, includeFrames: includeFrames)
        scan.limit = limit
        try scan.forEach { r in
            out.append(r)
            return out.count < limit
        }
        return out
    }

    /// The newest record of `machine`, or nil.
    public func latest(machine: MachineID, includeFrame: Bool = false) throws -> TelemetryRecord? {
        try records(machine: machine, limit: 1, order: .descending, includeFrames: includeFrame).first
    }

    /// The record with `id`, with its frame, or nil if there is none.
    public func record(id: RecordID, includeFrame: Bool = true) throws -> TelemetryRecord? {
        try records(machine: id.machineID, from: id.timestamp, to: id.timestamp, limit: 1, includeFrames: includeFrame).first
    }

    /// One bucket of a downsampled series.
    public struct SeriesBucket: Sendable, Equatable {
        /// Start of the bucket (inclusive); it ends at start + step.
        public var start: Timestamp
        /// Finite values in the bucket.
        public var count: Int
        /// Smallest finite value in the bucket.
        public var min: Float
        /// Largest finite value in the bucket.
        public var max: Float
        /// Mean of the finite values in the bucket.
        public var mean: Double
    }

    /// Downsamples one channel (frame statistics included: `frame_mean`, …) of `machine` into
    /// buckets of `step` starting at `from`. Empty buckets are left out; NaN and ±inf are skipped.
    ///
    /// Blocks that fall wholly inside one bucket are answered from the index without being read.
    public func series(machine: MachineID, channel: String, from: Timestamp, to: Timestamp, step: Duration) throws -> [SeriesBucket] {
        let stepNS = step.nanoseconds
        guard stepNS > 0 else { throw StorageError(.invalidArgument, "step must be positive") }
        guard from <= to, let snap = snapshot(machine, from: from.nanoseconds, to: to.nanoseconds) else { return [] }
        let lo = from.nanoseconds, hi = to.nanoseconds
        guard !hi.subtractingReportingOverflow(lo).overflow else {
            throw StorageError(.invalidArgument, "the range from \(from) to \(to) is too wide (more than 292 years)")
        }
        var buckets: [Int64: (count: Int, min: Float, max: Float, sum: Double)] = [:]
        func add(_ t: Int64, _ v: Float) {
            guard v.isFinite, t >= lo, t <= hi else { return }
            let k = (t &- lo) / stepNS
            var b = buckets[k] ?? (0, .infinity, -.infinity, 0)
            b.count += 1
            b.min = Swift.min(b.min, v)
            b.max = Swift.max(b.max, v)
            b.sum += Double(v)
            buckets[k] = b
        }
        for ref in snap.blocks {
            let e = ref.entry
            let k0 = (e.minTimestamp &- lo) / stepNS, k1 = (e.maxTimestamp &- lo) / stepNS
            if e.minTimestamp >= lo, e.maxTimestamp <= hi, k0 == k1 {
                guard let s = e.channels.first(where: { $0.name == channel }), s.count > 0 else { continue }
                var b = buckets[k0] ?? (0, .infinity, -.infinity, 0)
                b.count += s.count
                b.min = Swift.min(b.min, s.min)
                b.max = Swift.max(b.max, s.max)
                b.sum += s.sum
                buckets[k0] = b
                continue
            }
            let scalars = try BlockReading.scalars(ref, needFrames: false)
            guard let column = scalars.channels.first(where: { $0.name == channel }) else { continue }
            for (i, t) in scalars.timestamps.enumerated() {
                if let v = column.values[i] { add(t, v) }
            }
        }
        for r in snap.head {
            if let v = r.allChannels.first(where: { $0.name == channel })?.value { add(r.timestamp, v) }
        }
        return buckets.keys.sorted().map { k in
            let b = buckets[k]!
            return SeriesBucket(start: Timestamp(nanoseconds: lo &+ k &* stepNS), count: b.count, min: b.min, max: b.max,
                                mean: b.sum / Double(b.count))
        }
    }

    // MARK: Health

    /// Damage found since open (checksum failures, repaired indexes, failed seals), newest last.
    public var problems: [StorageError] { state.withLock { $0.problems } }

    /// Sizes and running totals of the store.
    public struct Statistics: Sendable {
        /// Machines with at least one record.
        public var machines: Int
        /// Records stored, sealed and unsealed.
        public var records: Int
        /// Records still in the in-memory heads (and the WAL), not yet in blocks.
        public var unsealedRecords: Int
        /// Sealed column blocks.
        public var blocks: Int
        /// Segment files (time partitions) holding blocks.
        public var segments: Int
        /// Bytes of segment and index files on disk.
        public var segmentBytes: Int64
        /// Bytes of WAL files on disk.
        public var walBytes: Int64
        /// Running totals since open (appends, duplicates, WAL bytes and fsyncs, sealed bytes).
        public var counters: StoreCounters
    }

    /// Counts, sizes on disk and running totals; cheap enough for a metrics endpoint.
    ///
    /// ```swift
    /// let s = store.statistics()
    /// print("\(s.records) records, \(s.segmentBytes) bytes of segments")
    /// ```
    public func statistics() -> Statistics {
        let (machines, records, unsealed, blocks, segments, counters) = state.withLock { s in
            var segmentIDs = Set<UInt32>()
            var blocks = 0
            for m in s.machines.values {
                blocks += m.blocks.count
                for b in m.blocks { segmentIDs.insert(b.segment.id) }
            }
            return (s.machines.count, s.machines.values.reduce(0) { $0 + $1.count },
                    s.machines.values.reduce(0) { $0 + $1.head.count }, blocks, segmentIDs.count, s.counters)
        }
        return Statistics(machines: machines, records: records, unsealedRecords: unsealed, blocks: blocks, segments: segments,
                          segmentBytes: writer.files.directorySize(directory + "/" + FileNames.segmentDirectory),
                          walBytes: writer.files.directorySize(directory + "/" + FileNames.walDirectory), counters: counters)
    }
}
