// The alert model: what a detector raises and an operator acknowledges and resolves.
// Stored by AlertStore in alerts.log (Storage/Format/alerts.md).
public import TelemetryModel

/// The id of an alert: a sequence number, unique within a store and never reused.
///
/// The alert store hands out 1, 2, 3, … in the order alerts are raised. The text form (in URLs
/// such as `POST /api/v1/alerts/{id}/ack`, and in JSON) is the plain decimal number.
///
/// ```swift
/// let id = AlertID("42")      // AlertID(rawValue: 42)
/// print(id!)                  // 42
/// ```
public struct AlertID: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The sequence number; the first alert of a store gets 1.
    public let rawValue: UInt64

    /// An id from its sequence number.
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// Parses the decimal text form: digits only, no sign, no leading zeros, at least 1.
    /// Returns nil for anything else, so that `"007"` and `"+7"` are not a second name for 7.
    public init?(_ text: String) {
        guard let value = UInt64(text), value > 0, String(value) == text else { return nil }
        rawValue = value
    }

    /// The decimal text form.
    public var description: String { String(rawValue) }
    public static func < (a: AlertID, b: AlertID) -> Bool { a.rawValue < b.rawValue }
}

/// A condition on a machine that needs a person's attention, and where it stands.
///
/// An alert is raised by a detector (a hard failure, a filament jam, a predicted overheat),
/// then acknowledged by an operator ("I am looking at it") and finally resolved. While it is
/// unresolved, raising it again with another severity, message or details updates it in place
/// (``updatedAt``, ``updates``). Only ``AlertStore`` creates alerts; callers describe a new one
/// with ``NewAlert``.
///
/// ```swift
/// let (alert, _) = try alerts.raise(NewAlert(machineID: try MachineID("fdm-01"), rule: Alert.Rule.filamentJam,
///                                             severity: .critical, message: "filament flow 0 for 30 s"))
/// if alert.isActive { print(alert.id, alert.state) }   // 1 active
/// ```
public struct Alert: Sendable, Equatable {
    /// How urgent an alert is. The raw values are the text form used in JSON.
    public enum Severity: String, Sendable, CaseIterable, Comparable {
        /// Worth knowing; no action needed.
        case info
        /// Needs attention soon (a predicted failure).
        case warning
        /// Needs attention now (a failure).
        case critical

        /// Parses `info`, `warning` or `critical`, throwing a ``ModelError`` that names `field`.
        ///
        /// ```swift
        /// let severity = try Alert.Severity(parsing: "critical")
        /// ```
        public init(parsing text: String, field: String = "severity") throws(ModelError) {
            guard let value = Severity(rawValue: text) else {
                throw ModelError(code: "invalid_severity",
                                 message: "severity must be info, warning or critical (got \(quoted(text)))",
                                 field: field)
            }
            self = value
        }

        public static func < (a: Severity, b: Severity) -> Bool { a.rank < b.rank }
        private var rank: Int {
            switch self {
            case .info: 0
            case .warning: 1
            case .critical: 2
            }
        }
    }

    /// Where an alert is in its lifecycle: active → acknowledged → resolved, or active → resolved.
    public enum State: String, Sendable, CaseIterable {
        /// Raised and not yet seen by anyone.
        case active
        /// An operator has seen it; the condition may still hold.
        case acknowledged
        /// Over. A new alert of the same machine and rule can now be raised.
        case resolved
    }

    /// Names of the rules Sinter's detectors raise. Any 1–64 characters of `[A-Za-z0-9._-]` are
    /// accepted as a rule; these are the ones the bundled detectors use.
    public enum Rule {
        /// The printer reports its error state.
        public static let hardFailure = "hard_failure"
        /// Filament flow stopped while printing.
        public static let filamentJam = "filament_jam"
        /// A temperature trend predicts an overheat before it happens.
        public static let predictiveOverheat = "predictive_overheat"
        /// An Isolation Forest scored the recent samples as anomalous.
        public static let isolationForest = "isolation_forest"
        /// A thermal frame has a hot spot.
        public static let frameHotSpot = "frame_hot_spot"
    }

    /// The longest rule name accepted, in bytes.
    public static let maximumRuleLength = 64
    /// The longest message accepted, in bytes of UTF-8.
    public static let maximumMessageLength = 1024
    /// The most entries ``details`` may hold.
    public static let maximumDetailCount = 64
    /// The longest ``acknowledgedBy`` / ``resolvedBy`` accepted, in bytes of UTF-8.
    public static let maximumActorLength = 128
    /// The longest ``note`` accepted, in bytes of UTF-8.
    public static let maximumNoteLength = 1024

    /// Unique within the store, assigned when the alert is raised.
    public var id: AlertID
    /// The machine the alert concerns.
    public var machineID: MachineID
    /// What raised it, e.g. `filament_jam` (see ``Rule``). At most one alert per machine and
    /// rule is unresolved at a time.
    public var rule: String
    /// How urgent it is now (the latest update's, or the raise's).
    public var severity: Severity
    /// What a person should know, 1–1024 bytes (the latest update's, or the raise's).
    public var message: String
    /// When the condition was observed (supplied by the detector, or the time it was raised).
    public var raisedAt: Timestamp
    /// Numbers that back the alert up (`nozzle_temp_c: 262.5`, `score: 0.71`); at most 64, names
    /// in the channel-name alphabet, finite values. An update replaces them all.
    public var details: [String: Double]
    /// Where the alert is in its lifecycle.
    public var state: State
    /// When it was acknowledged, if it was.
    public var acknowledgedAt: Timestamp?
    /// Who acknowledged it, if they said.
    public var acknowledgedBy: String?
    /// When it was resolved, if it was.
    public var resolvedAt: Timestamp?
    /// Who resolved it, if they said.
    public var resolvedBy: String?
    /// The latest note given with an acknowledgement or a resolution.
    public var note: String?
    /// When ``severity``, ``message`` or ``details`` last changed, if they ever did: the
    /// `raisedAt` of the raise that changed them (supplied by the detector), or the store's clock
    /// at that raise.
    public var updatedAt: Timestamp?
    /// How many times the alert was updated (raised again, while unresolved, with another
    /// severity, message or details); 0 for an alert as first raised.
    public var updates: Int

    /// Whether the alert is not yet resolved (active or acknowledged).
    public var isActive: Bool { state != .resolved }

    /// An alert with every field given; the alert store is the only place that makes new ones.
    public init(id: AlertID, machineID: MachineID, rule: String, severity: Severity, message: String, raisedAt: Timestamp,
                details: [String: Double] = [:], state: State = .active, acknowledgedAt: Timestamp? = nil,
                acknowledgedBy: String? = nil, resolvedAt: Timestamp? = nil, resolvedBy: String? = nil, note: String? = nil,
                updatedAt: Timestamp? = nil, updates: Int = 0) {
        self.id = id
        self.machineID = machineID
        self.rule = rule
        self.severity = severity
        self.message = message
        self.raisedAt = raisedAt
        self.details = details
        self.state = state
        self.acknowledgedAt = acknowledgedAt
        self.acknowledgedBy = acknowledgedBy
        self.resolvedAt = resolvedAt
        self.resolvedBy = resolvedBy
        self.note = note
        self.updatedAt = updatedAt
        self.updates = updates
    }

    /// Whether `rule` may be used as a rule name: 1–64 characters of `[A-Za-z0-9._-]`.
    public static func isValidRule(_ rule: String) -> Bool {
        let utf8 = rule.utf8
        return !utf8.isEmpty && utf8.count <= maximumRuleLength && utf8.allSatisfy(MachineID.isNameByte)
    }

    /// Checks who acknowledged or resolved an alert and the note they left, throwing a
    /// ``ModelError`` with field `by` or `note`.
    static func validate(by: String?, note: String?) throws(ModelError) {
        if let by, by.utf8.isEmpty || by.utf8.count > maximumActorLength {
            throw ModelError(code: "invalid_actor",
                             message: "by must be 1-\(maximumActorLength) bytes of UTF-8, or absent (got \(by.utf8.count) bytes)",
                             field: "by")
        }
        if let note, note.utf8.count > maximumNoteLength {
            throw ModelError(code: "invalid_note",
                             message: "note must be at most \(maximumNoteLength) bytes of UTF-8 (got \(note.utf8.count) bytes)",
                             field: "note")
        }
    }
}

/// `s` in quotes for an error message, cut to 80 characters.
private func quoted(_ s: String) -> String {
    let shown = s.count > 80 ? String(s.prefix(80)) + "…" : s
    return "\"" + shown + "\""
}

/// The fields a detector or a client supplies to raise an alert (`POST /api/v1/alerts`).
///
/// The store adds the id and the lifecycle fields. ``validate()`` checks the fields that
/// their types do not already guarantee; the machine id is checked when the ``MachineID`` is
/// made (field `machine_id`) and the severity when it is parsed (``Alert/Severity/init(parsing:field:)``,
/// field `severity`).
///
/// ```swift
/// let new = NewAlert(machineID: try MachineID("dmls-01"), rule: Alert.Rule.predictiveOverheat, severity: .warning,
///                    message: "chamber temperature rising 2 °C/min", details: ["chamber_temp_c": 71.5])
/// try new.validate()
/// ```
public struct NewAlert: Sendable, Equatable {
    /// The machine the alert concerns.
    public var machineID: MachineID
    /// What raised it: 1–64 characters of `[A-Za-z0-9._-]` (see ``Alert/Rule``).
    public var rule: String
    /// How urgent it is.
    public var severity: Alert.Severity
    /// What a person should know: 1–1024 bytes of UTF-8.
    public var message: String
    /// When the condition was observed; nil means the store's clock at the time of the raise.
    /// When the raise updates an unresolved alert instead, this is the time of the update
    /// (``Alert/updatedAt``); the alert keeps its first `raisedAt`.
    public var raisedAt: Timestamp?
    /// Supporting numbers: at most 64, each name 1–64 characters of `[A-Za-z0-9._-]`, each value finite.
    public var details: [String: Double]

    public init(machineID: MachineID, rule: String, severity: Alert.Severity, message: String, raisedAt: Timestamp? = nil,
                details: [String: Double] = [:]) {
        self.machineID = machineID
        self.rule = rule
        self.severity = severity
        self.message = message
        self.raisedAt = raisedAt
        self.details = details
    }

    /// Throws a ``ModelError`` naming the first field that is not valid: `rule`, `message` or `details`.
    public func validate() throws(ModelError) {
        guard Alert.isValidRule(rule) else {
            throw ModelError(code: "invalid_rule",
                             message: "rule must be 1-\(Alert.maximumRuleLength) characters of A-Z a-z 0-9 . _ - (got \(quoted(rule)))",
                             field: "rule")
        }
        let length = message.utf8.count
        guard length >= 1, length <= Alert.maximumMessageLength else {
            throw ModelError(code: "invalid_message",
                             message: "message must be 1-\(Alert.maximumMessageLength) bytes of UTF-8 (got \(length) bytes)",
                             field: "message")
        }
        guard details.count <= Alert.maximumDetailCount else {
            throw ModelError(code: "invalid_details",
                             message: "details may hold at most \(Alert.maximumDetailCount) entries (got \(details.count))",
                             field: "details")
        }
        for (name, value) in details.sorted(by: { $0.key < $1.key }) {
            guard ChannelName.isValid(name) else {
                throw ModelError(code: "invalid_details",
                                 message: "detail names must be 1-64 characters of A-Z a-z 0-9 . _ - (got \(quoted(name)))",
                                 field: "details")
            }
            guard value.isFinite else {
                throw ModelError(code: "invalid_details", message: "detail \(name) must be a finite number (got \(value))",
                                 field: "details")
            }
        }
    }
}
