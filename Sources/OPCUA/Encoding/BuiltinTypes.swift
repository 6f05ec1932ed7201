// The OPC UA built-in types other than Variant, DataValue, DiagnosticInfo and ExtensionObject
// (OPC 10000-6 §5.2.2): ByteString, XmlElement, DateTime, Guid, StatusCode, NodeId,
// ExpandedNodeId, QualifiedName, LocalizedText, and the built-in type ids.
public import NIOCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The 25 built-in types and their ids in a Variant's encoding byte (OPC 10000-6 §5.1.2).
public enum BuiltinType: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case boolean = 1, sbyte, byte, int16, uint16, int32, uint32, int64, uint64, float, double
    case string, dateTime, guid, byteString, xmlElement, nodeId, expandedNodeId, statusCode
    case qualifiedName, localizedText, extensionObject, dataValue, variant, diagnosticInfo

    public var description: String {
        switch self {
        case .boolean: "Boolean"
        case .sbyte: "SByte"
        case .byte: "Byte"
        case .int16: "Int16"
        case .uint16: "UInt16"
        case .int32: "Int32"
        case .uint32: "UInt32"
        case .int64: "Int64"
        case .uint64: "UInt64"
        case .float: "Float"
        case .double: "Double"
        case .string: "String"
        case .dateTime: "DateTime"
        case .guid: "Guid"
        case .byteString: "ByteString"
        case .xmlElement: "XmlElement"
        case .nodeId: "NodeId"
        case .expandedNodeId: "ExpandedNodeId"
        case .statusCode: "StatusCode"
        case .qualifiedName: "QualifiedName"
        case .localizedText: "LocalizedText"
        case .extensionObject: "ExtensionObject"
        case .dataValue: "DataValue"
        case .variant: "Variant"
        case .diagnosticInfo: "DiagnosticInfo"
        }
    }

    /// The DataType node of this built-in type in namespace 0 (i=1 … i=25).
    public var dataTypeId: NodeId { NodeId(numeric: UInt32(rawValue)) }
}

// MARK: - ByteString, XmlElement

/// A ByteString: bytes, or the null ByteString (`bytes == nil`), distinct from the empty one.
public struct ByteString: Hashable, Sendable, OPCUACodable, ExpressibleByArrayLiteral {
    public var bytes: [UInt8]?
    public init(_ bytes: [UInt8]?) { self.bytes = bytes }
    public init(arrayLiteral elements: UInt8...) { self.bytes = elements }
    /// The null ByteString (length -1 on the wire).
    public static let null = ByteString(nil)
    public var isNull: Bool { bytes == nil }
    public func encode(to buffer: inout ByteBuffer) { buffer.writeUAByteString(bytes) }
    public init(decoding buffer: inout ByteBuffer) throws(OPCUAError) { bytes = try buffer.readUAByteString() }
}

/// An XmlElement: an XML fragment as a UTF-8 String, or null.
public struct XmlElement: Hashable, Sendable, OPCUACodable {
    public var xml: String?
    public init(_ xml: String?) { self.xml = xml }
    public func encode(to buffer: inout ByteBuffer) { buffer.writeUAString(xml) }
    public init(decoding buffer: inout ByteBuffer) throws(OPCUAError) { xml = try buffer.readUAString("XmlElement") }
}

// MARK: - DateTime

/// A DateTime: 100-nanosecond intervals since 1601-01-01 00:00 UTC (OPC 10000-6 §5.2.2.5).
///
/// ```swift
/// let t = DateTime(unixNanoseconds: 1_700_000_000_000_000_000)
/// t.unixNanoseconds // 1_700_000_000_000_000_000
/// ```
public struct DateTime: Hashable, Comparable, Sendable, OPCUACodable, CustomStringConvertible {
    /// 100 ns ticks since 1601-01-01 UTC; 0 means "no time" and Int64.max "end of time".
    public var ticks: Int64

    /// Ticks between 1601-01-01 and 1970-01-01.
    public static let unixEpochTicks: Int64 = 116_444_736_000_000_000

    public init(ticks: Int64) { self.ticks = ticks }

    /// A time from nanoseconds since the Unix epoch (truncated to 100 ns).
    public init(unixNanoseconds: Int64) {
        ticks = unixNanoseconds / 100 + Self.unixEpochTicks
    }

    /// Nanoseconds since the Unix epoch, clamped to the Int64 range (any Int64 can arrive on the wire).
    public var unixNanoseconds: Int64 {
        let (difference, underflow) = ticks.subtractingReportingOverflow(Self.unixEpochTicks)
        let (product, overflow) = difference.multipliedReportingOverflow(by: 100)
        guard !underflow, !overflow else { return ticks > Self.unixEpochTicks ? .max : .min }
        return product
    }

    /// The null DateTime (0).
    public static let null = DateTime(ticks: 0)

    /// The system clock's current time.
    public static var now: DateTime {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return DateTime(unixNanoseconds: Int64(spec.tv_sec) * 1_000_000_000 + Int64(spec.tv_nsec))
    }

    public static func < (lhs: DateTime, rhs: DateTime) -> Bool { lhs.ticks < rhs.ticks }

    public func encode(to buffer: inout ByteBuffer) { buffer.writeUA(ticks) }
    public init(decoding buffer: inout ByteBuffer) throws(OPCUAError) { ticks = try buffer.readUA(Int64.self, "DateTime") }

    public var description: String { "DateTime(\(unixNanoseconds) ns since 1970)" }
}

// MARK: - Guid

/// A 16-byte Guid (OPC 10000-6 §5.2.2.7): Data1 UInt32, Data2 and Data3 UInt16 little-endian, Data4 8 bytes in order.
public struct Guid: Hashable, Sendable, OPCUACodable, CustomStringConvertible {
    public var data1: UInt32
    public var data2: UInt16
    public var data3: UInt16
    /// Data4, its first byte in the most significant position.
    public var data4: UInt64

    public init(data1: UInt32, data2: UInt16, data3: UInt16, data4: UInt64) {
        self.data1 = data1
        self.data2 = data2
        self.data3 = data3
        self.data4 = data4
    }

    /// Parses "72962B91-FA75-4AE6-8D28-B404DC7DAF63" (hex, either case); nil if malformed.
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 5, parts.map(\.count) == [8, 4, 4, 4, 12],
              let d1 = UInt32(parts[0], radix: 16), let d2 = UInt16(parts[1], radix: 16),
              let d3 = UInt16(parts[2], radix: 16), let hi = UInt64(parts[3], radix: 16),
              let lo = UInt64(parts[4], radix: 16)
        else { return nil }
        self.init(data1: d1, data2: d2, data3: d3, data4: hi << 48 | lo)
    }

    public func encode(to buffer: inout ByteBuffer) {
        buffer.writeUA(data1)
        buffer.writeUA(data2)
        buffer.writeUA(data3)
        buffer.writeInteger(data4, endianness: .big)
    }

    public init(decoding buffer: inout ByteBuffer) throws(OPCUAError) {
        data1 = try buffer.readUA(UInt32.self, "Guid")
        data2 = try buffer.readUA(UInt16.self, "Guid")
        data3 = try buffer.readUA(UInt16.self, "Guid")
        guard let d4 = buffer.readInteger(endianness: .big, as: UInt64.self) else {
            throw OPCUAError.decoding("Guid truncated")
        }
        data4 = d4
    }

    public var description: String {
        func hex<T: BinaryInteger>(_ value: T, _ width: Int) -> String {
            let digits = String(value, radix: 16, uppercase: true)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return "\(hex(data1, 8))-\(hex(data2, 4))-\(hex(data3, 4))-\(hex(data4 >> 48, 4))-\(hex(data4 & 0xFFFF_FFFF_FFFF, 12))"
    }
}

// MARK: - StatusCode

/// A StatusCode (OPC 10000-4 §7.39): severity in the top two bits, the code in bits 16–29,
/// info bits below. The named constants are in `StatusCodes.generated.swift`.
public struct StatusCode: RawRepresentable, Hashable, Sendable, OPCUACodable, CustomStringConvertible {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public init(_ rawValue: UInt32) { self.rawValue = rawValue }

    /// True for Good (severity 00).
    public var isGood: Bool { rawValue & 0xC000_0000 == 0 }
    /// True for Uncertain (severity 01).
    public var isUncertain: Bool { rawValue & 0xC000_0000 == 0x4000_0000 }
    /// True for Bad (severity 1x).
    public var isBad: Bool { rawValue & 0x8000_0000 != 0 }

    public func encode(to buffer: inout ByteBuffer) { buffer.writeUA(rawValue) }
    public init(decoding buffer: inout ByteBuffer) throws(OPCUAError) { rawValue = try buffer.readUA(UInt32.self, "StatusCode") }

    /// The symbolic name ("BadNodeIdUnknown") and the hex value.
    public var description: String {
        let base = rawValue & 0xFFFF_0000
        let hex = String(rawValue, radix: 16, uppercase: true)
        let padded = "0x" + String(repeating: "0", count: max(0, 8 - hex.count)) + hex
        if let name = StatusCode.names[base] { return "\(name) (\(padded))" }
        return padded
    }
}

// MARK: - NodeId

/// A NodeId (OPC 10000-6 §5.2.2.9): a namespace index and a numeric, string, Guid or opaque identifier.
///
/// Encoding picks the shortest form (two-byte, four-byte, numeric); decoding accepts all six forms.
///
/// ```swift
/// let id = try NodeId(parsing: "ns=2;s=dmls-01.Temperature")
/// id.description // "ns=2;s=dmls-01.Temperature"
/// ```
public struct NodeId: Hashable, Sendable, OPCUACodable, CustomStringConvertible {
    public enum Identifier: Hashable, Sendable {
        case numeric(UInt32)
        case string(String)
        case guid(Guid)
        case opaque([UInt8])
    }

    public var namespace: UInt16
    public var identifier: Identifier

    public init(namespace: UInt16 = 0, _ identifier: Identifier) {
        self.namespace = namespace
        self.identifier = identifier
    }

    public init(numeric: UInt32, namespace: UInt16 = 0) {
        self.init(namespace: namespace, .numeric(numeric))
    }

    public init(string: String, namespace: UInt16) {
        self.init(namespace: namespace, .string(string))
    }

    /// The null NodeId, i=0.
    public static let null = NodeId(numeric: 0)
    public var isNull: Bool {
        switch identifier {
        case .numeric(let value): namespace == 0 && value == 0
        case .string(let value): namespace == 0 && value.isEmpty
        case .guid(let value): namespace == 0 && value == Guid(data1: 0, data2: 0, data3: 0, data4: 0)
        case .opaque(let value): namespace == 0 && value.isEmpty
        }
    }

    /// The numeric identifier in namespace 0, if that is what this is.
    public var ns0Numeric: UInt32? {
        if namespace == 0, case .numeric(let value) = identifier { return value }
        return nil
    }

    public func encode(to buffer: inout ByteBuffer) { encode(to: &buffer, flags: 0) }

    /// Encodes with ExpandedNodeId flag bits (0x80 NamespaceUri, 0x40 ServerIndex) or'ed into the first byte.
    func encode(to buffer: inout ByteBuffer, flags: UInt8) {
        switch identifier {
        case .numeric(let value) where namespace == 0 && value <= 0xFF:
            buffer.writeUA(0x00 | flags)
            buffer.writeUA(UInt8(value))
        case .numeric(let value) where namespace <= 0xFF && value <= 0xFFFF:
            buffer.writeUA(0x01 | flags)
            buffer.writeUA(UInt8(namespace))
            buffer.writeUA(UInt16(value))
        case .numeric(let value):
            buffer.writeUA(0x02 | flags)
            buffer.writeUA(namespace)
            buffer.writeUA(value)
        case .string(let value):
            buffer.writeUA(0x03 | flags)
            buffer.writeUA(namespace)
            buffer.writeUAString(value)
        case .guid(let value):
            buffer.writeUA(0x04 | flags)
            buffer.writeUA(namespace)
            value.encode(to: &buffer)
        case .opaque(let value):
            buffer.writeUA(0x05 | flags)
            buffer.writeUA(namespace)
            buffer.writeUAByteString(value)
        }
    }

    public init(decoding buffer: inout ByteBuffer) throws(OPCUAError) {
        let first = try buffer.readUA(UInt8.self, "NodeId encoding")
        guard first & 0xC0 == 0 else {
            throw OPCUAError.decoding("NodeId encoding byte 0x\(String(first, radix: 16)) has ExpandedNodeId flags")
        }
        try self.init(decoding: &buffer, form: first)
    }

    /// Decodes the body after the encoding byte (flags masked off).
    init(decoding buffer: inout ByteBuffer, form: UInt8) throws(OPCUAError) {
        switch form & 0x3F {
        case 0x00:
            self.init(numeric: UInt32(try buffer.readUA(UInt8.self, "NodeId")))
        case 0x01:
            let ns = try buffer.readUA(UInt8.self, "NodeId namespace")
            self.init(numeric: UInt32(try buffer.readUA(UInt16.self, "NodeId")), namespace: UInt16(ns))
        case 0x02:
            let ns = try buffer.readUA(UInt16.self, "NodeId namespace")
            self.init(numeric: try buffer.readUA(UInt32.self, "NodeId"), namespace: ns)
        case 0x03:
            let ns = try buffer.readUA(UInt16.self, "NodeId namespace")
            self.init(namespace: ns, .string(try buffer.readUAString("NodeId string") ?? ""))
        case 0x04:
            let ns = try buffer.readUA(UInt16.self, "NodeId namespace")
            self.init(namespace: ns, .guid(try Guid(decoding: &buffer)))
        case 0x05:
            let ns = try buffer.readUA(UInt16.self, "NodeId namespace")
            self.init(namespace: ns, .opaque(try buffer.readUAByteString("NodeId opaque") ?? []))
        default:
            throw OPCUAError.decoding("NodeId encoding byte 0x\(String(form, radix: 16)) is not a NodeId form")
        }
    }

    /// The text form of OPC 10000-6 §5.3.1.10: `ns=2;s=name`, `i=85`, `g=…`, `b=<base64>`.
    public var description: String {
        let prefix = namespace == 0 ? "" : "ns=\(namespace);"
        switch identifier {
        case .numeric(let value): return prefix + "i=\(value)"
        case .string(let value): return prefix + "s=" + value
        case .guid(let value): return prefix + "g=\(value)"
        case .opaque(let value): return prefix + "b=" + Base64.encode(value)
        }
    }

    /// Parses the text form (`ns=2;s=dmls-01.Temperature`, `i=2255`, `ns=1;g=…`, `b=…`).
    public init(parsing text: String) throws(OPCUAError) {
        var rest = Substring(text)
        var namespace: UInt16 = 0
        if rest.hasPrefix("ns=") {
            guard let semicolon = rest.firstIndex(of: ";"),
                  let ns = UInt16(rest[rest.index(rest.startIndex, offsetBy: 3)..<semicolon])
            else { throw OPCUAError(.badNodeIdInvalid, "NodeId \"\(text)\": bad namespace part") }
            namespace = ns
            rest = rest[rest.index(after: semicolon)...]
        }
        guard rest.count >= 2, rest[rest.index(after: rest.startIndex)] == "=" else {
            throw OPCUAError(.badNodeIdInvalid, "NodeId \"\(text)\": expected i=, s=, g= or b=")
        }
        let kind = rest.first!
        let value = rest.dropFirst(2)
        switch kind {
        case "i":
            guard let number = UInt32(value) else { throw OPCUAError(.badNodeIdInvalid, "NodeId \"\(text)\": bad number") }
            self.init(numeric: number, namespace: namespace)
        case "s":
            self.init(namespace: namespace, .string(String(value)))
        case "g":
            guard let guid = Guid(value) else { throw OPCUAError(.badNodeIdInvalid, "NodeId \"\(text)\": bad Guid") }
            self.init(namespace: namespace, .guid(guid))
        case "b":
            guard let bytes = Base64.decode(String(value)) else {
                throw OPCUAError(.badNodeIdInvalid, "NodeId \"\(text)\": bad base64")
            }
            self.init(namespace: namespace, .opaque(bytes))
        default:
            throw OPCUAError(.badNodeIdInvalid, "NodeId \"\(text)\": expected i=, s=, g= or b=")
        }
    }
}

// MARK: - ExpandedNodeId

/// An ExpandedNodeId (OPC 10000-6 §5.2.2.10): a NodeId, optionally with a namespace URI
/// (flag 0x80) and a server index (flag 0x40).
public struct ExpandedNodeId: Hashable, Sendable, OPCUACodable, CustomStringConvertible {
    public var nodeId: NodeId
    public var namespaceUri: String?
    public var serverIndex: UInt32

    public init(_ nodeId: NodeId, namespaceUri: String? = nil, serverIndex: UInt32 = 0) {
        self.nodeId = nodeId
        self.namespaceUri = namespaceUri
        self.serverIndex = serverIndex
    }

    public static let null = ExpandedNodeId(.null)

    public func encode(to buffer: inout ByteBuffer) {
        var flags: UInt8 = 0
        if namespaceUri != nil { flags |= 0x80 }
        if serverIndex != 0 { flags |= 0x40 }
        nodeId.encode(to: &buffer, flags: flags)
        if let namespaceUri { buffer.writeUAString(namespaceUri) }
        if serverIndex != 0 { buffer.writeUA(serverIndex) }
    }

    public init(decoding buffer: inout ByteBuffer) throws(OPCUAError) {
        let first = try buffer.readUA(UInt8.self, "ExpandedNodeId encoding")
        nodeId = try NodeId(decoding: &buffer, form: first)
        namespaceUri = first & 0x80 != 0 ? try buffer.readUAString("ExpandedNodeId namespace URI") : nil
        serverIndex = first & 0x40 != 0 ? try buffer.readUA(UInt32.self, "ExpandedNodeId server index") : 0
    }

    public var description: String {
        var text = ""
        if serverIndex != 0 { text += "svr=\(serverIndex);" }
        if let namespaceUri { text += "nsu=\(namespaceUri);" }
        return text + nodeId.description
    }
}

// MARK: - QualifiedName, LocalizedText

/// A QualifiedName (OPC 10000-6 §5.2.2.13): a namespace index and a name ("2:Temperature").
public struct QualifiedName: Hashable, Sendable, OPCUACodable, CustomStringConvertible {
    public var namespaceIndex: UInt16
    public var name: String?

    public init(_ name: String?, namespaceIndex: UInt16 = 0) {
        self.namespaceIndex = namespaceIndex
        self.name = name
    }

    public static let null = QualifiedName(nil)

    public func encode(to buffer: inout ByteBuffer) {
        buffer.writeUA(namespaceIndex)
        buffer.writeUAString(name)
    }

    public init(decoding buffer: inout ByteBuffer) throws(OPCUAError) {
        namespaceIndex = try buffer.readUA(UInt16.self, "QualifiedName namespace")
        name = try buffer.readUAString("QualifiedName name")
    }

    public var description: String { namespaceIndex == 0 ? (name ?? "") : "\(namespaceIndex):\(name ?? "")" }
}

/// A LocalizedText (OPC 10000-6 §5.2.2.14): optional locale and optional text, flagged by a mask
/// (0x01 locale, 0x02 text).
public struct LocalizedText: Hashable, Sendable, OPCUACodable, ExpressibleByStringLiteral, CustomStringConvertible {
    public var locale: String?
    public var text: String?

    public init(_ text: String?, locale: String? = nil) {
        self.text = text
        self.locale = locale
    }

    public init(stringLiteral value: String) { self.init(value) }

    public static let null = LocalizedText(nil)

    public func encode(to buffer: inout ByteBuffer) {
        let mask: UInt8 = (locale != nil ? 0x01 : 0) | (text != nil ? 0x02 : 0)
        buffer.writeUA(mask)
        if let locale { buffer.writeUAString(locale) }
        if let text { buffer.writeUAString(text) }
    }

    public init(decoding buffer: inout ByteBuffer) throws(OPCUAError) {
        let mask = try buffer.readUA(UInt8.self, "LocalizedText mask")
        locale = mask & 0x01 != 0 ? try buffer.readUAString("LocalizedText locale") : nil
        text = mask & 0x02 != 0 ? try buffer.readUAString("LocalizedText text") : nil
    }

    public var description: String { text ?? "" }
}

// MARK: - Base64 (NodeId text form)

enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var index = 0
        while index < bytes.count {
            let b0 = UInt32(bytes[index])
            let b1 = index + 1 < bytes.count ? UInt32(bytes[index + 1]) : 0
            let b2 = index + 2 < bytes.count ? UInt32(bytes[index + 2]) : 0
            let triple = b0 << 16 | b1 << 8 | b2
            out.append(alphabet[Int(triple >> 18 & 63)])
            out.append(alphabet[Int(triple >> 12 & 63)])
            out.append(index + 1 < bytes.count ? alphabet[Int(triple >> 6 & 63)] : UInt8(ascii: "="))
            out.append(index + 2 < bytes.count ? alphabet[Int(triple & 63)] : UInt8(ascii: "="))
            index += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func decode(_ text: String) -> [UInt8]? {
        var lookup = [UInt8: UInt32]()
        for (index, character) in alphabet.enumerated() { lookup[character] = UInt32(index) }
        let chars = Array(text.utf8).filter { $0 != UInt8(ascii: "=") }
        var out: [UInt8] = []
        var accumulator: UInt32 = 0
        var bits = 0
        for character in chars {
            guard let value = lookup[character] else { return nil }
            accumulator = accumulator << 6 | value
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
            }
        }
        return out
    }
}
