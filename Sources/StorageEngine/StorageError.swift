/// An error from the store: a stable code, a message a person can act on, and the cause.
///
/// Corruption errors name the file and the byte offset ("CRC mismatch in segment 000042 at
/// offset 8192"), so that an operator knows what is damaged; the store keeps serving
/// everything else.
///
/// ```swift
/// do { _ = try store.record(id: id) }
/// catch let error as StorageError where error.code == .corruptBlock { log(error.message) }
/// ```
public struct StorageError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        init(_ name: String) { self.name = name }
        public var description: String { name }

        /// A checksum did not match or a structure did not decode in a sealed block.
        public static let corruptBlock = Code("corrupt_block")
        /// A segment index entry is damaged; the index is rebuilt from the segment.
        public static let corruptIndex = Code("corrupt_index")
        /// The manifest is damaged; the store rebuilds it from the directory.
        public static let corruptManifest = Code("corrupt_manifest")
        /// A log record (a write-ahead-log record, an `alerts.log` entry) is damaged in the
        /// middle of its log (not a torn tail).
        public static let corruptLog = Code("corrupt_log")
        /// Encoded frame or column bytes do not decode.
        public static let corruptData = Code("corrupt_data")
        /// A file has the wrong magic number or an unknown format version.
        public static let unsupportedFormat = Code("unsupported_format")
        /// An operating-system call failed (errno in the message).
        public static let io = Code("io")
        /// The disk is full: the write was undone and nothing acknowledged is affected; it
        /// succeeds again once space is freed.
        public static let noSpace = Code("no_space")
        /// An earlier I/O failure (a failed fsync, a write whose result on disk is unknown) stopped
        /// the store: it refuses every write until it is reopened, which recovers from what is durable.
        public static let storeFailed = Code("store_failed")
        /// The request is not valid (bad argument, bad record).
        public static let invalidArgument = Code("invalid_argument")
        /// The store was closed.
        public static let closed = Code("closed")
        /// Another process holds the store's lock.
        public static let locked = Code("locked")
        /// The thing asked for does not exist (an unknown alert id).
        public static let notFound = Code("not_found")
        /// The request does not fit the current state (acknowledging a resolved alert).
        public static let conflict = Code("conflict")
    }

    /// What kind of failure this is.
    public var code: Code
    /// What happened, naming file and offset where there is one.
    public var message: String
    /// The file concerned, relative to the store directory, if any.
    public var file: String?
    /// The byte offset in `file`, if any.
    public var offset: Int64?
    /// The underlying error, if any.
    public var cause: (any Error & Sendable)?

    public init(_ code: Code, _ message: String, file: String? = nil, offset: Int64? = nil,
                cause: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.file = file
        self.offset = offset
        self.cause = cause
    }

    public var description: String {
        var s = "\(code): \(message)"
        if let cause { s += " (cause: \(cause))" }
        return s
    }
}

extension StorageError {
    /// `error` itself if it is a StorageError, else an `.io` error wrapping it.
    static func wrap(_ error: any Error) -> StorageError {
        if let e = error as? StorageError { return e }
        return StorageError(.io, "\(error)")
    }
}
