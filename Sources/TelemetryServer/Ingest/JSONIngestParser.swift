package import TelemetryModel

/// Why an ingest body was refused.
///
/// ``Kind/malformed`` is a body that is not JSON (HTTP 400); ``Kind/invalid`` is JSON that is
/// not an acceptable record (HTTP 422). `field` names the value concerned (`timestamp`, or
/// `records[3].timestamp` when the body was an array) and `offset` is its byte offset in the
/// body, so the answer can be `{"error": {"code", "message", "field"}}`.
///
/// ```swift
/// do { _ = try JSONIngestParser.parse(body) } catch { print(error.kind, error.field ?? "-") }
/// ```
package struct IngestError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The class of failure, which decides the HTTP status.
    package enum Kind: Sendable, Hashable {
        /// The body is not well-formed (HTTP 400).
        case malformed
        /// The body is well-formed but a record is not acceptable (HTTP 422).
        case invalid
    }

    package var kind: Kind
    /// Stable, machine-readable reason: `malformed_json`, `missing_field`, `invalid_machine_id`, …
    package var code: String
    /// What is wrong and, for malformed bodies, where (`expected ',' or ']' at byte 1234`).
    package var message: String
    /// The field concerned (`records[3].temperature_data[17]`), if any.
    package var field: String?
    /// Byte offset in the body of the problem (for a missing field: of its record), if known.
    package var offset: Int?

    package init(kind: Kind, code: String, message: String, field: String? = nil, offset: Int? = nil) {
        self.kind = kind
        self.code = code
        self.message = message
        self.field = field
        self.offset = offset
    }

    package var description: String { (field.map { "\($0): " } ?? "") + "\(message) [\(code)]" }
}

/// A single-pass parser for JSON ingest bodies: one record object or an array of them.
///
/// It reads the collected request body in place and builds ``TelemetryModel/TelemetryRecord``
/// values directly: no intermediate JSON tree, no `Foundation`. Thermal frames (10 000 numbers
/// each) go through a tight loop that reads plain decimals (`23.45`, `-1.5`, `80`) eight
/// digits at a time, so a 100 × 100 frame parses in about 0.1 ms. Every number is converted
/// exactly: a frame value is `Float(Double(text))` bit for bit, any other number the
/// correctly rounded Double (integer mantissa and a power of ten by Clinger's method or
/// 128-bit integer arithmetic for up to 19 digits and exponents up to ±22; the standard
/// library's conversion beyond that).
///
/// Two record shapes are accepted, and their keys may be mixed:
/// - the seed shape: `machine_id`, `timestamp`, `temperature_data` (10 000 numbers, flat or
///   100 rows of 100), `power_consumption` (→ channel `power_kw`), `vibration`
///   (→ `vibration_mm_s`); kind `dmls` unless `kind` says otherwise; `temperature_stats` is
///   ignored (the store computes the statistics);
/// - the full shape: `machine_id`, `timestamp`, `kind`, `channels` (`{"name": number}`,
///   which win over the seed keys), `state` (string or null) and `frame` (a flat or nested
///   array, 100 × 100, or `{"width", "height", "data"}`).
///
/// `timestamp` is RFC 3339 text or epoch milliseconds (a number, optionally with a
/// fraction, or the same digits as a string). `null` on an optional field means absent.
/// Unknown keys are skipped (nested values up to 64 levels deep). Duplicate keys: the last one
/// wins; `frame` wins over `temperature_data`.
///
/// Errors: a syntax error anywhere wins over an invalid record before it, so a body that is
/// not JSON is always a 400. Otherwise the first invalid record (in body order) is reported.
/// Strings that the parser skips are checked for syntax but not for UTF-8 validity.
///
/// ```swift
/// let records = try body.withUnsafeReadableBytes { try JSONIngestParser.parse($0) }
/// ```
package enum JSONIngestParser {
    /// The most values one frame may have (a 4096 × 4096 frame).
    static let maximumFrameValues = ThermalFrame.maximumSide * ThermalFrame.maximumSide
    /// How deep skipped values may nest.
    static let maximumDepth = 64

    /// Parses `body` into records.
    ///
    /// Throws ``IngestError`` of kind `malformed` (not JSON) or `invalid` (a record is not
    /// acceptable: missing or invalid fields, wrong frame size, non-finite numbers, an empty
    /// array, more than `maximumRecords` records). Never traps, whatever the bytes.
    ///
    /// ```swift
    /// let json = #"{"machine_id": "fdm-01", "timestamp": 1795255200000, "channels": {"nozzle_temp_c": 210.5}}"#
    /// let records = try Array(json.utf8).withUnsafeBytes { try JSONIngestParser.parse($0) }
    /// ```
    package static func parse(_ body: UnsafeRawBufferPointer, maximumRecords: Int = 100_000) throws(IngestError)
        -> [TelemetryRecord] {
        guard let base = body.baseAddress, body.count > 0 else {
            throw IngestError(kind: .malformed, code: "malformed_json", message: "empty body", offset: 0)
        }
        var parser = Parser(base: base, end: body.count, maximumRecords: maximumRecords)
        defer { parser.deallocate() }
        return try parser.parseBody()
    }

    /// Parses one JSON number (the whole of `text`) with the general scanner; nil if `text`
    /// is not exactly one JSON number. For tests.
    static func parseNumber(_ text: String) -> Double? {
        withTestParser(text, padded: false) { parser, length in
            let c = parser.at(0)
            guard c == UInt8(ascii: "-") || c &- 0x30 < 10, let (value, next) = try? parser.scanNumber(0),
                  next == length else { return nil }
            return value
        }
    }

    /// Parses `text` as a frame value with the eight-digits-at-a-time fast path; nil if that
    /// path declines it (the frame loop then uses the general scanner) or it is not exactly one
    /// number. For tests.
    static func parseFrameValueFast(_ text: String) -> Float? {
        withTestParser(text, padded: true) { parser, length in
            guard let (value, next) = parser.fastFloat(0), next == length else { return nil }
            return value
        }
    }

    private static func withTestParser<T>(_ text: String, padded: Bool, _ body: (Parser, Int) -> T?) -> T? {
        // The fast path needs 32 bytes of body after the number's start: the padding.
        let bytes = Array(text.utf8) + Array(repeating: UInt8(ascii: " "), count: 40)
        let length = text.utf8.count
        return bytes.withUnsafeBytes { raw -> T? in
            guard let base = raw.baseAddress, length > 0 else { return nil }
            let parser = Parser(base: base, end: padded ? raw.count : length, maximumRecords: 1)
            defer { parser.deallocate() }
            return body(parser, length)
        }
    }
}

// MARK: - Parser

/// Builds field names such as `records[3].timestamp` only when an error needs one.
private struct FieldPath {
    /// The record's index when the body was an array.
    var index: Int?

    func callAsFunction(_ name: String) -> String {
        guard let index else { return name }
        return "records[\(index)].\(name)"
    }

    /// The record itself.
    var record: String { index.map { "records[\($0)]" } ?? "record" }
}

/// The keys the parser knows.
private enum Key {
    case machineID, timestamp, kind, state, channels, frame, temperatureData, powerConsumption, vibration
    case width, height, data
    case other

    /// The key whose UTF-8 bytes are `bytes`.
    init(_ bytes: UnsafeRawBufferPointer) {
        func equals(_ literal: StaticString) -> Bool {
            guard literal.utf8CodeUnitCount == bytes.count else { return false }
            let utf8 = UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount)
            return utf8.elementsEqual(bytes)
        }
        switch bytes.count {
        case 4: self = equals("kind") ? .kind : equals("data") ? .data : .other
        case 5: self = equals("frame") ? .frame : equals("state") ? .state : equals("width") ? .width : .other
        case 6: self = equals("height") ? .height : .other
        case 8: self = equals("channels") ? .channels : .other
        case 9: self = equals("timestamp") ? .timestamp : equals("vibration") ? .vibration : .other
        case 10: self = equals("machine_id") ? .machineID : .other
        case 16: self = equals("temperature_data") ? .temperatureData : .other
        case 17: self = equals("power_consumption") ? .powerConsumption : .other
        default: self = .other
        }
    }
}

/// Frame values as parsed, before the size is checked.
private struct FrameValues {
    var values: [Float]
    /// Rows of a nested array; nil for a flat array.
    var rows: Int?
    /// Values per row (nested) or all values (flat).
    var rowLength: Int
    /// Where the array starts in the body.
    var offset: Int
    /// The field it came from: `temperature_data`, `frame` or `frame.data`.
    var name: String
}

private let quote = UInt8(ascii: "\"")
private let backslash = UInt8(ascii: "\\")
private let comma = UInt8(ascii: ",")
private let colon = UInt8(ascii: ":")
private let openBracket = UInt8(ascii: "[")
private let closeBracket = UInt8(ascii: "]")
private let openBrace = UInt8(ascii: "{")
private let closeBrace = UInt8(ascii: "}")
private let minus = UInt8(ascii: "-")
private let plus = UInt8(ascii: "+")
private let dot = UInt8(ascii: ".")
private let zero = UInt8(ascii: "0")
private let letterN = UInt8(ascii: "n")

private struct Parser {
    let base: UnsafeRawPointer
    /// Body length; `at(p)` returns 0 for `p >= end`, which no JSON token continues with.
    let end: Int
    let maximumRecords: Int
    var pos = 0

    /// Frame values being parsed (reused from frame to frame).
    var scratch: UnsafeMutablePointer<Float>
    var scratchCount = 0
    var scratchCapacity: Int
    /// 1e0 … 1e22, exact Doubles.
    let powersOfTen: UnsafeMutablePointer<Double>
    /// 5^0 … 5^27, exact.
    let powersOfFive: UnsafeMutablePointer<UInt64>
    /// 10^0 … 10^19 as integers.
    let powersOfTenInteger: UnsafeMutablePointer<UInt64>
    /// 10^-0 … 10^-16, rounded to nearest.
    let reciprocalPowersOfTen: UnsafeMutablePointer<Double>

    init(base: UnsafeRawPointer, end: Int, maximumRecords: Int) {
        self.base = base
        self.end = end
        self.maximumRecords = maximumRecords
        // Allocated at the first frame value (records without frames need none).
        scratchCapacity = 0
        scratch = .allocate(capacity: 0)
        powersOfTen = .allocate(capacity: 23)
        var p = 1.0
        for i in 0...22 {
            powersOfTen[i] = p
            p *= 10
        }
        powersOfFive = .allocate(capacity: 28)
        var f: UInt64 = 1
        for i in 0...27 {
            powersOfFive[i] = f
            f &*= 5
        }
        reciprocalPowersOfTen = .allocate(capacity: 17)
        let reciprocals: [Double] = [1, 1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9, 1e-10, 1e-11, 1e-12, 1e-13,
                                     1e-14, 1e-15, 1e-16]
        for (i, r) in reciprocals.enumerated() { reciprocalPowersOfTen[i] = r }
        powersOfTenInteger = .allocate(capacity: 20)
        var t: UInt64 = 1
        for i in 0...19 {
            powersOfTenInteger[i] = t
            t &*= 10
        }
    }

    func deallocate() {
        scratch.deallocate()
        powersOfTen.deallocate()
        powersOfFive.deallocate()
        powersOfTenInteger.deallocate()
        reciprocalPowersOfTen.deallocate()
    }

    // MARK: Bytes

    @inline(__always)
    func at(_ p: Int) -> UInt8 { p < end ? base.load(fromByteOffset: p, as: UInt8.self) : 0 }

    @inline(__always)
    static func isDigit(_ c: UInt8) -> Bool { c &- zero < 10 }

    @inline(__always)
    mutating func skipWhitespace() {
        while true {
            let c = at(pos)
            guard c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 else { return }
            pos += 1
        }
    }

    // MARK: Errors

    func expected(_ what: String, at p: Int) -> IngestError {
        let message: String
        if p >= end {
            message = "expected \(what) at byte \(p) (end of body)"
        } else {
            let c = at(p)
            let shown = c >= 0x20 && c < 0x7F ? "'\(Character(Unicode.Scalar(c)))'" : "byte 0x\(String(c, radix: 16))"
            message = "expected \(what) at byte \(p), found \(shown)"
        }
        return IngestError(kind: .malformed, code: "malformed_json", message: message, offset: p)
    }

    func malformed(_ message: String, at p: Int) -> IngestError {
        IngestError(kind: .malformed, code: "malformed_json", message: "\(message) at byte \(p)", offset: p)
    }

    func invalid(_ code: String, _ message: String, field: String?, at p: Int) -> IngestError {
        IngestError(kind: .invalid, code: code, message: message, field: field, offset: p)
    }

    func invalid(_ error: ModelError, field: String, at p: Int) -> IngestError {
        IngestError(kind: .invalid, code: error.code, message: error.message, field: field, offset: p)
    }

    /// The error for a value of the wrong JSON type (re-scanned for syntax by the caller).
    func wrongType(_ expected: String, field: String, at p: Int) -> IngestError {
        let found: String
        switch at(p) {
        case quote: found = "a string"
        case openBrace: found = "an object"
        case openBracket: found = "an array"
        case UInt8(ascii: "t"), UInt8(ascii: "f"): found = "a boolean"
        case letterN: found = "null"
        case minus, zero...UInt8(ascii: "9"): found = "a number"
        default: found = "something else"
        }
        return invalid("invalid_type", "expected \(expected), got \(found)", field: field, at: p)
    }

    // MARK: Body

    mutating func parseBody() throws(IngestError) -> [TelemetryRecord] {
        skipWhitespace()
        let start = pos
        var records: [TelemetryRecord] = []
        var firstInvalid: IngestError?
        switch at(pos) {
        case openBracket:
            pos += 1
            skipWhitespace()
            if at(pos) == closeBracket {
                pos += 1
                firstInvalid = invalid("no_records", "no records", field: "records", at: start)
                break
            }
            var index = 0
            while true {
                skipWhitespace()
                let elementStart = pos
                if firstInvalid != nil {
                    try skipValue(depth: 1)
                } else if index >= maximumRecords {
                    firstInvalid = invalid("too_many_records", "at most \(maximumRecords) records per request",
                                           field: "records", at: elementStart)
                    records = []
                    try skipValue(depth: 1)
                } else {
                    do throws(IngestError) {
                        records.append(try parseRecord(FieldPath(index: index), depth: 1))
                    } catch where error.kind == .invalid {
                        // Report the first invalid record, unless the body turns out not to be JSON.
                        firstInvalid = error
                        records = []
                        pos = elementStart
                        try skipValue(depth: 1)
                    }
                }
                index += 1
                skipWhitespace()
                let c = at(pos)
                if c == comma {
                    pos += 1
                } else if c == closeBracket {
                    pos += 1
                    break
                } else {
                    throw expected("',' or ']'", at: pos)
                }
            }
        case openBrace:
            do throws(IngestError) {
                records.append(try parseRecord(FieldPath(index: nil), depth: 0))
            } catch where error.kind == .invalid {
                firstInvalid = error
                pos = start
                try skipValue(depth: 0)
            }
        default:
            try skipValue(depth: 0)
            firstInvalid = invalid("invalid_body", "expected a record object or an array of records", field: nil, at: start)
        }
        skipWhitespace()
        guard pos >= end else { throw expected("the end of the body after the JSON value", at: pos) }
        if let firstInvalid { throw firstInvalid }
        return records
    }

    // MARK: Records

    /// Parses one record object at `pos`. Throws `invalid` errors as soon as something is
    /// wrong; the caller then re-scans the object for syntax.
    mutating func parseRecord(_ path: FieldPath, depth: Int) throws(IngestError) -> TelemetryRecord {
        let recordStart = pos
        guard at(pos) == openBrace else {
            throw wrongType("a record object", field: path.record, at: pos)
        }
        var machineID: (text: String, offset: Int)?
        var timestamp: Timestamp?
        var kind: String?
        var state: String?
        var channels: [String: Float]?
        var power: Float?
        var vibration: Float?
        var seedKeys = false
        var temperature: FrameValues?
        var frame: (values: FrameValues, width: Int?, height: Int?)?

        try parseObjectMembers { (parser: inout Parser, key: Key) throws(IngestError) in
            let valueAt = parser.pos
            switch key {
            case .machineID:
                machineID = try parser.parseOptionalString(field: path("machine_id")).map { ($0, valueAt) }
            case .timestamp:
                timestamp = try parser.parseTimestamp(field: path("timestamp"))
            case .kind:
                kind = try parser.parseOptionalString(field: path("kind"))
            case .state:
                state = try parser.parseOptionalString(field: path("state"))
            case .channels:
                channels = try parser.parseChannels(path: path, depth: depth + 1)
            case .powerConsumption:
                seedKeys = true
                power = try parser.parseOptionalFloat(field: path("power_consumption"))
            case .vibration:
                seedKeys = true
                vibration = try parser.parseOptionalFloat(field: path("vibration"))
            case .temperatureData:
                seedKeys = true
                temperature = parser.parseNull() ? nil
                    : try parser.parseFrameArray(path: path, name: "temperature_data", depth: depth + 1)
            case .frame:
                if parser.parseNull() {
                    frame = nil
                } else if parser.at(parser.pos) == openBrace {
                    frame = try parser.parseFrameObject(path: path, depth: depth + 1)
                } else {
                    frame = (try parser.parseFrameArray(path: path, name: "frame", depth: depth + 1), nil, nil)
                }
            case .width, .height, .data, .other:
                try parser.skipValue(depth: depth + 1)
            }
        }

        guard let machineID else {
            throw invalid("missing_field", "machine_id is required", field: path("machine_id"), at: recordStart)
        }
        let id: MachineID
        do throws(ModelError) {
            id = try MachineID(machineID.text)
        } catch {
            throw invalid(error, field: path("machine_id"), at: machineID.offset)
        }
        guard let timestamp else {
            throw invalid("missing_field", "timestamp is required (RFC 3339 or epoch milliseconds)",
                          field: path("timestamp"), at: recordStart)
        }
        var thermal: ThermalFrame?
        if let frame {
            thermal = try makeFrame(frame.values, width: frame.width, height: frame.height, field: path(frame.values.name))
        } else if let temperature {
            thermal = try makeFrame(temperature, width: nil, height: nil, field: path(temperature.name))
        }
        var allChannels: [String: Float] = [:]
        if let power { allChannels[ChannelName.powerKW] = power }
        if let vibration { allChannels[ChannelName.vibrationMMS] = vibration }
        if let channels {
            if allChannels.isEmpty {
                allChannels = channels
            } else {
                allChannels.merge(channels) { _, explicit in explicit }
            }
        }
        let record = TelemetryRecord(machineID: id, timestamp: timestamp, kind: kind ?? (seedKeys ? "dmls" : ""),
                                     channels: allChannels, state: state, frame: thermal)
        do throws(ModelError) {
            try record.validate()
        } catch {
            throw invalid(error, field: path(error.field), at: recordStart)
        }
        return record
    }

    /// Walks the members of the object whose `{` is at `pos`, calling `member` with the parser
    /// positioned at each value (which it must consume), and consumes the closing `}`.
    @inline(__always)
    mutating func parseObjectMembers(_ member: (inout Parser, Key) throws(IngestError) -> Void) throws(IngestError) {
        pos += 1
        skipWhitespace()
        if at(pos) == closeBrace {
            pos += 1
            return
        }
        while true {
            skipWhitespace()
            guard at(pos) == quote else { throw expected("'\"' (an object key)", at: pos) }
            let key = try parseKey()
            skipWhitespace()
            guard at(pos) == colon else { throw expected("':'", at: pos) }
            pos += 1
            skipWhitespace()
            try member(&self, key)
            skipWhitespace()
            let c = at(pos)
            if c == comma {
                pos += 1
            } else if c == closeBrace {
                pos += 1
                return
            } else {
                throw expected("',' or '}'", at: pos)
            }
        }
    }

    /// Consumes `null` and returns true if the value at `pos` is null.
    mutating func parseNull() -> Bool {
        guard at(pos) == letterN, at(pos + 1) == UInt8(ascii: "u"), at(pos + 2) == UInt8(ascii: "l"),
              at(pos + 3) == UInt8(ascii: "l") else { return false }
        pos += 4
        return true
    }

    mutating func parseOptionalString(field: @autoclosure () -> String) throws(IngestError) -> String? {
        if parseNull() { return nil }
        guard at(pos) == quote else { throw wrongType("a string", field: field(), at: pos) }
        return try parseString()
    }

    mutating func parseOptionalFloat(field: @autoclosure () -> String) throws(IngestError) -> Float? {
        if parseNull() { return nil }
        return try parseFloat(field: field())
    }

    /// A number that must be finite as a Float.
    mutating func parseFloat(field: @autoclosure () -> String) throws(IngestError) -> Float {
        let start = pos
        let c = at(pos)
        guard c == minus || Self.isDigit(c) else { throw wrongType("a number", field: field(), at: pos) }
        let (value, next) = try scanNumber(pos)
        pos = next
        let f = Float(value)
        guard f.isFinite else {
            throw invalid("non_finite_number", "\(text(start, next)) is out of the Float32 range", field: field(), at: start)
        }
        return f
    }

    /// `{"name": number | null, ...}` or null.
    mutating func parseChannels(path: FieldPath, depth: Int) throws(IngestError) -> [String: Float]? {
        if parseNull() { return nil }
        guard at(pos) == openBrace else { throw wrongType("an object of channels", field: path("channels"), at: pos) }
        guard depth < JSONIngestParser.maximumDepth else { throw malformed("nesting deeper than 64 levels", at: pos) }
        var channels: [String: Float] = [:]
        pos += 1
        skipWhitespace()
        if at(pos) == closeBrace {
            pos += 1
            return channels
        }
        while true {
            skipWhitespace()
            guard at(pos) == quote else { throw expected("'\"' (a channel name)", at: pos) }
            let name = try parseString()
            skipWhitespace()
            guard at(pos) == colon else { throw expected("':'", at: pos) }
            pos += 1
            skipWhitespace()
            channels[name] = try parseOptionalFloat(field: path("channels.\(name)"))
            skipWhitespace()
            let c = at(pos)
            if c == comma {
                pos += 1
            } else if c == closeBrace {
                pos += 1
                return channels
            } else {
                throw expected("',' or '}'", at: pos)
            }
        }
    }

    /// RFC 3339 text, epoch milliseconds as text, epoch milliseconds as a number, or null.
    mutating func parseTimestamp(field: @autoclosure () -> String) throws(IngestError) -> Timestamp? {
        if parseNull() { return nil }
        let start = pos
        let c = at(pos)
        if c == quote {
            let text = try parseString()
            do throws(ModelError) {
                return try Timestamp(parsing: text)
            } catch {
                throw invalid(error, field: field(), at: start)
            }
        }
        guard c == minus || Self.isDigit(c) else {
            throw wrongType("RFC 3339 text or epoch milliseconds", field: field(), at: pos)
        }
        let (_, next) = try scanNumber(pos)
        pos = next
        // Exact: integer milliseconds, then up to 6 fraction digits of nanoseconds.
        var p = start
        let negative = at(p) == minus
        if negative { p += 1 }
        var milliseconds: Int64 = 0
        var overflow = false
        while Self.isDigit(at(p)) {
            let (m1, o1) = milliseconds.multipliedReportingOverflow(by: 10)
            let (m2, o2) = m1.addingReportingOverflow(Int64(at(p) - zero))
            milliseconds = m2
            overflow = overflow || o1 || o2
            p += 1
        }
        var fraction: Int64 = 0
        if at(p) == dot {
            p += 1
            var digits = 0
            while Self.isDigit(at(p)) {
                if digits < 6 { fraction = fraction * 10 + Int64(at(p) - zero) }
                digits += 1
                p += 1
            }
            for _ in min(digits, 6)..<6 { fraction *= 10 }
        }
        if at(p) == UInt8(ascii: "e") || at(p) == UInt8(ascii: "E") {
            throw invalid("invalid_timestamp", "epoch milliseconds must be written without an exponent (got \(text(start, next)))",
                          field: field(), at: start)
        }
        let limit: Int64 = Int64.max / 1_000_000 - 1
        guard !overflow, milliseconds <= limit else {
            throw invalid("invalid_timestamp", "epoch milliseconds \(text(start, next)) are out of range (years 1678-2262)",
                          field: field(), at: start)
        }
        let nanoseconds = milliseconds * 1_000_000 + fraction
        return Timestamp(nanoseconds: negative ? -nanoseconds : nanoseconds)
    }

    // MARK: Frames

    /// `{"width": w, "height": h, "data": [...]}`.
    mutating func parseFrameObject(path: FieldPath, depth: Int) throws(IngestError)
        -> (values: FrameValues, width: Int?, height: Int?) {
        let start = pos
        guard depth < JSONIngestParser.maximumDepth else { throw malformed("nesting deeper than 64 levels", at: pos) }
        var width: Int?
        var height: Int?
        var data: FrameValues?
        try parseObjectMembers { (parser: inout Parser, key: Key) throws(IngestError) in
            switch key {
            case .width: width = try parser.parseSide(field: path("frame.width"))
            case .height: height = try parser.parseSide(field: path("frame.height"))
            case .data:
                data = parser.parseNull() ? nil : try parser.parseFrameArray(path: path, name: "frame.data", depth: depth + 1)
            default: try parser.skipValue(depth: depth + 1)
            }
        }
        guard let data else {
            throw invalid("missing_field", "a frame object needs \"data\"", field: path("frame.data"), at: start)
        }
        if (width == nil) != (height == nil) {
            throw invalid("missing_field", "a frame object gives both width and height or neither",
                          field: path(width == nil ? "frame.width" : "frame.height"), at: start)
        }
        return (data, width, height)
    }

    /// A frame side: an integer 1…4096.
    mutating func parseSide(field: String) throws(IngestError) -> Int? {
        if parseNull() { return nil }
        let start = pos
        let value = try parseFloat(field: field)
        guard value >= 1, value <= Float(ThermalFrame.maximumSide), value == value.rounded() else {
            throw invalid("invalid_frame_size", "frame sides are integers 1-\(ThermalFrame.maximumSide), got \(text(start, pos))",
                          field: field, at: start)
        }
        return Int(value)
    }

    /// A frame as a flat array of numbers or an array of equally long rows of numbers.
    mutating func parseFrameArray(path: FieldPath, name: String, depth: Int) throws(IngestError) -> FrameValues {
        let start = pos
        guard at(pos) == openBracket else { throw wrongType("an array of numbers", field: path(name), at: pos) }
        guard depth < JSONIngestParser.maximumDepth - 1 else { throw malformed("nesting deeper than 64 levels", at: pos) }
        pos += 1
        scratchCount = 0
        skipWhitespace()
        guard at(pos) == openBracket else {
            let count = try parseNumbers(path: path, name: name, row: nil)
            return FrameValues(values: takeScratch(), rows: nil, rowLength: count, offset: start, name: name)
        }
        var rows = 0
        var rowLength = 0
        while true {
            skipWhitespace()
            guard at(pos) == openBracket else {
                throw wrongType("a row (an array of numbers)", field: path("\(name)[\(rows)]"), at: pos)
            }
            let rowStart = pos
            pos += 1
            let n = try parseNumbers(path: path, name: name, row: rows)
            if rows == 0 {
                rowLength = n
            } else if n != rowLength {
                throw invalid("invalid_frame_size", "row \(rows) has \(n) values, row 0 has \(rowLength)",
                              field: path(name), at: rowStart)
            }
            rows += 1
            skipWhitespace()
            let c = at(pos)
            if c == comma {
                pos += 1
            } else if c == closeBracket {
                pos += 1
                break
            } else {
                throw expected("',' or ']'", at: pos)
            }
        }
        return FrameValues(values: takeScratch(), rows: rows, rowLength: rowLength, offset: start, name: name)
    }

    /// The hot loop: numbers up to and including `]` (the `[` is consumed), appended to the
    /// scratch buffer as Float. Returns how many were read.
    mutating func parseNumbers(path: FieldPath, name: String, row: Int?) throws(IngestError) -> Int {
        let first = scratchCount
        // Locals, so that the loop keeps them in registers; written back before leaving. An
        // immutable copy of the parser lets the compiler keep its fields in registers as well
        // (stores through `out` could otherwise alias `self`).
        let reader = self
        var out = scratch
        var count = scratchCount
        var capacity = scratchCapacity
        var p = pos
        var c = reader.at(p)
        while c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 {
            p += 1
            c = reader.at(p)
        }
        if c == closeBracket {
            pos = p + 1
            return 0
        }
        while true {
            let f: Float
            let next: Int
            if let fast = reader.fastFloat(p) {
                (f, next) = fast
            } else {
                guard c == minus || Self.isDigit(c) else {
                    pos = p
                    throw nonNumberInFrame(path: path, name: name, row: row, index: count - first, at: p)
                }
                let (value, end) = try reader.scanNumber(p)
                (f, next) = (Float(value), end)
                // (The fast path's values are below 1e7, always finite.)
                guard f.isFinite else {
                    pos = p
                    let field = path(name + (row.map { "[\($0)]" } ?? "") + "[\(count - first)]")
                    throw invalid("non_finite_number", "\(text(p, next)) is out of the Float32 range", field: field, at: p)
                }
            }
            if count == capacity {
                pos = p
                scratchCount = count
                try growScratch(path: path, name: name)
                out = scratch
                capacity = scratchCapacity
            }
            out[count] = f
            count += 1
            p = next
            c = reader.at(p)
            if c == comma {
                p += 1
                c = reader.at(p)
                while c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 {
                    p += 1
                    c = reader.at(p)
                }
                continue
            }
            while c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 {
                p += 1
                c = reader.at(p)
            }
            scratchCount = count
            if c == comma {
                p += 1
                c = reader.at(p)
                while c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 {
                    p += 1
                    c = reader.at(p)
                }
            } else if c == closeBracket {
                pos = p + 1
                return count - first
            } else {
                pos = p
                throw expected("',' or ']'", at: p)
            }
        }
    }

    func nonNumberInFrame(path: FieldPath, name: String, row: Int?, index: Int, at p: Int) -> IngestError {
        let field = path(name + (row.map { "[\($0)]" } ?? "") + "[\(index)]")
        if at(p) == letterN {
            return invalid("invalid_type", "null is not a temperature: every frame value must be a number", field: field, at: p)
        }
        if at(p) == openBracket && row == nil {
            return invalid("invalid_type", "a frame is all numbers or all rows, not both", field: field, at: p)
        }
        return wrongType("a number", field: field, at: p)
    }

    mutating func growScratch(path: FieldPath, name: String) throws(IngestError) {
        guard scratchCapacity < JSONIngestParser.maximumFrameValues else {
            throw invalid("invalid_frame_size", "a frame has at most \(JSONIngestParser.maximumFrameValues) values",
                          field: path(name), at: pos)
        }
        let capacity = min(max(scratchCapacity * 2, 10_000), JSONIngestParser.maximumFrameValues)
        let grown = UnsafeMutablePointer<Float>.allocate(capacity: capacity)
        grown.update(from: scratch, count: scratchCount)
        scratch.deallocate()
        scratch = grown
        scratchCapacity = capacity
    }

    /// The scratch values as a new array (one memcpy).
    mutating func takeScratch() -> [Float] {
        let values = Array(UnsafeBufferPointer(start: scratch, count: scratchCount))
        scratchCount = 0
        return values
    }

    /// Checks the shape against `width × height` (100 × 100 unless given) and builds the frame.
    func makeFrame(_ v: FrameValues, width: Int?, height: Int?, field: String) throws(IngestError) -> ThermalFrame {
        let w = width ?? ThermalFrame.defaultWidth
        let h = height ?? ThermalFrame.defaultHeight
        if let rows = v.rows {
            guard rows == h, v.rowLength == w else {
                throw invalid("invalid_frame_size", "expected \(h) rows of \(w) values, got \(rows) rows of \(v.rowLength)",
                              field: field, at: v.offset)
            }
        } else {
            guard v.values.count == w * h else {
                throw invalid("invalid_frame_size", "expected \(w * h) values (\(w)×\(h)), got \(v.values.count)",
                              field: field, at: v.offset)
            }
        }
        do throws(ModelError) {
            return try ThermalFrame(width: w, height: h, values: v.values)
        } catch {
            throw invalid(error, field: field, at: v.offset)
        }
    }

    // MARK: Numbers

    /// Frame values in the common forms, eight digits at a time: `-`?, 1-7 integer digits,
    /// optionally `.` and 1-16 fraction digits, at most 18 digits in all, no exponent, at
    /// least 32 bytes before the end of the body. Returns nil for anything else (including
    /// syntax errors), which `scanNumber` then handles.
    ///
    /// The result is `Float(Double(text))` exactly: `m × 10^-k` is computed with one
    /// multiplication by the rounded reciprocal (error below 4 Double ulps), and only when
    /// that lands within 8 ulps of a point halfway between two Floats, where the error could
    /// change the Float rounding, is the Double computed exactly first.
    @inline(__always)
    func fastFloat(_ start: Int) -> (Float, Int)? {
        guard start &+ 32 <= end else { return nil }
        var p = start
        let negative = base.load(fromByteOffset: p, as: UInt8.self) == minus
        if negative { p += 1 }
        let (integerDigits, integerWord) = Self.digitRun(base, p)
        guard integerDigits > 0, integerDigits < 8,
              integerDigits == 1 || base.load(fromByteOffset: p, as: UInt8.self) != zero else { return nil }
        var mantissa = Self.eightDigits(integerWord, count: integerDigits)
        p += integerDigits
        var fractionDigits = 0
        if base.load(fromByteOffset: p, as: UInt8.self) == dot {
            p += 1
            let (n, word) = Self.digitRun(base, p)
            guard n > 0 else { return nil }
            mantissa = mantissa &* powersOfTenInteger[n] &+ Self.eightDigits(word, count: n)
            p += n
            fractionDigits = n
            if n == 8 {
                let (n2, word2) = Self.digitRun(base, p)
                if n2 > 0 {
                    // At most 18 digits in all: the mantissa is below 10^18 < 2^63.
                    guard integerDigits + 8 + n2 <= 18 else { return nil }
                    mantissa = mantissa &* powersOfTenInteger[n2] &+ Self.eightDigits(word2, count: n2)
                    p += n2
                    fractionDigits += n2
                    if n2 == 8, Self.isDigit(base.load(fromByteOffset: p, as: UInt8.self)) { return nil }
                }
            }
        }
        guard base.load(fromByteOffset: p, as: UInt8.self) | 0x20 != UInt8(ascii: "e") else { return nil }
        // mantissa < 10^18, k ≤ 16: the value is a normal Float (or zero), 1e-16 ≤ |value| < 1e7.
        let approximate = Double(Int64(truncatingIfNeeded: mantissa)) * reciprocalPowersOfTen[fractionDigits]
        let belowFloat = Int(truncatingIfNeeded: approximate.bitPattern & 0x1FFF_FFFF)
        let value: Double
        if abs(belowFloat - 0x1000_0000) > 8 {
            value = approximate
        } else if mantissa <= 1 << 53 {
            value = Double(mantissa) / powersOfTen[fractionDigits]
        } else {
            value = wideDecimal(mantissa, -fractionDigits)
        }
        let f = Float(value)
        return (negative ? -f : f, p)
    }

    /// How many of the 8 bytes at `p` are ASCII digits before the first non-digit (0-8), and
    /// the word with those digits as values 0-9 in their bytes (first digit lowest).
    @inline(__always)
    static func digitRun(_ base: UnsafeRawPointer, _ p: Int) -> (Int, UInt64) {
        let word = UInt64(littleEndian: base.loadUnaligned(fromByteOffset: p, as: UInt64.self))
        let values = word ^ 0x3030_3030_3030_3030   // digits become 0-9, everything else > 9
        // High bit of a byte: value >= 10. A carry out of a non-digit byte only disturbs the
        // bytes after it, and only the first non-digit counts.
        let flags = ((values &+ 0x7676_7676_7676_7676) | values) & 0x8080_8080_8080_8080
        return (flags.trailingZeroBitCount >> 3, values)
    }

    /// The number written by the first `count` (1-8) digit values of `values`.
    @inline(__always)
    static func eightDigits(_ values: UInt64, count: Int) -> UInt64 {
        // Move the digits to the top bytes: the freed low bytes are leading zeros.
        var v = values &<< UInt64(64 &- 8 &* count)
        v = v &* 10 &+ (v &>> 8)
        v = ((v & 0x0000_00FF_0000_00FF) &* 0x000F_4240_0000_0064
            &+ ((v &>> 16) & 0x0000_00FF_0000_00FF) &* 0x0000_2710_0000_0001) &>> 32
        return v & 0xFFFF_FFFF
    }

    /// Scans the JSON number starting at `start` (whose first byte is `-` or a digit) and
    /// returns its value, correctly rounded to Double, and the offset after it.
    @inline(__always)
    func scanNumber(_ start: Int) throws(IngestError) -> (Double, Int) {
        var p = start
        var c = at(p)
        let negative = c == minus
        if negative {
            p += 1
            c = at(p)
        }
        var mantissa: UInt64 = 0
        var digits = 0       // significant digits seen (leading zeros excluded)
        var exponent = 0     // power of ten to apply to the mantissa
        if c == zero {
            p += 1
            c = at(p)
        } else if Self.isDigit(c) {
            repeat {
                if digits < 19 { mantissa = mantissa &* 10 &+ UInt64(c &- zero) }
                digits += 1
                p += 1
                c = at(p)
            } while Self.isDigit(c)
        } else {
            throw expected("a digit after '-'", at: p)
        }
        if c == dot {
            p += 1
            c = at(p)
            guard Self.isDigit(c) else { throw expected("a digit after '.'", at: p) }
            repeat {
                if digits > 0 || c != zero {
                    if digits < 19 { mantissa = mantissa &* 10 &+ UInt64(c &- zero) }
                    digits += 1
                }
                exponent -= 1
                p += 1
                c = at(p)
            } while Self.isDigit(c)
        }
        if c | 0x20 == UInt8(ascii: "e") {
            p += 1
            c = at(p)
            var negativeExponent = false
            if c == minus || c == plus {
                negativeExponent = c == minus
                p += 1
                c = at(p)
            }
            guard Self.isDigit(c) else { throw expected("a digit in the exponent", at: p) }
            var e = 0
            repeat {
                if e < 1_000_000 { e = e * 10 + Int(c &- zero) }
                p += 1
                c = at(p)
            } while Self.isDigit(c)
            exponent += negativeExponent ? -e : e
        }
        if digits <= 19, exponent >= -22, exponent <= 22 {
            if mantissa <= 1 << 53 {
                // Clinger's fast path: both operands exact, one rounding.
                let m = Double(mantissa)
                let value = exponent < 0 ? m / powersOfTen[-exponent] : m * powersOfTen[exponent]
                return (negative ? -value : value, p)
            }
            let value = wideDecimal(mantissa, exponent)
            return (negative ? -value : value, p)
        }
        if digits == 0 { return (negative ? -0.0 : 0.0, p) }
        let value = slowNumber(from: negative ? start + 1 : start, to: p)
        return (negative ? -value : value, p)
    }

    /// `mantissa × 10^exponent`, correctly rounded, for 2^53 < mantissa < 2^64 and
    /// |exponent| ≤ 22, with exact 128-bit integer arithmetic.
    @inline(never)
    func wideDecimal(_ mantissa: UInt64, _ exponent: Int) -> Double {
        if exponent >= 0 {
            // m · 5^e fits 128 bits exactly; the 2^e goes to the binary exponent.
            let (high, low) = mantissa.multipliedFullWidth(by: powersOfFive[exponent])
            let shift = high == 0 ? 64 + low.leadingZeroBitCount : high.leadingZeroBitCount
            let top: UInt64
            let sticky: Bool
            if shift == 0 {
                top = high
                sticky = low != 0
            } else if shift < 64 {
                top = high << shift | low >> (64 - shift)
                sticky = low << shift != 0
            } else {
                top = low << (shift - 64)
                sticky = false
            }
            return Self.round(top, sticky: sticky, binaryExponent: 64 - shift + exponent)
        }
        // m / 5^k with a 128-by-64 division: normalise m, shift so the quotient has 63-64 bits.
        let k = -exponent
        let divisor = powersOfFive[k]
        let lz = mantissa.leadingZeroBitCount
        let normalized = mantissa << lz
        let e = (64 - divisor.leadingZeroBitCount) - 1         // 2…51 for k ≥ 1
        let dividend = (high: normalized >> (64 - e), low: normalized << e)
        var (quotient, remainder) = divisor.dividingFullWidth(dividend)
        var binaryExponent = -e - lz - k
        if quotient.leadingZeroBitCount > 0 {
            // One more quotient bit from the remainder.
            remainder <<= 1
            var bit: UInt64 = 0
            if remainder >= divisor {
                remainder -= divisor
                bit = 1
            }
            quotient = quotient << 1 | bit
            binaryExponent -= 1
        }
        return Self.round(quotient, sticky: remainder != 0, binaryExponent: binaryExponent)
    }

    /// `(top + sticky bits) · 2^binaryExponent` rounded to nearest even, for `top` with its
    /// highest bit set and a result in the normal range.
    static func round(_ top: UInt64, sticky: Bool, binaryExponent: Int) -> Double {
        var significand = top >> 11
        let half = top & 0x400 != 0
        let rest = top & 0x3FF != 0 || sticky
        if half && (rest || significand & 1 == 1) {
            significand += 1
        }
        var exponent = binaryExponent + 11 + 52
        if significand == 1 << 53 {
            significand >>= 1
            exponent += 1
        }
        let biased = UInt64(exponent + 1023)
        return Double(bitPattern: biased << 52 | (significand & ((1 << 52) - 1)))
    }

    /// Numbers with more than 19 digits or a large exponent: the standard library's
    /// correctly rounded conversion (C locale; overflow gives infinity).
    @inline(never)
    func slowNumber(from start: Int, to end: Int) -> Double {
        let digits = String(decoding: UnsafeRawBufferPointer(start: base + start, count: end - start), as: UTF8.self)
        return Double(digits) ?? .nan
    }

    /// The body bytes `start..<end` as text (for messages and the slow number path).
    func text(_ start: Int, _ end: Int) -> String {
        let count = max(0, min(end, self.end) - start)
        let shown = min(count, 200)
        let s = String(decoding: UnsafeRawBufferPointer(start: base + start, count: shown), as: UTF8.self)
        return shown < count ? s + "…" : s
    }

    // MARK: Strings

    /// Scans the string whose `"` is at `pos`, checking escapes and control characters, and
    /// moves past it. Returns the content's range and whether it contains escapes.
    mutating func scanString() throws(IngestError) -> (start: Int, end: Int, escaped: Bool) {
        let open = pos
        var p = pos + 1
        var escaped = false
        while true {
            guard p < end else { throw malformed("unterminated string (opened at byte \(open))", at: p) }
            let c = at(p)
            if c == quote { break }
            if c == backslash {
                escaped = true
                switch at(p + 1) {
                case quote, backslash, UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"), UInt8(ascii: "n"),
                    UInt8(ascii: "r"), UInt8(ascii: "t"):
                    p += 2
                case UInt8(ascii: "u"):
                    guard hex(p + 2) != nil else { throw malformed("invalid \\u escape (4 hex digits expected)", at: p) }
                    p += 6
                default:
                    throw malformed("invalid escape in string", at: p)
                }
                continue
            }
            if c < 0x20 { throw malformed("unescaped control character 0x\(String(c, radix: 16)) in string", at: p) }
            p += 1
        }
        pos = p + 1
        return (open + 1, p, escaped)
    }

    /// The 4 hex digits at `p` as a UTF-16 code unit.
    func hex(_ p: Int) -> UInt32? {
        var v: UInt32 = 0
        for i in 0..<4 {
            let c = at(p + i)
            let d: UInt8
            switch c {
            case zero...UInt8(ascii: "9"): d = c - zero
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = c - UInt8(ascii: "A") + 10
            default: return nil
            }
            v = v << 4 | UInt32(d)
        }
        return v
    }

    /// Parses the string at `pos` into a String (escapes decoded, UTF-8 checked).
    mutating func parseString() throws(IngestError) -> String {
        let (start, stop, escaped) = try scanString()
        let raw = UnsafeRawBufferPointer(start: base + start, count: stop - start)
        if !escaped {
            guard let s = String(validating: raw, as: UTF8.self) else { throw malformed("invalid UTF-8 in string", at: start) }
            return s
        }
        let bytes = try unescape(start, stop)
        guard let s = String(validating: bytes, as: UTF8.self) else { throw malformed("invalid UTF-8 in string", at: start) }
        return s
    }

    /// A key: matched against the known keys without building a String when it has no escapes.
    mutating func parseKey() throws(IngestError) -> Key {
        let (start, stop, escaped) = try scanString()
        if !escaped { return Key(UnsafeRawBufferPointer(start: base + start, count: stop - start)) }
        return try unescape(start, stop).withUnsafeBytes { Key($0) }
    }

    /// The bytes of an escaped string's content (already syntax-checked by `scanString`).
    func unescape(_ start: Int, _ stop: Int) throws(IngestError) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(stop - start)
        var p = start
        while p < stop {
            let c = at(p)
            guard c == backslash else {
                out.append(c)
                p += 1
                continue
            }
            let e = at(p + 1)
            p += 2
            switch e {
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                let escapeAt = p - 2
                guard let unit = hex(p) else { throw malformed("invalid \\u escape", at: escapeAt) }
                p += 4
                var scalarValue = unit
                if (0xD800...0xDBFF).contains(unit) {
                    guard at(p) == backslash, at(p + 1) == UInt8(ascii: "u"), let low = hex(p + 2),
                          (0xDC00...0xDFFF).contains(low) else {
                        throw malformed("unpaired surrogate \\u\(String(unit, radix: 16, uppercase: true))", at: escapeAt)
                    }
                    p += 6
                    scalarValue = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00...0xDFFF).contains(unit) {
                    throw malformed("unpaired surrogate \\u\(String(unit, radix: 16, uppercase: true))", at: escapeAt)
                }
                guard let scalar = Unicode.Scalar(scalarValue) else { throw malformed("invalid \\u escape", at: escapeAt) }
                if let encoded = UTF8.encode(scalar) { out.append(contentsOf: encoded) }
            default: out.append(e)   // " \ /
            }
        }
        return out
    }

    // MARK: Skipping

    /// Skips the value at `pos` (after whitespace), checking its syntax. `depth` is the number
    /// of arrays and objects around it.
    mutating func skipValue(depth: Int) throws(IngestError) {
        skipWhitespace()
        let c = at(pos)
        switch c {
        case openBrace, openBracket:
            guard depth < JSONIngestParser.maximumDepth else { throw malformed("nesting deeper than 64 levels", at: pos) }
            let isObject = c == openBrace
            let close = isObject ? closeBrace : closeBracket
            pos += 1
            skipWhitespace()
            if at(pos) == close {
                pos += 1
                return
            }
            while true {
                skipWhitespace()
                if isObject {
                    guard at(pos) == quote else { throw expected("'\"' (an object key)", at: pos) }
                    _ = try scanString()
                    skipWhitespace()
                    guard at(pos) == colon else { throw expected("':'", at: pos) }
                    pos += 1
                }
                try skipValue(depth: depth + 1)
                skipWhitespace()
                let d = at(pos)
                if d == comma {
                    pos += 1
                } else if d == close {
                    pos += 1
                    return
                } else {
                    throw expected(isObject ? "',' or '}'" : "',' or ']'", at: pos)
                }
            }
        case quote:
            _ = try scanString()
        case minus, zero...UInt8(ascii: "9"):
            pos = try scanNumber(pos).1
        case UInt8(ascii: "t"):
            try literal("true")
        case UInt8(ascii: "f"):
            try literal("false")
        case letterN:
            try literal("null")
        default:
            throw expected("a JSON value", at: pos)
        }
    }

    mutating func literal(_ word: StaticString) throws(IngestError) {
        let bytes = UnsafeBufferPointer(start: word.utf8Start, count: word.utf8CodeUnitCount)
        for (i, b) in bytes.enumerated() where at(pos + i) != b {
            throw expected("'\(word)'", at: pos + i)
        }
        pos += bytes.count
    }
}
