// Buffer and message limits and their Hello/Acknowledge negotiation (OPC 10000-6 §7.1.2.3,
// §7.1.2.4, §7.1.3).

/// This side's transport limits: what it can receive and will send, before negotiation.
///
/// The Server answers a Hello with ``negotiated(with:)``; the Client sends ``hello(endpointUrl:)``
/// and applies the Server's Acknowledge with ``applying(_:to:)``. Both produce the
/// ``NegotiatedLimits`` the handlers enforce.
///
/// For interoperability keep `receiveBufferSize == sendBufferSize`: some stacks (asyncua 1.1)
/// mix the two directions up when they read an Acknowledge.
public struct TransportLimits: Sendable, Hashable {
    /// The smallest buffer size the spec allows for non-ECC SecurityPolicies (OPC 10000-6
    /// Table 69); smaller configured values are raised to it and smaller peer values are rejected.
    public static let minimumBufferSize: UInt32 = 8192

    /// The largest frame accepted before the Hello/Acknowledge exchange completes.
    ///
    /// A Hello is at most 8 + 24 + 4096 bytes and an Error 8 + 8 + 4096; we are lenient up to
    /// 64 KiB so odd peers still get a proper error instead of a size rejection.
    public static let handshakeFrameSize = 65536

    /// The largest MessageChunk (header included) this side can receive. Default 65536.
    public var receiveBufferSize: UInt32
    /// The largest MessageChunk (header included) this side will send. Default 65536.
    public var sendBufferSize: UInt32
    /// The largest message body (all chunks, headers excluded) this side accepts.
    ///
    /// 0 means no limit per the spec, but we always state one: default 16 MiB, which also
    /// bounds the memory one reassembled message can take.
    public var maxMessageSize: UInt32
    /// The most chunks one received message may have. 0 means no limit; default 4096.
    public var maxChunkCount: UInt32

    public init(receiveBufferSize: UInt32 = 65536, sendBufferSize: UInt32 = 65536, maxMessageSize: UInt32 = 16 * 1024 * 1024, maxChunkCount: UInt32 = 4096) {
        self.receiveBufferSize = receiveBufferSize
        self.sendBufferSize = sendBufferSize
        self.maxMessageSize = maxMessageSize
        self.maxChunkCount = maxChunkCount
    }

    /// The UACP protocol version this stack speaks (OPC 10000-6 §7.1.2.3: 0 for this version).
    public static let protocolVersion: UInt32 = 0

    private var effectiveReceiveBufferSize: UInt32 { max(receiveBufferSize, TransportLimits.minimumBufferSize) }
    private var effectiveSendBufferSize: UInt32 { max(sendBufferSize, TransportLimits.minimumBufferSize) }

    // MARK: Server side

    /// The Acknowledge a Server answers `hello` with (OPC 10000-6 §7.1.2.4).
    ///
    /// - Every requested ProtocolVersion is accepted: we speak version 0, which is never above
    ///   the request, and answer 0.
    /// - Our ReceiveBufferSize is at most the Client's SendBufferSize and our SendBufferSize at
    ///   most its ReceiveBufferSize.
    /// - MaxMessageSize and MaxChunkCount are ours: they limit the requests we accept. The
    ///   Client's values limit our responses (see ``NegotiatedLimits/init(hello:acknowledge:)``).
    ///
    /// - Throws: `BadTcpNotEnoughResources` if the Client's buffers are below 8192 bytes (the
    ///   minimum for non-ECC SecurityPolicies; this stack has no ECC policies, so it does not
    ///   take the 1024-byte path of Table 70).
    public func negotiated(with hello: HelloMessage) throws(OPCUAError) -> AcknowledgeMessage {
        guard hello.receiveBufferSize >= TransportLimits.minimumBufferSize else {
            throw OPCUAError(.badTcpNotEnoughResources, "Hello ReceiveBufferSize \(hello.receiveBufferSize) is below the minimum of \(TransportLimits.minimumBufferSize)")
        }
        guard hello.sendBufferSize >= TransportLimits.minimumBufferSize else {
            throw OPCUAError(.badTcpNotEnoughResources, "Hello SendBufferSize \(hello.sendBufferSize) is below the minimum of \(TransportLimits.minimumBufferSize)")
        }
        return AcknowledgeMessage(
            protocolVersion: TransportLimits.protocolVersion,
            receiveBufferSize: min(effectiveReceiveBufferSize, hello.sendBufferSize),
            sendBufferSize: min(effectiveSendBufferSize, hello.receiveBufferSize),
            maxMessageSize: maxMessageSize,
            maxChunkCount: maxChunkCount)
    }

    // MARK: Client side

    /// The Hello a Client sends first (OPC 10000-6 §7.1.2.3): version 0 and these limits.
    public func hello(endpointUrl: String?) -> HelloMessage {
        HelloMessage(
            protocolVersion: TransportLimits.protocolVersion,
            receiveBufferSize: effectiveReceiveBufferSize,
            sendBufferSize: effectiveSendBufferSize,
            maxMessageSize: maxMessageSize,
            maxChunkCount: maxChunkCount,
            endpointUrl: endpointUrl)
    }

    /// The limits a Client enforces after the Server answered `hello` with `acknowledge`.
    ///
    /// - We send chunks of at most min(our SendBufferSize, the Server's ReceiveBufferSize).
    /// - We accept chunks up to the ReceiveBufferSize we announced (a Server that answers with a
    ///   smaller SendBufferSize only promises to stay below it).
    /// - Our requests are limited by the Server's MaxMessageSize/MaxChunkCount (0: no limit),
    ///   its responses by ours.
    ///
    /// - Throws: `BadProtocolVersionUnsupported` if the Server answers a version above the one
    ///   we asked for; `BadTcpNotEnoughResources` if its buffers are below 8192 bytes.
    public func applying(_ acknowledge: AcknowledgeMessage, to hello: HelloMessage) throws(OPCUAError) -> NegotiatedLimits {
        guard acknowledge.protocolVersion <= hello.protocolVersion else {
            throw OPCUAError(.badProtocolVersionUnsupported, "Acknowledge ProtocolVersion \(acknowledge.protocolVersion) is above the requested \(hello.protocolVersion)")
        }
        guard acknowledge.receiveBufferSize >= TransportLimits.minimumBufferSize else {
            throw OPCUAError(.badTcpNotEnoughResources, "Acknowledge ReceiveBufferSize \(acknowledge.receiveBufferSize) is below the minimum of \(TransportLimits.minimumBufferSize)")
        }
        guard acknowledge.sendBufferSize >= TransportLimits.minimumBufferSize else {
            throw OPCUAError(.badTcpNotEnoughResources, "Acknowledge SendBufferSize \(acknowledge.sendBufferSize) is below the minimum of \(TransportLimits.minimumBufferSize)")
        }
        return NegotiatedLimits(
            receiveBufferSize: hello.receiveBufferSize,
            sendBufferSize: min(hello.sendBufferSize, acknowledge.receiveBufferSize),
            maxReceiveMessageSize: hello.maxMessageSize,
            maxReceiveChunkCount: hello.maxChunkCount,
            maxSendMessageSize: acknowledge.maxMessageSize,
            maxSendChunkCount: acknowledge.maxChunkCount)
    }
}

/// The limits in force on one connection after the Hello/Acknowledge exchange, seen from one side.
///
/// Limits of 0 mean "no limit" (the spec's convention for MaxMessageSize and MaxChunkCount).
public struct NegotiatedLimits: Sendable, Hashable {
    /// The largest chunk (header included) we accept; larger is `BadTcpMessageTooLarge`.
    public var receiveBufferSize: UInt32
    /// The largest chunk (header included) we send.
    public var sendBufferSize: UInt32
    /// The largest message body we accept; 0: none.
    public var maxReceiveMessageSize: UInt32
    /// The most chunks per received message; 0: none.
    public var maxReceiveChunkCount: UInt32
    /// The largest message body the peer accepts; 0: none.
    public var maxSendMessageSize: UInt32
    /// The most chunks per message the peer accepts; 0: none.
    public var maxSendChunkCount: UInt32

    public init(
        receiveBufferSize: UInt32, sendBufferSize: UInt32, maxReceiveMessageSize: UInt32, maxReceiveChunkCount: UInt32,
        maxSendMessageSize: UInt32, maxSendChunkCount: UInt32
    ) {
        self.receiveBufferSize = receiveBufferSize
        self.sendBufferSize = sendBufferSize
        self.maxReceiveMessageSize = maxReceiveMessageSize
        self.maxReceiveChunkCount = maxReceiveChunkCount
        self.maxSendMessageSize = maxSendMessageSize
        self.maxSendChunkCount = maxSendChunkCount
    }

    /// The Server's view: it receives what its Acknowledge announced and sends within the
    /// Client's Hello limits.
    public init(hello: HelloMessage, acknowledge: AcknowledgeMessage) {
        self.init(
            receiveBufferSize: acknowledge.receiveBufferSize,
            sendBufferSize: acknowledge.sendBufferSize,
            maxReceiveMessageSize: acknowledge.maxMessageSize,
            maxReceiveChunkCount: acknowledge.maxChunkCount,
            maxSendMessageSize: hello.maxMessageSize,
            maxSendChunkCount: hello.maxChunkCount)
    }
}
