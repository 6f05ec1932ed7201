// The file header and the checksummed frame shared by the WAL, segment and index files.
// Format: Storage/Format/README.md ("File header" and "Checksummed frame").

/// The 24-byte header every store file starts with.
///
/// ```
/// +----------------+-------------+-----------+------------+--------------+
/// | magic (8)      | version u16 | flags u16 | number u64 | crc32c u32   |
/// +----------------+-------------+-----------+------------+--------------+
/// ```
/// The CRC covers the first 20 bytes. `number` is the WAL file number or the segment id.
struct FileHeader: Equatable {
    static let size = 24

    enum Kind: String {
        case wal = "SNTRWAL\0"
        case segment = "SNTRSEG\0"
        case index = "SNTRIDX\0"
        case manifest = "SNTRMAN\0"
        var version: UInt16 { 1 }
    }

    var kind: Kind
    var number: UInt64

    func encoded() -> [UInt8] {
        var w = ByteWriter(capacity: Self.size)
        w.write(bytes: Array(kind.rawValue.utf8))
        w.write(kind.version)
        w.write(UInt16(0))
        w.write(number)
        w.write(crc32c(w.bytes))
        return w.bytes
    }

    /// Decodes and checks a header of the expected kind.
    init(decoding bytes: UnsafeRawBufferPointer, expected: Kind, file: String) throws {
        guard bytes.count >= Self.size else {
            throw StorageError(.unsupportedFormat, "file \(file) is \(bytes.count) bytes, shorter than its 24-byte header",
                               file: file, offset: 0)
        }
        let magic = Array(bytes[0..<8])
        guard magic == Array(expected.rawValue.utf8) else {
            throw StorageError(.unsupportedFormat, "file \(file) does not start with the magic \(expected.rawValue.dropLast()) (wrong file kind or not a Sinter file)",
                               file: file, offset: 0)
        }
        var r = ByteReader(UnsafeRawBufferPointer(rebasing: bytes[8..<Self.size]), context: file, fileOffset: 8)
        let version = try r.read(UInt16.self)
        _ = try r.read(UInt16.self)
        let number = try r.read(UInt64.self)
        let stored = try r.read(UInt32.self)
        guard stored == crc32c(UnsafeRawBufferPointer(rebasing: bytes[0..<20])) else {
            throw StorageError(.corruptBlock, "CRC mismatch in the header of \(file) at offset 0", file: file, offset: 0)
        }
        guard version == expected.version else {
            throw StorageError(.unsupportedFormat, "file \(file) has format version \(version); this build reads version \(expected.version)",
                               file: file, offset: 8)
        }
        self.kind = expected
        self.number = number
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

    /// How a scan of frames ended.
    enum End: Equatable {
        /// Every byte was a valid frame.
        case clean
        /// The last frame is incomplete or fails its CRC and reaches the end of the file: a write
        /// that a crash interrupted. `at` is where the valid data ends.
        case tornTail(at: Int)
        /// A frame in the middle fails its CRC or has an impossible length.
        case corrupt(at: Int, reason: String)
    }

    /// Walks the frames in `bytes` (which starts at file offset `base`), calling `body` with each
    /// payload and its offset. Stops at the first bad frame and says why.
    static func scan(_ bytes: UnsafeRawBufferPointer, base: Int = 0,
                     _ body: (UnsafeRawBufferPointer, Int) throws -> Void) throws -> End {
        var offset = 0
        while offset < bytes.count {
            let remaining = bytes.count - offset
            guard remaining >= overhead else { return .tornTail(at: base + offset) }
            let length = Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
            let stored = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self))
            guard length <= maximumPayload else {
                return remaining <= overhead + maximumPayload && isZeroTail(bytes, from: offset)
                    ? .tornTail(at: base + offset) : .corrupt(at: base + offset, reason: "impossible frame length \(length)")
            }
            guard remaining - overhead >= length else { return .tornTail(at: base + offset) }
            let payload = UnsafeRawBufferPointer(rebasing: bytes[(offset + overhead)..<(offset + overhead + length)])
            let lengthCRC = crc32c(UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + 4)]))
            guard crc32c(payload, continuing: lengthCRC) == stored else {
                return offset + overhead + length == bytes.count || isZeroTail(bytes, from: offset + overhead + length)
                    ? .tornTail(at: base + offset) : .corrupt(at: base + offset, reason: "CRC mismatch")
            }
            try body(payload, base + offset)
            offset += overhead + length
        }
        return .clean
    }

    private static func isZeroTail(_ bytes: UnsafeRawBufferPointer, from: Int) -> Bool {
        bytes[from...].allSatisfy { $0 == 0 }
    }
}
