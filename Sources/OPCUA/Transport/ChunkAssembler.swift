// Inbound Secure Conversation: MessageChunks to whole messages (OPC 10000-6 §6.7.2, §6.7.3, §6.7.6).
import NIOCore

/// Reassembles inbound OPN/MSG/CLO chunks into ``SecureMessage``s and checks them.
///
/// Checks, each fatal for the connection (the thrown status goes into the ERR):
/// - every chunk's sequence number is the previous one plus one, or a legal wrap
///   (`BadSequenceNumberInvalid`); the first chunk on the connection may have any number;
/// - MSG and CLO carry the channel's SecureChannelId, OPN carries it or 0
///   (`BadTcpSecureChannelUnknown`). The id is learned from the first complete OPN with a
///   non-zero id (the Client side) or set by the handler when the Server answers an OPN;
/// - chunks of one message arrive back to back (§6.7.3: "MessageChunks belonging to the same
///   Message shall be sent sequentially"): a chunk of another request, type or token while a
///   message is incomplete is `BadSecurityChecksFailed` (§6.7.6, the RequestId check);
/// - a message may have at most `maxChunkCount` chunks and `maxMessageSize` body bytes
///   (0: no limit); beyond that `tooLargeStatus` is thrown (the Server uses
///   `BadRequestTooLarge`, the Client `BadResponseTooLarge`);
/// - truncated headers are `BadDecodingError`.
///
/// An abort chunk ('A') drops the partial message of its request and returns
/// ``Outcome/aborted(requestId:status:reason:)``; the channel stays open (§6.7.3).
///
/// ```swift
/// var assembler = ChunkAssembler(maxMessageSize: limits.maxReceiveMessageSize,
///                                maxChunkCount: limits.maxReceiveChunkCount)
/// if case .complete(let message) = try assembler.feed(frame) { ... }
/// ```
public struct ChunkAssembler: Sendable {
    /// What feeding one chunk produced.
    public enum Outcome: Sendable, Hashable {
        /// An intermediate chunk was stored; the message is not complete yet.
        case incomplete
        /// The final chunk arrived; here is the whole message.
        case complete(SecureMessage)
        /// The sender aborted the message with this request id (§6.7.3); any partial data is gone.
        /// A reason longer than 4096 bytes or undecodable is nil.
        case aborted(requestId: UInt32, status: StatusCode, reason: String?)
    }

    /// The largest body of a reassembled message in bytes; 0: no limit.
    public var maxMessageSize: Int
    /// The most chunks per message; 0: no limit.
    public var maxChunkCount: Int
    /// The status thrown when a message exceeds `maxMessageSize` or `maxChunkCount`.
    public var tooLargeStatus: StatusCode
    /// The channel's SecureChannelId once known; MSG/CLO before it is known are rejected.
    public var secureChannelId: UInt32?
    /// The sequence number of the last chunk accepted; nil before the first.
    public private(set) var lastSequenceNumber: UInt32?

    private struct Partial: Sendable {
        var messageType: MessageType
        var kind: SecureMessage.Kind
        var secureChannelId: UInt32
        var requestId: UInt32
        var body: ByteBuffer
        var chunkCount: Int
    }

    private var partial: Partial?

    /// True while a message has intermediate chunks but no final one yet.
    public var hasPartialMessage: Bool { partial != nil }

    public init(maxMessageSize: UInt32, maxChunkCount: UInt32, tooLargeStatus: StatusCode = .badRequestTooLarge, secureChannelId: UInt32? = nil) {
        self.maxMessageSize = Int(maxMessageSize)
        self.maxChunkCount = Int(maxChunkCount)
        self.tooLargeStatus = tooLargeStatus
        self.secureChannelId = secureChannelId
    }

    /// Consumes one OPN, MSG or CLO frame.
    ///
    /// - Throws: ``OPCUAError`` for every violation listed on the type; the caller sends ERR
    ///   and closes. Other message types are `BadTcpMessageTypeInvalid`.
    public mutating func feed(_ frame: UACPFrame) throws(OPCUAError) -> Outcome {
        let type = frame.header.messageType
        guard type.isSecureConversation else {
            throw OPCUAError(.badTcpMessageTypeInvalid, "\(type.rawValue) is not a Secure Conversation message")
        }
        var body = frame.body
        let channelId = try body.readUA(UInt32.self, "SecureChannelId")
        let kind: SecureMessage.Kind
        switch type {
        case .open: kind = .open(try AsymmetricSecurityHeader(decoding: &body))
        case .message: kind = .message(tokenId: try body.readUA(UInt32.self, "TokenId"))
        default: kind = .close(tokenId: try body.readUA(UInt32.self, "TokenId"))
        }
        let sequence = try SequenceHeader(decoding: &body)

        // Sequence numbers (§6.7.2.4): every chunk, across messages and types.
        if let last = lastSequenceNumber, !SequenceNumberGenerator.isValidSuccessor(sequence.sequenceNumber, of: last) {
            throw OPCUAError(.badSequenceNumberInvalid, "sequence number \(sequence.sequenceNumber) does not follow \(last)")
        }
        lastSequenceNumber = sequence.sequenceNumber

        // SecureChannelId (§6.7.6).
        if type == .open {
            if let expected = secureChannelId, channelId != 0, channelId != expected {
                throw OPCUAError(.badTcpSecureChannelUnknown, "OPN for SecureChannelId \(channelId) on channel \(expected)")
            }
        } else {
            guard let expected = secureChannelId else {
                throw OPCUAError(.badTcpSecureChannelUnknown, "\(type.rawValue) with SecureChannelId \(channelId) before the channel was opened")
            }
            guard channelId == expected else {
                throw OPCUAError(.badTcpSecureChannelUnknown, "\(type.rawValue) with SecureChannelId \(channelId) on channel \(expected)")
            }
        }

        // Chunks of one message are sent back to back (§6.7.3).
        if let partial {
            guard partial.requestId == sequence.requestId else {
                throw OPCUAError(.badSecurityChecksFailed, "chunk of request \(sequence.requestId) while request \(partial.requestId) is incomplete")
            }
            guard partial.messageType == type, partial.secureChannelId == channelId else {
                throw OPCUAError(.badSecurityChecksFailed, "\(type.rawValue) chunk continues a \(partial.messageType.rawValue) message of request \(partial.requestId)")
            }
            if case .message(let first) = partial.kind, case .message(let token) = kind, first != token {
                throw OPCUAError(.badSecureChannelTokenUnknown, "TokenId changed from \(first) to \(token) within request \(partial.requestId)")
            }
        }

        if frame.header.chunkType == .abort {
            partial = nil
            let error = try ErrorMessage(decoding: &body)
            return .aborted(requestId: sequence.requestId, status: error.error, reason: error.reason)
        }

        // Limits (OPC 10000-6 §7.1.2.3/§7.1.2.4).
        let chunkCount = (partial?.chunkCount ?? 0) + 1
        if maxChunkCount > 0, chunkCount > maxChunkCount {
            let requestId = sequence.requestId
            partial = nil
            throw OPCUAError(tooLargeStatus, "request \(requestId) has more than \(maxChunkCount) chunks")
        }
        let size = (partial?.body.readableBytes ?? 0) + body.readableBytes
        if maxMessageSize > 0, size > maxMessageSize {
            let requestId = sequence.requestId
            partial = nil
            throw OPCUAError(tooLargeStatus, "message of request \(requestId) exceeds the maximum message size \(maxMessageSize) (\(size) bytes so far)")
        }

        switch frame.header.chunkType {
        case .intermediate:
            if var stored = partial {
                partial = nil  // so the append below does not copy the buffer
                stored.body.writeImmutableBuffer(body)
                stored.chunkCount = chunkCount
                partial = stored
            } else {
                var storage = ByteBuffer()
                storage.reserveCapacity(body.readableBytes * 2)
                storage.writeImmutableBuffer(body)
                partial = Partial(messageType: type, kind: kind, secureChannelId: channelId, requestId: sequence.requestId, body: storage, chunkCount: 1)
            }
            return .incomplete
        case .final, .abort:
            var messageKind = kind
            var messageBody = body
            if var stored = partial {
                partial = nil
                stored.body.writeImmutableBuffer(body)
                messageKind = stored.kind
                messageBody = stored.body
            }
            if type == .open, secureChannelId == nil, channelId != 0 {
                secureChannelId = channelId
            }
            return .complete(SecureMessage(kind: messageKind, secureChannelId: channelId, requestId: sequence.requestId, body: messageBody))
        }
    }
}
