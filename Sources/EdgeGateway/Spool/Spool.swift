// The edge gateway's disk spool. Format and recovery: Storage/Format/spool.md.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import DurableFiles
public import Logging
import NIOPosix
public import TelemetryModel

/// The edge gateway's disk spool: every record is written here before it is forwarded, and
/// stays until the server has acknowledged it.
///
/// Records are appended in order and get increasing sequences. A forwarder peeks the oldest
/// unacknowledged records, posts them, and acknowledges them through the last sequence the
/// server took. The spool is a directory of segment files (`Storage/Format/spool.md`); it
/// survives the gateway being killed (a write is in the page cache once `append` returns) and
/// replays the unacknowledged records, in order, when it is opened again. Damaged bytes are
/// reported and skipped, never trapped on. A record can be sent twice (the server stores
/// duplicates once); it is never lost while the spool has room.
///
/// ``appendDurably(_:)`` returns only once the records are also covered by an fdatasync, so
/// they survive a power cut: callers that append at the same time share one fdatasync (group
/// commit). A failed fsync makes the spool refuse every later write (``SpoolError/Code/failed``)
/// until it is reopened.
///
/// ```swift
/// let spool = try Spool(configuration: SpoolConfiguration(directory: "/var/lib/sinter-edge/spool"), logger: logger)
/// try await spool.append(records)                       // receiver side
///
/// while !Task.isCancelled {                             // forwarder side
///     await spool.waitForRecords()
///     let batch = try await spool.peek(maxRecords: 500)
///     guard let last = batch.last else { continue }
///     try await post(batch.map(\.record))
///     try await spool.acknowledge(through: last.sequence)
/// }
/// ```
public actor Spool {
    private let engine: SpoolEngine
    private let syncInterval: Duration
    private var lastSync = ContinuousClock.now
    private var syncTask: Task<Void, Never>?
    private var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
    private var nextWaiter = 0
    /// fdatasyncs `fd` and returns 0 or the errno; the default runs on NIO's blocking pool.
    private let syncer: Syncer
    /// A group-commit fdatasync is running (its caller leads; the others wait for it).
    private var syncing = false
    private var syncFollowers: [CheckedContinuation<Void, Never>] = []
    /// Group-commit fdatasyncs done, for tests.
    private(set) var groupSyncs = 0

    /// fdatasyncs a file off the actor and returns nil or the failure (the caller closes the file).
    typealias Syncer = @Sendable (_ file: any DurableFile) async -> FileError?

    /// Opens the spool in `configuration.directory`, creating it if needed, and recovers what
    /// a previous run left there.
    ///
    /// Takes an exclusive `flock` on the directory's `LOCK` file (a second opener, in this
    /// process or another, gets ``SpoolError/Code/locked``), truncates a torn tail, skips and
    /// reports damage (``problems``), and replays everything after the cursor.
    ///
    /// ```swift
    /// var configuration = SpoolConfiguration(directory: path)
    /// configuration.whenFull = .dropOldest
    /// let spool = try Spool(configuration: configuration, logger: Logger(label: "sinter.edge.spool"))
    /// ```
    public init(configuration: SpoolConfiguration, logger: Logger) throws(SpoolError) {
        try self.init(configuration: configuration, logger: logger, syncer: Self.blockingPoolSync)
    }

    /// Opens the spool with another fdatasync for group commits (tests count or fail them).
    init(configuration: SpoolConfiguration, logger: Logger, syncer: @escaping Syncer) throws(SpoolError) {
        engine = try SpoolEngine.open(configuration: configuration, logger: logger)
        syncInterval = configuration.syncInterval
        self.syncer = syncer
    }

    /// `fdatasync` (`fsync` on Darwin) on NIO's thread pool for blocking calls, so that the
    /// actor's callers and the cooperative threads go on meanwhile.
    static let blockingPoolSync: Syncer = { file in
        do {
            return try await NIOThreadPool.singleton.runIfActive { () -> FileError? in
                do throws(FileError) {
                    try file.sync()
                    return nil
                } catch {
                    return error
                }
            }
        } catch {
            return FileError(.sync, path: file.path, errno: EIO)
        }
    }

    /// Appends `records` in order, after every record appended before.
    ///
    /// All or nothing. Under ``SpoolFullPolicy/reject``, records that do not fit under
    /// `maximumBytes` are refused with ``SpoolError/Code/full`` (logged once per episode as
    /// `spool.full`, and `spool.accepting` once space is back). Under
    /// ``SpoolFullPolicy/dropOldest`` the oldest whole segments are deleted until they fit; their
    /// unacknowledged records count as dropped. An append larger than the whole spool is
    /// refused under both policies. A record that would not decode again (see
    /// ``SpoolError/Code/invalidRecord``) refuses the whole append.
    ///
    /// ```swift
    /// try await spool.append([record])
    /// ```
    /// - Returns: the sequence of the last record appended (of the newest record when
    ///   `records` is empty); pass it to ``waitUntilDurable(through:)``.
    @discardableResult
    public func append(_ records: [TelemetryRecord]) throws(SpoolError) -> UInt64 {
        try engine.append(records)
        if engine.pendingRecords > 0 { wakeWaiters() }
        scheduleSync()
        return engine.nextSequence &- 1
    }

    /// Appends `records` like ``append(_:)`` and returns once they are covered by an fdatasync.
    ///
    /// Calls that arrive together share one fdatasync (group commit): while one runs, later
    /// appends go to the page cache and wait for the next one, which covers all of them. A
    /// failed fdatasync throws ``SpoolError/Code/failed`` here and for every later write, until
    /// the spool is reopened; records it covered may be lost and must not be reported stored.
    ///
    /// ```swift
    /// try await spool.appendDurably(records)   // now they survive a power cut
    /// ```
    public func appendDurably(_ records: [TelemetryRecord]) async throws(SpoolError) {
        let last = try append(records)
        try await waitUntilDurable(through: last)
    }

    /// Returns once every record through `sequence` is covered by an fdatasync, running one
    /// (or waiting for the one that is running and then, if it started too early, the next).
    ///
    /// Throws ``SpoolError/Code/failed`` when an fdatasync failed before they were covered,
    /// and ``SpoolError/Code/closed`` when the spool was closed.
    ///
    /// ```swift
    /// let last = try await spool.append(records)
    /// try await spool.waitUntilDurable(through: last)
    /// ```
    public func waitUntilDurable(through sequence: UInt64) async throws(SpoolError) {
        while true {
            if sequence <= engine.syncedThrough { return }
            if let failure = engine.failure {
                throw SpoolError(.failed, "records through \(sequence) may be lost: \(failure.message)", file: failure.file)
            }
            if engine.isClosed { throw SpoolError(.closed, "the spool in \(engine.directory) is closed") }
            if syncing {
                await withCheckedContinuation { syncFollowers.append($0) }
                continue
            }
            // Lead a group commit: it covers everything appended until now.
            syncing = true
            defer {
                syncing = false
                let followers = syncFollowers
                syncFollowers = []
                for follower in followers { follower.resume() }
            }
            let target = try engine.prepareSync()
            var failure: SpoolError?
            if let file = target.file {
                let error = await syncer(file)
                file.close()
                if let error { failure = SpoolError.file(error, target.name) }
                groupSyncs += 1
            }
            engine.finishSync(through: target.through, failure: failure)
        }
    }

    /// Calls waiting for a group commit that another call leads (for tests).
    var syncFollowerCount: Int { syncFollowers.count }

    /// Up to `maxRecords` of the oldest unacknowledged records, in append order, not removed.
    ///
    /// Returns `[]` when there are none. Repeated calls return the same records until they are
    /// acknowledged. Recent records come from memory; older ones are read back from disk, and
    /// an entry found damaged there is reported and skipped.
    ///
    /// ```swift
    /// let batch = try await spool.peek(maxRecords: 500)
    /// ```
    public func peek(maxRecords: Int) throws(SpoolError) -> [SpooledRecord] {
        try engine.peek(maxRecords: maxRecords)
    }

    /// Marks every record through `sequence` delivered.
    ///
    /// Advances and writes the cursor, and deletes the segments whose records are all
    /// delivered. A sequence at or below the cursor (or of a dropped record) does nothing; one
    /// beyond the newest record acknowledges everything.
    ///
    /// ```swift
    /// try await spool.acknowledge(through: batch.last!.sequence)
    /// ```
    public func acknowledge(through sequence: UInt64) throws(SpoolError) {
        try engine.acknowledge(through: sequence)
    }

    /// Returns once there is an unacknowledged record, the spool is closed, or the task is
    /// cancelled.
    ///
    /// Returns at once if a record is already pending. It does not throw; check `peek`
    /// afterwards.
    ///
    /// ```swift
    /// await spool.waitForRecords()
    /// let batch = try await spool.peek(maxRecords: 500)
    /// ```
    public func waitForRecords() async {
        if engine.pendingRecords > 0 || engine.isClosed || Task.isCancelled { return }
        let id = nextWaiter
        nextWaiter += 1
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                if engine.pendingRecords > 0 || engine.isClosed || Task.isCancelled {
                    continuation.resume()
                } else {
                    waiters[id] = continuation
                }
            }
        } onCancel: {
            Task { await self.cancelWaiter(id) }
        }
    }

    /// How many calls of ``waitForRecords()`` are waiting (for tests).
    var waiterCount: Int { waiters.count }

    private func cancelWaiter(_ id: Int) {
        waiters.removeValue(forKey: id)?.resume()
    }

    private func wakeWaiters() {
        let woken = waiters.values
        waiters.removeAll()
        for continuation in woken { continuation.resume() }
    }

    /// Counts and sizes: pending, on disk, and what happened since open.
    ///
    /// A snapshot; it does not change after it is returned.
    ///
    /// ```swift
    /// let pending = await spool.status.pendingRecords
    /// ```
    public var status: SpoolStatus { engine.status }

    /// The damage found at open and since, oldest first (at most 100), each naming the
    /// segment and the offset.
    ///
    /// Codes are ``SpoolError/Code/corrupt`` (damaged entries, segment headers or cursor) and
    /// ``SpoolError/Code/unsupportedFormat`` (a segment of another format, set aside). The same
    /// errors are logged when found.
    ///
    /// ```swift
    /// for problem in await spool.problems { print(problem) }
    /// ```
    public var problems: [SpoolError] { engine.problems }

    /// fsyncs the active segment, makes the cursor durable and releases the lock.
    ///
    /// Later calls throw ``SpoolError/Code/closed``, and waiters return. Closing twice does
    /// nothing. Failures are logged.
    ///
    /// ```swift
    /// await spool.close()
    /// ```
    public func close() {
        syncTask?.cancel()
        syncTask = nil
        engine.close()
        wakeWaiters()
        let followers = syncFollowers
        syncFollowers = []
        for follower in followers { follower.resume() }
    }

    /// Schedules an fsync of the active segment `syncInterval` after the previous one.
    private func scheduleSync() {
        guard syncInterval > .zero, engine.unsynced, syncTask == nil else { return }
        let due = lastSync.advanced(by: syncInterval)
        syncTask = Task { [weak self] in
            try? await Task.sleep(until: due, clock: .continuous)
            await self?.runScheduledSync()
        }
    }

    private func runScheduledSync() {
        syncTask = nil
        guard !engine.isClosed else { return }
        engine.sync()
        lastSync = .now
    }
}
