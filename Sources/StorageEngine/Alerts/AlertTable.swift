// The alert store's in-memory state: every alert, by id and in raise order, plus the unresolved
// ones by machine and rule. Rebuilt at open by replaying alerts.log through `apply`.
import TelemetryModel

struct AlertTable: Sendable {
    /// What makes two alerts "the same" for an idempotent raise.
    struct Key: Hashable, Sendable {
        var machine: MachineID
        var rule: String
    }

    /// Every alert.
    private(set) var byID: [AlertID: Alert] = [:]
    /// Every id, sorted by (raisedAt, id): the order of ``query(machine:active:from:to:limit:)``, reversed.
    private(set) var order: [AlertID] = []
    /// Unresolved alerts by machine and rule, in raise order. Normally at most one per key; more
    /// only when damage to the log hid a resolution.
    private(set) var unresolved: [Key: [AlertID]] = [:]
    /// Damage found at open and write failures since, oldest first.
    var problems: [StorageError] = []

    /// What applying an event did.
    enum Outcome: Equatable {
        /// The alert changed (or was created); here it is now.
        case applied(Alert)
        /// The event changes nothing: an acknowledgement of an alert that is already acknowledged
        /// or resolved, a resolution or an update of a resolved alert.
        case unchanged(Alert)
        /// The event concerns an alert that does not exist.
        case unknownAlert
        /// A raise with an id that is already taken.
        case duplicateID
    }

    var count: Int { byID.count }
    var unresolvedCount: Int { unresolved.values.reduce(0) { $0 + $1.count } }

    /// The newest unresolved alert of `machine` and `rule`.
    func unresolvedAlert(machine: MachineID, rule: String) -> Alert? {
        unresolved[Key(machine: machine, rule: rule)]?.last.flatMap { byID[$0] }
    }

    /// Applies one log entry, with the lifecycle rules: acknowledge only an active alert, resolve
    /// and update only an unresolved one (an update keeps the state); the later note replaces the
    /// earlier, an update's severity, message and details replace the alert's.
    mutating func apply(_ event: AlertEvent) -> Outcome {
        switch event {
        case .raised(let alert):
            guard byID[alert.id] == nil else { return .duplicateID }
            byID[alert.id] = alert
            insertInOrder(alert)
            if alert.isActive { unresolved[Key(machine: alert.machineID, rule: alert.rule), default: []].append(alert.id) }
            return .applied(alert)
        case .acknowledged(let id, let at, let by, let note):
            guard var alert = byID[id] else { return .unknownAlert }
            guard alert.state == .active else { return .unchanged(alert) }
            alert.state = .acknowledged
            alert.acknowledgedAt = at
            alert.acknowledgedBy = by
            if let note { alert.note = note }
            byID[id] = alert
            return .applied(alert)
        case .resolved(let id, let at, let by, let note):
            guard var alert = byID[id] else { return .unknownAlert }
            guard alert.isActive else { return .unchanged(alert) }
            alert.state = .resolved
            alert.resolvedAt = at
            alert.resolvedBy = by
            if let note { alert.note = note }
            byID[id] = alert
            let key = Key(machine: alert.machineID, rule: alert.rule)
            unresolved[key]?.removeAll { $0 == id }
            if unresolved[key]?.isEmpty == true { unresolved[key] = nil }
            return .applied(alert)
        case .updated(let id, let at, let severity, let message, let details):
            guard var alert = byID[id] else { return .unknownAlert }
            guard alert.isActive else { return .unchanged(alert) }
            alert.severity = severity
            alert.message = message
            alert.details = details
            alert.updatedAt = at
            alert.updates += 1
            byID[id] = alert
            return .applied(alert)
        }
    }

    /// Keeps ``order`` sorted by (raisedAt, id). Alerts nearly always arrive in order, so this is
    /// an append; a late `raisedAt` costs a binary search and an insertion.
    private mutating func insertInOrder(_ alert: Alert) {
        func precedes(_ other: AlertID) -> Bool {
            let o = byID[other]!
            return (o.raisedAt, o.id) <= (alert.raisedAt, alert.id)
        }
        if let last = order.last, !precedes(last) {
            var low = 0, high = order.count
            while low < high {
                let mid = (low + high) / 2
                if precedes(order[mid]) { low = mid + 1 } else { high = mid }
            }
            order.insert(alert.id, at: low)
        } else {
            order.append(alert.id)
        }
    }

    /// Alerts matching every filter given, newest `raisedAt` first (ties: higher id first).
    func query(machine: MachineID?, active: Bool?, from: Timestamp, to: Timestamp, limit: Int) -> [Alert] {
        guard limit > 0, from <= to else { return [] }
        func matches(_ a: Alert) -> Bool {
            a.raisedAt >= from && a.raisedAt <= to && (machine == nil || a.machineID == machine)
                && (active == nil || a.isActive == active)
        }
        if active == true {
            // Few alerts are unresolved: sort those rather than walking the whole history.
            let candidates = unresolved.values.joined().compactMap { byID[$0] }.filter(matches)
            return Array(candidates.sorted { ($0.raisedAt, $0.id) > ($1.raisedAt, $1.id) }.prefix(limit))
        }
        var out: [Alert] = []
        for id in order.reversed() {
            let a = byID[id]!
            if a.raisedAt > to { continue }
            if a.raisedAt < from { break }
            guard matches(a) else { continue }
            out.append(a)
            if out.count == limit { break }
        }
        return out
    }
}
