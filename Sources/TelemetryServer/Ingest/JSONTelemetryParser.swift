public import TelemetryModel

/// The JSON telemetry parser of `POST /api/v1/telemetry` as public API, for benchmarks and
/// tools outside this package (the server itself calls the parser directly).
///
/// ```swift
/// let records = try JSONTelemetryParser.parse(Array(#"{"machine_id":"dmls-01","timestamp":0,"power_consumption":2.5}"#.utf8))
/// ```
public enum JSONTelemetryParser {
    /// Why a body was refused: the server's `{"error": {"code", "message", "field"}}` fields.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        /// Stable reason: `malformed_json`, `missing_field`, `invalid_machine_id`, …
        public var code: String
        /// What is wrong and where.
        public var message: String
        /// The field concerned, if any.
        public var field: String?
        public var description: String { (field.map { "\($0): " } ?? "") + "\(message) [\(code)]" }
    }

    /// Parses one record object or an array of them (the seed shape or the full shape).
    public static func parse(_ body: [UInt8], maximumRecords: Int = 100_000) throws(Failure) -> [TelemetryRecord] {
        let result = body.withUnsafeBytes { raw in
            Result { () throws(IngestError) in try JSONIngestParser.parse(raw, maximumRecords: maximumRecords) }
        }
        switch result {
        case .success(let records): return records
        case .failure(let error): throw Failure(code: error.code, message: error.message, field: error.field)
        }
    }
}
