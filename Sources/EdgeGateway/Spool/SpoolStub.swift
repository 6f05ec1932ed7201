// TEMPORARY in-memory stand-in with the spool's API, replaced by the real spool on merge.
public import Logging
public import TelemetryModel

public enum SpoolFullPolicy: String, Sendable, CaseIterable { case reject; case dropOldest = "drop-oldest" }

public struct SpoolConfiguration: Sendable {
    public var directory: String
    public var maximumBytes: Int = 1 << 30
    public var segmentBytes: Int = 32 << 20
    public var whenFull: SpoolFullPolicy = .reject
    public var memoryBytes: Int = 64 << 20
    public var syncInterval: Duration = .seconds(1)
    public init(directory: String) { self.directory = directory }
}

public struct SpoolError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        init(_ name: String) { self.name = name }
        public var description: String { name }
        public static let io = Code("io"), full = Code("full"), corrupt = Code("corrupt"), locked = Code("locked"),
                          unsupportedFormat = Code("unsupported_format"), closed = Code("closed")
    }
    public var code: Code
    public var message: String
    public var description: String { "\(code): \(message)" }
}

public struct SpooledRecord: Sendable { public var sequence: UInt64; public var record: TelemetryRecord }

public struct SpoolStatus: Sendable, Equatable {
    public var pendingRecords = 0, pendingBytes = 0, diskBytes = 0, segments = 0, appendedRecords = 0, acknowledgedRecords = 0
    public var droppedRecords = 0, rejectedRecords = 0, recoveredRecords = 0, corruptEntries = 0
    public var isFull = false
    public init() {}
}

public actor Spool {
    let configuration: SpoolConfiguration
    var entries: [SpooledRecord] = []
    var next: UInt64 = 1
    var statusValue = SpoolStatus()
    var waiters: [CheckedContinuation<Void, Never>] = []
    public init(configuration: SpoolConfiguration, logger: Logger) throws(SpoolError) { self.configuration = configuration }
    public func append(_ records: [TelemetryRecord]) throws(SpoolError) {
        if entries.count + records.count > configuration.maximumBytes / 40_000 {
            statusValue.isFull = true
            statusValue.rejectedRecords += records.count
            throw SpoolError(code: .full, message: "full")
        }
        for r in records { entries.append(SpooledRecord(sequence: next, record: r)); next += 1 }
        statusValue.appendedRecords += records.count
        for w in waiters { w.resume() }
        waiters = []
    }
    public func peek(maxRecords: Int) throws(SpoolError) -> [SpooledRecord] { Array(entries.prefix(maxRecords)) }
    public func acknowledge(through sequence: UInt64) throws(SpoolError) {
        let n = entries.prefix { $0.sequence <= sequence }.count
        entries.removeFirst(n)
        statusValue.acknowledgedRecords += n
        statusValue.isFull = false
    }
    public func waitForRecords() async {
        if !entries.isEmpty { return }
        await withCheckedContinuation { waiters.append($0) }
    }
    public var status: SpoolStatus { var s = statusValue; s.pendingRecords = entries.count; return s }
    public func close() { for w in waiters { w.resume() }; waiters = [] }
}
