// The names of the files in a spool directory: Storage/Format/spool.md#directory.

/// Every file name the spool uses, and how segment names encode their start sequence.
enum SpoolFiles {
    /// Empty; `flock(LOCK_EX | LOCK_NB)` on it is held while the spool is open.
    static let lock = "LOCK"
    /// The acknowledged-through sequence (spool.md#cursor).
    static let cursor = "cursor"
    /// A cursor being written; renamed over `cursor`, deleted on open.
    static let cursorTemporary = "cursor.tmp"
    /// What follows the 16 hex digits of a segment's name.
    static let segmentSuffix = ".spool"
    /// Appended to the name of a segment that open set aside.
    static let corruptSuffix = ".corrupt"

    /// `0000000000000400`: a start sequence as it appears in names and messages.
    static func digits(_ start: UInt64) -> String {
        let hex = String(start, radix: 16, uppercase: false)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// `0000000000000400.spool`.
    static func segment(_ start: UInt64) -> String { digits(start) + segmentSuffix }

    /// `0000000000000400.spool.corrupt`.
    static func corruptSegment(_ start: UInt64) -> String { segment(start) + corruptSuffix }

    /// The start sequence of a segment name: exactly 16 lowercase hex digits, then `.spool`.
    static func segmentStart(_ name: String) -> UInt64? {
        let bytes = Array(name.utf8)
        guard bytes.count == 16 + segmentSuffix.utf8.count, name.hasSuffix(segmentSuffix) else { return nil }
        var value: UInt64 = 0
        for byte in bytes[0..<16] {
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            default: return nil
            }
            value = value << 4 | UInt64(digit)
        }
        return value
    }

    /// `directory/name`.
    static func path(_ directory: String, _ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }
}
