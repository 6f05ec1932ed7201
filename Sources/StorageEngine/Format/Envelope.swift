// The file header and the checksummed frame shared by the WAL, segment and index files.
// Format: Storage/Format/README.md ("File header" and "Checksummed frame").
import DurableFiles

/// The 24-byte header every store file starts with.
///
/// ```
/// +----------------+-------------+-----------+------------+--------------+
/// | magic (8)      | version u16 | flags u16 | number u64 | crc32c u32   |
/// +----------------+-------------+-----------+------------+--------------+
/// ```
/// The CRC covers the first 20 bytes. `number` is the WAL file number, the segment id, the
/// manifest generation, or the alert log's next-id floor.
struct FileHeader: Equatable {
    static let size = 24

    enum Kind: String {
        case wal = "SNTRWAL\0"
        case segment = "SNTRSEG\0"
        case index = "SNTRIDX\0"
        case manifest = "SNTRMAN\0"
        case alertLog = "SNTRALR\0"
        var version: UInt16 { 1 }
    }

    var kind: Kind
    var number: UInt64

    func encoded() -> [UInt8] {
        DurableFileHeader.encode(magic: Array(kind.rawValue.utf8), version: kind.version, number: number)
    }

    /// Decodes and checks a header of the expected kind (the shared ``DurableFileHeader``).
    ///
    /// A short header or a CRC mismatch is damage (`.corruptBlock`); a header whose CRC matches
    /// but whose magic or version differs is a file this build must not touch (`.unsupportedFormat`).
    init(decoding bytes: UnsafeRawBufferPointer, expected: Kind, file: String) throws {
        switch DurableFileHeader.decode(bytes, magic: Array(expected.rawValue.utf8), version: expected.version) {
        case .success(let number):
            self.kind = expected
            self.number = number
        case .failure(.short(let count)):
            throw StorageError(.corruptBlock, "file \(file) is \(count) bytes, shorter than its 24-byte header",
                               file: file, offset: 0)
        case .failure(.crcMismatch):
            throw StorageError(.corruptBlock, "CRC mismatch in the header of \(file) at offset 0", file: file, offset: 0)
        case .failure(.wrongMagic):
            throw StorageError(.unsupportedFormat, "file \(file) does not start with the magic \(expected.rawValue.dropLast()) (wrong file kind or not a Sinter file)",
                               file: file, offset: 0)
        case .failure(.unsupportedVersion(let version)):
            throw StorageError(.unsupportedFormat, "file \(file) has format version \(version); this build reads version \(expected.version)",
                               file: file, offset: 8)
        }
    }

    init(kind: Kind, number: UInt64) {
        self.kind = kind
        self.number = number
    }
}

/// A checksummed, length-prefixed frame: the unit of the WAL and index files.
///
/// ```
/// +------------+-------------+---------------------+
/// | length u32 | crc32c u32  | payload (length)    |
/// +------------+-------------+---------------------+
/// ```
/// The CRC-32C covers the 4 length bytes and then the payload.
enum ChecksummedFrame {
    static let overhead = 8
    /// No single frame is larger than this (a 4096×4096 raw frame plus headers fits).
    static let maximumPayload = 80 << 20

    static func append(_ payload: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        let length = UInt32(payload.count)
        let lengthCRC = withUnsafeBytes(of: length.littleEndian) { crc32c($0) }
        let crc = crc32c(payload, continuing: lengthCRC)
        withUnsafeBytes(of: length.littleEndian) { out.append(contentsOf: $0) }
        withUnsafeBytes(of: crc.littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: payload)
    }

    static func append(_ payload: [UInt8], to out: inout [UInt8]) {
        payload.withUnsafeBytes { append($0, to: &out) }
    }

    /// Appends one frame per item, its payload written by `encode`.
    static func append<S: Sequence>(_ items: S, to out: inout [UInt8], encode: (S.Element, inout ByteWriter) -> Void) {
        var w = ByteWriter()
        for item in items {
            w.bytes.removeAll(keepingCapacity: true)
            encode(item, &w)
            append(w.bytes, to: &out)
        }
    }

    /// How a scan of frames ended.
    enum End: Equatable {
        /// Every byte was a valid frame.
        case clean
        /// The last frame is incomplete or fails its CRC and no valid frame follows it: a write
        /// that a crash interrupted. `at` is where the valid data ends.
        case tornTail(at: Int)
    }

    /// A damaged frame in the middle of a file: the scan skipped to the next valid frame.
    struct Damage: Equatable {
        var offset: Int
        var reason: String
    }

    /// Walks the frames in `bytes` (which starts at file offset `base`), calling `body` with each
    /// payload and its offset.
    ///
    /// A frame that fails its CRC or has an impossible length is either a torn tail (no valid
    /// frame follows it) or damage in the middle (a valid frame follows): then it is recorded in
    /// `damage` and the scan resumes at the next valid frame, so that one bad frame does not
    /// hide the good ones after it. `plausible` cheaply rejects candidate payloads while
    /// searching for that next frame.
    static func scan(_ bytes: UnsafeRawBufferPointer, base: Int = 0, damage: inout [Damage],
                     plausible: (UnsafeRawBufferPointer) -> Bool = { _ in true },
                     _ body: (UnsafeRawBufferPointer, Int) throws -> Void) throws -> End {
        var offset = 0
        while offset < bytes.count {
            if let payload = validFrame(bytes, at: offset) {
                try body(payload, base + offset)
                offset += overhead + payload.count
                continue
            }
            // Bad frame: is there a valid one further on?
            var next = offset + 1
            var found: Int?
            while next + overhead <= bytes.count {
                if let payload = candidate(bytes, at: next), plausible(payload), hasValidCRC(bytes, at: next, payload: payload) {
                    found = next
                    break
                }
                next += 1
            }
            guard let found else { return .tornTail(at: base + offset) }
            damage.append(Damage(offset: base + offset, reason: "CRC mismatch or bad length (\(found - offset) bytes skipped)"))
            offset = found
        }
        return .clean
    }

    /// Convenience for files that must be wholly valid: damage anywhere is a torn tail or an error.
    static func scan(_ bytes: UnsafeRawBufferPointer, base: Int = 0,
                     _ body: (UnsafeRawBufferPointer, Int) throws -> Void) throws -> End {
        var damage: [Damage] = []
        let end = try scan(bytes, base: base, damage: &damage, body)
        if let first = damage.first { return .tornTail(at: first.offset) }
        return end
    }

    /// The payload of the frame at `offset` if its length fits and its CRC matches.
    @inline(__always)
    private static func validFrame(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> UnsafeRawBufferPointer? {
        guard let payload = candidate(bytes, at: offset), hasValidCRC(bytes, at: offset, payload: payload) else { return nil }
        return payload
    }

    /// The payload the length at `offset` describes, if it fits in `bytes`.
    @inline(__always)
    private static func candidate(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> UnsafeRawBufferPointer? {
        guard bytes.count - offset >= overhead else { return nil }
        let length = Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
        guard length <= maximumPayload, bytes.count - offset - overhead >= length else { return nil }
        return UnsafeRawBufferPointer(rebasing: bytes[(offset + overhead)..<(offset + overhead + length)])
    }

    @inline(__always)
    private static func hasValidCRC(_ bytes: UnsafeRawBufferPointer, at offset: Int, payload: UnsafeRawBufferPointer) -> Bool {
        let stored = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self))
        let lengthCRC = crc32c(UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + 4)]))
        return crc32c(payload, continuing: lengthCRC) == stored
    }
}
