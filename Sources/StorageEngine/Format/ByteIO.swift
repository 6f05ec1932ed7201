// Little-endian byte writing and bounds-checked reading shared by every on-disk structure.
// See Storage/Format/README.md for the conventions (byte order, varints, strings).
import CRC32C

/// Appends little-endian integers, varints and short strings to a byte array.
struct ByteWriter {
    var bytes: [UInt8]

    init(capacity: Int = 256) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    var count: Int { bytes.count }

    mutating func write<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func write(_ value: Float) { write(value.bitPattern) }
    mutating func write(_ value: Double) { write(value.bitPattern) }

    /// LEB128 unsigned varint.
    mutating func writeVarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    mutating func writeZigzag(_ value: Int64) { writeVarint(zigzag(value)) }

    /// A string of at most 255 bytes: u8 length, then UTF-8.
    mutating func writeShortString(_ s: String) {
        let utf8 = Array(s.utf8.prefix(255))
        bytes.append(UInt8(utf8.count))
        bytes.append(contentsOf: utf8)
    }

    /// A string of at most 65 535 bytes: u16 length, then UTF-8 (alert messages and notes).
    mutating func writeLongString(_ s: String) {
        let utf8 = Array(s.utf8.prefix(Int(UInt16.max)))
        write(UInt16(utf8.count))
        bytes.append(contentsOf: utf8)
    }

    mutating func write(bytes other: some Collection<UInt8>) { bytes.append(contentsOf: other) }
}

@inline(__always) func zigzag(_ v: Int64) -> UInt64 { UInt64(bitPattern: (v << 1) ^ (v >> 63)) }
@inline(__always) func unzigzag(_ v: UInt64) -> Int64 { Int64(bitPattern: v >> 1) ^ -Int64(bitPattern: v & 1) }

/// Reads little-endian values from bytes, throwing — never trapping — when the bytes run out or
/// do not make sense. Every decoder of an on-disk structure is written on top of this.
struct ByteReader {
    let base: UnsafeRawBufferPointer
    private(set) var position: Int
    /// Names what is being decoded, for error messages ("segment 000042").
    let context: String
    /// Byte offset of `base` in its file, for error messages.
    let fileOffset: Int64
    let code: StorageError.Code

    init(_ base: UnsafeRawBufferPointer, context: String, fileOffset: Int64 = 0, code: StorageError.Code = .corruptData) {
        self.base = base
        self.position = 0
        self.context = context
        self.fileOffset = fileOffset
        self.code = code
    }

    var remaining: Int { base.count - position }

    func error(_ what: String) -> StorageError {
        StorageError(code, "\(what) in \(context) at offset \(fileOffset + Int64(position))",
                     file: context, offset: fileOffset + Int64(position))
    }

    mutating func read<T: FixedWidthInteger>(_: T.Type = T.self) throws -> T {
        let size = MemoryLayout<T>.size
        guard remaining >= size else { throw error("unexpected end of data reading \(size) bytes") }
        let v = base.loadUnaligned(fromByteOffset: position, as: T.self)
        position += size
        return T(littleEndian: v)
    }

    mutating func readFloat() throws -> Float { Float(bitPattern: try read(UInt32.self)) }
    mutating func readDouble() throws -> Double { Double(bitPattern: try read(UInt64.self)) }

    mutating func readVarint() throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard position < base.count else { throw error("unexpected end of data in varint") }
            let b = base[position]
            position += 1
            guard shift < 64 else { throw error("varint too long") }
            result |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 { return result }
            shift += 7
        }
    }

    mutating func readZigzag() throws -> Int64 { try unzigzag(readVarint()) }

    /// A count or length that must not exceed `limit` (so that corrupt sizes never cause huge allocations).
    mutating func readLength<T: FixedWidthInteger>(_: T.Type, limit: Int, what: String) throws -> Int {
        let v = try read(T.self)
        guard v >= 0, Int(v) <= limit else { throw error("\(what) \(v) exceeds the limit \(limit)") }
        return Int(v)
    }

    mutating func readShortString() throws -> String {
        let n = Int(try read(UInt8.self))
        let bytes = try readBytes(n)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// A u16 length, then that many bytes of UTF-8 (see ``ByteWriter/writeLongString(_:)``).
    mutating func readLongString() throws -> String {
        let n = Int(try read(UInt16.self))
        let bytes = try readBytes(n)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// A view of the next `n` bytes (valid as long as `base` is).
    mutating func readBytes(_ n: Int) throws -> UnsafeRawBufferPointer {
        guard n >= 0, remaining >= n else { throw error("unexpected end of data reading \(n) bytes") }
        let slice = UnsafeRawBufferPointer(rebasing: base[position..<(position + n)])
        position += n
        return slice
    }

}

/// CRC-32C of `bytes`, continuing `crc`.
@inline(__always)
func crc32c(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
    sinter_crc32c_extend(crc, bytes.baseAddress, bytes.count)
}

func crc32c(_ bytes: [UInt8]) -> UInt32 { bytes.withUnsafeBytes { crc32c($0) } }
