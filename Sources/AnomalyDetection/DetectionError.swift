// The anomaly detector's public error.

/// A failure of the detector: a code, a message a human can act on, and where it happened.
///
/// Data errors name the file and line ("valve1/3.csv line 17: 9 columns, expected 11"); service
/// errors name the server and the request.
///
/// ```swift
/// throw DetectionError(.invalidData, "valve1/3.csv line 17: 9 columns, expected 11")
/// ```
public struct DetectionError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        init(_ name: String) { self.name = name }
        public var description: String { name }

        /// A setting, flag or argument is not valid.
        public static let invalidArgument = Code("invalid_argument")
        /// Input data (a CSV, a labels file, a server response) could not be read or parsed.
        public static let invalidData = Code("invalid_data")
        /// A file could not be opened or read.
        public static let io = Code("io")
        /// sinter-server answered with an error or could not be reached.
        public static let server = Code("server")
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }
}
