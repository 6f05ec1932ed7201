// What the gateway takes in: OPC UA values addressed to a machine's record field.
public import OPCUA
public import TelemetryModel

/// The part of a telemetry record an OPC UA variable carries.
public enum RecordField: Sendable, Hashable, CustomStringConvertible {
    /// The thermal frame (a Float matrix `[rows, columns]`, or a flat array of the configured size).
    case frame
    /// The state label (a String, or a number written as text).
    case state
    /// A named Float channel (`power_kw`, `nozzle_temp_c`, …).
    case channel(String)

    /// `frame`, `state`, or a channel name (which must be a valid channel name and not a
    /// reserved `frame_*` statistic).
    public init?(parsing text: String) {
        switch text {
        case "frame": self = .frame
        case "state": self = .state
        default:
            guard ChannelName.isValid(text), !ChannelName.frameStatistics.contains(text) else { return nil }
            self = .channel(text)
        }
    }

    public var description: String {
        switch self {
        case .frame: "frame"
        case .state: "state"
        case .channel(let name): name
        }
    }
}

/// One value for one field of one machine, as it arrived over OPC UA.
public struct IntakeValue: Sendable {
    public var machine: MachineID
    public var field: RecordField
    public var value: Variant
    /// The value's SourceTimestamp, else its ServerTimestamp, else the arrival time.
    public var timestamp: Timestamp

    public init(machine: MachineID, field: RecordField, value: Variant, timestamp: Timestamp) {
        self.machine = machine
        self.field = field
        self.value = value
        self.timestamp = timestamp
    }

    /// The time a DataValue describes: its SourceTimestamp, else its ServerTimestamp, else `arrival`.
    static func time(of value: DataValue, arrival: Timestamp) -> Timestamp {
        if let source = value.sourceTimestamp, source.ticks != 0 { return Timestamp(nanoseconds: source.unixNanoseconds) }
        if let server = value.serverTimestamp, server.ticks != 0 { return Timestamp(nanoseconds: server.unixNanoseconds) }
        return arrival
    }
}

extension Variant {
    /// A scalar as Float: every numeric type, Boolean as 0/1; nil for anything else.
    var floatValue: Float? {
        guard case .scalar(let scalar) = self else { return nil }
        switch scalar {
        case .boolean(let v): return v ? 1 : 0
        case .sbyte(let v): return Float(v)
        case .byte(let v): return Float(v)
        case .int16(let v): return Float(v)
        case .uint16(let v): return Float(v)
        case .int32(let v): return Float(v)
        case .uint32(let v): return Float(v)
        case .int64(let v): return Float(v)
        case .uint64(let v): return Float(v)
        case .float(let v): return v
        case .double(let v): return Float(v)
        default: return nil
        }
    }

    /// A state label: a String, the text of a LocalizedText, or an integer written as text.
    var stateText: String? {
        guard case .scalar(let scalar) = self else { return nil }
        switch scalar {
        case .string(let text?): return text.isEmpty ? nil : text
        case .localizedText(let text): return text.text.flatMap { $0.isEmpty ? nil : $0 }
        case .int32(let v): return String(v)
        case .uint32(let v): return String(v)
        case .int16(let v): return String(v)
        case .uint16(let v): return String(v)
        case .byte(let v): return String(v)
        default: return nil
        }
    }

    /// A thermal frame: a Float (or Double) matrix `[rows, columns]`, or a flat array of
    /// exactly `expected.width × expected.height` values.
    func thermalFrame(expected: (width: Int, height: Int)) -> ThermalFrame? {
        guard case .array(let values, let dimensions) = self else { return nil }
        let floats: [Float]
        switch values {
        case .float(let v): floats = v
        case .double(let v): floats = v.map { Float($0) }
        default: return nil
        }
        if let dimensions, dimensions.count == 2 {
            let rows = Int(dimensions[0]), columns = Int(dimensions[1])
            return try? ThermalFrame(width: columns, height: rows, values: floats)
        }
        guard dimensions == nil || dimensions?.count == 1, floats.count == expected.width * expected.height else { return nil }
        return try? ThermalFrame(width: expected.width, height: expected.height, values: floats)
    }
}
