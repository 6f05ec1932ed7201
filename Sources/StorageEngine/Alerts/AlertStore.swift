// The durable alert store: raise, acknowledge, resolve, query; one append-only log file.
// Format: Storage/Format/alerts.md.
public import Logging
package import DurableFiles
import Synchronization
public import TelemetryModel

/// The alerts of a fleet and their lifecycle (raise → acknowledge → resolve), kept durably in
/// `alerts.log` in a store directory.
///
/// Every change is appended to the log as one CRC-32C-checksummed entry and fsynced before the
/// method returns, so an acknowledged change survives a crash or a power failure. Opening
/// replays the log: a torn last entry (a write a crash interrupted) is cut off, and damage in
/// the middle is skipped and listed in ``problems``. Raising is idempotent: while an alert of
/// the same machine and rule is unresolved, ``raise(_:)`` returns it instead of creating
/// another (updated in place if the severity, message or details changed), so detectors can
/// raise on every tick and clients can retry. All methods are thread-safe; reads never wait for
/// an fsync. Changes are synchronous and block for one fsync (alerts are rare).
///
/// The store lives next to a ``TelemetryStore`` in the same directory but does not need one:
/// it takes its own lock, `alerts.lock`, so a second process (or a second `AlertStore` in this
/// one) that opens the same directory fails with `locked`.
///
/// ```swift
/// let alerts = try AlertStore.open(at: "Storage/data")
/// let (alert, created) = try alerts.raise(NewAlert(machineID: try MachineID("fdm-01"), rule: Alert.Rule.filamentJam,
///                                                  severity: .warning, message: "filament flow low for 30 s"))
/// _ = try alerts.raise(NewAlert(machineID: alert.machineID, rule: alert.rule,
///                               severity: .critical, message: "no filament flow for 60 s"))   // the same alert, updated
/// _ = try alerts.acknowledge(id: alert.id, by: "jane", note: "clearing the nozzle")
/// _ = try alerts.resolve(id: alert.id, by: "jane")
/// let open = alerts.alerts(active: true)
/// alerts.close()
/// ```
public final class AlertStore: Sendable {
    /// The store directory.
    public let directory: String
    let logger: Logger
    let now: @Sendable () -> Timestamp
    let lockFile: FileHandle
    /// What readers see. Taken briefly; never held across I/O.
    let table: Mutex<AlertTable>
    /// The writing side. Held for a whole change (decide, write, fsync, publish, notify), so
    /// changes are serialized and the observer sees them in log order.
    let log: Mutex<LogWriter>

    struct LogWriter: Sendable {
        /// nil once the store is closed.
        var file: FileHandle?
        /// Where the next entry goes.
        var size: Int64
        var nextID: UInt64
        /// Set when an fsync failed: the log's state on disk is unknown, so no more changes are accepted.
        var failure: StorageError?
        var observer: (@Sendable (Alert) -> Void)?
    }

    private init(directory: String, logger: Logger, now: @escaping @Sendable () -> Timestamp, lockFile: FileHandle,
                 table: sending AlertTable, log: sending LogWriter) {
        self.directory = directory
        self.logger = logger
        self.now = now
        self.lockFile = lockFile
        self.table = Mutex(table)
        self.log = Mutex(log)
    }

    /// Opens the alert store in `directory`, creating the directory and an empty log if needed,
    /// and rebuilds every alert from the log.
    ///
    /// A torn last entry (a write a crash interrupted, never acknowledged) is cut off and
    /// logged. A damaged entry in the middle (CRC mismatch, bad length, undecodable) is skipped,
    /// the entries after it are read, and each damaged stretch is listed in ``problems``
    /// ("CRC mismatch or bad length (57 bytes skipped) in alerts.log at offset 8192"). Opening
    /// fails only when the log cannot be trusted at all or is not this build's: a damaged file
    /// header (`corrupt_block`), another file kind or format version (`unsupported_format`),
    /// another holder of `alerts.lock` (`locked`), or an I/O error (`io`).
    ///
    /// ```swift
    /// let alerts = try AlertStore.open(at: dir, now: { clock.now })   // an injected clock for tests
    /// for problem in alerts.problems { print(problem) }
    /// ```
    ///
    /// - Parameters:
    ///   - directory: the store directory (usually the ``TelemetryStore``'s).
    ///   - logger: where opening, changes and damage are logged.
    ///   - now: the clock for `raisedAt` (when the caller gives none), `acknowledgedAt` and `resolvedAt`.
    public static func open(at directory: String, logger: Logger = Logger(label: "sinter.alerts"),
                            now: @escaping @Sendable () -> Timestamp = { Timestamp.now }) throws(StorageError) -> AlertStore {
        try open(at: directory, logger: logger, now: now, fileSystem: PosixFileSystem())
    }

    /// Opens the alert store on `fileSystem` (tests pass a fault-injecting one).
    package static func open(at directory: String, logger: Logger = Logger(label: "sinter.alerts"),
                             now: @escaping @Sendable () -> Timestamp = { Timestamp.now },
                             fileSystem: any DurableFileSystem) throws(StorageError) -> AlertStore {
        do {
            return try openLog(at: directory, logger: logger, now: now, files: StoreFiles(fileSystem))
        } catch {
            throw StorageError.wrap(error)
        }
    }

    private static func openLog(at directory: String, logger: Logger, now: @escaping @Sendable () -> Timestamp,
                                files: StoreFiles) throws -> AlertStore {
        let started = monotonicNanoseconds()
        try files.makeDirectories(directory)
        let lockFile = try files.open(directory + "/" + FileNames.alertLock, name: FileNames.alertLock, create: true)
        guard lockFile.lockExclusive() else {
            throw StorageError(.locked, "the alert store in \(directory) is already open (\(FileNames.alertLock) is locked)",
                               file: FileNames.alertLock)
        }
        let path = directory + "/" + FileNames.alertLog
        try files.remove(directory + "/" + FileNames.alertLogTemporary)
        if !files.exists(path) { try AlertLogFile.create(in: directory, files: files) }
        let file = try files.open(path, name: FileNames.alertLog, create: false)
        let bytes = try file.read(at: 0, count: Int(try file.size))
        let contents: AlertLogFile.Contents
        do {
            contents = try AlertLogFile.read(bytes)
        } catch var error as StorageError where error.code != .io {
            // Only the 24-byte header can fail the read. Nothing is rewritten: the file is evidence.
            error.message += " (the alert store does not open until \(FileNames.alertLog) is repaired or moved aside; it then starts empty)"
            throw error
        }

        var table = AlertTable()
        var problems = contents.problems.map { (offset: Int($0.offset ?? 0), error: $0) }
        var maxID: UInt64 = 0
        for (event, offset) in contents.events {
            maxID = max(maxID, event.id.rawValue)
            let reason: String
            switch table.apply(event) {
            case .applied, .unchanged: continue
            case .unknownAlert: reason = "entry for alert \(event.id), which is not in the log (its raise was lost to damage),"
            case .duplicateID: reason = "second raise of alert \(event.id) (the first was kept)"
            }
            problems.append((offset, StorageError(.corruptLog, "\(reason) in \(FileNames.alertLog) at offset \(offset)",
                                                  file: FileNames.alertLog, offset: Int64(offset))))
        }
        table.problems = problems.sorted { $0.offset < $1.offset }.map(\.error)
        for problem in table.problems {
            logger.error("alert log damaged", metadata: ["error": "\(problem)"])
        }
        if contents.tornTail {
            // A write a crash interrupted: it was never acknowledged. Cut it off so that new
            // entries follow the last whole one.
            logger.info("discarding torn alert log tail", metadata: [
                "offset": "\(contents.end)", "bytes": "\(contents.size - contents.end)",
            ])
            try file.truncate(to: Int64(contents.end))
            try file.sync()
        }
        // Ids are never reused: not those of alerts whose raise was lost or did not decode, nor
        // those below the header's floor. An id of UInt64.max (only a crafted file has one)
        // leaves nothing to assign, and raises then fail.
        let highest = max(maxID, contents.highestUndecodableID)
        let nextID = max(1, contents.nextIDFloor, highest == .max ? .max : highest + 1)
        let (count, unresolved) = (table.count, table.unresolvedCount)
        let store = AlertStore(directory: directory, logger: logger, now: now, lockFile: lockFile, table: table,
                               log: LogWriter(file: file, size: Int64(contents.end), nextID: nextID))
        logger.info("alert store opened", metadata: [
            "store.directory": "\(directory)", "alerts.count": "\(count)", "alerts.unresolved": "\(unresolved)",
            "open.ms": "\(Double(monotonicNanoseconds() - started) / 1e6)",
        ])
        return store
    }

    // MARK: Changing

    /// Raises an alert, or returns the unresolved one of the same machine and rule, updated if
    /// the condition changed.
    ///
    /// Validates `alert` first (a ``ModelError`` naming `rule`, `message` or `details`). If an
    /// alert of the same machine and rule is active or acknowledged, it is returned with
    /// `created == false`:
    ///
    /// * if `alert`'s severity, message and details are those the open alert has now, it is
    ///   returned unchanged and nothing is written: a detector may raise on every tick, and a
    ///   client may retry;
    /// * otherwise the open alert is **updated**: it takes `alert`'s severity, message and details
    ///   (all of them; details are replaced, not merged), `updatedAt` becomes `alert.raisedAt` or
    ///   the clock, and `updates` grows by one. Its id, state (an acknowledged alert stays
    ///   acknowledged), `raisedAt` and acknowledgement are kept. The update is durable when this
    ///   returns, and the observer is told.
    ///
    /// Otherwise a new alert (state `active`, the next id, `raisedAt` from `alert` or the clock)
    /// is made durable and returned with `created == true`. Once that alert is resolved, it is
    /// never updated again: the next raise of the same machine and rule creates a new one.
    ///
    /// ```swift
    /// let (alert, created) = try alerts.raise(NewAlert(machineID: id, rule: Alert.Rule.predictiveOverheat,
    ///                                                  severity: .warning, message: "nozzle 248 °C and rising",
    ///                                                  details: ["nozzle_temp_c": 248]))
    /// let (worse, _) = try alerts.raise(NewAlert(machineID: id, rule: Alert.Rule.predictiveOverheat,
    ///                                            severity: .critical, message: "nozzle 262 °C and rising",
    ///                                            details: ["nozzle_temp_c": 262]))
    /// // worse.id == alert.id, worse.severity == .critical, worse.updates == 1
    /// ```
    ///
    /// Throws ``StorageError`` `closed` after ``close()``, and `io` if the write or the fsync
    /// fails (after a failed fsync the store refuses every further change until it is reopened).
    public func raise(_ alert: NewAlert) throws -> (alert: Alert, created: Bool) {
        try alert.validate()
        return try log.withLock { log in
            try Self.checkWritable(log)
            if let existing = table.withLock({ $0.unresolvedAlert(machine: alert.machineID, rule: alert.rule) }) {
                guard existing.severity != alert.severity || existing.message != alert.message
                    || existing.details != alert.details else {
                    return (existing, false)
                }
                let updated = try commit(.updated(id: existing.id, at: alert.raisedAt ?? now(), severity: alert.severity,
                                                  message: alert.message, details: alert.details), log: &log)
                logger.info("alert updated", metadata: [
                    "alert.id": "\(updated.id)", "machine.id": "\(updated.machineID)", "alert.rule": "\(updated.rule)",
                    "alert.severity": "\(updated.severity.rawValue)", "alert.updates": "\(updated.updates)",
                ])
                return (updated, false)
            }
            guard log.nextID < .max else {
                throw StorageError(.corruptLog, "\(FileNames.alertLog) has used up every alert id", file: FileNames.alertLog)
            }
            let new = Alert(id: AlertID(rawValue: log.nextID), machineID: alert.machineID, rule: alert.rule,
                            severity: alert.severity, message: alert.message, raisedAt: alert.raisedAt ?? now(),
                            details: alert.details)
            let stored = try commit(.raised(new), log: &log)
            log.nextID += 1
            logger.info("alert raised", metadata: [
                "alert.id": "\(new.id)", "machine.id": "\(new.machineID)", "alert.rule": "\(new.rule)",
                "alert.severity": "\(new.severity.rawValue)",
            ])
            return (stored, true)
        }
    }

    /// Acknowledges an active alert: someone has seen it.
    ///
    /// Sets the state to `acknowledged`, `acknowledgedAt` to the clock, `acknowledgedBy` to `by`
    /// and, if given, `note`; the change is durable when this returns. Acknowledging an alert that
    /// is already acknowledged returns it unchanged (retries are safe; the first `by` and `note`
    /// stay).
    ///
    /// ```swift
    /// let alert = try alerts.acknowledge(id: id, by: "jane", note: "on my way")
    /// ```
    ///
    /// Throws a ``ModelError`` for a `by` that is empty or over 128 bytes (field `by`) or a
    /// `note` over 1024 bytes (field `note`), and a ``StorageError``: `not_found` for an unknown
    /// id, `conflict` if the alert is resolved, `closed`, or `io`.
    public func acknowledge(id: AlertID, by: String? = nil, note: String? = nil) throws -> Alert {
        try Alert.validate(by: by, note: note)
        return try log.withLock { log in
            try Self.checkWritable(log)
            let current = try existing(id)
            switch current.state {
            case .acknowledged: return current
            case .resolved: throw StorageError(.conflict, "alert \(id) is resolved and cannot be acknowledged")
            case .active: break
            }
            let alert = try commit(.acknowledged(id: id, at: now(), by: by, note: note), log: &log)
            logger.info("alert acknowledged", metadata: ["alert.id": "\(id)", "machine.id": "\(alert.machineID)"])
            return alert
        }
    }

    /// Acknowledges the alert named by its text form, as in `POST /api/v1/alerts/42/ack`. Text
    /// that is not an alert id (``AlertID/init(_:)``) is `not_found`, like an unknown id; the
    /// rest is ``acknowledge(id:by:note:)``.
    ///
    /// ```swift
    /// let alert = try alerts.acknowledge(id: "42", by: "jane")
    /// ```
    public func acknowledge(id text: String, by: String? = nil, note: String? = nil) throws -> Alert {
        try acknowledge(id: Self.parse(text), by: by, note: note)
    }

    /// Resolves an alert, active or acknowledged: it is over.
    ///
    /// Sets the state to `resolved`, `resolvedAt` to the clock, `resolvedBy` to `by` and, if
    /// given, `note` (replacing an acknowledgement's note); the change is durable when this
    /// returns. Resolving a resolved alert returns it unchanged. After this, a raise of the same
    /// machine and rule creates a new alert.
    ///
    /// ```swift
    /// let alert = try alerts.resolve(id: id, by: "jane", note: "nozzle replaced")
    /// ```
    ///
    /// Throws a ``ModelError`` for an invalid `by` or `note` (as ``acknowledge(id:by:note:)``),
    /// and a ``StorageError``: `not_found` for an unknown id, `closed`, or `io`.
    public func resolve(id: AlertID, by: String? = nil, note: String? = nil) throws -> Alert {
        try Alert.validate(by: by, note: note)
        return try log.withLock { log in
            try Self.checkWritable(log)
            let current = try existing(id)
            guard current.isActive else { return current }
            let alert = try commit(.resolved(id: id, at: now(), by: by, note: note), log: &log)
            logger.info("alert resolved", metadata: ["alert.id": "\(id)", "machine.id": "\(alert.machineID)"])
            return alert
        }
    }

    /// Resolves the alert named by its text form, as in `POST /api/v1/alerts/42/resolve`. Text
    /// that is not an alert id is `not_found`; the rest is ``resolve(id:by:note:)``.
    ///
    /// ```swift
    /// let alert = try alerts.resolve(id: "42", note: "nozzle replaced")
    /// ```
    public func resolve(id text: String, by: String? = nil, note: String? = nil) throws -> Alert {
        try resolve(id: Self.parse(text), by: by, note: note)
    }

    /// Calls `body` with the alert after every change (a new alert, an update, an
    /// acknowledgement, a resolution), once the change is durable; `nil` removes the observer.
    ///
    /// Calls come in log order, one at a time, on the thread that made the change, while the
    /// store holds its write lock: `body` must return quickly (hand the alert to a stream) and
    /// must not raise, acknowledge or resolve (reading is fine). A raise that returns an existing
    /// alert unchanged, and other calls that change nothing, are not reported; a raise that
    /// updates one is.
    ///
    /// ```swift
    /// alerts.setObserver { alert in continuation.yield(alert) }   // the server's live stream
    /// ```
    public func setObserver(_ body: (@Sendable (Alert) -> Void)?) {
        log.withLock { $0.observer = body }
    }

    /// Closes the log and releases `alerts.lock`. Later changes fail with `closed`; reads keep
    /// answering from memory. Calling it again does nothing.
    ///
    /// Every change was already durable when it returned, so there is nothing to flush.
    public func close() {
        let wasOpen = log.withLock { log in
            defer { log.file = nil }
            return log.file != nil
        }
        guard wasOpen else { return }
        lockFile.unlock()
        logger.info("alert store closed", metadata: ["store.directory": "\(directory)"])
    }

    /// Appends `event`, fsyncs, publishes the result to readers and tells the observer.
    private func commit(_ event: AlertEvent, log: inout LogWriter) throws -> Alert {
        guard let file = log.file else { throw StorageError(.closed, "the alert store is closed") }
        var payload = ByteWriter()
        event.encode(into: &payload)
        var frame: [UInt8] = []
        ChecksummedFrame.append(payload.bytes, to: &frame)
        do {
            try file.write(frame, at: log.size)
        } catch {
            // Nothing was acknowledged: cut back whatever part reached the file.
            do {
                try file.truncate(to: log.size)
            } catch {
                let failure = StorageError(.storeFailed,
                                           "a write to \(FileNames.alertLog) failed and could not be undone; the alert store accepts no changes until it is reopened",
                                           file: FileNames.alertLog, offset: log.size, cause: StorageError.wrap(error))
                fail(failure, log: &log)
                throw failure
            }
            throw error
        }
        do {
            try file.sync()
        } catch {
            let failure = StorageError(.storeFailed,
                                       "fsync of \(FileNames.alertLog) failed; the alert store accepts no changes until it is reopened",
                                       file: FileNames.alertLog, offset: log.size, cause: StorageError.wrap(error))
            fail(failure, log: &log)
            throw failure
        }
        log.size += Int64(frame.count)
        let outcome = table.withLock { $0.apply(event) }
        guard case .applied(let alert) = outcome else {
            // Not reached: callers commit only events that change something.
            return table.withLock { $0.byID[event.id] }!
        }
        log.observer?(alert)
        return alert
    }

    private func fail(_ error: StorageError, log: inout LogWriter) {
        log.failure = error
        table.withLock { $0.problems.append(error) }
        logger.error("alert log write failed", metadata: ["error": "\(error)"])
    }

    private static func checkWritable(_ log: LogWriter) throws {
        guard log.file != nil else { throw StorageError(.closed, "the alert store is closed") }
        if let failure = log.failure { throw failure }
    }

    private static func parse(_ text: String) throws -> AlertID {
        guard let id = AlertID(text) else {
            let shown = text.count > 40 ? String(text.prefix(40)) + "…" : text
            throw StorageError(.notFound, "alert \"\(shown)\" does not exist (alert ids are 1, 2, 3, …)")
        }
        return id
    }

    private func existing(_ id: AlertID) throws -> Alert {
        guard let alert = table.withLock({ $0.byID[id] }) else { throw StorageError(.notFound, "alert \(id) does not exist") }
        return alert
    }

    // MARK: Reading

    /// Alerts matching every filter given, newest `raisedAt` first, at most `limit`.
    ///
    /// Every filter left nil matches everything. `active: true` gives the unresolved alerts
    /// (active or acknowledged), `false` the resolved ones. `from` and `to` bound `raisedAt`,
    /// both inclusive. The parameters are those of `GET /api/v1/alerts?machine=&active=&from=&to=`.
    ///
    /// ```swift
    /// let open = alerts.alerts(machine: try MachineID("dmls-01"), active: true)
    /// let lastDay = alerts.alerts(from: Timestamp.now.advanced(byNanoseconds: -86_400_000_000_000))
    /// ```
    public func alerts(machine: MachineID? = nil, active: Bool? = nil, from: Timestamp? = nil, to: Timestamp? = nil,
                       limit: Int = 1000) -> [Alert] {
        table.withLock { $0.query(machine: machine, active: active, from: from ?? .min, to: to ?? .max, limit: limit) }
    }

    /// The alert with `id`, or nil if there is none.
    public func alert(id: AlertID) -> Alert? {
        table.withLock { $0.byID[id] }
    }

    /// The failure that stopped the alert store (a failed fsync, a write it could not undo), or
    /// nil while it accepts changes. Code ``StorageError/Code/storeFailed``; reopening recovers.
    public var failure: StorageError? { log.withLock { $0.failure } }

    /// Damage found at open (skipped entries, with file offsets) and write failures since, oldest first.
    public var problems: [StorageError] { table.withLock { $0.problems } }
}
