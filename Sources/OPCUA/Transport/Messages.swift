// OPC UA Connection Protocol messages (OPC 10000-6 §7.1.2): the 8-byte header shared with
// Secure Conversation chunks, and the Hello, Acknowledge and Error bodies.
//
// Every UACP message and every Secure Conversation MessageChunk starts with the same 8 bytes:
// a 3-byte ASCII message type, a 1-byte chunk type ('F' for the UACP types) and the UInt32
// size of the whole message including those 8 bytes. The bodies here are encoded without
// that header; `ByteBuffer.writeUACPMessage(_:_:)` adds it.
public import NIOCore

/// The 3-byte ASCII message type at the start of every UACP message and MessageChunk
/// (OPC 10000-6 Table 73 and §6.7.2.2).
public enum MessageType: String, Sendable, Hashable, CaseIterable {
    /// `HEL`: the Client's Hello, the first message on a connection.
    case hello = "HEL"
    /// `ACK`: the Server's Acknowledge completing the buffer negotiation.
    case acknowledge = "ACK"
    /// `ERR`: a fatal error; the connection is closed after it.
    case error = "ERR"
    /// `RHE`: ReverseHello (Server-initiated connections; not supported by this stack).
    case reverseHello = "RHE"
    /// `OPN`: an OpenSecureChannel request or response chunk.
    case open = "OPN"
    /// `MSG`: a chunk of any other service request or response.
    case message = "MSG"
    /// `CLO`: a CloseSecureChannel request chunk.
    case close = "CLO"

    /// The three ASCII bytes on the wire.
    public var bytes: [UInt8] { Array(rawValue.utf8) }

    /// The type for three wire bytes; nil for anything this stack does not know.
    public init?(bytes b0: UInt8, _ b1: UInt8, _ b2: UInt8) {
        guard let type = MessageType.allCases.first(where: { $0.bytes == [b0, b1, b2] }) else { return nil }
        self = type
    }

    /// True for the Secure Conversation types (OPN, MSG, CLO), which are chunked and carry a
    /// secure channel id, a security header and a sequence header.
    public var isSecureConversation: Bool {
        switch self {
        case .open, .message, .close: true
        case .hello, .acknowledge, .error, .reverseHello: false
        }
    }
}

/// The fourth header byte of a Secure Conversation MessageChunk (OPC 10000-6 §6.7.2.2).
///
/// UACP messages (HEL, ACK, ERR, RHE) always carry 'F' here; receivers ignore it for them.
public enum ChunkType: UInt8, Sendable, Hashable, CaseIterable {
    /// 'F': the final (or only) chunk of a message.
    case final = 0x46
    /// 'C': an intermediate chunk; more follow.
    case intermediate = 0x43
    /// 'A': the sender aborted the message; the body is an error code and a reason (§6.7.3).
    case abort = 0x41
}

/// The 8-byte header of every UACP message and MessageChunk (OPC 10000-6 Table 73, Table 57).
public struct ChunkHeader: Hashable, Sendable, OPCUACodable {
    /// The header length in bytes; `messageSize` includes it.
    public static let size = 8

    public var messageType: MessageType
    public var chunkType: ChunkType
    /// The length of the whole message or chunk in bytes, including these 8 header bytes.
    public var messageSize: UInt32

    public init(messageType: MessageType, chunkType: ChunkType = .final, messageSize: UInt32) {
        self.messageType = messageType
        self.chunkType = chunkType
        self.messageSize = messageSize
    }

    public func encode(to buffer: inout ByteBuffer) {
        buffer.writeBytes(messageType.bytes)
        buffer.writeUA(chunkType.rawValue)
        buffer.writeUA(messageSize)
    }

    /// Decodes a header. An unknown message type throws `BadTcpMessageTypeInvalid`, an unknown
    /// chunk type on OPN/MSG/CLO throws `BadTcpMessageTypeInvalid`, and a size below 8 throws
    /// `BadDecodingError`. The reserved byte of HEL/ACK/ERR/RHE is ignored (read as 'F').
    public init(decoding buffer: inout ByteBuffer) throws(OPCUAError) {
        guard let raw = buffer.readBytes(length: ChunkHeader.size) else {
            throw OPCUAError.decoding("message header: needs 8 bytes, \(buffer.readableBytes) left")
        }
        self = try ChunkHeader(raw[0], raw[1], raw[2], raw[3], raw[4], raw[5], raw[6], raw[7])
    }

    /// Parses the 8 header bytes (shared by `init(decoding:)` and the frame decoder's peek).
    init(_ t0: UInt8, _ t1: UInt8, _ t2: UInt8, _ chunk: UInt8, _ s0: UInt8, _ s1: UInt8, _ s2: UInt8, _ s3: UInt8) throws(OPCUAError) {
        guard let type = MessageType(bytes: t0, t1, t2) else {
            throw OPCUAError(.badTcpMessageTypeInvalid, "unknown message type \(ChunkHeader.printable([t0, t1, t2]))")
        }
        let chunkType: ChunkType
        if type.isSecureConversation {
            guard let parsed = ChunkType(rawValue: chunk) else {
                throw OPCUAError(.badTcpMessageTypeInvalid, "unknown chunk type \(ChunkHeader.printable([chunk])) on \(type.rawValue)")
            }
            chunkType = parsed
        } else {
            chunkType = .final
        }
        let size = UInt32(s0) | UInt32(s1) << 8 | UInt32(s2) << 16 | UInt32(s3) << 24
        guard size >= UInt32(ChunkHeader.size) else {
            throw OPCUAError.decoding("message size \(size) is smaller than the 8-byte header")
        }
        self.init(messageType: type, chunkType: chunkType, messageSize: size)
    }

    /// ASCII bytes as text, anything else as hex, for error messages about hostile input.
    static func printable(_ bytes: [UInt8]) -> String {
        if bytes.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) {
            return "'" + String(decoding: bytes, as: UTF8.self) + "'"
        }
        return "0x" + bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16, uppercase: true) }.joined()
    }
}

/// Limits of the UACP strings (OPC 10000-6 §7.1.2.3–§7.1.2.5).
public enum UACPStringLimits {
    /// The longest EndpointUrl a Hello may carry, in bytes; longer is `BadTcpEndpointUrlInvalid`.
    public static let maxEndpointUrlLength = 4096
    /// The longest Reason of an Error message or abort chunk, in bytes; longer reasons are
    /// ignored on receipt (decoded as nil) and truncated on sending.
    public static let maxReasonLength = 4096
}

/// The Hello message body (OPC 10000-6 Table 69): the Client's protocol version, buffer sizes,
/// limits for responses and the EndpointUrl it connects to.
public struct HelloMessage: Hashable, Sendable, OPCUACodable {
    /// The UACP version the Client requests; 0 for this version of the standard.
    public var protocolVersion: UInt32
    /// The largest MessageChunk the Client can receive (at least 8192).
    public var receiveBufferSize: UInt32
    /// The largest MessageChunk the Client will send (at least 8192).
    public var sendBufferSize: UInt32
    /// The largest response message body the Client accepts; 0 means no limit.
    public var maxMessageSize: UInt32
    /// The most chunks a response may have; 0 means no limit.
    public var maxChunkCount: UInt32
    /// The URL of the endpoint the Client connects to; fewer than 4096 bytes.
    public var endpointUrl: String?

    public init(
        protocolVersion: UInt32 = 0, receiveBufferSize: UInt32, sendBufferSize: UInt32,
        maxMessageSize: UInt32, maxChunkCount: UInt32, endpointUrl: String?
    ) {
        self.protocolVersion = protocolVersion
        self.receiveBufferSize = receiveBufferSize
        self.sendBufferSize = sendBufferSize
        self.maxMessageSize = maxMessageSize
        self.maxChunkCount = maxChunkCount
        self.endpointUrl = endpointUrl
    }

    public func encode(to buffer: inout ByteBuffer) {
        buffer.writeUA(protocolVersion)
        buffer.writeUA(receiveBufferSize)
        buffer.writeUA(sendBufferSize)
        buffer.writeUA(maxMessageSize)
        buffer.writeUA(maxChunkCount)
        buffer.writeUAString(endpointUrl)
    }

    /// Decodes a Hello body. An EndpointUrl longer than 4096 bytes throws
    /// `BadTcpEndpointUrlInvalid` before its bytes are read; bytes after the URL are ignored.
    public init(decoding buffer: inout ByteBuffer) throws(OPCUAError) {
        protocolVersion = try buffer.readUA(UInt32.self, "Hello ProtocolVersion")
        receiveBufferSize = try buffer.readUA(UInt32.self, "Hello ReceiveBufferSize")
        sendBufferSize = try buffer.readUA(UInt32.self, "Hello SendBufferSize")
        maxMessageSize = try buffer.readUA(UInt32.self, "Hello MaxMessageSize")
        maxChunkCount = try buffer.readUA(UInt32.self, "Hello MaxChunkCount")
        if let length = buffer.getInteger(at: buffer.readerIndex, endianness: .little, as: Int32.self),
            length > Int32(UACPStringLimits.maxEndpointUrlLength)
        {
            throw OPCUAError(
                .badTcpEndpointUrlInvalid,
                "Hello EndpointUrl of \(length) bytes exceeds the limit of \(UACPStringLimits.maxEndpointUrlLength)")
        }
        endpointUrl = try buffer.readUAString("Hello EndpointUrl")
    }
}

/// The Acknowledge message body (OPC 10000-6 Table 70): the Server's side of the negotiation.
public struct AcknowledgeMessage: Hashable, Sendable, OPCUACodable {
    /// The UACP version the Server will use; not above the one in the Hello.
    public var protocolVersion: UInt32
    /// The largest MessageChunk the Server can receive; not above the Hello's SendBufferSize.
    public var receiveBufferSize: UInt32
    /// The largest MessageChunk the Server will send; not above the Hello's ReceiveBufferSize.
    public var sendBufferSize: UInt32
    /// The largest request message body the Server accepts; 0 means no limit.
    public var maxMessageSize: UInt32
    /// The most chunks a request may have; 0 means no limit.
    public var maxChunkCount: UInt32

    public init(protocolVersion: UInt32 = 0, receiveBufferSize: UInt32, sendBufferSize: UInt32, maxMessageSize: UInt32, maxChunkCount: UInt32) {
        self.protocolVersion = protocolVersion
        self.receiveBufferSize = receiveBufferSize
        self.sendBufferSize = sendBufferSize
        self.maxMessageSize = maxMessageSize
        self.maxChunkCount = maxChunkCount
    }

    public func encode(to buffer: inout ByteBuffer) {
        buffer.writeUA(protocolVersion)
        buffer.writeUA(receiveBufferSize)
        buffer.writeUA(sendBufferSize)
        buffer.writeUA(maxMessageSize)
        buffer.writeUA(maxChunkCount)
    }

    public init(decoding buffer: inout ByteBuffer) throws(OPCUAError) {
        protocolVersion = try buffer.readUA(UInt32.self, "Acknowledge ProtocolVersion")
        receiveBufferSize = try buffer.readUA(UInt32.self, "Acknowledge ReceiveBufferSize")
        sendBufferSize = try buffer.readUA(UInt32.self, "Acknowledge SendBufferSize")
        maxMessageSize = try buffer.readUA(UInt32.self, "Acknowledge MaxMessageSize")
        maxChunkCount = try buffer.readUA(UInt32.self, "Acknowledge MaxChunkCount")
    }
}

/// The Error message body (OPC 10000-6 Table 74), also the body of an abort chunk (Table 62).
public struct ErrorMessage: Hashable, Sendable, OPCUACodable {
    /// The error (OPC 10000-6 Table 77, or any Bad status).
    public var error: StatusCode
    /// A description for people; at most 4096 bytes.
    public var reason: String?

    public init(error: StatusCode, reason: String?) {
        self.error = error
        self.reason = reason
    }

    /// Encodes the error; a reason longer than 4096 bytes is cut at a character boundary.
    public func encode(to buffer: inout ByteBuffer) {
        error.encode(to: &buffer)
        buffer.writeUAString(reason.map(ErrorMessage.truncated))
    }

    /// Decodes an error. A reason that is longer than 4096 bytes, runs past the end or is not
    /// UTF-8 is ignored (nil), as the spec tells Clients to ignore overlong reasons; only a
    /// missing error code throws.
    public init(decoding buffer: inout ByteBuffer) throws(OPCUAError) {
        error = try StatusCode(decoding: &buffer)
        let lengthIndex = buffer.readerIndex
        if let length = buffer.getInteger(at: lengthIndex, endianness: .little, as: Int32.self),
            length > Int32(UACPStringLimits.maxReasonLength)
        {
            reason = nil
            buffer.moveReaderIndex(to: buffer.writerIndex)
            return
        }
        do {
            reason = try buffer.readUAString("Error Reason")
        } catch {
            reason = nil
            buffer.moveReaderIndex(to: buffer.writerIndex)
        }
    }

    /// `text` cut to at most 4096 UTF-8 bytes without splitting a character.
    static func truncated(_ text: String) -> String {
        guard text.utf8.count > UACPStringLimits.maxReasonLength else { return text }
        var result = ""
        var used = 0
        for character in text {
            let size = character.utf8.count
            if used + size > UACPStringLimits.maxReasonLength { break }
            result.append(character)
            used += size
        }
        return result
    }
}

extension ByteBuffer {
    /// Appends a whole UACP message: the 8-byte header (chunk type 'F') and `body`.
    ///
    /// ```swift
    /// var buffer = ByteBuffer()
    /// buffer.writeUACPMessage(.hello, hello) // 32 + URL bytes
    /// ```
    public mutating func writeUACPMessage(_ type: MessageType, _ body: some OPCUACodable) {
        let start = writerIndex
        ChunkHeader(messageType: type, chunkType: .final, messageSize: 0).encode(to: &self)
        body.encode(to: &self)
        setInteger(UInt32(writerIndex - start), at: start + 4, endianness: .little)
    }
}
