import Foundation
import Hummingbird
import TelemetryModel

/// Parsing of query parameters and path segments into model values, with 400s that name the
/// parameter at fault.
extension Request {
    func queryString(_ name: String) -> String? {
        uri.queryParameters[name[...]].map { String($0) }
    }

    /// A time parameter: RFC 3339 or integer epoch milliseconds.
    func queryTime(_ name: String) throws -> Timestamp? {
        guard let text = queryString(name), !text.isEmpty else { return nil }
        guard let time = try? Timestamp(parsing: text, field: name) else {
            throw APIError.badQuery(name, "\(name) must be RFC 3339 (2026-01-31T12:00:00Z) or epoch milliseconds; got \(MachineID.quoted(text))")
        }
        return time
    }

    func queryInt(_ name: String, default value: Int, range: ClosedRange<Int>) throws -> Int {
        guard let text = queryString(name), !text.isEmpty else { return value }
        guard let n = Int(text), range.contains(n) else {
            throw APIError.badQuery(name, "\(name) must be an integer in \(range.lowerBound)...\(range.upperBound); got \(MachineID.quoted(text))")
        }
        return n
    }

    func queryBool(_ name: String) throws -> Bool? {
        guard let text = queryString(name), !text.isEmpty else { return nil }
        switch text.lowercased() {
        case "true", "1", "yes": return true
        case "false", "0", "no": return false
        default: throw APIError.badQuery(name, "\(name) must be true or false; got \(MachineID.quoted(text))")
        }
    }

    func queryMachine(_ name: String) throws -> MachineID? {
        guard let text = queryString(name), !text.isEmpty else { return nil }
        return try mapping({ () throws(ModelError) in try MachineID(text, field: name) }) { APIError.badQuery(name, $0.message) }
    }

    /// Whether `include=frame` (or `include=frames`) was asked for.
    func includesFrame() throws -> Bool {
        guard let text = queryString("include"), !text.isEmpty else { return false }
        for part in text.split(separator: ",") {
            switch part {
            case "frame", "frames": return true
            case "stats", "statistics", "none": continue
            default: throw APIError.badQuery("include", "include must be frame (or none); got \(MachineID.quoted(String(part)))")
            }
        }
        return false
    }

    /// Whether the client accepts `mediaType` (a plain substring test on `Accept`).
    func accepts(_ mediaType: String) -> Bool {
        guard let accept = headers[.accept] else { return false }
        return accept.contains(mediaType)
    }
}

extension Parameters {
    /// A path parameter with its percent-encoding undone (`dmls-01%401795…` is `dmls-01@1795…`,
    /// as browsers' `encodeURIComponent` sends it); a malformed escape leaves the text as it is,
    /// so the validation that follows names it.
    func decoded(_ name: String) -> String {
        let raw = self.get(name) ?? ""
        return raw.removingPercentEncoding ?? raw
    }

    /// The machine id in the path, validated before it touches anything (400 otherwise).
    func machineID(_ name: String = "id") throws -> MachineID {
        let text = decoded(name)
        guard MachineID.isValid(text), let id = try? MachineID(text) else {
            throw APIError(.badRequest, code: "invalid_machine_id",
                           message: "machine ids are 1-64 characters of A-Z a-z 0-9 . _ -; got \(MachineID.quoted(text))",
                           field: "machine_id")
        }
        return id
    }
}

/// Parses a step such as `500ms`, `10s`, `5m`, `1h`, `1d`, or plain milliseconds.
func parseStep(_ text: String) -> Duration? {
    let units: [(String, Int64)] = [("ms", 1_000_000), ("s", 1_000_000_000), ("m", 60_000_000_000),
                                    ("h", 3_600_000_000_000), ("d", 86_400_000_000_000)]
    for (suffix, ns) in units where text.hasSuffix(suffix) {
        let number = text.dropLast(suffix.count)
        // "5m" must not be read as "5" + "m" when it is "5ms": ms is tried first.
        if let n = Int64(number), n > 0, n <= Int64.max / ns { return .nanoseconds(n * ns) }
        if let d = Double(number), d > 0, d.isFinite, d * Double(ns) < 9e18, d * Double(ns) >= 1 {
            return .nanoseconds(Int64(d * Double(ns)))
        }
        return nil
    }
    if let n = Int64(text), n > 0, n <= Int64.max / 1_000_000 { return .milliseconds(n) }
    return nil
}
