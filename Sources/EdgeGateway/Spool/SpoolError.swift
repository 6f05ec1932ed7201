/// An error from the edge spool: a stable code and a message a person can act on.
///
/// Damage is reported naming the segment and the byte offset ("CRC mismatch in segment
/// 0000000000000400 at offset 8192"), so that an operator knows what was lost; the spool keeps
/// every other record. A full spool says which limit was reached and which flag raises it.
///
/// ```swift
/// do { try await spool.append(records) }
/// catch { if error.code == .full { logger.warning("\(error.message)") } }
/// ```
public struct SpoolError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is.
    ///
    /// Codes are stable strings (`io`, `full`, …) that programs and log queries can match.
    ///
    /// ```swift
    /// if error.code == .locked { print("another sinter-edge uses this spool directory") }
    /// ```
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The stable name, e.g. `unsupported_format`.
        public let name: String
        init(_ name: String) { self.name = name }
        public var description: String { name }

        /// An operating-system call failed (the call, the file and errno are in the message).
        public static let io = Code("io")
        /// The records do not fit under `maximumBytes` and nothing was appended.
        public static let full = Code("full")
        /// An entry or a segment header is damaged (found at open or when read back).
        public static let corrupt = Code("corrupt")
        /// Another process, or another `Spool` in this process, holds the directory's `LOCK`.
        public static let locked = Code("locked")
        /// A segment has an intact header of another format or version (set aside on open).
        public static let unsupportedFormat = Code("unsupported_format")
        /// The spool was closed.
        public static let closed = Code("closed")
        /// An fsync failed: the spool refuses writes until it is reopened (what was fsynced
        /// before stays; what the failed fsync covered may be lost).
        public static let failed = Code("failed")
        /// A record cannot be spooled because it would not decode again (a kind or state over
        /// 64 bytes, a bad channel name, more than 1024 channels, a frame whose `values` do not
        /// match its size).
        public static let invalidRecord = Code("invalid_record")
    }

    /// What kind of failure this is.
    public var code: Code
    /// What happened and, where it helps, what to do about it.
    public var message: String
    /// The file concerned, relative to the spool directory (`0000000000000400.spool`), if any.
    public var file: String?
    /// The byte offset in `file`, if any.
    public var offset: Int?

    /// An error with a code and a message, and optionally the file and offset it concerns.
    ///
    /// Messages name what is concerned themselves; `file` and `offset` repeat it for programs.
    ///
    /// ```swift
    /// throw SpoolError(.closed, "the spool is closed")
    /// ```
    public init(_ code: Code, _ message: String, file: String? = nil, offset: Int? = nil) {
        self.code = code
        self.message = message
        self.file = file
        self.offset = offset
    }

    /// `code: message`, e.g. `full: spool is full (…)`.
    public var description: String { "\(code): \(message)" }
}
