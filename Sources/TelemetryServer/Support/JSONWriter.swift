import NIOCore
import TelemetryModel

/// A small append-only JSON writer into a `ByteBuffer`, used for every response body.
///
/// Responses are written by hand rather than through `JSONEncoder`: a record with a 100×100 frame
/// is 10,000 numbers, and the encoder's per-value boxing would dominate query time. Commas are
/// inserted automatically; keys and strings are escaped; non-finite floats become `null`
/// (JSON has no NaN).
struct JSONWriter {
    var buffer: ByteBuffer
    /// Whether the next value in the current container needs a leading comma.
    private var needsComma = false

    init(capacity: Int = 256) {
        buffer = ByteBufferAllocator().buffer(capacity: capacity)
    }

    private mutating func separator() {
        if needsComma { buffer.writeInteger(UInt8(ascii: ",")) }
        needsComma = true
    }

    mutating func beginObject() { separator(); buffer.writeInteger(UInt8(ascii: "{")); needsComma = false }
    mutating func endObject() { buffer.writeInteger(UInt8(ascii: "}")); needsComma = true }
    mutating func beginArray() { separator(); buffer.writeInteger(UInt8(ascii: "[")); needsComma = false }
    mutating func endArray() { buffer.writeInteger(UInt8(ascii: "]")); needsComma = true }

    /// Writes `"name":`; the value that follows takes no comma.
    mutating func key(_ name: String) {
        separator()
        writeQuoted(name)
        buffer.writeInteger(UInt8(ascii: ":"))
        needsComma = false
    }

    mutating func string(_ value: String) { separator(); writeQuoted(value) }
    mutating func null() { separator(); buffer.writeStaticString("null") }
    mutating func bool(_ value: Bool) { separator(); buffer.writeStaticString(value ? "true" : "false") }
    mutating func int(_ value: Int) { separator(); buffer.writeString(String(value)) }
    mutating func int64(_ value: Int64) { separator(); buffer.writeString(String(value)) }

    mutating func float(_ value: Float) {
        separator()
        if value.isFinite { buffer.writeString(value.description) } else { buffer.writeStaticString("null") }
    }

    mutating func double(_ value: Double) {
        separator()
        if value.isFinite { buffer.writeString(value.description) } else { buffer.writeStaticString("null") }
    }

    /// Writes many floats as one JSON array (the frame path).
    mutating func floats(_ values: [Float]) {
        beginArray()
        buffer.reserveCapacity(minimumWritableBytes: values.count * 6)
        var first = true
        for v in values {
            if !first { buffer.writeInteger(UInt8(ascii: ",")) }
            first = false
            if v.isFinite { buffer.writeString(v.description) } else { buffer.writeStaticString("null") }
        }
        endArray()
    }

    mutating func field(_ name: String, _ value: String) { key(name); string(value) }
    mutating func field(_ name: String, _ value: String?) {
        key(name)
        if let value { string(value) } else { null() }
    }
    mutating func field(_ name: String, _ value: Int) { key(name); int(value) }
    mutating func field(_ name: String, _ value: Float) { key(name); float(value) }
    mutating func field(_ name: String, _ value: Double) { key(name); double(value) }
    mutating func field(_ name: String, _ value: Bool) { key(name); bool(value) }
    mutating func field(_ name: String, _ value: Timestamp) { key(name); string(value.rfc3339) }
    mutating func field(_ name: String, _ value: Timestamp?) {
        key(name)
        if let value { string(value.rfc3339) } else { null() }
    }

    /// Appends already-encoded JSON as one value.
    mutating func raw(_ bytes: ByteBuffer) {
        separator()
        var copy = bytes
        buffer.writeBuffer(&copy)
    }

    private mutating func writeQuoted(_ s: String) {
        buffer.writeInteger(UInt8(ascii: "\""))
        var clean = true
        for b in s.utf8 where b < 0x20 || b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") {
            clean = false
            break
        }
        if clean {
            buffer.writeString(s)
        } else {
            for b in s.utf8 {
                switch b {
                case UInt8(ascii: "\""): buffer.writeStaticString("\\\"")
                case UInt8(ascii: "\\"): buffer.writeStaticString("\\\\")
                case 0x0A: buffer.writeStaticString("\\n")
                case 0x0D: buffer.writeStaticString("\\r")
                case 0x09: buffer.writeStaticString("\\t")
                case 0..<0x20:
                    let hex: [UInt8] = Array("0123456789abcdef".utf8)
                    buffer.writeStaticString("\\u00")
                    buffer.writeInteger(hex[Int(b >> 4)])
                    buffer.writeInteger(hex[Int(b & 0xF)])
                default: buffer.writeInteger(b)
                }
            }
        }
        buffer.writeInteger(UInt8(ascii: "\""))
    }
}
