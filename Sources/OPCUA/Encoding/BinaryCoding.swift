// OPC UA Binary encoding (OPC 10000-6 §5.2): the coding protocol, limits, errors and primitives.
//
// Every type on the wire conforms to `OPCUACodable`: `encode(to:)` appends its bytes and
// `init(decoding:)` consumes them, throwing `OPCUAError` (status `BadDecodingError`) on
// truncated or invalid input. Decoding never traps: every length is checked against the
// readable bytes before anything is allocated.
public import NIOCore

/// A value with an OPC UA Binary encoding (OPC 10000-6 §5.2).
///
/// Encoding appends to a `ByteBuffer`; decoding consumes from one and throws
/// ``OPCUAError`` with ``StatusCode/badDecodingError`` when the bytes are short or invalid.
///
/// ```swift
/// var buffer = ByteBuffer()
/// NodeId(numeric: 2255).encode(to: &buffer)
/// let back = try NodeId(decoding: &buffer)
/// ```
public protocol OPCUACodable: Sendable {
    /// Appends the binary encoding of `self`.
    func encode(to buffer: inout ByteBuffer)
    /// Consumes one value from the front of `buffer`.
    init(decoding buffer: inout ByteBuffer) throws(OPCUAError)
}

/// Limits that keep a hostile peer from exhausting memory or stack while decoding.
public enum DecodingLimits {
    /// Nesting of Variants, DataValues and ExtensionObjects (OPC 10000-6 §5.2.2: at least 100).
    public static let maxNestingDepth = 100
    /// Nesting of DiagnosticInfo (OPC 10000-6 v1.05 §5.2.2.12: at least 4, not more than 10 expected).
    public static let maxDiagnosticDepth = 10
    /// The longest String, ByteString or array accepted (elements or bytes).
    public static let maxArrayLength = 16 * 1024 * 1024
}

/// An OPC UA failure: a status code, a message a person can act on, and where it happened.
///
/// Decoding failures carry ``StatusCode/badDecodingError``; service failures carry the
/// status the service answered with.
public struct OPCUAError: Error, Sendable, CustomStringConvertible, Equatable {
    /// The status code (OPC 10000-4 §7.39) that best describes the failure.
    public var status: StatusCode
    /// What went wrong, in words ("String length 300 exceeds the 12 bytes left").
    public var message: String

    public init(_ status: StatusCode, _ message: String) {
        self.status = status
        self.message = message
    }

    /// A decoding failure (`BadDecodingError`).
    public static func decoding(_ message: String) -> OPCUAError {
        OPCUAError(.badDecodingError, message)
    }

    public var description: String { "\(status): \(message)" }
}

// MARK: - Primitives

extension ByteBuffer {
    /// Reads a little-endian integer or throws naming `what`.
    @inlinable
    public mutating func readUA<T: FixedWidthInteger>(_ type: T.Type = T.self, _ what: StaticString = "integer") throws(OPCUAError) -> T {
        guard let value = readInteger(endianness: .little, as: T.self) else {
            throw OPCUAError.decoding("\(what): needs \(MemoryLayout<T>.size) bytes, \(readableBytes) left")
        }
        return value
    }

    /// Writes a little-endian integer.
    @inlinable
    public mutating func writeUA<T: FixedWidthInteger>(_ value: T) {
        writeInteger(value, endianness: .little)
    }

    /// Reads an Int32 length prefix: nil for -1 (null), an error for other negatives or
    /// lengths past the end of the buffer (each element takes at least `minimumElementSize` bytes).
    @inlinable
    public mutating func readUALength(minimumElementSize: Int = 1, _ what: StaticString = "length") throws(OPCUAError) -> Int? {
        let raw: Int32 = try readUA(Int32.self, what)
        if raw == -1 { return nil }
        guard raw >= 0 else { throw OPCUAError.decoding("\(what) is negative (\(raw))") }
        let count = Int(raw)
        guard count <= DecodingLimits.maxArrayLength else {
            throw OPCUAError.decoding("\(what) \(count) exceeds the limit of \(DecodingLimits.maxArrayLength)")
        }
        guard count * max(minimumElementSize, 0) <= readableBytes else {
            throw OPCUAError.decoding("\(what) \(count) runs past the end (\(readableBytes) bytes left)")
        }
        return count
    }

    /// Writes a String: Int32 byte length then UTF-8; nil is the null String (length -1).
    @inlinable
    public mutating func writeUAString(_ value: String?) {
        guard let value else { writeUA(Int32(-1)); return }
        let lengthIndex = writerIndex
        writeUA(Int32(0))
        let written = writeString(value)
        setInteger(Int32(written), at: lengthIndex, endianness: .little)
    }

    /// Reads a String; nil for the null String. Invalid UTF-8 is an error.
    @inlinable
    public mutating func readUAString(_ what: StaticString = "String") throws(OPCUAError) -> String? {
        guard let count = try readUALength(what) else { return nil }
        guard let bytes = readSlice(length: count) else { throw OPCUAError.decoding("\(what) truncated") }
        // Strict validation: repairing decoders (String(decoding:)) turn a truncated 4-byte
        // sequence such as F0 90 80 into one U+FFFD of the same length, which a length check misses.
        guard let string = String(validating: bytes.readableBytesView, as: UTF8.self) else {
            throw OPCUAError.decoding("\(what) is not valid UTF-8")
        }
        return string
    }

    /// Writes a ByteString: Int32 length then bytes; nil is the null ByteString.
    @inlinable
    public mutating func writeUAByteString(_ value: [UInt8]?) {
        guard let value else { writeUA(Int32(-1)); return }
        writeUA(Int32(value.count))
        writeBytes(value)
    }

    /// Reads a ByteString; nil for the null ByteString.
    @inlinable
    public mutating func readUAByteString(_ what: StaticString = "ByteString") throws(OPCUAError) -> [UInt8]? {
        guard let count = try readUALength(what) else { return nil }
        guard let bytes = readBytes(length: count) else { throw OPCUAError.decoding("\(what) truncated") }
        return bytes
    }

    /// Writes an array of codable values: Int32 count then elements; nil is the null array.
    @inlinable
    public mutating func writeUAArray<T: OPCUACodable>(_ values: [T]?) {
        guard let values else { writeUA(Int32(-1)); return }
        writeUA(Int32(values.count))
        for value in values { value.encode(to: &self) }
    }

    /// Reads an array of codable values; nil for the null array.
    @inlinable
    public mutating func readUAArray<T: OPCUACodable>(_ type: T.Type = T.self, _ what: StaticString = "array") throws(OPCUAError) -> [T]? {
        guard let count = try readUALength(what) else { return nil }
        var result: [T] = []
        // The count is bounded by the readable bytes, not by the elements' in-memory size:
        // reserve a little and let the array grow as elements actually decode.
        result.reserveCapacity(Swift.min(count, 1024))
        for _ in 0..<count { result.append(try T(decoding: &self)) }
        return result
    }

    /// Writes a non-null array; an empty Swift array is written as an empty (not null) array.
    @inlinable
    public mutating func writeUAArray<T: OPCUACodable>(_ values: [T]) {
        writeUAArray(Optional(values))
    }

    /// Reads an array where null and empty mean the same to the caller.
    @inlinable
    public mutating func readUAArrayOrEmpty<T: OPCUACodable>(_ type: T.Type = T.self, _ what: StaticString = "array") throws(OPCUAError) -> [T] {
        try readUAArray(T.self, what) ?? []
    }
}

// MARK: - Conformances of the Swift primitives

extension Bool: OPCUACodable {
    public func encode(to buffer: inout ByteBuffer) { buffer.writeUA(UInt8(self ? 1 : 0)) }
    public init(decoding buffer: inout ByteBuffer) throws(OPCUAError) {
        self = try buffer.readUA(UInt8.self, "Boolean") != 0
    }
}

extension Int8: OPCUACodable {
    public func encode(to buffer: inout ByteBuffer) { buffer.writeUA(self) }
    public init(decoding buffer: inout ByteBuffer) throws(OPCUAError) { self = try buffer.readUA(Int8.self, "SByte") }
}

extension UInt8: OPCUACodable {
    public func encode(to buffer: inout ByteBuffer) { buffer.writeUA(self) }
    public init(decoding buffer: inout ByteBuffer) throws(OPCUAError) { self = try buffer.readUA(UInt8.self, "Byte") }
}

extension Int16: OPCUACodable {
    public func encode(to buffer: inout ByteBuffer) { buffer.writeUA(self) }
    public init(decoding buffer: inout ByteBuffer) throws(OPCUAError) { self = try buffer.readUA(Int16.self, "Int16") }
}

extension UInt16: OPCUACodable {
    public func encode(to buffer: inout ByteBuffer) { buffer.writeUA(self) }
    public init(decoding buffer: inout ByteBuffer) throws(OPCUAError) { self = try buffer.readUA(UInt16.self, "UInt16") }
}

extension Int32: OPCUACodable {
    public func encode(to buffer: inout ByteBuffer) { buffer.writeUA(self) }
    public init(decoding buffer: inout ByteBuffer) throws(OPCUAError) { self = try buffer.readUA(Int32.self, "Int32") }
}

extension UInt32: OPCUACodable {
    public func encode(to buffer: inout ByteBuffer) { buffer.writeUA(self) }
    public init(decoding buffer: inout ByteBuffer) throws(OPCUAError) { self = try buffer.readUA(UInt32.self, "UInt32") }
}

extension Int64: OPCUACodable {
    public func encode(to buffer: inout ByteBuffer) { buffer.writeUA(self) }
    public init(decoding buffer: inout ByteBuffer) throws(OPCUAError) { self = try buffer.readUA(Int64.self, "Int64") }
}

extension UInt64: OPCUACodable {
    public func encode(to buffer: inout ByteBuffer) { buffer.writeUA(self) }
    public init(decoding buffer: inout ByteBuffer) throws(OPCUAError) { self = try buffer.readUA(UInt64.self, "UInt64") }
}

extension Float: OPCUACodable {
    /// IEEE 754 single, little-endian (OPC 10000-6 §5.2.2.3).
    public func encode(to buffer: inout ByteBuffer) { buffer.writeUA(bitPattern) }
    public init(decoding buffer: inout ByteBuffer) throws(OPCUAError) {
        self = Float(bitPattern: try buffer.readUA(UInt32.self, "Float"))
    }
}

extension Double: OPCUACodable {
    /// IEEE 754 double, little-endian (OPC 10000-6 §5.2.2.3).
    public func encode(to buffer: inout ByteBuffer) { buffer.writeUA(bitPattern) }
    public init(decoding buffer: inout ByteBuffer) throws(OPCUAError) {
        self = Double(bitPattern: try buffer.readUA(UInt64.self, "Double"))
    }
}

/// `String?` is the OPC UA String: nil is the null String, "" the empty one.
extension Optional: OPCUACodable where Wrapped == String {
    public func encode(to buffer: inout ByteBuffer) { buffer.writeUAString(self) }
    public init(decoding buffer: inout ByteBuffer) throws(OPCUAError) { self = try buffer.readUAString() }
}

/// A non-optional Swift `String` encodes as a non-null OPC UA String; a null String decodes as "".
extension String: OPCUACodable {
    public func encode(to buffer: inout ByteBuffer) { buffer.writeUAString(self) }
    public init(decoding buffer: inout ByteBuffer) throws(OPCUAError) { self = try buffer.readUAString() ?? "" }
}
