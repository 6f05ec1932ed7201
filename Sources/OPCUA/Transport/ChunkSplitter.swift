// Outbound Secure Conversation: whole messages to MessageChunks (OPC 10000-6 §6.7.2, §6.7.3).
public import NIOCore

/// Splits outbound ``SecureMessage``s into MessageChunks within the negotiated limits and
/// numbers them.
///
/// A chunk is header (8) + SecureChannelId (4) + security header + sequence header (8) + a
/// part of the body and never exceeds `sendBufferSize`; with SecurityPolicy None there is no
/// padding or signature. A message whose body exceeds the peer's `maxMessageSize`, or which
/// would need more than its `maxChunkCount` chunks, is not split at all: ``split(_:)`` returns
/// ``Result/tooLarge(_:)`` without using a sequence number, and the caller either sends one
/// abort chunk (``abortChunk(for:status:reason:)``, the Server) or reports the error locally
/// (the Client, whose request never left).
public struct ChunkSplitter: Sendable {
    /// The result of splitting one message.
    public enum Result: Sendable, Equatable {
        /// The encoded chunks in order, ready to write.
        case chunks([ByteBuffer])
        /// The message exceeds the peer's limits; nothing was numbered.
        case tooLarge(OPCUAError)
    }

    /// The largest chunk (header included) to send.
    public var sendBufferSize: Int
    /// The peer's largest message body; 0: no limit.
    public var maxMessageSize: Int
    /// The peer's most chunks per message; 0: no limit.
    public var maxChunkCount: Int
    /// The status of a ``Result/tooLarge(_:)``: the Server uses `BadResponseTooLarge`, the
    /// Client `BadRequestTooLarge`.
    public var tooLargeStatus: StatusCode
    /// Numbers the chunks.
    public var sequenceNumbers: SequenceNumberGenerator
    /// The TokenId of the last MSG/CLO sent, used for abort chunks of the `.abort` kind.
    public private(set) var lastTokenId: UInt32 = 0

    public init(
        sendBufferSize: UInt32, maxMessageSize: UInt32, maxChunkCount: UInt32, tooLargeStatus: StatusCode = .badResponseTooLarge,
        sequenceNumbers: SequenceNumberGenerator = SequenceNumberGenerator()
    ) {
        self.sendBufferSize = Int(sendBufferSize)
        self.maxMessageSize = Int(maxMessageSize)
        self.maxChunkCount = Int(maxChunkCount)
        self.tooLargeStatus = tooLargeStatus
        self.sequenceNumbers = sequenceNumbers
    }

    /// The bytes before the body in every chunk of `message`: header, channel id, security and
    /// sequence headers.
    public static func overhead(of kind: SecureMessage.Kind) -> Int {
        ChunkHeader.size + 4 + securityHeader(of: kind).readableBytes + SequenceHeader.size
    }

    /// The body bytes one chunk of `kind` can carry (≤ 0 if the headers alone fill the buffer).
    public func bodyCapacity(of kind: SecureMessage.Kind) -> Int {
        sendBufferSize - ChunkSplitter.overhead(of: kind)
    }

    /// Splits `message` into chunks.
    ///
    /// `.open`, `.message` and `.close` give one or more chunks ('C' … 'F'); `.abort` gives one
    /// abort chunk for its request; `.error` is not a chunked message and gives no chunks (the
    /// handler writes ERR for it).
    public mutating func split(_ message: SecureMessage) -> Result {
        switch message.kind {
        case .error:
            return .chunks([])
        case .abort(let status, let reason):
            return .chunks([abortChunk(for: message, status: status, reason: reason)])
        case .open, .message, .close:
            break
        }
        let securityHeader = ChunkSplitter.securityHeader(of: message.kind)
        let overhead = ChunkHeader.size + 4 + securityHeader.readableBytes + SequenceHeader.size
        let capacity = sendBufferSize - overhead
        let bodySize = message.body.readableBytes
        guard capacity > 0 else {
            return .tooLarge(OPCUAError(tooLargeStatus, "the \(overhead)-byte chunk headers do not fit the send buffer size \(sendBufferSize)"))
        }
        if maxMessageSize > 0, bodySize > maxMessageSize {
            return .tooLarge(OPCUAError(tooLargeStatus, "message of \(bodySize) bytes for request \(message.requestId) exceeds the peer's maximum message size \(maxMessageSize)"))
        }
        let count = max(1, (bodySize + capacity - 1) / capacity)
        if maxChunkCount > 0, count > maxChunkCount {
            return .tooLarge(OPCUAError(tooLargeStatus, "message of \(bodySize) bytes for request \(message.requestId) needs \(count) chunks, the peer accepts \(maxChunkCount)"))
        }
        if case .message(let token) = message.kind { lastTokenId = token }
        if case .close(let token) = message.kind { lastTokenId = token }
        var remaining = message.body
        var chunks: [ByteBuffer] = []
        chunks.reserveCapacity(count)
        for index in 0..<count {
            let partSize = min(capacity, remaining.readableBytes)
            let part = remaining.readSlice(length: partSize) ?? ByteBuffer()
            chunks.append(
                encodeChunk(
                    type: message.messageType ?? .message, chunkType: index == count - 1 ? .final : .intermediate,
                    secureChannelId: message.secureChannelId, securityHeader: securityHeader,
                    requestId: message.requestId, body: part))
        }
        return .chunks(chunks)
    }

    /// One abort chunk ('A', §6.7.3) for `message`'s request: same type, channel and security
    /// header as the message (an `.abort`/`.error` message gives a MSG chunk with the last
    /// TokenId), body = error code + reason (cut to 4096 bytes). Uses one sequence number.
    public mutating func abortChunk(for message: SecureMessage, status: StatusCode, reason: String?) -> ByteBuffer {
        let type: MessageType
        let header: ByteBuffer
        switch message.kind {
        case .open, .message, .close:
            type = message.messageType ?? .message
            header = ChunkSplitter.securityHeader(of: message.kind)
        case .abort, .error:
            type = .message
            header = ChunkSplitter.securityHeader(of: .message(tokenId: lastTokenId))
        }
        var body = ByteBuffer()
        ErrorMessage(error: status, reason: reason).encode(to: &body)
        return encodeChunk(
            type: type, chunkType: .abort, secureChannelId: message.secureChannelId, securityHeader: header,
            requestId: message.requestId, body: body)
    }

    private mutating func encodeChunk(
        type: MessageType, chunkType: ChunkType, secureChannelId: UInt32, securityHeader: ByteBuffer, requestId: UInt32, body: ByteBuffer
    ) -> ByteBuffer {
        let size = ChunkHeader.size + 4 + securityHeader.readableBytes + SequenceHeader.size + body.readableBytes
        var chunk = ByteBuffer()
        chunk.reserveCapacity(size)
        ChunkHeader(messageType: type, chunkType: chunkType, messageSize: UInt32(truncatingIfNeeded: size)).encode(to: &chunk)
        chunk.writeUA(secureChannelId)
        chunk.writeImmutableBuffer(securityHeader)
        SequenceHeader(sequenceNumber: sequenceNumbers.next(), requestId: requestId).encode(to: &chunk)
        chunk.writeImmutableBuffer(body)
        return chunk
    }

    private static func securityHeader(of kind: SecureMessage.Kind) -> ByteBuffer {
        var buffer = ByteBuffer()
        switch kind {
        case .open(let header): header.encode(to: &buffer)
        case .message(let token), .close(let token): buffer.writeUA(token)
        case .abort, .error: buffer.writeUA(UInt32(0))
        }
        return buffer
    }
}
