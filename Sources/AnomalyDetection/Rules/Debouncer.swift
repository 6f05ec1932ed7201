// The lifecycle every alert rule shares: hysteresis, a pending period, a clearing period.
public import TelemetryModel

/// How urgent an alert is, as sinter-server's alerts API spells it.
public enum AlertSeverity: String, Sendable, Comparable, CaseIterable {
    /// Needs attention soon: a predicted failure, a level past its warning limit.
    case warning
    /// Needs attention now: a failure, a level past its critical limit.
    case critical

    public static func < (a: AlertSeverity, b: AlertSeverity) -> Bool { a == .warning && b == .critical }
}

/// What a rule says about one record: the condition holds (at a severity), does not hold, or
/// cannot be told (the value is missing or not a number).
public enum RuleReading: Sendable, Equatable {
    case holds(AlertSeverity)
    case clear
    case unknown
}

/// Turns per-record readings into alert transitions without flapping.
///
/// A condition must hold for ``pending`` before the alert is raised, and must stay clear for
/// ``clearAfter`` before it is resolved; a reading of ``RuleReading/unknown`` (a missing value)
/// changes nothing. While the alert is open its severity follows the readings (an escalation to
/// critical is reported at once, a step back to warning after ``clearAfter``). Hysteresis on the
/// value itself (a lower limit to clear than to raise) is the rule's part: rules ask
/// ``isOpen`` to choose the limit.
///
/// ```swift
/// var d = Debouncer(pending: .seconds(3), clearAfter: .seconds(10))
/// d.update(.holds(.warning), at: t0)            // nil: pending
/// d.update(.holds(.warning), at: t0 + 3 s)      // .raised(.warning)
/// ```
public struct Debouncer: Sendable, Equatable {
    /// What changed.
    public enum Transition: Sendable, Equatable {
        case raised(AlertSeverity)
        case changed(AlertSeverity)
        case resolved
    }

    enum State: Sendable, Equatable {
        case clear
        case pending(since: Timestamp, severity: AlertSeverity)
        case open(severity: AlertSeverity, clearSince: Timestamp?, lowerSince: Timestamp?)
    }

    /// How long a condition must hold before it is raised (nanoseconds).
    public var pending: Int64
    /// How long it must stay clear (or lower) before it is resolved (or downgraded) (nanoseconds).
    public var clearAfter: Int64
    private(set) var state = State.clear

    public init(pending: Duration, clearAfter: Duration) {
        self.pending = Self.nanoseconds(pending)
        self.clearAfter = Self.nanoseconds(clearAfter)
    }

    /// Whether the alert is raised (rules use the clearing limit then).
    public var isOpen: Bool {
        if case .open = state { return true }
        return false
    }

    /// The open alert's severity.
    public var severity: AlertSeverity? {
        if case .open(let s, _, _) = state { return s }
        return nil
    }

    /// Feeds one reading taken at `time`; returns what changed, if anything.
    public mutating func update(_ reading: RuleReading, at time: Timestamp) -> Transition? {
        switch (state, reading) {
        case (_, .unknown):
            return nil
        case (.clear, .clear):
            return nil
        case (.clear, .holds(let s)):
            if pending <= 0 {
                state = .open(severity: s, clearSince: nil, lowerSince: nil)
                return .raised(s)
            }
            state = .pending(since: time, severity: s)
            return nil
        case (.pending, .clear):
            state = .clear
            return nil
        case (.pending(let since, let worst), .holds(let s)):
            let top = max(worst, s)
            if time.nanoseconds - since.nanoseconds >= pending {
                state = .open(severity: s, clearSince: nil, lowerSince: nil)
                return .raised(s)
            }
            state = .pending(since: since, severity: top)
            return nil
        case (.open(let current, let clearSince, _), .clear):
            let since = clearSince ?? time
            if time.nanoseconds - since.nanoseconds >= clearAfter {
                state = .clear
                return .resolved
            }
            state = .open(severity: current, clearSince: since, lowerSince: nil)
            return nil
        case (.open(let current, _, let lowerSince), .holds(let s)):
            if s > current {
                state = .open(severity: s, clearSince: nil, lowerSince: nil)
                return .changed(s)
            }
            if s < current {
                let since = lowerSince ?? time
                if time.nanoseconds - since.nanoseconds >= clearAfter {
                    state = .open(severity: s, clearSince: nil, lowerSince: nil)
                    return .changed(s)
                }
                state = .open(severity: current, clearSince: nil, lowerSince: since)
                return nil
            }
            state = .open(severity: current, clearSince: nil, lowerSince: nil)
            return nil
        }
    }

    /// Counts an alert raised elsewhere (an earlier run) as open, unless one is open already.
    public mutating func adopt(_ severity: AlertSeverity) {
        if !isOpen { state = .open(severity: severity, clearSince: nil, lowerSince: nil) }
    }

    /// Forgets an open alert without reporting (an operator resolved it by hand).
    public mutating func reset() { state = .clear }

    static func nanoseconds(_ d: Duration) -> Int64 {
        let c = d.components
        return c.seconds * 1_000_000_000 + c.attoseconds / 1_000_000_000
    }
}

/// A threshold on one value with hysteresis: raise at ``warning``/``critical``, clear below the
/// limit minus ``hysteresis``.
///
/// `direction` `.above` fires for high values, `.below` for low ones.
///
/// ```swift
/// let t = Threshold(warning: 4.5, critical: 7.1, hysteresis: 0.5)
/// t.reading(5.0, open: nil)        // .holds(.warning)
/// t.reading(4.2, open: .warning)   // .holds(.warning): inside the hysteresis band
/// ```
public struct Threshold: Sendable, Equatable {
    public enum Direction: Sendable, Equatable { case above, below }
    public var warning: Double
    public var critical: Double
    public var hysteresis: Double
    public var direction: Direction

    public init(warning: Double, critical: Double, hysteresis: Double, direction: Direction = .above) {
        self.warning = warning
        self.critical = critical
        self.hysteresis = hysteresis
        self.direction = direction
    }

    /// The reading of `value` for an alert currently open at `open` (nil: not open).
    public func reading(_ value: Double?, open: AlertSeverity?) -> RuleReading {
        guard let value, value.isFinite else { return .unknown }
        let sign: Double = direction == .above ? 1 : -1
        let v = sign * value, w = sign * warning, c = sign * critical
        let slack = hysteresis
        if v >= c || (open == .critical && v >= c - slack) { return .holds(.critical) }
        if v >= w || (open != nil && v >= w - slack) { return .holds(.warning) }
        return .clear
    }
}
