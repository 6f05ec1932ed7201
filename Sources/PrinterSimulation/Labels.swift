public import TelemetryModel

/// A ground-truth event: a fault starting or ending, an FDM printer changing state.
///
/// Written as JSON Lines by ``LabelWriter`` so that detector evaluations
/// (`sinter-detect evaluate --labels FILE`) know what really happened and when.
public enum LabelEvent: Sendable, Hashable {
    case faultStarted(Fault)
    case faultEnded(Fault)
    /// `from` is nil for a printer's first state.
    case stateChanged(machineID: MachineID, time: Timestamp, from: FDMState?, to: FDMState)

    /// When it happened (simulated time).
    public var time: Timestamp {
        switch self {
        case .faultStarted(let f): f.start
        case .faultEnded(let f): f.end
        case .stateChanged(_, let time, _, _): time
        }
    }

    public var machineID: MachineID {
        switch self {
        case .faultStarted(let f), .faultEnded(let f): f.machineID
        case .stateChanged(let machine, _, _, _): machine
        }
    }

    /// Tie-break at equal times: ends before state changes before starts.
    var order: Int {
        switch self {
        case .faultEnded: 0
        case .stateChanged: 1
        case .faultStarted: 2
        }
    }

    /// The event as one line of JSON (no newline).
    ///
    /// ```json
    /// {"event":"fault_start","fault_id":1,"kind":"hot-spot","machine_id":"dmls-01","time":"2027-01-15T08:02:00.000000000Z","time_ns":1800000120000000000,"end":"…","end_ns":…,"scheduled":true,"parameters":{"delta":21,"radius":4,"x":52,"y":40}}
    /// {"event":"fault_end","fault_id":1,"kind":"hot-spot","machine_id":"dmls-01","time":"…","time_ns":…}
    /// {"event":"state","machine_id":"fdm-01","time":"…","time_ns":…,"state":"anomaly","previous":"printing"}
    /// ```
    public var jsonLine: String {
        var j = "{"
        switch self {
        case .faultStarted(let f):
            j += "\"event\":\"fault_start\",\"fault_id\":\(f.id),\"kind\":\"\(f.kind.rawValue)\","
            j += "\"machine_id\":\"\(f.machineID.rawValue)\",\(Self.time("time", f.start)),\(Self.time("end", f.end)),"
            j += "\"scheduled\":\(f.scheduled)"
            if !f.parameters.isEmpty {
                j += ",\"parameters\":{" + f.parameters.sorted { $0.key < $1.key }
                    .map { "\"\($0.key)\":\(Self.number($0.value))" }.joined(separator: ",") + "}"
            }
            if !f.options.isEmpty {
                j += ",\"options\":{" + f.options.sorted { $0.key < $1.key }
                    .map { "\"\($0.key)\":\"\(Self.escaped($0.value))\"" }.joined(separator: ",") + "}"
            }
        case .faultEnded(let f):
            j += "\"event\":\"fault_end\",\"fault_id\":\(f.id),\"kind\":\"\(f.kind.rawValue)\","
            j += "\"machine_id\":\"\(f.machineID.rawValue)\",\(Self.time("time", f.end))"
        case .stateChanged(let machine, let time, let from, let to):
            j += "\"event\":\"state\",\"machine_id\":\"\(machine.rawValue)\",\(Self.time("time", time)),\"state\":\"\(to.rawValue)\""
            j += ",\"previous\":" + (from.map { "\"\($0.rawValue)\"" } ?? "null")
        }
        return j + "}"
    }

    static func time(_ key: String, _ t: Timestamp) -> String {
        "\"\(key)\":\"\(t.rfc3339)\",\"\(key)_ns\":\(t.nanoseconds)"
    }

    static func number(_ v: Double) -> String {
        guard v.isFinite else { return "null" }
        return v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : "\(v)"
    }

    static func escaped(_ s: String) -> String {
        var out = ""
        for ch in s.unicodeScalars {
            switch ch {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where ch.value < 0x20: out += "\\u" + String(repeating: "0", count: 4 - String(ch.value, radix: 16).count) + String(ch.value, radix: 16)
            default: out.unicodeScalars.append(ch)
            }
        }
        return out
    }
}

/// Appends label events to a JSON Lines file, one event per line, flushed after every write so
/// a killed simulator leaves complete lines.
///
/// The first line describes the run (`"event":"simulation"`: seed, start, rate, printers).
///
/// ```swift
/// let labels = try LabelWriter(path: "labels.jsonl", fleet: fleet)
/// try labels.write(step.labels)
/// ```
public final class LabelWriter: @unchecked Sendable {
    private let file: UnsafeMutablePointer<FILE>
    public let path: String
    /// Lines written, the header included.
    public private(set) var linesWritten = 0

    /// Creates (or truncates) `path` and writes the header line.
    public init(path: String, fleet: PrinterFleet) throws(SimulationError) {
        guard let file = fopen(path, "w") else {
            throw SimulationError(code: .labels, message: "--labels \(path): cannot create the file (\(String(cString: strerror(errno))))")
        }
        self.file = file
        self.path = path
        let c = fleet.configuration
        let printers = fleet.printers.map { "{\"machine_id\":\"\($0.machineID.rawValue)\",\"kind\":\"\($0.kind.rawValue)\"}" }
        var header = "{\"event\":\"simulation\",\"version\":1,\"seed\":\(c.seed),\(LabelEvent.time("start", c.start)),"
        header += "\"rate_hz\":\(c.rate),\"printers\":[\(printers.joined(separator: ","))]"
        if c.fdmCount > 0 {
            header += ",\"fdm_cycle\":[" + c.fdm.cycle.map { "{\"state\":\"\($0.state.rawValue)\",\"seconds\":\(LabelEvent.number($0.seconds))}" }
                .joined(separator: ",") + "]"
        }
        header += "}"
        try writeLine(header)
    }

    deinit { fclose(file) }

    /// Writes `events`, one line each, and flushes.
    public func write(_ events: [LabelEvent]) throws(SimulationError) {
        for event in events { try writeLine(event.jsonLine) }
    }

    private func writeLine(_ line: String) throws(SimulationError) {
        let text = line + "\n"
        let ok = text.utf8CString.withUnsafeBufferPointer { p in fputs(p.baseAddress!, file) >= 0 } && fflush(file) == 0
        guard ok else {
            throw SimulationError(code: .labels, message: "--labels \(path): write failed (\(String(cString: strerror(errno))))")
        }
        linesWritten += 1
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
