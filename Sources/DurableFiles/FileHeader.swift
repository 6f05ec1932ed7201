// The 24-byte header every durable file of Sinter starts with (store WAL, segments, indexes,
// manifest, alert log; edge spool segments, cursor, dead letters).
// Format: Storage/Format/README.md#file-header.
import CRC32C

/// The shared file header: magic, format version, flags, a number, CRC-32C.
///
/// ```
/// +----------------+-------------+-----------+------------+--------------+
/// | magic (8)      | version u16 | flags u16 | number u64 | crc32c u32   |
/// +----------------+-------------+-----------+------------+--------------+
/// ```
/// Little-endian. The CRC covers the first 20 bytes. What `number` means depends on the file
/// kind (a WAL file number, a segment id, the first sequence of a spool segment, …). Decoding
/// checks in the house order — length, CRC, magic, version — so that damage (short, CRC) and a
/// file of another kind or format (magic, version; intact but not to be interpreted) differ.
///
/// ```swift
/// let bytes = DurableFileHeader.encode(magic: Array("SNTRWAL\0".utf8), version: 1, number: 7)
/// let number = try DurableFileHeader.decode(bytes, magic: Array("SNTRWAL\0".utf8), version: 1).get()   // 7
/// ```
package enum DurableFileHeader {
    package static let size = 24

    /// Why a header was refused.
    package enum Problem: Error, Equatable, Sendable {
        case short(Int)
        case crcMismatch
        case wrongMagic
        case unsupportedVersion(UInt16)

        /// Intact, but of another kind or format: not damage, and not to be interpreted.
        package var isOtherFormat: Bool {
            switch self {
            case .wrongMagic, .unsupportedVersion: true
            case .short, .crcMismatch: false
            }
        }
    }

    /// The 24 bytes of a header with `magic` (8 bytes), `version` and `number`; flags 0.
    package static func encode(magic: [UInt8], version: UInt16, number: UInt64) -> [UInt8] {
        precondition(magic.count == 8, "a file magic has 8 bytes")
        var bytes = magic
        bytes.reserveCapacity(size)
        withUnsafeBytes(of: version.littleEndian) { bytes.append(contentsOf: $0) }
        withUnsafeBytes(of: UInt16(0).littleEndian) { bytes.append(contentsOf: $0) }
        withUnsafeBytes(of: number.littleEndian) { bytes.append(contentsOf: $0) }
        let crc = bytes.withUnsafeBytes { sinter_crc32c_extend(0, $0.baseAddress!, 20) }
        withUnsafeBytes(of: crc.littleEndian) { bytes.append(contentsOf: $0) }
        return bytes
    }

    /// The `number` of the header at the start of `bytes`. Flags are ignored.
    package static func decode(_ bytes: UnsafeRawBufferPointer, magic: [UInt8], version expected: UInt16) -> Result<UInt64, Problem> {
        guard bytes.count >= size, let base = bytes.baseAddress else { return .failure(.short(bytes.count)) }
        let stored = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 20, as: UInt32.self))
        guard sinter_crc32c_extend(0, base, 20) == stored else { return .failure(.crcMismatch) }
        guard bytes[0..<8].elementsEqual(magic) else { return .failure(.wrongMagic) }
        let version = UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt16.self))
        guard version == expected else { return .failure(.unsupportedVersion(version)) }
        return .success(UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 12, as: UInt64.self)))
    }

    /// ``decode(_:magic:version:)`` of an array.
    package static func decode(_ bytes: [UInt8], magic: [UInt8], version: UInt16) -> Result<UInt64, Problem> {
        bytes.withUnsafeBytes { decode($0, magic: magic, version: version) }
    }
}
