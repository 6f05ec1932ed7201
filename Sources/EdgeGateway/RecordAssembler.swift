// Turns a stream of per-variable OPC UA values into telemetry records.
public import TelemetryModel

/// Builds one record per machine and sample time out of the values of its variables.
///
/// OPC UA delivers variables one by one; a Sinter record holds all of a machine's fields at
/// one instant. The assembler keys pending records by (machine, timestamp), where the
/// timestamp is the value's SourceTimestamp (the time the device sampled it). Several samples
/// of a machine may be pending at once, because a subscription delivers its notifications
/// item by item (all frames of a publishing cycle, then all power values, …). A pending record
/// is emitted when
///
/// 1. every field the machine is known to have was set for its timestamp (the simulator
///    writes a whole sample in one request, so its records leave at once) — older pending
///    records of the machine leave with it, incomplete, so records stay in time order;
/// 2. nothing arrived for it for ``settle`` (see ``flush(now:everything:)``): a device that
///    writes only some variables per sample; or
/// 3. the machine has more than ``maximumPending`` samples pending (the oldest leaves).
///
/// Scalar channels and the state are sample-and-hold, like OPC UA variables: a record carries
/// the newest value of every channel seen so far, not only those of its own sample. The frame
/// is not held: a record has a frame only when the frame was written for its timestamp.
///
/// ```swift
/// var assembler = RecordAssembler(fields: ["dmls-01": [.frame, .channel("power_kw")]], frameSize: (100, 100))
/// let done = assembler.add(values, now: .now)   // complete records
/// let late = assembler.flush(now: .now)          // records whose settle time passed
/// ```
public struct RecordAssembler: Sendable {
    /// How long a pending record waits for more of its fields.
    public var settle: Duration
    /// Frame size assumed for flat (one-dimensional) arrays.
    public var frameSize: (width: Int, height: Int)
    /// Values that could not be used (wrong type, bad frame shape), by reason; for the status.
    public private(set) var unusable = 0

    /// Samples pending per machine before the oldest is emitted incomplete.
    public var maximumPending = 64

    private struct Pending {
        var frame: ThermalFrame?
        var channels: [String: Float] = [:]
        var state: String?
        var fieldsSet: Set<RecordField> = []
        var lastArrival: ContinuousClock.Instant
    }

    private struct Machine {
        var kind: String
        var expected: Set<RecordField>
        /// Held values: those of the records emitted so far.
        var channels: [String: Float] = [:]
        var state: String?
        var pending: [Timestamp: Pending] = [:]
    }

    private var machines: [MachineID: Machine] = [:]

    /// - Parameters:
    ///   - fields: the fields each machine has; a record is complete when all are set.
    ///   - kinds: the record kind per machine (`dmls`, `fdm`, …); empty when missing.
    public init(fields: [MachineID: Set<RecordField>], kinds: [MachineID: String] = [:],
                frameSize: (width: Int, height: Int) = (ThermalFrame.defaultWidth, ThermalFrame.defaultHeight),
                settle: Duration = .milliseconds(250)) {
        self.settle = settle
        self.frameSize = frameSize
        for (machine, set) in fields {
            machines[machine] = Machine(kind: kinds[machine] ?? "", expected: set)
        }
    }

    /// Adds (or redefines) a machine and the fields that complete its records.
    public mutating func register(_ machine: MachineID, fields: Set<RecordField>, kind: String) {
        if machines[machine] == nil {
            machines[machine] = Machine(kind: kind, expected: fields)
        } else {
            machines[machine]?.expected = fields
            machines[machine]?.kind = kind
        }
    }

    /// Records pending completion.
    public var pendingCount: Int { machines.values.reduce(0) { $0 + $1.pending.count } }

    /// Adds values in arrival order; returns the records they completed, in completion order.
    public mutating func add(_ values: [IntakeValue], now: ContinuousClock.Instant) -> [TelemetryRecord] {
        var done: [TelemetryRecord] = []
        var touched: [(MachineID, Timestamp)] = []
        for value in values {
            guard var machine = machines[value.machine] else {
                unusable += 1
                continue
            }
            var pending = machine.pending[value.timestamp] ?? Pending(lastArrival: now)
            var used = true
            switch value.field {
            case .frame:
                if let frame = value.value.thermalFrame(expected: frameSize) { pending.frame = frame } else { used = false }
            case .state:
                if let text = value.value.stateText, text.utf8.count <= 64 { pending.state = text } else { used = false }
            case .channel(let name):
                if let number = value.value.floatValue { pending.channels[name] = number } else { used = false }
            }
            guard used else {
                unusable += 1
                continue
            }
            pending.fieldsSet.insert(value.field)
            pending.lastArrival = now
            machine.pending[value.timestamp] = pending
            if machine.pending.count > maximumPending, let oldest = machine.pending.keys.min() {
                done += Self.emit(value.machine, &machine, through: oldest)
            }
            machines[value.machine] = machine
            touched.append((value.machine, value.timestamp))
        }
        // Complete records leave now, with the older pending ones of their machine.
        for (id, time) in touched {
            guard var machine = machines[id], let pending = machine.pending[time],
                  !machine.expected.isEmpty, machine.expected.isSubset(of: pending.fieldsSet) else { continue }
            done += Self.emit(id, &machine, through: time)
            machines[id] = machine
        }
        return done
    }

    /// Emits the pending records that waited longer than ``settle`` (all of them when `everything`).
    public mutating func flush(now: ContinuousClock.Instant, everything: Bool = false) -> [TelemetryRecord] {
        var done: [TelemetryRecord] = []
        for id in machines.keys.sorted(by: { $0.rawValue < $1.rawValue }) {
            guard var machine = machines[id] else { continue }
            let settled = machine.pending.filter { everything || $0.value.lastArrival.advanced(by: settle) <= now }.keys
            guard let newest = settled.max() else { continue }
            done += Self.emit(id, &machine, through: newest)
            machines[id] = machine
        }
        return done.sorted { $0.timestamp < $1.timestamp }
    }

    /// The earliest time a pending record's settle period ends, if any is pending.
    public var nextSettle: ContinuousClock.Instant? {
        machines.values.flatMap { $0.pending.values.map { $0.lastArrival.advanced(by: settle) } }.min()
    }

    /// Emits the machine's pending records up to and including `time`, oldest first, applying
    /// each one's values to the held ones.
    private static func emit(_ id: MachineID, _ machine: inout Machine, through time: Timestamp) -> [TelemetryRecord] {
        let times = machine.pending.keys.filter { $0 <= time }.sorted()
        var out: [TelemetryRecord] = []
        for t in times {
            guard let pending = machine.pending.removeValue(forKey: t) else { continue }
            machine.channels.merge(pending.channels) { _, new in new }
            if let state = pending.state { machine.state = state }
            out.append(TelemetryRecord(machineID: id, timestamp: t, kind: machine.kind,
                                       channels: machine.channels, state: machine.state, frame: pending.frame))
        }
        return out
    }
}
