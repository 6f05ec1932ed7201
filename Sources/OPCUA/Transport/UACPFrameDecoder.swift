// Framing of the TCP byte stream into UACP messages and MessageChunks (OPC 10000-6 §7.1.2.2).
public import NIOCore

/// One UACP message or Secure Conversation MessageChunk cut from the byte stream.
public struct UACPFrame: Sendable, Hashable {
    /// The 8-byte header.
    public var header: ChunkHeader
    /// Everything after the 8-byte header (`header.messageSize - 8` bytes). For OPN/MSG/CLO this
    /// starts with the SecureChannelId.
    public var body: ByteBuffer

    public init(header: ChunkHeader, body: ByteBuffer) {
        self.header = header
        self.body = body
    }
}

/// The largest frame the decoder accepts, shared between the decoder and the UACP handler.
///
/// Before the Hello/Acknowledge exchange it is ``TransportLimits/handshakeFrameSize``; the
/// handler lowers or raises it to the negotiated receive buffer size. Not thread-safe: the
/// decoder and the handler live in one pipeline and touch it only on its event loop.
public final class UACPFrameLimit {
    /// The largest `messageSize` accepted, header included.
    public var maxFrameSize: Int

    public init(maxFrameSize: Int = TransportLimits.handshakeFrameSize) {
        self.maxFrameSize = maxFrameSize
    }
}

@available(*, unavailable)
extension UACPFrameLimit: Sendable {}

/// Cuts the inbound byte stream into ``UACPFrame``s (use it with `ByteToMessageHandler`).
///
/// The header is validated as soon as its 8 bytes arrive, before the rest is buffered:
/// an unknown message or chunk type throws `BadTcpMessageTypeInvalid`, a size below 8
/// `BadDecodingError`, and a size above the current limit `BadTcpMessageTooLarge`. So a
/// hostile size field never makes the decoder wait for (or buffer) more than the limit.
public struct UACPFrameDecoder: NIOSingleStepByteToMessageDecoder {
    public typealias InboundOut = UACPFrame

    /// The shared limit; set `limit.maxFrameSize` after negotiation.
    public let limit: UACPFrameLimit

    /// A decoder reading its limit from `limit` (shared with a handler).
    public init(limit: UACPFrameLimit) {
        self.limit = limit
    }

    /// A decoder with its own limit.
    public init(maxFrameSize: Int = TransportLimits.handshakeFrameSize) {
        self.limit = UACPFrameLimit(maxFrameSize: maxFrameSize)
    }

    /// The largest frame accepted, header included.
    public var maxFrameSize: Int {
        get { limit.maxFrameSize }
        nonmutating set { limit.maxFrameSize = newValue }
    }

    public mutating func decode(buffer: inout ByteBuffer) throws(OPCUAError) -> UACPFrame? {
        guard let raw = buffer.getBytes(at: buffer.readerIndex, length: ChunkHeader.size) else { return nil }
        let header = try ChunkHeader(raw[0], raw[1], raw[2], raw[3], raw[4], raw[5], raw[6], raw[7])
        let size = Int(header.messageSize)
        guard size <= limit.maxFrameSize else {
            throw OPCUAError(
                .badTcpMessageTooLarge,
                "\(header.messageType.rawValue) chunk of \(size) bytes exceeds the receive buffer size \(limit.maxFrameSize)")
        }
        guard buffer.readableBytes >= size else { return nil }
        buffer.moveReaderIndex(forwardBy: ChunkHeader.size)
        guard let body = buffer.readSlice(length: size - ChunkHeader.size) else { return nil }  // unreachable: checked above
        return UACPFrame(header: header, body: body)
    }

    /// At EOF: complete frames still decode; a trailing partial frame is dropped.
    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws(OPCUAError) -> UACPFrame? {
        try decode(buffer: &buffer)
    }
}
