// Counters of the gateway, for its progress lines, its status file and tests.
import Synchronization
public import TelemetryModel

/// What the gateway has done since it started.
///
/// `dropped` stays 0 unless the spool filled up under the `drop-oldest` policy, or (client
/// mode only, where a subscription cannot be refused) under `reject`.
///
/// ```swift
/// let status = gateway.status()
/// print(status.recordsIn, status.forwarded, status.spool.pendingRecords, status.dropped)
/// ```
public struct EdgeStatus: Sendable {
    /// OPC UA values taken in (written by printers, or notified by a subscription).
    public var valuesIn = 0
    /// Values that could not be used (unknown machine, wrong type, bad frame shape, Bad quality).
    public var valuesUnusable = 0
    /// Write requests refused because the in-memory buffer was full (`BadResourceUnavailable`).
    public var writesRefused = 0
    /// Records assembled from the values (before averaging).
    public var recordsIn = 0
    /// Records after averaging, handed to the spool.
    public var recordsOut = 0
    /// Records the server acknowledged (2xx).
    public var forwarded = 0
    /// Records the server refused individually as invalid (a one-record request answered 422,
    /// or 400 with its JSON error body); each was moved to the dead-letter file, none dropped.
    public var rejected = 0
    /// Entries in the spool's dead-letter file (`sinter-edge dead-letter list` shows them).
    public var deadLetters = 0
    /// Damaged stretches found in the dead-letter file when it was opened.
    public var deadLetterCorruptEntries = 0
    /// Whether the server's last answer was 401 or 403 (the records stay spooled and are retried).
    public var serverRefusesToken = false
    /// The last failed request's reason ("HTTP 401: unauthorized: …", a connection error), if any.
    public var lastHTTPError: String?
    /// Requests that failed and were retried (connection refused, timeout, 429, 5xx).
    public var retries = 0
    /// Records lost on purpose: dropped by a full spool (see the type's summary).
    public var dropped = 0
    /// Records waiting in memory for space in the spool.
    public var held = 0
    /// Whether the last request reached the server.
    public var serverReachable = true
    /// The spool's own counters.
    public var spool = SpoolStatus()
    /// Per machine: records forwarded, last record time, last frame statistics.
    public var machines: [String: MachineStatus] = [:]

    public init() {}

    /// One machine's part of the status.
    public struct MachineStatus: Sendable, Hashable {
        public var recordsOut = 0
        public var lastTimestamp: Timestamp?
        /// Min, max, mean and standard deviation of the last forwarded record's frame.
        public var lastFrame: FrameStatistics?
        public var lastState: String?
    }

    /// The status as a JSON object (for `--status-file` and logs).
    public var json: String {
        func number(_ v: Float) -> String { v.isFinite ? "\(v)" : "null" }
        var machineParts: [String] = []
        for (id, m) in machines.sorted(by: { $0.key < $1.key }) {
            var fields = ["\"records_out\":\(m.recordsOut)"]
            if let t = m.lastTimestamp { fields.append("\"last_timestamp\":\"\(t)\"") }
            if let state = m.lastState { fields.append("\"last_state\":\"\(state.jsonEscaped)\"") }
            if let s = m.lastFrame {
                fields.append("\"last_frame\":{\"min\":\(number(s.min)),\"max\":\(number(s.max)),\"mean\":\(number(s.mean)),\"std\":\(number(s.std))}")
            }
            machineParts.append("\"\(id)\":{\(fields.joined(separator: ","))}")
        }
        return """
        {"values_in":\(valuesIn),"values_unusable":\(valuesUnusable),"writes_refused":\(writesRefused),\
        "records_in":\(recordsIn),"records_out":\(recordsOut),"forwarded":\(forwarded),"rejected":\(rejected),\
        "retries":\(retries),"dropped":\(dropped),"held":\(held),"server_reachable":\(serverReachable),\
        "server_refuses_token":\(serverRefusesToken),"last_http_error":\(lastHTTPError.map { "\"\($0.jsonEscaped)\"" } ?? "null"),\
        "dead_letter":{"entries":\(deadLetters),"corrupt_entries":\(deadLetterCorruptEntries)},\
        "spool":{"pending_records":\(spool.pendingRecords),"pending_bytes":\(spool.pendingBytes),"disk_bytes":\(spool.diskBytes),\
        "segments":\(spool.segments),"recovered_records":\(spool.recoveredRecords),"corrupt_entries":\(spool.corruptEntries),\
        "dropped_records":\(spool.droppedRecords),"full":\(spool.isFull),\
        "failed":\(spool.failure.map { "\"\($0.jsonEscaped)\"" } ?? "null")},\
        "machines":{\(machineParts.joined(separator: ","))}}
        """
    }
}

extension String {
    var jsonEscaped: String {
        var out = ""
        for scalar in unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else { out.unicodeScalars.append(scalar) }
            }
        }
        return out
    }
}

/// The shared, lock-protected status every part of the gateway updates.
final class StatusBox: Sendable {
    private let state = Mutex(EdgeStatus())

    func update(_ body: (inout EdgeStatus) -> Void) {
        state.withLock { body(&$0) }
    }

    var value: EdgeStatus { state.withLock { $0 } }
}
