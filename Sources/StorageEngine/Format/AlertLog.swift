// The alert log: the file header, then one checksummed frame per alert event.
// Format: Storage/Format/alerts.md.
import TelemetryModel

/// One entry of `alerts.log`: an alert was raised (with every field it starts with), acknowledged,
/// resolved, or updated (new severity, message and details while unresolved). Replaying the
/// entries in file order rebuilds every alert.
///
/// ```
/// type <u8> | id <u64> | at <i64> | then, for type 1 (raised):
///     machineID <str> | rule <str> | severity <u8> | message <lstr> | detailCount <u8> | (name <str> | value <f64>) × detailCount
/// or, for types 2 (acknowledged) and 3 (resolved):
///     hasBy <u8> | by <str>? | hasNote <u8> | note <lstr>?
/// or, for type 4 (updated):
///     severity <u8> | message <lstr> | detailCount <u8> | (name <str> | value <f64>) × detailCount
/// ```
enum AlertEvent: Equatable {
    /// A new alert, state `active`; `at` is its `raisedAt`.
    case raised(Alert)
    /// An operator acknowledged alert `id` at `at`.
    case acknowledged(id: AlertID, at: Timestamp, by: String?, note: String?)
    /// Alert `id` was resolved at `at`.
    case resolved(id: AlertID, at: Timestamp, by: String?, note: String?)
    /// Unresolved alert `id` was raised again at `at` with another severity, message or details,
    /// which replace its own (all three are written, changed or not).
    case updated(id: AlertID, at: Timestamp, severity: Alert.Severity, message: String, details: [String: Double])

    /// The `type` byte.
    enum EntryType: UInt8 {
        case raised = 1
        case acknowledged = 2
        case resolved = 3
        case updated = 4
    }

    /// The shortest payload of any type (an acknowledgement without `by` and `note`).
    static let minimumPayload = 19

    var id: AlertID {
        switch self {
        case .raised(let alert): alert.id
        case .acknowledged(let id, _, _, _), .resolved(let id, _, _, _): id
        case .updated(let id, _, _, _, _): id
        }
    }

    func encode(into w: inout ByteWriter) {
        switch self {
        case .raised(let a):
            w.write(EntryType.raised.rawValue)
            w.write(a.id.rawValue)
            w.write(a.raisedAt.nanoseconds)
            w.writeShortString(a.machineID.rawValue)
            w.writeShortString(a.rule)
            Self.encodeContent(severity: a.severity, message: a.message, details: a.details, into: &w)
        case .acknowledged(let id, let at, let by, let note), .resolved(let id, let at, let by, let note):
            if case .acknowledged = self { w.write(EntryType.acknowledged.rawValue) } else { w.write(EntryType.resolved.rawValue) }
            w.write(id.rawValue)
            w.write(at.nanoseconds)
            w.write(UInt8(by == nil ? 0 : 1))
            if let by { w.writeShortString(by) }
            w.write(UInt8(note == nil ? 0 : 1))
            if let note { w.writeLongString(note) }
        case .updated(let id, let at, let severity, let message, let details):
            w.write(EntryType.updated.rawValue)
            w.write(id.rawValue)
            w.write(at.nanoseconds)
            Self.encodeContent(severity: severity, message: message, details: details, into: &w)
        }
    }

    /// What a raise and an update both carry: `severity <u8> | message <lstr> | detailCount <u8> |
    /// (name <str> | value <f64>) × detailCount`, details sorted by name.
    private static func encodeContent(severity: Alert.Severity, message: String, details: [String: Double],
                                      into w: inout ByteWriter) {
        w.write(Self.code(of: severity))
        w.writeLongString(message)
        let sorted = details.sorted { $0.key < $1.key }.prefix(Alert.maximumDetailCount)
        w.write(UInt8(sorted.count))
        for (name, value) in sorted {
            w.writeShortString(name)
            w.write(value)
        }
    }

    /// Reads what ``encodeContent(severity:message:details:into:)`` wrote, throwing on an unknown
    /// severity, more than 64 details, an invalid detail name or a field running past the payload.
    private static func decodeContent(_ r: inout ByteReader) throws
        -> (severity: Alert.Severity, message: String, details: [String: Double]) {
        guard let severity = Self.severity(code: try r.read(UInt8.self)) else { throw r.error("unknown severity") }
        let message = try r.readLongString()
        let count = try r.readLength(UInt8.self, limit: Alert.maximumDetailCount, what: "detail count")
        var details: [String: Double] = [:]
        for _ in 0..<count {
            let name = try r.readShortString()
            guard ChannelName.isValid(name) else { throw r.error("invalid detail name") }
            details[name] = try r.readDouble()
        }
        return (severity, message, details)
    }

    /// Decodes one payload, throwing (never trapping) on anything that does not make sense:
    /// an unknown type or severity, id 0, an invalid machine id, rule or detail name, too many
    /// details, a field running past the payload.
    init(decoding r: inout ByteReader) throws {
        guard let type = EntryType(rawValue: try r.read(UInt8.self)) else { throw r.error("unknown alert entry type") }
        let rawID = try r.read(UInt64.self)
        guard rawID > 0 else { throw r.error("alert id 0") }
        let id = AlertID(rawValue: rawID)
        let at = Timestamp(nanoseconds: try r.read(Int64.self))
        switch type {
        case .raised:
            let machine = try r.readShortString()
            guard MachineID.isValid(machine), let machineID = try? MachineID(machine) else { throw r.error("invalid machine id") }
            let rule = try r.readShortString()
            guard Alert.isValidRule(rule) else { throw r.error("invalid rule name") }
            let content = try Self.decodeContent(&r)
            self = .raised(Alert(id: id, machineID: machineID, rule: rule, severity: content.severity, message: content.message,
                                 raisedAt: at, details: content.details))
        case .acknowledged, .resolved:
            let by = try r.read(UInt8.self) == 1 ? try r.readShortString() : nil
            let note = try r.read(UInt8.self) == 1 ? try r.readLongString() : nil
            self = type == .acknowledged ? .acknowledged(id: id, at: at, by: by, note: note)
                                         : .resolved(id: id, at: at, by: by, note: note)
        case .updated:
            let content = try Self.decodeContent(&r)
            self = .updated(id: id, at: at, severity: content.severity, message: content.message, details: content.details)
        }
    }

    /// Cheap check used while resyncing past damage: could this payload be an entry?
    static func isPlausiblePayload(_ payload: UnsafeRawBufferPointer) -> Bool {
        payload.count >= minimumPayload && (1...4).contains(payload[0])
            && payload.loadUnaligned(fromByteOffset: 1, as: UInt64.self) != 0
    }

    static func code(of severity: Alert.Severity) -> UInt8 {
        switch severity {
        case .info: 1
        case .warning: 2
        case .critical: 3
        }
    }

    static func severity(code: UInt8) -> Alert.Severity? {
        switch code {
        case 1: .info
        case 2: .warning
        case 3: .critical
        default: nil
        }
    }
}

/// Creating and reading `alerts.log`.
enum AlertLogFile {
    /// What reading the log found.
    struct Contents {
        /// Every entry that passed its CRC and decoded, with the file offset of its frame.
        var events: [(event: AlertEvent, offset: Int)] = []
        /// The highest id in entries that passed their CRC but did not decode: not reused either.
        var highestUndecodableID: UInt64 = 0
        /// Damaged stretches and undecodable entries, as `corrupt_log` errors.
        var problems: [StorageError] = []
        /// The header's `number`: the smallest id the next new alert may get (ids below it may
        /// belong to alerts that are no longer in the file).
        var nextIDFloor: UInt64 = 1
        /// Where the valid data ends: the file size, or the start of a torn tail.
        var end: Int
        /// Whether the file ends in a torn tail (bytes from `end` on).
        var tornTail: Bool { end < size }
        /// The size of the file as read.
        var size: Int
    }

    /// The file header of a log whose next alert gets at least `nextID`.
    static func header(nextID: UInt64) -> [UInt8] { FileHeader(kind: .alertLog, number: nextID).encoded() }

    /// Creates an empty log in `directory` so that it appears whole or not at all: the header
    /// goes to `alerts.log.tmp`, which is fsynced, renamed to `alerts.log`, and the directory fsynced.
    static func create(in directory: String, files: StoreFiles) throws {
        try files.replaceFile(FileNames.alertLog, in: directory, with: header(nextID: 1), temporary: FileNames.alertLogTemporary)
    }

    /// Decodes a whole log. Throws for a header that is damaged (`corrupt_block`) or of another
    /// format (`unsupported_format`); damage after the header is returned in `problems`.
    static func read(_ bytes: [UInt8]) throws -> Contents {
        let name = FileNames.alertLog
        var contents = Contents(end: bytes.count, size: bytes.count)
        try bytes.withUnsafeBytes { (raw) throws in
            let header = try FileHeader(decoding: raw, expected: .alertLog, file: name)
            contents.nextIDFloor = header.number
            var damage: [ChecksummedFrame.Damage] = []
            var undecodable: [ChecksummedFrame.Damage] = []
            let end = try ChecksummedFrame.scan(UnsafeRawBufferPointer(rebasing: raw[FileHeader.size...]), base: FileHeader.size,
                                                damage: &damage, plausible: AlertEvent.isPlausiblePayload) {
                (payload, offset) throws in
                var r = ByteReader(payload, context: name, fileOffset: Int64(offset + ChecksummedFrame.overhead), code: .corruptLog)
                do {
                    contents.events.append((try AlertEvent(decoding: &r), offset))
                } catch {
                    if payload.count >= 9 {
                        let id = UInt64(littleEndian: payload.loadUnaligned(fromByteOffset: 1, as: UInt64.self))
                        contents.highestUndecodableID = max(contents.highestUndecodableID, id)
                    }
                    let reason = "undecodable entry (\(StorageError.wrap(error).message))"
                    undecodable.append(ChecksummedFrame.Damage(offset: offset, reason: reason))
                }
            }
            if case .tornTail(let at) = end { contents.end = at }
            for d in (damage + undecodable).sorted(by: { $0.offset < $1.offset }) {
                contents.problems.append(StorageError(.corruptLog, "\(d.reason) in \(name) at offset \(d.offset)", file: name,
                                                      offset: Int64(d.offset)))
            }
        }
        return contents
    }
}
