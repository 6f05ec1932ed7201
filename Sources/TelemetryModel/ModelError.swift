/// A record, machine id or field that does not satisfy the record model.
///
/// Carries a stable `code` for programs, a `message` a person can act on, and the `field`
/// it concerns, so that the HTTP layer can answer `422 {"error": {"code", "message", "field"}}`
/// and a CLI can name the flag.
///
/// ```swift
/// do { _ = try MachineID("dmls 01") } catch let error as ModelError { print(error.field) } // "machine_id"
/// ```
public struct ModelError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Stable, machine-readable reason, e.g. `invalid_machine_id`.
    public var code: String
    /// What is wrong and how to fix it.
    public var message: String
    /// The field (JSON key or flag) the error concerns.
    public var field: String

    public init(code: String, message: String, field: String) {
        self.code = code
        self.message = message
        self.field = field
    }

    public var description: String { "\(field): \(message) [\(code)]" }
}
