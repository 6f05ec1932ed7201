// ExtensionObject (OPC 10000-6 §5.2.2.15): a structure wrapped with the NodeId of its encoding.
public import NIOCore

/// A structure with a binary encoding id, storable in an ``ExtensionObject``.
///
/// Every generated Part 4 structure conforms; its `binaryEncodingId` is the
/// `<Name>_Encoding_DefaultBinary` node of namespace 0.
public protocol OPCUAStructure: OPCUACodable {
    /// The NodeId of the structure's Default Binary encoding (OPC 10000-6 §5.2.2.15).
    static var binaryEncodingId: NodeId { get }
}

extension OPCUAStructure {
    /// The body of a secure-conversation message (OPC 10000-6 §6.7.2): the binary encoding id,
    /// then the structure. Every request and response travels in this form.
    public func messageBody(capacity: Int = 256) -> ByteBuffer {
        var body = ByteBuffer()
        body.reserveCapacity(capacity)
        Self.binaryEncodingId.encode(to: &body)
        encode(to: &body)
        return body
    }
}

/// An ExtensionObject: a type id and a body that is absent, binary or XML.
///
/// Bodies of types this stack does not know stay opaque bytes and re-encode unchanged.
///
/// ```swift
/// let wrapped = ExtensionObject(AnonymousIdentityToken(policyId: "anonymous"))
/// let token = try wrapped.decode(AnonymousIdentityToken.self) // nil if the type id differs
/// ```
public struct ExtensionObject: Hashable, Sendable, OPCUACodable {
    public enum Body: Hashable, Sendable {
        /// Encoding byte 0x00: no body.
        case none
        /// Encoding byte 0x01: a binary body (ByteString).
        case binary([UInt8])
        /// Encoding byte 0x02: an XML body (XmlElement).
        case xml(String?)
    }

    public var typeId: NodeId
    public var body: Body

    public init(typeId: NodeId, body: Body) {
        self.typeId = typeId
        self.body = body
    }

    /// Wraps a structure in its binary encoding.
    public init<T: OPCUAStructure>(_ value: T) {
        var buffer = ByteBuffer()
        value.encode(to: &buffer)
        self.init(typeId: T.binaryEncodingId, body: .binary(Array(buffer.readableBytesView)))
    }

    /// The null ExtensionObject: type i=0, no body.
    public static let null = ExtensionObject(typeId: .null, body: .none)

    public var isNull: Bool { typeId.isNull && body == .none }

    /// Decodes the body as `T` if the type id is `T`'s binary encoding; nil if it is another type.
    /// Throws if the type matches but the body does not decode, or if bytes are left over.
    public func decode<T: OPCUAStructure>(_ type: T.Type) throws(OPCUAError) -> T? {
        guard typeId == T.binaryEncodingId, case .binary(let bytes) = body else { return nil }
        var buffer = ByteBuffer(bytes: bytes)
        let value = try T(decoding: &buffer)
        guard buffer.readableBytes == 0 else {
            throw OPCUAError.decoding("ExtensionObject \(typeId): \(buffer.readableBytes) bytes left after the body")
        }
        return value
    }

    public func encode(to buffer: inout ByteBuffer) {
        typeId.encode(to: &buffer)
        switch body {
        case .none:
            buffer.writeUA(UInt8(0x00))
        case .binary(let bytes):
            buffer.writeUA(UInt8(0x01))
            buffer.writeUAByteString(bytes)
        case .xml(let xml):
            buffer.writeUA(UInt8(0x02))
            buffer.writeUAString(xml)
        }
    }

    public init(decoding buffer: inout ByteBuffer) throws(OPCUAError) {
        typeId = try NodeId(decoding: &buffer)
        switch try buffer.readUA(UInt8.self, "ExtensionObject encoding") {
        case 0x00: body = .none
        case 0x01: body = .binary(try buffer.readUAByteString("ExtensionObject body") ?? [])
        case 0x02: body = .xml(try buffer.readUAString("ExtensionObject XML body"))
        case let other:
            throw OPCUAError.decoding("ExtensionObject encoding byte \(other) is not 0, 1 or 2")
        }
    }
}
