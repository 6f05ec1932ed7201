// Streaming batches: a header whose record count is "unknown" (0xFFFF_FFFF), then records until
// the end of the body. Format: Storage/Format/frames-batch.md, "Streaming batches".

extension FrameBatch {
    /// The record count that means "records follow until the end of the body".
    public static let streamingCount: UInt32 = 0xFFFF_FFFF

    /// The header of a streaming batch, for responses written before their length is known.
    ///
    /// A streaming batch is this header followed by any number of record encodings
    /// (``encodeRecords(_:)``); a reader decodes records until the bytes end.
    ///
    /// ```swift
    /// try await writer.write(FrameBatch.streamingHeader())
    /// for page in pages { try await writer.write(FrameBatch.encodeRecords(page)) }
    /// ```
    public static func streamingHeader() -> [UInt8] {
        var header = magic
        header += [UInt8(truncatingIfNeeded: version), UInt8(truncatingIfNeeded: version >> 8), 0, 0]
        header += [0xFF, 0xFF, 0xFF, 0xFF]
        return header
    }

    /// The encodings of `records` without a batch header, to follow ``streamingHeader()``.
    ///
    /// ```swift
    /// let body = FrameBatch.streamingHeader() + FrameBatch.encodeRecords(records)
    /// ```
    public static func encodeRecords(_ records: [TelemetryRecord]) -> [UInt8] {
        Array(encode(records).dropFirst(headerSize))
    }
}
