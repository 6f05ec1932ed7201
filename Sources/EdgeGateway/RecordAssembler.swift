// Turns a stream of per-variable OPC UA values into telemetry records.
public import TelemetryModel

/// Builds one record per machine and sample time out of the values of its variables.
///
/// OPC UA delivers variables one by one; a Sinter record holds all of a machine's fields at
/// one instant. The assembler keys a pending record by (machine, timestamp), where the
/// timestamp is the value's SourceTimestamp (the time the device sampled it). A machine's
/// pending record is complete, and emitted, when
///
/// 1. every field the machine is known to have was set for that timestamp (the simulator
///    writes a whole sample in one request, so its records leave at once),
/// 2. a value with a different timestamp arrives for the machine (the next sample began), or
/// 3. nothing arrived for it for ``settle`` (see ``flush(now:)``): a device that writes only
///    some variables per sample.
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

    private struct Pending {
        var timestamp: Timestamp
        var frame: ThermalFrame?
        var fieldsSet: Set<RecordField> = []
        var lastArrival: ContinuousClock.Instant
    }

    private struct Machine {
        var kind: String
        var expected: Set<RecordField>
        var channels: [String: Float] = [:]
        var state: String?
        var pending: Pending?
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
    public var pendingCount: Int { machines.values.reduce(0) { $0 + ($1.pending == nil ? 0 : 1) } }

    /// Adds values in arrival order; returns the records they completed, in completion order.
    public mutating func add(_ values: [IntakeValue], now: ContinuousClock.Instant) -> [TelemetryRecord] {
        var done: [TelemetryRecord] = []
        var touched: [MachineID] = []
        for value in values {
            guard var machine = machines[value.machine] else {
                unusable += 1
                continue
            }
            if let pending = machine.pending, pending.timestamp != value.timestamp {
                done.append(Self.record(value.machine, &machine))
            }
            if machine.pending == nil {
                machine.pending = Pending(timestamp: value.timestamp, lastArrival: now)
            }
            var used = true
            switch value.field {
            case .frame:
                if let frame = value.value.thermalFrame(expected: frameSize) { machine.pending?.frame = frame } else { used = false }
            case .state:
                if let text = value.value.stateText, text.utf8.count <= 64 { machine.state = text } else { used = false }
            case .channel(let name):
                if let number = value.value.floatValue { machine.channels[name] = number } else { used = false }
            }
            if used {
                machine.pending?.fieldsSet.insert(value.field)
                machine.pending?.lastArrival = now
            } else {
                unusable += 1
            }
            machines[value.machine] = machine
            if touched.last != value.machine { touched.append(value.machine) }
        }
        // Complete records leave now rather than at the next sample.
        for id in touched {
            guard var machine = machines[id], let pending = machine.pending,
                  !machine.expected.isEmpty, machine.expected.isSubset(of: pending.fieldsSet) else { continue }
            done.append(Self.record(id, &machine))
            machines[id] = machine
        }
        return done
    }

    /// Emits the pending records that waited longer than ``settle`` (all of them when `everything`).
    public mutating func flush(now: ContinuousClock.Instant, everything: Bool = false) -> [TelemetryRecord] {
        var done: [TelemetryRecord] = []
        for id in machines.keys.sorted(by: { $0.rawValue < $1.rawValue }) {
            guard var machine = machines[id], let pending = machine.pending else { continue }
            guard everything || pending.lastArrival.advanced(by: settle) <= now else { continue }
            done.append(Self.record(id, &machine))
            machines[id] = machine
        }
        return done.sorted { $0.timestamp < $1.timestamp }
    }

    /// The earliest time a pending record's settle period ends, if any is pending.
    public var nextSettle: ContinuousClock.Instant? {
        machines.values.compactMap { $0.pending?.lastArrival.advanced(by: settle) }.min()
    }

    private static func record(_ id: MachineID, _ machine: inout Machine) -> TelemetryRecord {
        let pending = machine.pending!
        machine.pending = nil
        return TelemetryRecord(machineID: id, timestamp: pending.timestamp, kind: machine.kind,
                               channels: machine.channels, state: machine.state, frame: pending.frame)
    }
}
