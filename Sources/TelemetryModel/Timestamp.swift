/// A point in time: nanoseconds since 1970-01-01T00:00:00Z (UTC), as a signed 64-bit integer.
///
/// Covers the years 1678–2262. Queries accept RFC 3339 text or integer epoch milliseconds;
/// ``Timestamp/init(parsing:)`` takes either.
///
/// ```swift
/// let t = try Timestamp(parsing: "2026-11-21T10:00:00.250Z")
/// t.nanoseconds      // 1795255200250000000
/// t.rfc3339          // "2026-11-21T10:00:00.25Z"
/// ```
public struct Timestamp: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// Nanoseconds since the Unix epoch, UTC.
    public var nanoseconds: Int64

    /// A timestamp from nanoseconds since the epoch.
    public init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }
    /// A timestamp from milliseconds since the epoch (wraps outside ±292 years).
    public init(milliseconds: Int64) { self.nanoseconds = milliseconds &* 1_000_000 }
    /// A timestamp from seconds since the epoch, rounded to the nanosecond; saturates at
    /// ``min`` and ``max`` (NaN gives the epoch) instead of trapping.
    public init(seconds: Double) {
        let ns = (seconds * 1e9).rounded()
        if ns.isNaN {
            nanoseconds = 0
        } else if ns >= 9.223372036854775e18 {
            nanoseconds = .max
        } else if ns <= -9.223372036854775e18 {
            nanoseconds = .min
        } else {
            nanoseconds = Int64(ns)
        }
    }

    /// The earliest representable time (1677), for open-ended ranges.
    public static let min = Timestamp(nanoseconds: .min)
    /// The latest representable time (2262), for open-ended ranges.
    public static let max = Timestamp(nanoseconds: .max)

    /// Milliseconds since the epoch (floor).
    public var milliseconds: Int64 { nanoseconds >= 0 ? nanoseconds / 1_000_000 : (nanoseconds - 999_999) / 1_000_000 }
    /// Seconds since the epoch as a Double (microsecond precision near the present).
    public var seconds: Double { Double(nanoseconds) / 1e9 }

    public static func < (a: Timestamp, b: Timestamp) -> Bool { a.nanoseconds < b.nanoseconds }
    /// This time moved by `n` nanoseconds (negative to go back).
    public func advanced(byNanoseconds n: Int64) -> Timestamp { Timestamp(nanoseconds: nanoseconds &+ n) }

    /// Parses RFC 3339 (`2026-11-21T10:00:00Z`, fractional seconds up to nanoseconds, `Z` or `±hh:mm`)
    /// or an integer number of epoch milliseconds.
    public init(parsing text: String, field: String = "timestamp") throws(ModelError) {
        if let ms = Int64(text) {
            guard ms > Int64.min / 1_000_000, ms < Int64.max / 1_000_000 else { throw Self.invalid(text, field) }
            self.init(milliseconds: ms)
            return
        }
        guard let ns = Self.parseRFC3339(Array(text.utf8)) else { throw Self.invalid(text, field) }
        self.init(nanoseconds: ns)
    }

    private static func invalid(_ text: String, _ field: String) -> ModelError {
        ModelError(code: "invalid_timestamp",
                   message: "expected RFC 3339 (2026-11-21T10:00:00Z) or epoch milliseconds, got \(MachineID.quoted(text))",
                   field: field)
    }

    static func parseRFC3339(_ b: [UInt8]) -> Int64? {
        var i = 0
        func digits(_ n: Int) -> Int64? {
            guard i + n <= b.count else { return nil }
            var v: Int64 = 0
            for k in 0..<n {
                let c = b[i + k]
                guard c >= 48, c <= 57 else { return nil }
                v = v * 10 + Int64(c - 48)
            }
            i += n
            return v
        }
        func expect(_ chars: String) -> Bool {
            guard i < b.count, chars.utf8.contains(b[i]) else { return false }
            i += 1
            return true
        }
        guard let year = digits(4), expect("-"), let month = digits(2), expect("-"), let day = digits(2),
              expect("Tt "), let hour = digits(2), expect(":"), let minute = digits(2), expect(":"),
              let second = digits(2) else { return nil }
        guard (1...12).contains(month), day >= 1, day <= daysInMonth(year, month), hour < 24, minute < 60, second <= 60
        else { return nil }
        var fraction: Int64 = 0
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            var n = 0
            while i < b.count, b[i] >= 48, b[i] <= 57 {
                if n < 9 { fraction = fraction * 10 + Int64(b[i] - 48) }
                n += 1
                i += 1
            }
            guard n > 0 else { return nil }
            // Digits past nanoseconds are dropped (n may exceed 9).
            if n < 9 { for _ in n..<9 { fraction *= 10 } }
        }
        var offset: Int64 = 0
        guard i < b.count else { return nil }
        if b[i] == UInt8(ascii: "Z") || b[i] == UInt8(ascii: "z") {
            i += 1
        } else if b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") {
            let sign: Int64 = b[i] == UInt8(ascii: "-") ? -1 : 1
            i += 1
            guard let oh = digits(2), expect(":"), let om = digits(2), oh < 24, om < 60 else { return nil }
            offset = sign * (oh * 3600 + om * 60)
        } else {
            return nil
        }
        guard i == b.count else { return nil }
        let days = daysFromCivil(year, month, day)
        let secs = days * 86400 + hour * 3600 + minute * 60 + second - offset
        let (ns, overflow) = secs.multipliedReportingOverflow(by: 1_000_000_000)
        guard !overflow else { return nil }
        let (total, overflow2) = ns.addingReportingOverflow(fraction)
        return overflow2 ? nil : total
    }

    static func isLeap(_ y: Int64) -> Bool { (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 }
    static func daysInMonth(_ y: Int64, _ m: Int64) -> Int64 {
        [31, isLeap(y) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][Int(m - 1)]
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    static func daysFromCivil(_ y0: Int64, _ m: Int64, _ d: Int64) -> Int64 {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }

    static func civilFromDays(_ z0: Int64) -> (Int64, Int64, Int64) {
        let z = z0 + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, m, d)
    }

    /// RFC 3339 in UTC with as many fractional digits as needed (none, up to 9).
    public var rfc3339: String {
        var secs = nanoseconds / 1_000_000_000
        var frac = nanoseconds % 1_000_000_000
        if frac < 0 { frac += 1_000_000_000; secs -= 1 }
        var days = secs / 86400
        var rem = secs % 86400
        if rem < 0 { rem += 86400; days -= 1 }
        let (y, m, d) = Self.civilFromDays(days)
        func pad(_ v: Int64, _ n: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: Swift.max(0, n - s.count)) + s
        }
        var out = "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))T\(pad(rem / 3600, 2)):\(pad(rem / 60 % 60, 2)):\(pad(rem % 60, 2))"
        if frac != 0 {
            var f = pad(frac, 9)
            while f.hasSuffix("0") { f.removeLast() }
            out += "." + f
        }
        return out + "Z"
    }

    public var description: String { rfc3339 }
}
