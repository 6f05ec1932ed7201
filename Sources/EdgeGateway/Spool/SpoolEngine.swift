// The spool's state and its operations: Storage/Format/spool.md#writing,
// #reading-and-acknowledging and #space. `Spool` (an actor) owns one engine and adds waiting
// and scheduled fsyncs; open is in SpoolRecovery.swift.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import DurableFiles
import Logging
import TelemetryModel

/// The state of an open spool and every operation on it. Not thread-safe: its owner
/// serializes the calls.
final class SpoolEngine {
    /// A segment file and what the engine knows of it.
    struct Segment {
        let start: UInt64
        /// The file size.
        var size: Int
        /// Entries before this offset are delivered: acknowledged, dropped or lost.
        var readOffset: Int
        /// The sequence of the last entry before `readOffset`, if any (bounds the next one).
        var readPrevious: UInt64?
        /// The sequence of the last entry written.
        var lastSequence: UInt64?
        var pendingRecords = 0
        var pendingBytes = 0
        /// Stretches to step over when reading (damage found at open, undecodable entries),
        /// ascending.
        var skips: [Range<Int>] = []
        /// Reads stop here once an entry read back was found damaged.
        var readableEnd = Int.max

        var name: String { SpoolFiles.segment(start) }

        /// `offset`, moved past the skipped stretches it falls into.
        func skipping(_ offset: Int) -> Int {
            var result = offset
            for range in skips where range.contains(result) { result = range.upperBound }
            return result
        }

        /// Where the bytes that may still be read end.
        var end: Int { min(size, readableEnd) }
    }

    /// A recently appended record, kept decoded, and where its entry is.
    struct Cached {
        let sequence: UInt64
        let record: TelemetryRecord
        let size: Int
        let segment: UInt64
        let offset: Int
    }

    /// The newest pending records, oldest first; always a suffix of the pending records.
    struct RecordCache {
        private var items: [Cached] = []
        private var head = 0
        private(set) var bytes = 0

        var count: Int { items.count - head }
        var first: Cached? { head < items.count ? items[head] : nil }
        func prefix(_ n: Int) -> ArraySlice<Cached> { items[head..<min(items.count, head + max(0, n))] }

        mutating func append(_ item: Cached) {
            items.append(item)
            bytes += item.size
        }

        mutating func removeFirst() {
            guard head < items.count else { return }
            bytes -= items[head].size
            head += 1
            if head == items.count {
                items.removeAll(keepingCapacity: true)
                head = 0
            } else if head >= 4096 && head * 2 >= items.count {
                items.removeFirst(head)
                head = 0
            }
        }

        mutating func trim(to limit: Int) {
            while bytes > limit, count > 0 { removeFirst() }
        }

        /// The records and bytes cached from segment `start`.
        func count(inSegment start: UInt64) -> (records: Int, bytes: Int) {
            var records = 0, bytes = 0
            for item in items[head...] where item.segment == start {
                records += 1
                bytes += item.size
            }
            return (records, bytes)
        }
    }

    /// An entry that the last `peek` read from disk, so that `acknowledge` need not read it again.
    struct Peeked {
        let segment: UInt64
        let offset: Int
        let sequence: UInt64
        let size: Int
    }

    /// The front pending entry, as `acknowledge` consumes it.
    private struct Front {
        let sequence: UInt64
        let offset: Int
        let size: Int
        let cached: Bool
        let peeked: Bool
    }

    let directory: String
    let configuration: SpoolConfiguration
    /// The file system of every spool file (``SpoolConfiguration/fileSystem``).
    var fs: any DurableFileSystem { configuration.fileSystem }
    let logger: Logger
    private var lock: SpoolFile?

    var segments: [Segment] = []
    /// The write handle of `segments.last`, or nil: the next append starts a new segment.
    var activeFile: SpoolFile?
    /// A read handle on the segment being read, if it is not the active one.
    private var readHandle: (start: UInt64, file: SpoolFile)?
    var cache = RecordCache()
    private var peeked: [Peeked] = []
    private var peekedIndex = 0

    /// Every record at or below it is acknowledged, dropped or lost.
    var cursor: UInt64 = 0
    var nextSequence: UInt64 = 1
    var pendingRecords = 0
    var pendingBytes = 0
    var diskBytes = 0
    var appendedRecords = 0
    var acknowledgedRecords = 0
    var droppedRecords = 0
    var rejectedRecords = 0
    var recoveredRecords = 0
    var corruptEntries = 0
    var isFull = false
    /// Damage found at open and since, oldest first (at most `maximumProblems`).
    private(set) var problems: [SpoolError] = []
    static let maximumProblems = 100
    /// The active segment has data that was not fsynced yet.
    private(set) var unsynced = false
    private(set) var isClosed = false
    /// Every record through this sequence is covered by an fsync (or was there at open).
    var syncedThrough: UInt64 = 0
    /// Set by a failed fsync: the spool then refuses writes until it is reopened (fail-stop;
    /// a later fsync that succeeds proves nothing about the data of the failed one).
    private(set) var failure: SpoolError?

    init(directory: String, configuration: SpoolConfiguration, logger: Logger, lock: SpoolFile) {
        var configuration = configuration
        configuration.maximumBytes = max(0, configuration.maximumBytes)
        configuration.segmentBytes = max(0, configuration.segmentBytes)
        configuration.memoryBytes = max(0, configuration.memoryBytes)
        self.directory = directory
        self.configuration = configuration
        self.logger = logger
        self.lock = lock
    }

    deinit { closeFiles() }

    func path(_ name: String) -> String { SpoolFiles.path(directory, name) }

    var status: SpoolStatus {
        var status = SpoolStatus()
        status.pendingRecords = pendingRecords
        status.pendingBytes = pendingBytes
        status.diskBytes = diskBytes
        status.segments = segments.count
        status.appendedRecords = appendedRecords
        status.acknowledgedRecords = acknowledgedRecords
        status.droppedRecords = droppedRecords
        status.rejectedRecords = rejectedRecords
        status.recoveredRecords = recoveredRecords
        status.corruptEntries = corruptEntries
        status.isFull = isFull
        status.failure = failure?.message
        return status
    }

    private func checkOpen() throws(SpoolError) {
        if isClosed { throw SpoolError(.closed, "the spool in \(directory) is closed") }
    }

    /// Refuses writes after a failed fsync.
    private func checkWritable() throws(SpoolError) {
        try checkOpen()
        if let failure {
            throw SpoolError(.failed, "the spool in \(directory) refuses writes since an fsync failed (\(failure.message)); restart sinter-edge to reopen it",
                             file: failure.file)
        }
    }

    /// Marks the spool failed (fail-stop) and logs it once.
    func fail(_ error: SpoolError) {
        guard failure == nil else { return }
        failure = error
        logger.critical("spool.failed", metadata: ["spool.directory": "\(directory)", "error": "\(error)"])
    }

    /// What an fsync for durable appends must cover now: every record through `through`, and a
    /// duplicate of the active segment's descriptor to fsync off the caller's thread (nil when
    /// nothing is unsynced). Called by the owner, which then calls ``finishSync(through:failure:)``.
    func prepareSync() throws(SpoolError) -> (file: (any DurableFile)?, name: String, through: UInt64) {
        try checkWritable()
        let through = nextSequence &- 1
        guard unsynced, let active = activeFile else { return (nil, "", through) }
        do throws(FileError) {
            return (try active.file.duplicate(), active.name, through)
        } catch {
            let failure = SpoolError.file(error, active.name)
            fail(failure)
            throw failure
        }
    }

    /// Records the outcome of an fsync prepared with ``prepareSync()``.
    func finishSync(through: UInt64, failure error: SpoolError?) {
        if let error {
            fail(error)
            return
        }
        syncedThrough = max(syncedThrough, through)
        if through == nextSequence &- 1 { unsynced = false }
    }

    /// Counts a damaged entry or file, keeps the error and logs it.
    func report(_ error: SpoolError, event: Logger.Message = "spool.corrupt_entry", lostRecords: Int? = nil) {
        corruptEntries += 1
        if problems.count < Self.maximumProblems { problems.append(error) }
        var metadata: Logger.Metadata = ["spool.directory": "\(directory)", "error": "\(error)"]
        if let file = error.file { metadata["segment"] = "\(file)" }
        if let offset = error.offset { metadata["offset"] = "\(offset)" }
        if let lostRecords { metadata["records.lost"] = "\(lostRecords)" }
        logger.error(event, metadata: metadata)
    }

    func keepProblem(_ error: SpoolError) {
        if problems.count < Self.maximumProblems { problems.append(error) }
    }

    // MARK: Append

    /// The groups of entries an append writes, one per segment it touches.
    struct Plan {
        struct Group {
            var records: Range<Int>
            var bytes: Range<Int>
            var newSegment: Bool
        }
        var groups: [Group] = []
        /// Bytes added to the segment files, headers of new segments included.
        var total = 0
    }

    /// Splits entries of `sizes` into segments: a new one starts before an entry when the
    /// current one holds `segmentBytes` or more, or there is none (`activeSize` nil).
    static func plan(_ sizes: [Int], activeSize: Int?, segmentBytes: Int) -> Plan {
        var plan = Plan()
        var current = activeSize
        var byte = 0
        for (index, size) in sizes.enumerated() {
            if current == nil || current! >= segmentBytes {
                plan.groups.append(.init(records: index..<index, bytes: byte..<byte, newSegment: true))
                current = SpoolFileHeader.size
                plan.total += SpoolFileHeader.size
            } else if plan.groups.isEmpty {
                plan.groups.append(.init(records: index..<index, bytes: byte..<byte, newSegment: false))
            }
            let last = plan.groups.count - 1
            plan.groups[last].records = plan.groups[last].records.lowerBound..<(index + 1)
            plan.groups[last].bytes = plan.groups[last].bytes.lowerBound..<(byte + size)
            current! += size
            plan.total += size
            byte += size
        }
        return plan
    }

    private func currentPlan(_ sizes: [Int]) -> Plan {
        Self.plan(sizes, activeSize: activeFile == nil ? nil : segments.last?.size, segmentBytes: configuration.segmentBytes)
    }

    /// Refuses a record that would not decode again after a restart.
    static func validate(_ record: TelemetryRecord, index: Int) throws(SpoolError) {
        var checked = record
        for name in ChannelName.frameStatistics { checked.channels[name] = nil }
        do {
            try checked.validate()
        } catch {
            throw SpoolError(.invalidRecord, "record \(index) (\(record.id)) cannot be spooled: \(error.message) [\(error.field)]")
        }
        if let frame = record.frame, frame.values.count != frame.width * frame.height {
            throw SpoolError(.invalidRecord,
                             "record \(index) (\(record.id)) cannot be spooled: its \(frame.width) x \(frame.height) frame has \(frame.values.count) values")
        }
    }

    func append(_ records: [TelemetryRecord]) throws(SpoolError) {
        try checkWritable()
        guard !records.isEmpty else { return }
        for (index, record) in records.enumerated() { try Self.validate(record, index: index) }

        var buffer: [UInt8] = []
        var sizes: [Int] = []
        sizes.reserveCapacity(records.count)
        for (index, record) in records.enumerated() {
            let size = SpoolEntry.append(record, sequence: nextSequence &+ UInt64(index), to: &buffer)
            guard size - 8 <= SpoolEntry.maximumLength else {
                throw SpoolError(.invalidRecord, "record \(index) (\(record.id)) encodes to \(size) bytes, over the spool's \(SpoolEntry.maximumLength)-byte entry limit")
            }
            sizes.append(size)
        }

        let alone = Self.plan(sizes, activeSize: nil, segmentBytes: configuration.segmentBytes).total
        guard alone <= configuration.maximumBytes else {
            throw refuse(records.count, SpoolError(.full,
                "an append of \(records.count) records needs \(alone) bytes, more than the whole spool (\(configuration.maximumBytes) bytes, --spool-max-mb); it was refused"))
        }
        var plan = currentPlan(sizes)
        var dropped = false
        while diskBytes + plan.total > configuration.maximumBytes {
            if segments.first?.pendingRecords == 0 {
                // Delivered bytes kept in the active segment: reclaiming them loses nothing.
                try removeOldestSegments(1, dropping: false)
            } else if configuration.whenFull == .reject {
                throw refuse(records.count, SpoolError(.full,
                    "spool is full (\(configuration.maximumBytes) bytes, --spool-max-mb); records are refused until the server takes some"))
            } else {
                try removeOldestSegments(1, dropping: true)
                dropped = true
            }
            plan = currentPlan(sizes)
        }

        let created = try write(plan, buffer)
        commit(records, sizes: sizes, plan: plan, created: created, bytes: buffer.count)
        if dropped {
            beginFullEpisode(
                "spool is full (\(configuration.maximumBytes) bytes, --spool-max-mb); the oldest records are dropped to make room")
        } else if configuration.whenFull == .reject {
            endFullEpisode()    // under drop-oldest the spool stays at its limit until space is freed
        }
        removeDeliveredSegments()
    }

    /// Counts a refused append and starts a full episode; returns the error to throw.
    private func refuse(_ count: Int, _ error: SpoolError) -> SpoolError {
        rejectedRecords += count
        beginFullEpisode(error.message)
        return error
    }

    private func beginFullEpisode(_ message: String) {
        guard !isFull else { return }
        isFull = true
        logger.warning("spool.full", metadata: [
            "spool.directory": "\(directory)", "message": "\(message)", "policy": "\(configuration.whenFull.rawValue)",
            "bytes.disk": "\(diskBytes)", "records.pending": "\(pendingRecords)",
        ])
    }

    private func endFullEpisode() {
        guard isFull else { return }
        isFull = false
        logger.notice("spool.accepting", metadata: [
            "spool.directory": "\(directory)", "bytes.disk": "\(diskBytes)", "records.pending": "\(pendingRecords)",
        ])
    }

    /// Writes the groups of `plan`; on failure cuts every touched file back and throws.
    /// Returns the segments it created.
    private func write(_ plan: Plan, _ buffer: [UInt8]) throws(SpoolError) -> [SpoolFile] {
        var created: [SpoolFile] = []
        let previousSize = activeFile == nil ? nil : segments.last?.size
        var lastWritten = activeFile
        do throws(SpoolError) {
            for group in plan.groups {
                if group.newSegment {
                    if let previous = lastWritten { syncLogging(previous) }
                    let start = nextSequence &+ UInt64(group.records.lowerBound)
                    let file = try SpoolSegment.create(directory: directory, start: start, fileSystem: fs)
                    created.append(file)
                    try file.write(buffer, range: group.bytes, at: SpoolFileHeader.size)
                    do throws(SpoolError) { try SpoolFileSystem.syncDirectory(directory, fileSystem: fs) } catch {
                        logger.error("spool.sync_failed", metadata: ["spool.directory": "\(directory)", "error": "\(error)"])
                        fail(error)
                        throw error
                    }
                    lastWritten = file
                } else if let active = activeFile, let size = previousSize {
                    try active.write(buffer, range: group.bytes, at: size)
                }
            }
        } catch {
            if let active = activeFile, let size = previousSize { try? active.truncate(to: size) }
            for file in created {
                file.close()
                try? SpoolFileSystem.remove(path(file.name), name: file.name, fileSystem: fs)
            }
            throw error
        }
        return created
    }

    private func commit(_ records: [TelemetryRecord], sizes: [Int], plan: Plan, created: [SpoolFile], bytes: Int) {
        var createdIndex = 0
        for group in plan.groups {
            if group.newSegment {
                let start = nextSequence &+ UInt64(group.records.lowerBound)
                segments.append(Segment(start: start, size: SpoolFileHeader.size, readOffset: SpoolFileHeader.size))
                diskBytes += SpoolFileHeader.size
                activeFile?.close()
                activeFile = created[createdIndex]
                createdIndex += 1
            }
            let last = segments.count - 1
            var offset = segments[last].size
            for index in group.records {
                let sequence = nextSequence &+ UInt64(index)
                cache.append(Cached(sequence: sequence, record: records[index], size: sizes[index],
                                    segment: segments[last].start, offset: offset))
                offset += sizes[index]
            }
            segments[last].size = offset
            segments[last].lastSequence = nextSequence &+ UInt64(group.records.upperBound - 1)
            segments[last].pendingRecords += group.records.count
            segments[last].pendingBytes += group.bytes.count
            diskBytes += group.bytes.count
        }
        nextSequence &+= UInt64(records.count)
        pendingRecords += records.count
        pendingBytes += bytes
        appendedRecords += records.count
        unsynced = true
        cache.trim(to: configuration.memoryBytes)
    }

    // MARK: Removing segments

    /// Deletes the `count` oldest segments. The cursor is first moved past their entries and
    /// made durable. With `dropping`, their pending records count as dropped; otherwise they
    /// have none.
    private func removeOldestSegments(_ count: Int, dropping: Bool) throws(SpoolError) {
        guard count > 0, count <= segments.count else { return }
        let through = count < segments.count ? segments[count].start &- 1 : nextSequence &- 1
        let newCursor = max(cursor, through)
        try SpoolCursor.write(newCursor, directory: directory, durable: true, fileSystem: fs)
        cursor = newCursor
        for _ in 0..<count {
            let segment = segments[0]
            if readHandle?.start == segment.start {
                readHandle?.file.close()
                readHandle = nil
            }
            if segments.count == 1 {
                activeFile?.close()
                activeFile = nil
                unsynced = false
            }
            try SpoolFileSystem.remove(path(segment.name), name: segment.name, fileSystem: fs)
            segments.removeFirst()
            diskBytes -= segment.size
            pendingRecords -= segment.pendingRecords
            pendingBytes -= segment.pendingBytes
            if dropping {
                droppedRecords += segment.pendingRecords
                logger.warning("spool.dropped", metadata: [
                    "spool.directory": "\(directory)", "segment": "\(segment.name)",
                    "records.dropped": "\(segment.pendingRecords)", "bytes.dropped": "\(segment.pendingBytes)",
                    "records.dropped_total": "\(droppedRecords)",
                ])
            }
            while let first = cache.first, first.segment == segment.start { cache.removeFirst() }
        }
        peeked = []
        peekedIndex = 0
    }

    /// Deletes the leading segments that hold no pending record, except an active segment
    /// that still has room. Failures are logged; the next acknowledgement tries again.
    /// A fully delivered active segment is deleted once it holds this many bytes (or the
    /// configured segment size, if smaller), so that forwarded records do not wait on disk for
    /// the segment to fill; below it the segment is kept to spare a file creation per append.
    static let retireDeliveredActiveBytes = 1 << 20

    private func removeDeliveredSegments() {
        var count = 0
        for (index, segment) in segments.enumerated() {
            guard segment.pendingRecords == 0 else { break }
            let retireAt = min(configuration.segmentBytes, Self.retireDeliveredActiveBytes)
            let isKeptActive = index == segments.count - 1 && activeFile != nil && segment.size < retireAt
            if isKeptActive { break }
            count += 1
        }
        guard count > 0 else { return }
        do throws(SpoolError) {
            try removeOldestSegments(count, dropping: false)
        } catch {
            logger.error("spool.delete_failed", metadata: ["spool.directory": "\(directory)", "error": "\(error)"])
        }
    }

    // MARK: Reading

    /// A handle to read `segment` with.
    private func file(for segment: Segment) throws(SpoolError) -> SpoolFile {
        if let active = activeFile, segment.start == segments.last?.start { return active }
        if let handle = readHandle, handle.start == segment.start { return handle.file }
        readHandle?.file.close()
        readHandle = nil
        let file = try SpoolFile.open(path(segment.name), name: segment.name, fileSystem: fs)
        readHandle = (segment.start, file)
        return file
    }

    private func bounds(_ index: Int, previous: UInt64?) -> Range<UInt64> {
        SpoolEntry.sequenceBounds(start: segments[index].start, previous: previous,
                                  limit: index + 1 < segments.count ? segments[index + 1].start : nextSequence)
    }

    func peek(maxRecords: Int) throws(SpoolError) -> [SpooledRecord] {
        try checkOpen()
        guard maxRecords > 0, pendingRecords > 0 else { return [] }
        var result: [SpooledRecord] = []
        peeked = []
        peekedIndex = 0
        var index = segments.firstIndex { $0.pendingRecords > 0 } ?? segments.count
        var offset = index < segments.count ? segments[index].readOffset : 0
        var previous = index < segments.count ? segments[index].readPrevious : nil
        var walked = 0, walkedBytes = 0
        // The first `pendingRecords - cache.count` pending records are on disk only.
        while result.count < maxRecords, pendingRecords - cache.count - result.count > 0, index < segments.count {
            offset = segments[index].skipping(offset)
            if offset >= segments[index].end || segments[index].pendingRecords == 0 {
                index += 1
                if index < segments.count {
                    offset = segments[index].readOffset
                    previous = segments[index].readPrevious
                    walked = 0
                    walkedBytes = 0
                }
                continue
            }
            let file = try file(for: segments[index])
            switch try SpoolSegment.readEntry(file, at: offset, end: segments[index].end,
                                              bounds: bounds(index, previous: previous), decode: true) {
            case .entry(let sequence, let size, let record):
                if let record { result.append(SpooledRecord(sequence: sequence, record: record)) }
                peeked.append(Peeked(segment: segments[index].start, offset: offset, sequence: sequence, size: size))
                offset += size
                previous = sequence
                walked += 1
                walkedBytes += size
            case .undecodable(_, let size, let reason):
                let segment = segments[index]
                let position = segment.skips.firstIndex { $0.lowerBound > offset } ?? segment.skips.count
                segments[index].skips.insert(offset..<(offset + size), at: position)
                segments[index].pendingRecords -= 1
                segments[index].pendingBytes -= size
                pendingRecords -= 1
                pendingBytes -= size
                report(SpoolError(.corrupt, "undecodable entry in segment \(SpoolFiles.digits(segment.start)) at offset \(offset) (\(reason))",
                                  file: segment.name, offset: offset), lostRecords: 1)
                offset += size
            case .damaged(let reason):
                loseRest(of: index, at: offset, walked: walked, walkedBytes: walkedBytes, reason: reason)
            }
        }
        for item in cache.prefix(maxRecords - result.count) {
            result.append(SpooledRecord(sequence: item.sequence, record: item.record))
        }
        return result
    }

    /// An entry read back from segment `index` at `offset` is damaged: its length cannot be
    /// trusted, so the pending records after it on disk in that segment are lost (those still
    /// in memory are kept).
    private func loseRest(of index: Int, at offset: Int, walked: Int, walkedBytes: Int, reason: String) {
        let segment = segments[index]
        let cached = cache.count(inSegment: segment.start)
        let lost = max(0, segment.pendingRecords - walked - cached.records)
        let lostBytes = max(0, segment.pendingBytes - walkedBytes - cached.bytes)
        segments[index].readableEnd = min(segment.readableEnd, offset)
        segments[index].pendingRecords -= lost
        segments[index].pendingBytes -= lostBytes
        pendingRecords -= lost
        pendingBytes -= lostBytes
        if index == segments.count - 1, let active = activeFile {
            // Appends must not land behind the damage, where no read reaches them.
            syncLogging(active)
            active.close()
            activeFile = nil
            unsynced = false
        }
        report(SpoolError(.corrupt,
                          "\(reason) in segment \(SpoolFiles.digits(segment.start)) at offset \(offset); the \(lost) records after it in this segment are lost",
                          file: segment.name, offset: offset), lostRecords: lost)
    }

    // MARK: Acknowledge

    func acknowledge(through sequence: UInt64) throws(SpoolError) {
        try checkOpen()
        let target = min(sequence, nextSequence &- 1)
        guard target > cursor else { return }
        var delivered = 0
        while pendingRecords > 0, let index = segments.firstIndex(where: { $0.pendingRecords > 0 }) {
            if let last = segments[index].lastSequence, last <= target {
                delivered += segments[index].pendingRecords
                deliverAll(index)
                continue
            }
            guard let front = try front(index) else { continue }
            guard front.sequence <= target else { break }
            segments[index].readOffset = front.offset + front.size
            segments[index].readPrevious = front.sequence
            segments[index].skips.removeAll { $0.upperBound <= front.offset + front.size }
            segments[index].pendingRecords -= 1
            segments[index].pendingBytes -= front.size
            pendingRecords -= 1
            pendingBytes -= front.size
            if front.cached { cache.removeFirst() }
            if front.peeked { peekedIndex += 1 }
            delivered += 1
        }
        acknowledgedRecords += delivered
        cursor = target
        let before = segments.count
        removeDeliveredSegments()
        if segments.count < before || segments.first?.pendingRecords == 0 {
            endFullEpisode()    // space was freed, or can be reclaimed by the next append
        }
        if segments.count == before {
            try SpoolCursor.write(cursor, directory: directory, durable: false, fileSystem: fs)
        }
    }

    /// Marks every pending record of segment `index` delivered.
    private func deliverAll(_ index: Int) {
        let segment = segments[index]
        pendingRecords -= segment.pendingRecords
        pendingBytes -= segment.pendingBytes
        segments[index].pendingRecords = 0
        segments[index].pendingBytes = 0
        segments[index].readOffset = segment.size
        segments[index].readPrevious = segment.lastSequence
        segments[index].skips = []
        while let first = cache.first, first.segment == segment.start { cache.removeFirst() }
        while peekedIndex < peeked.count, peeked[peekedIndex].segment == segment.start { peekedIndex += 1 }
    }

    /// The oldest pending entry, in segment `index`; nil if reading it found damage (which
    /// changed the pending records).
    private func front(_ index: Int) throws(SpoolError) -> Front? {
        if pendingRecords == cache.count, let first = cache.first {
            return Front(sequence: first.sequence, offset: first.offset, size: first.size, cached: true, peeked: false)
        }
        let segment = segments[index]
        let offset = segment.skipping(segment.readOffset)
        if peekedIndex < peeked.count, peeked[peekedIndex].segment == segment.start, peeked[peekedIndex].offset == offset {
            let entry = peeked[peekedIndex]
            return Front(sequence: entry.sequence, offset: offset, size: entry.size, cached: false, peeked: true)
        }
        switch try SpoolSegment.readEntry(try file(for: segment), at: offset, end: segment.end,
                                          bounds: bounds(index, previous: segment.readPrevious), decode: false) {
        case .entry(let sequence, let size, _), .undecodable(let sequence, let size, _):
            return Front(sequence: sequence, offset: offset, size: size, cached: false, peeked: false)
        case .damaged(let reason):
            loseRest(of: index, at: offset, walked: 0, walkedBytes: 0, reason: reason)
            return nil
        }
    }

    // MARK: Sync and close

    /// fsyncs the active segment if it has unsynced data; failures are logged.
    func sync() {
        guard unsynced, let active = activeFile else { return }
        syncLogging(active)
        unsynced = false
    }

    /// fsyncs `file`, which holds every record appended so far that is not yet synced; a
    /// failure is logged and makes the spool fail-stop.
    private func syncLogging(_ file: SpoolFile) {
        guard failure == nil else { return }
        do throws(SpoolError) {
            try file.sync()
            syncedThrough = max(syncedThrough, nextSequence &- 1)
        } catch {
            logger.error("spool.sync_failed", metadata: ["spool.directory": "\(directory)", "error": "\(error)"])
            fail(error)
        }
    }

    /// fsyncs, makes the cursor durable and releases the lock. Failures are logged.
    func close() {
        guard !isClosed else { return }
        sync()
        do throws(SpoolError) {
            try SpoolCursor.write(cursor, directory: directory, durable: true, fileSystem: fs)
        } catch {
            logger.error("spool.cursor_write_failed", metadata: ["spool.directory": "\(directory)", "error": "\(error)"])
        }
        isClosed = true
        closeFiles()
        logger.info("spool.closed", metadata: [
            "spool.directory": "\(directory)", "records.pending": "\(pendingRecords)", "sequence.cursor": "\(cursor)",
        ])
    }

    private func closeFiles() {
        activeFile?.close()
        activeFile = nil
        readHandle?.file.close()
        readHandle = nil
        lock?.close()
        lock = nil
    }
}
