// The edge gateway's public error.

/// A failure of the edge gateway: a code, and a message a human can act on.
///
/// ```swift
/// throw EdgeError(.invalidArgument, "--average must be at least 1, got 0")
/// ```
public struct EdgeError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        init(_ name: String) { self.name = name }
        public var description: String { name }

        /// A setting, flag or mapping line is not valid.
        public static let invalidArgument = Code("invalid_argument")
        /// The spool could not be opened or written (its ``SpoolError`` is in the message).
        public static let spool = Code("spool")
        /// The OPC UA side failed (a subscription could not be made, a node is unknown).
        public static let opcua = Code("opcua")
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }
}
