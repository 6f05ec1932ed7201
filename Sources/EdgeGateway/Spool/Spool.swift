// The edge gateway's disk spool. Format and recovery: Storage/Format/spool.md.
public import Logging
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
        engine = try SpoolEngine.open(configuration: configuration, logger: logger)
        syncInterval = configuration.syncInterval
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
    public func append(_ records: [TelemetryRecord]) throws(SpoolError) {
        try engine.append(records)
        if engine.pendingRecords > 0 { wakeWaiters() }
        scheduleSync()
    }

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
