public import TelemetryModel

/// A record read back from the spool, with the sequence that acknowledges it.
///
/// Sequences increase by one per appended record and keep increasing across restarts.
///
/// ```swift
/// let batch = try await spool.peek(maxRecords: 500)
/// try await post(batch.map(\.record))
/// if let last = batch.last { try await spool.acknowledge(through: last.sequence) }
/// ```
public struct SpooledRecord: Sendable {
    /// The record's position in the spool; pass it to ``Spool/acknowledge(through:)``.
    public var sequence: UInt64
    /// The record, bit for bit as it was appended.
    public var record: TelemetryRecord

    /// A record and its sequence.
    ///
    /// The spool makes these; tests and fakes of a spool may too.
    ///
    /// ```swift
    /// let spooled = SpooledRecord(sequence: 1, record: record)
    /// ```
    public init(sequence: UInt64, record: TelemetryRecord) {
        self.sequence = sequence
        self.record = record
    }
}

/// Counts and sizes of a spool, for `/metrics`, health checks and logs.
///
/// "Since open" counters start at zero each time the spool is opened; the pending and disk
/// figures describe the spool as it is now.
///
/// ```swift
/// let status = await spool.status
/// if status.isFull { logger.warning("spool full", metadata: ["pending": "\(status.pendingRecords)"]) }
/// ```
public struct SpoolStatus: Sendable, Equatable {
    /// Records appended and not yet acknowledged (nor dropped, nor lost to damage).
    public var pendingRecords: Int = 0
    /// The bytes of those records' entries on disk.
    public var pendingBytes: Int = 0
    /// The bytes of all segment files (not the cursor, the lock or `.corrupt` files).
    public var diskBytes: Int = 0
    /// The number of segment files.
    public var segments: Int = 0
    /// Records appended since open.
    public var appendedRecords: Int = 0
    /// Records acknowledged since open.
    public var acknowledgedRecords: Int = 0
    /// Unacknowledged records deleted by the drop-oldest policy since open.
    public var droppedRecords: Int = 0
    /// Records refused since open because the spool was full.
    public var rejectedRecords: Int = 0
    /// Records that were pending when the spool was opened (left by a previous run).
    public var recoveredRecords: Int = 0
    /// Damaged stretches, undecodable entries and bad segment headers found at open, and
    /// damaged entries found later when read back.
    public var corruptEntries: Int = 0
    /// The spool reached `maximumBytes`: an append was refused (reject) or old records were
    /// dropped for one (drop-oldest), and no acknowledgement has freed space since. Under
    /// reject, an append that fits also ends it.
    public var isFull: Bool = false
    /// Why the spool stopped taking records (a failed fsync: fail-stop until sinter-edge
    /// restarts), or nil while it works.
    public var failure: String?

    /// All zeros; the spool fills in the rest.
    ///
    /// Public so that fakes of a spool can report a status.
    ///
    /// ```swift
    /// var status = SpoolStatus()
    /// status.pendingRecords = 3
    /// ```
    public init() {}
}
