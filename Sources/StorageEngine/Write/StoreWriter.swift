// The single writer: WAL appends with group commit, sealing heads into blocks, checkpoints and
// retention. Runs only on the store's serial writer queue (and during open, before it exists).
import Logging
import Synchronization
public import TelemetryModel

/// Per-segment append state (the writer's side of a ``Segment``).
final class SegmentWriter {
    let segment: Segment
    let index: FileHandle
    var segmentSize: Int64
    var indexSize: Int64

    init(segment: Segment, index: FileHandle, segmentSize: Int64, indexSize: Int64) {
        self.segment = segment
        self.index = index
        self.segmentSize = segmentSize
        self.indexSize = indexSize
    }
}

final class StoreWriter: @unchecked Sendable {
    let directory: String
    let configuration: StoreConfiguration
    let logger: Logger
    let state: SharedStateBox
    let files: StoreFiles
    var manifest: Manifest
    var segments: [UInt32: SegmentWriter] = [:]
    var segmentByPartition: [Int64: UInt32] = [:]
    var wal: FileHandle?
    var walNumber: UInt64 = 0
    var walSize: Int64 = 0
    var walDirty = false
    var syncScheduled = false
    /// Set when an fsync failed, or a write failed and could not be undone: what is on disk is
    /// unknown, so no more writes are accepted (fail-stop) and no WAL file is retired until the
    /// store is reopened and recovers from what is durable.
    var failure: StorageError?
    /// Decoded timestamps of recently checked blocks, for duplicate checks below a machine's newest sealed record.
    private var blockTimestampCache: [BlockKey: Set<Int64>] = [:]

    /// The most encoded frame bytes in one block (a block's lengths are 32-bit).
    static let blockByteBudget = 256 << 20
    /// WAL size right after the last checkpoint (the unsealed records copied forward).
    var walSizeAfterCheckpoint: Int64 = 0
    /// Index entries of sealed blocks not yet durable, by segment.
    var pendingIndexEntries: [UInt32: [IndexEntry]] = [:]
    /// Sealed blocks that may wait for their index entries before a flush is forced.
    static let indexFlushBlocks = 64

    struct BlockKey: Hashable {
        var segment: UInt32
        var offset: Int64
    }

    init(directory: String, configuration: StoreConfiguration, logger: Logger, state: SharedStateBox, manifest: Manifest) {
        self.directory = directory
        self.configuration = configuration
        self.logger = logger
        self.state = state
        self.files = StoreFiles(configuration.fileSystem)
        self.manifest = manifest
    }

    func path(_ name: String) -> String { directory + "/" + name }

    // MARK: Appending

    /// One `append` call waiting for its batch to become durable.
    struct Pending {
        var records: [IngestRecord]
        var continuation: CheckedContinuation<AppendResult, any Error>
    }

    /// Writes a group of appends with one WAL write and (in durable mode) one fsync, then applies
    /// them to the heads and resumes the callers. Duplicates are dropped here.
    func commit(_ batch: [Pending]) {
        if let failure {
            for p in batch { p.continuation.resume(throwing: failure) }
            return
        }
        var results: [AppendResult] = []
        var accepted: [IngestRecord] = []
        var seen = Set<RecordID>()
        // The snapshot is released before the heads are mutated below, so that the mutation
        // does not copy every head (copy-on-write).
        do {
            let snapshot = state.withLock { $0.machines }
            for p in batch {
                var result = AppendResult(ids: [], duplicateCount: 0)
                result.ids.reserveCapacity(p.records.count)
                for r in p.records {
                    let id = RecordID(machineID: r.machineID, timestamp: Timestamp(nanoseconds: r.timestamp))
                    result.ids.append(id)
                    if seen.contains(id) || isStored(r, in: snapshot[r.machineID]) {
                        result.duplicateCount += 1
                    } else {
                        seen.insert(id)
                        accepted.append(r)
                    }
                }
                results.append(result)
            }
        }

        if !accepted.isEmpty {
            do {
                try appendToWAL(accepted)
            } catch {
                for p in batch { p.continuation.resume(throwing: error) }
                return
            }
            state.withLock { s in
                for r in accepted { s.addToHead(r) }
                s.counters.recordsAppended += accepted.count
                s.counters.duplicatesDropped += results.reduce(0) { $0 + $1.duplicateCount }
            }
        } else {
            state.withLock { $0.counters.duplicatesDropped += results.reduce(0) { $0 + $1.duplicateCount } }
        }
        for (p, r) in zip(batch, results) { p.continuation.resume(returning: r) }

        sealFullHeads()
        // Rotate when the file has grown by walFileSize since the checkpoint, so that large heads
        // copied forward cannot make every commit checkpoint again.
        if walSize - walSizeAfterCheckpoint >= Int64(configuration.walFileSize) {
            do { try checkpoint() } catch { report(error, "checkpoint failed") }
        }
    }

    private func appendToWAL(_ records: [IngestRecord]) throws {
        guard let wal else { throw StorageError(.closed, "the store is closed") }
        var buffer: [UInt8] = []
        buffer.reserveCapacity(records.reduce(0) { $0 + 128 + ($1.frame?.bytes.count ?? 0) })
        ChecksummedFrame.append(records, to: &buffer) { $0.encode(into: &$1) }
        let start = walSize
        do {
            try wal.write(buffer, at: start)
        } catch {
            // Nothing was acknowledged. Cut back what reached the file; if even that fails, the
            // WAL's tail is unknown and the store stops.
            do { try wal.truncate(to: start) } catch { throw fail(error, "undoing a failed WAL write") }
            throw error
        }
        walSize += Int64(buffer.count)
        state.withLock { $0.counters.walBytesWritten += Int64(buffer.count) }
        switch configuration.durability {
        case .durable:
            try syncWAL()
        case .relaxed:
            walDirty = true
        }
    }

    func syncWAL() throws {
        guard let wal else { return }
        let t0 = monotonicNanoseconds()
        do {
            try wal.sync()
        } catch {
            throw fail(error, "the WAL fsync")
        }
        let elapsed = monotonicNanoseconds() - t0
        walDirty = false
        state.withLock {
            $0.counters.walSyncs += 1
            $0.counters.walSyncNanoseconds += elapsed
        }
        configuration.walSyncObserver?(.nanoseconds(Int64(elapsed)))
    }

    /// Whether (machine, timestamp) is already stored, in the head or in a sealed block.
    func isStored(_ r: IngestRecord, in machine: MachineState?) -> Bool {
        guard let machine else { return false }
        if machine.head[r.timestamp] != nil { return true }
        // Not in the head: only a sealed block can hold it. In-order data never gets past this.
        guard machine.sealedCount > 0, r.timestamp >= machine.sealedMin, r.timestamp <= machine.sealedMax else { return false }
        for block in machine.candidateBlocks(from: r.timestamp, to: r.timestamp) {
            let key = BlockKey(segment: block.segment.id, offset: block.entry.offset)
            if blockTimestampCache[key] == nil {
                if blockTimestampCache.count > 256 { blockTimestampCache.removeAll() }
                guard let timestamps = try? BlockReading.timestamps(block) else {
                    // A damaged block: treat the record as new rather than lose it.
                    continue
                }
                blockTimestampCache[key] = Set(timestamps)
            }
            if blockTimestampCache[key]!.contains(r.timestamp) { return true }
        }
        return false
    }

    // MARK: Sealing

    /// Seals every head that holds at least `blockSize` records.
    func sealFullHeads() {
        guard failure == nil else { return }
        let full = state.withLock { s in s.machines.values.filter { $0.head.count >= configuration.blockSize }.map(\.id) }
        guard !full.isEmpty else { return }
        seal(machines: full, all: false)
    }

    /// Seals heads into blocks: full blocks of `blockSize` oldest records, or everything with `all`.
    func seal(machines: [MachineID], all: Bool) {
        let blockSize = configuration.blockSize
        var planned: [(MachineID, [IngestRecord])] = []
        state.withLock { s in
            for id in machines {
                guard let head = s.machines[id]?.head, !head.isEmpty else { continue }
                var records = head.values.sorted { $0.timestamp < $1.timestamp }
                while records.count >= blockSize || (all && !records.isEmpty) {
                    var chunk = Array(records.prefix(blockSize))
                    // A block stays well inside its 32-bit lengths, and its channel count inside 16 bits.
                    var bytes = 0
                    var names = Set<String>()
                    if let cut = chunk.indices.first(where: { i in
                        bytes += chunk[i].frame?.bytes.count ?? 0
                        for c in chunk[i].channels { names.insert(c.name) }
                        return i > 0 && (bytes > Self.blockByteBudget || names.count > 4096)
                    }) {
                        chunk = Array(chunk[..<cut])
                    }
                    // A block never spans two partitions.
                    let partition = manifest.partitionStart(of: chunk[0].timestamp)
                    if let cut = chunk.firstIndex(where: { manifest.partitionStart(of: $0.timestamp) != partition }) {
                        chunk = Array(chunk[..<cut])
                    }
                    planned.append((id, chunk))
                    records.removeFirst(chunk.count)
                }
            }
        }
        guard !planned.isEmpty else { return }
        // Sizes before this round, to undo a partly written round: a retry must not find the
        // same records twice.
        var before: [UInt32: Int64] = [:]
        do {
            var written: [(MachineID, BlockRef, [Int64])] = []
            var touched: [UInt32: SegmentWriter] = [:]
            var entries: [UInt32: [IndexEntry]] = [:]
            var rawFrameBytes: Int64 = 0
            var blockBytes: Int64 = 0
            for (id, chunk) in planned {
                let writer = try segmentWriter(forPartition: manifest.partitionStart(of: chunk[0].timestamp))
                if before[writer.segment.id] == nil { before[writer.segment.id] = writer.segmentSize }
                var (bytes, entry) = BlockBuilder.build(chunk)
                entry.offset = writer.segmentSize
                try writer.segment.file.write(bytes, at: writer.segmentSize)
                writer.segmentSize += Int64(bytes.count)
                touched[writer.segment.id] = writer
                entries[writer.segment.id, default: []].append(entry)
                written.append((id, BlockRef(segment: writer.segment, entry: entry), chunk.map(\.timestamp)))
                blockBytes += Int64(bytes.count)
                rawFrameBytes += chunk.reduce(0) { $0 + Int64($1.frame.map { Int($0.width) * Int($0.height) * 4 } ?? 0) }
            }
            // Readers see the blocks at once; their index entries become durable in batches
            // (flushIndexes), always before a checkpoint lets the WAL forget these records.
            for (segmentID, list) in entries { pendingIndexEntries[segmentID, default: []].append(contentsOf: list) }
            state.withLock { s in
                var byMachine: [MachineID: [BlockRef]] = [:]
                for (id, ref, timestamps) in written {
                    byMachine[id, default: []].append(ref)
                    for t in timestamps { s.machines[id]?.head[t] = nil }
                }
                for (id, refs) in byMachine { s.machines[id]?.addBlocks(refs) }
                s.counters.blocksSealed += written.count
                s.counters.sealedBlockBytes += blockBytes
                s.counters.sealedFrameRawBytes += rawFrameBytes
            }
        } catch {
            // The records stay in their heads and in the WAL: nothing is lost, sealing is retried later.
            for (id, size) in before {
                guard let writer = segments[id] else { continue }
                do {
                    try writer.segment.file.truncate(to: size)
                } catch {
                    report(fail(error, "undoing a failed block write"), "sealing blocks failed")
                    return
                }
                writer.segmentSize = size
            }
            report(error, "sealing blocks failed")
            return
        }
        if pendingIndexEntries.values.reduce(0, { $0 + $1.count }) >= Self.indexFlushBlocks {
            // On failure the entries stay pending (the WAL still holds their records) and are retried.
            do { try flushIndexes() } catch { report(error, "index flush failed") }
        }
    }

    /// Makes sealed blocks durable and indexes them: fsync their segments, then append their
    /// index entries and fsync the indexes. Until this runs, the blocks' records are also in the
    /// WAL, and a crash only leaves unindexed bytes at segment ends for the next open to index
    /// again or cut off.
    func flushIndexes() throws {
        if let failure { throw failure }
        guard !pendingIndexEntries.isEmpty else { return }
        for id in pendingIndexEntries.keys {
            guard let writer = segments[id] else { continue }
            do { try writer.segment.file.sync() } catch { throw fail(error, "a segment fsync") }
        }
        for (id, list) in pendingIndexEntries.sorted(by: { $0.key < $1.key }) {
            guard let writer = segments[id] else { continue }
            var buffer: [UInt8] = []
            ChecksummedFrame.append(list, to: &buffer) { $0.encode(into: &$1) }
            // A failed write or sync leaves indexSize alone: the retry overwrites the same bytes.
            try writer.index.write(buffer, at: writer.indexSize)
            do { try writer.index.sync() } catch { throw fail(error, "an index fsync") }
            writer.indexSize += Int64(buffer.count)
            pendingIndexEntries[id] = nil
        }
    }

    /// The segment of a partition, created (and recorded in the manifest) on first use.
    func segmentWriter(forPartition start: Int64) throws -> SegmentWriter {
        if let id = segmentByPartition[start], let writer = segments[id] { return writer }
        let id = manifest.nextSegmentID
        let segmentName = FileNames.segment(id), indexName = FileNames.index(id)
        let segmentFile = try files.open(path(segmentName), name: segmentName, create: true)
        let indexFile = try files.open(path(indexName), name: indexName, create: true)
        try segmentFile.truncate(to: 0)
        try indexFile.truncate(to: 0)
        var segmentHead = FileHeader(kind: .segment, number: UInt64(id)).encoded()
        SegmentPartition(start: start, duration: manifest.partitionDuration).append(to: &segmentHead)
        try segmentFile.write(segmentHead, at: 0)
        try indexFile.write(FileHeader(kind: .index, number: UInt64(id)).encoded(), at: 0)
        do {
            try segmentFile.sync()
            try indexFile.sync()
            try files.syncDirectory(path(FileNames.segmentDirectory))
        } catch {
            throw fail(error, "creating segment \(FileNames.segmentName(id))")
        }
        var next = manifest
        next.generation += 1
        next.nextSegmentID = id + 1
        next.segments.append(SegmentInfo(id: id, partitionStart: start))
        try writeManifest(next)
        manifest = next
        let writer = SegmentWriter(segment: Segment(id: id, partitionStart: start, file: segmentFile), index: indexFile,
                                   segmentSize: Int64(SegmentPartition.dataStart), indexSize: Int64(FileHeader.size))
        segments[id] = writer
        segmentByPartition[start] = id
        logger.debug("segment created", metadata: ["segment.id": "\(FileNames.segmentName(id))", "partition.start": "\(Timestamp(nanoseconds: start))"])
        return writer
    }

    // MARK: Checkpoints

    /// Starts a new WAL file holding every unsealed record, then retires the older files.
    ///
    /// Sealed records are durable in their segments and unsealed ones are copied forward, so
    /// after this the older WAL files hold nothing that is needed.
    func checkpoint() throws {
        if let failure { throw failure }
        try flushIndexes()
        let number = max(walNumber + 1, manifest.walStart)
        let name = FileNames.wal(number)
        // Written under a temporary name and renamed, so a crash never leaves a half-made WAL file.
        let temporary = FileNames.walTemporary(number)
        var buffer = FileHeader(kind: .wal, number: number).encoded()
        let heads = state.withLock { s in s.machines.values.flatMap { $0.head.values } }
        ChecksummedFrame.append(heads.sorted(by: { $0.timestamp < $1.timestamp }), to: &buffer) { $0.encode(into: &$1) }
        let file: FileHandle
        do {
            // A failure up to the rename leaves the current WAL in charge: the checkpoint is
            // simply retried later (the temporary file is removed now or at the next open).
            file = try files.open(path(temporary), name: temporary, create: true)
            try file.truncate(to: 0)
            try file.write(buffer, at: 0)
        } catch {
            try? files.remove(path(temporary))
            throw error
        }
        do { try file.sync() } catch { throw fail(error, "the fsync of a new WAL file") }
        do {
            try files.rename(path(temporary), path(name))
        } catch {
            try? files.remove(path(temporary))
            throw error
        }
        do { try files.syncDirectory(path(FileNames.walDirectory)) } catch { throw fail(error, "the WAL directory fsync") }
        var next = manifest
        next.generation += 1
        next.walStart = number
        try writeManifest(next)
        manifest = next
        wal = FileHandle(file: file.file, name: name)
        walNumber = number
        walSize = Int64(buffer.count)
        walSizeAfterCheckpoint = walSize
        walDirty = false
        for old in (try? files.list(path(FileNames.walDirectory))) ?? [] {
            if let n = FileNames.parseWAL(old), n < number { try? files.remove(path(FileNames.walDirectory + "/" + old)) }
        }
        logger.debug("wal checkpointed", metadata: ["wal.number": "\(number)", "wal.records": "\(heads.count)"])
    }

    // MARK: Retention

    /// Deletes the partitions that ended before `horizon`; returns the segment ids removed.
    func dropPartitions(endingBefore horizon: Int64) throws -> [UInt32] {
        let doomed = manifest.segments.filter { manifest.partitionEnd(of: $0.partitionStart) <= horizon }
        // Unsealed records of expired partitions go too; the checkpoint below removes them (and
        // the dropped partitions' records) from the WAL, so that replay cannot bring them back.
        let headExpired = state.withLock { s in
            s.machines.values.contains { m in m.head.keys.contains { manifest.partitionEnd(of: manifest.partitionStart(of: $0)) <= horizon } }
        }
        guard !doomed.isEmpty || headExpired else { return [] }
        state.withLock { s in
            for key in Array(s.machines.keys) {
                s.machines[key]!.head = s.machines[key]!.head.filter { manifest.partitionEnd(of: manifest.partitionStart(of: $0.key)) > horizon }
            }
        }
        let ids = Set(doomed.map(\.id))
        var next = manifest
        next.generation += 1
        next.segments.removeAll { ids.contains($0.id) }
        try writeManifest(next)
        manifest = next
        state.withLock { s in
            for key in Array(s.machines.keys) {
                s.machines[key]!.removeBlocks { ids.contains($0.segment.id) }
                if s.machines[key]!.count == 0 { s.machines[key] = nil }
            }
        }
        for info in doomed {
            pendingIndexEntries[info.id] = nil
            segments[info.id] = nil
            segmentByPartition[info.partitionStart] = nil
            // Out of the manifest already: a file left behind is removed at the next open.
            do {
                try files.remove(path(FileNames.index(info.id)))
                try files.remove(path(FileNames.segment(info.id)))
            } catch {
                report(error, "removing an expired segment failed")
            }
            logger.info("partition dropped by retention", metadata: ["segment.id": "\(FileNames.segmentName(info.id))"])
        }
        do { try files.syncDirectory(path(FileNames.segmentDirectory)) } catch { throw fail(error, "the segment directory fsync") }
        blockTimestampCache.removeAll()
        try checkpoint()
        return doomed.map(\.id)
    }

    /// Writes a new manifest. If that fails, the disk may already hold it (the rename happened but
    /// the directory fsync failed) while memory does not: the store then accepts no more writes
    /// until it is reopened, as after a failed WAL fsync.
    func writeManifest(_ next: Manifest) throws {
        if let failure { throw failure }
        do {
            try next.write(to: directory, files: files)
        } catch {
            throw fail(error, "writing the manifest")
        }
    }

    /// Stops the writer after `error` in `what` (fail-stop) and returns the error to throw:
    /// code `store_failed`, naming the file and the cause. Later writes get the same error
    /// until the store is reopened; the first failure is kept.
    @discardableResult
    func fail(_ error: any Error, _ what: String) -> StorageError {
        if let failure { return failure }
        let cause = StorageError.wrap(error)
        let failure = StorageError(.storeFailed,
                                   "\(what) failed: \(cause.message); the store accepts no writes until it is reopened, which recovers everything acknowledged",
                                   file: cause.file, offset: cause.offset, cause: cause)
        self.failure = failure
        logger.critical("store.failed", metadata: ["error": "\(cause)", "store.directory": "\(directory)"])
        state.withLock {
            $0.failure = failure
            $0.report(failure)
        }
        return failure
    }

    func report(_ error: any Error, _ message: Logger.Message) {
        let storageError = error as? StorageError ?? StorageError(.io, "\(error)")
        logger.error(message, metadata: ["error": "\(storageError)"])
        state.withLock { $0.report(storageError) }
    }
}

/// What an append did.
public struct AppendResult: Sendable, Equatable {
    /// The id of every record passed, in order (a duplicate gets the id of the stored record).
    public var ids: [RecordID]
    /// How many of the records were already stored (and so were not stored again).
    public var duplicateCount: Int
}
