// SwiftNIO handlers for the OPC UA Connection Protocol and Secure Conversation chunking
// (OPC 10000-6 §7.1 and §6.7), SecurityPolicy None.
//
// Pipeline (both roles): ByteToMessageHandler(UACPFrameDecoder) → UACPServerHandler or
// UACPClientHandler, which reads UACPFrames and writes ByteBuffers, and exchanges whole
// SecureMessages with the next handler (or a NIOAsyncChannel<SecureMessage, SecureMessage>).
public import Logging
public import NIOCore

/// The two sides of a connection; they differ in who speaks first and in which "too large"
/// status applies to which direction.
enum UACPRole: Sendable {
    case server, client

    /// What a too-large inbound message is called (a request at the Server, a response at the Client).
    var inboundTooLarge: StatusCode { self == .server ? .badRequestTooLarge : .badResponseTooLarge }
    /// What a too-large outbound message is called.
    var outboundTooLarge: StatusCode { self == .server ? .badResponseTooLarge : .badRequestTooLarge }
}

/// The Secure Conversation state of an open connection, free of NIO contexts so both
/// handlers share it and tests can drive it directly.
struct UACPConnectionCore: Sendable {
    /// What the handler does with one outbound message.
    enum OutboundAction {
        /// Write these chunks.
        case write([ByteBuffer])
        /// The message exceeded the peer's limits: write this abort chunk instead (Server).
        case writeAbort(ByteBuffer, OPCUAError)
        /// The message exceeded the peer's limits and nothing is sent; hand this `.abort` to
        /// the application (Client: the request never left).
        case reportAbort(SecureMessage, OPCUAError)
        /// A fatal error requested by the application.
        case fail(OPCUAError)
    }

    let role: UACPRole
    let limits: NegotiatedLimits
    var assembler: ChunkAssembler
    var splitter: ChunkSplitter

    init(role: UACPRole, limits: NegotiatedLimits) {
        self.role = role
        self.limits = limits
        assembler = ChunkAssembler(
            maxMessageSize: limits.maxReceiveMessageSize, maxChunkCount: limits.maxReceiveChunkCount, tooLargeStatus: role.inboundTooLarge)
        splitter = ChunkSplitter(
            sendBufferSize: limits.sendBufferSize, maxMessageSize: limits.maxSendMessageSize, maxChunkCount: limits.maxSendChunkCount,
            tooLargeStatus: role.outboundTooLarge)
    }

    /// Feeds one frame received after the handshake; returns the message to hand on, if any.
    /// An ERR from the peer becomes an `.error` message; HEL/ACK/RHE throw.
    mutating func inbound(_ frame: UACPFrame) throws(OPCUAError) -> SecureMessage? {
        switch frame.header.messageType {
        case .open, .message, .close:
            switch try assembler.feed(frame) {
            case .incomplete:
                return nil
            case .complete(let message):
                return message
            case .aborted(let requestId, let status, let reason):
                return SecureMessage(
                    kind: .abort(status: status, reason: reason), secureChannelId: assembler.secureChannelId ?? 0, requestId: requestId,
                    body: ByteBuffer())
            }
        case .error:
            var body = frame.body
            let error = try ErrorMessage(decoding: &body)
            return SecureMessage.transportError(error.error, reason: error.reason ?? "")
        case .hello, .acknowledge, .reverseHello:
            throw OPCUAError(.badTcpMessageTypeInvalid, "\(frame.header.messageType.rawValue) after the Hello/Acknowledge exchange")
        }
    }

    /// Turns one outbound message into what to write.
    mutating func outbound(_ message: SecureMessage) -> OutboundAction {
        switch message.kind {
        case .error(let status, let reason):
            return .fail(OPCUAError(status, reason))
        case .open:
            // The Server learns the channel id it assigned from its own OPN response.
            if role == .server, message.secureChannelId != 0 { assembler.secureChannelId = message.secureChannelId }
        case .message, .close, .abort:
            break
        }
        switch splitter.split(message) {
        case .chunks(let chunks):
            return .write(chunks)
        case .tooLarge(let error):
            switch role {
            case .server:
                return .writeAbort(splitter.abortChunk(for: message, status: error.status, reason: error.message), error)
            case .client:
                let report = SecureMessage(
                    kind: .abort(status: error.status, reason: error.message), secureChannelId: message.secureChannelId,
                    requestId: message.requestId, body: ByteBuffer())
                return .reportAbort(report, error)
            }
        }
    }
}

/// Logging and failure handling shared by both handlers.
enum UACPHandlerSupport {
    /// Writes a message's chunks; the promise completes with the last one (at once if there are none).
    static func write(_ chunks: [ByteBuffer], context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
        guard let last = chunks.indices.last else {
            promise?.succeed()
            return
        }
        for index in chunks.indices {
            context.write(NIOAny(chunks[index]), promise: index == last ? promise : nil)
        }
    }

    /// Metadata for a status and a reason, with the dotted keys used throughout the transport.
    static func metadata(_ error: OPCUAError) -> Logger.Metadata {
        ["uacp.status": "\(error.status)", "uacp.reason": "\(error.message)"]
    }

    static func errorFrame(_ error: OPCUAError, allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 16 + min(error.message.utf8.count, UACPStringLimits.maxReasonLength))
        buffer.writeUACPMessage(.error, ErrorMessage(error: error.status, reason: error.message))
        return buffer
    }
}

/// Emitted (as a user inbound event) by ``UACPServerHandler`` once it has answered a Hello.
public struct UACPHandshakeCompleted: Sendable, Hashable {
    /// The Client's Hello (its EndpointUrl included).
    public var hello: HelloMessage
    /// The Acknowledge sent back.
    public var acknowledge: AcknowledgeMessage
    /// The limits now in force, seen from the Server.
    public var limits: NegotiatedLimits
}

// MARK: - Server

/// The Server end of a UACP connection.
///
/// Inbound it expects ``UACPFrame``s (from ``UACPFrameDecoder``). The first frame must be a
/// Hello; it is answered with an Acknowledge carrying the negotiated limits
/// (``TransportLimits/negotiated(with:)``), the shared ``UACPFrameLimit`` is set to the
/// negotiated receive buffer size and ``UACPHandshakeCompleted`` is fired as a user event.
/// After that OPN/MSG/CLO chunks are reassembled and fired as ``SecureMessage``s.
///
/// Outbound it takes ``SecureMessage``s and writes their chunks. A response too large for the
/// Client's limits is replaced by one abort chunk with `BadResponseTooLarge` (the write's
/// promise fails with that error). `.error` writes ERR and closes.
///
/// Transport errors (anything but HEL first, a bad Hello, bad chunks, sequence or channel id
/// violations, limits exceeded, no Hello within `helloTimeout`) are logged, handed on as an
/// `.error` message, answered with ERR and the connection is closed (§7.1.5).
public final class UACPServerHandler: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = UACPFrame
    public typealias InboundOut = SecureMessage
    public typealias OutboundIn = SecureMessage
    public typealias OutboundOut = ByteBuffer

    private enum State {
        case awaitingHello
        case open(UACPConnectionCore)
        case failed
    }

    private var state: State = .awaitingHello
    private let limits: TransportLimits
    private let frameLimit: UACPFrameLimit
    private let logger: Logger
    private let helloTimeout: TimeAmount?
    private var helloTimer: Scheduled<Void>?

    /// The limits in force once the Hello was answered.
    public var negotiatedLimits: NegotiatedLimits? {
        if case .open(let core) = state { return core.limits }
        return nil
    }

    /// - Parameters:
    ///   - limits: our buffer sizes and message limits.
    ///   - frameLimit: the limit shared with the ``UACPFrameDecoder`` in front of this handler.
    ///   - logger: receives transport errors (warning) and handshakes (debug).
    ///   - helloTimeout: close connections that send no Hello within this time (§7.1.3:
    ///     configurable, default at most two minutes; ours is 60 s). nil disables it.
    public init(limits: TransportLimits = TransportLimits(), frameLimit: UACPFrameLimit, logger: Logger, helloTimeout: TimeAmount? = .seconds(60)) {
        self.limits = limits
        self.frameLimit = frameLimit
        self.logger = logger
        self.helloTimeout = helloTimeout
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { startHelloTimer(context: context) }
    }

    public func channelActive(context: ChannelHandlerContext) {
        startHelloTimer(context: context)
        context.fireChannelActive()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        cancelHelloTimer()
        context.fireChannelInactive()
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        cancelHelloTimer()
    }

    private func startHelloTimer(context: ChannelHandlerContext) {
        guard let helloTimeout, helloTimer == nil, case .awaitingHello = state else { return }
        helloTimer = context.eventLoop.assumeIsolated().scheduleTask(in: helloTimeout) { [self] in
            helloTimer = nil
            if case .awaitingHello = state {
                fail(context: context, OPCUAError(.badTimeout, "no Hello within \(helloTimeout.nanoseconds / 1_000_000_000) s"))
            }
        }
    }

    private func cancelHelloTimer() {
        helloTimer?.cancel()
        helloTimer = nil
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch state {
        case .failed:
            return
        case .awaitingHello:
            do throws(OPCUAError) {
                try answerHello(context: context, frame: frame)
            } catch {
                fail(context: context, error)
            }
        case .open(var core):
            state = .failed  // placeholder while `core` is mutated, so its buffers are not shared
            do throws(OPCUAError) {
                let message = try core.inbound(frame)
                state = .open(core)
                guard let message else { return }
                if case .error(let status, let reason) = message.kind {
                    peerFailed(context: context, status: status, reason: reason)
                    return
                }
                if case .abort(let status, let reason) = message.kind {
                    logger.debug(
                        "UACP message aborted by the peer",
                        metadata: ["uacp.request_id": "\(message.requestId)", "uacp.status": "\(status)", "uacp.reason": "\(reason ?? "")"])
                }
                context.fireChannelRead(wrapInboundOut(message))
            } catch {
                state = .open(core)
                fail(context: context, error)
            }
        }
    }

    private func answerHello(context: ChannelHandlerContext, frame: UACPFrame) throws(OPCUAError) {
        guard frame.header.messageType == .hello else {
            throw OPCUAError(.badTcpMessageTypeInvalid, "expected HEL as the first message, got \(frame.header.messageType.rawValue)")
        }
        var body = frame.body
        let hello = try HelloMessage(decoding: &body)
        let acknowledge = try limits.negotiated(with: hello)
        let negotiated = NegotiatedLimits(hello: hello, acknowledge: acknowledge)
        cancelHelloTimer()
        state = .open(UACPConnectionCore(role: .server, limits: negotiated))
        frameLimit.maxFrameSize = Int(negotiated.receiveBufferSize)
        var buffer = context.channel.allocator.buffer(capacity: 28)
        buffer.writeUACPMessage(.acknowledge, acknowledge)
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
        logger.debug(
            "UACP handshake completed",
            metadata: [
                "uacp.endpoint_url": "\(hello.endpointUrl ?? "")", "uacp.receive_buffer_size": "\(negotiated.receiveBufferSize)",
                "uacp.send_buffer_size": "\(negotiated.sendBufferSize)", "uacp.peer_max_message_size": "\(negotiated.maxSendMessageSize)",
                "uacp.peer_max_chunk_count": "\(negotiated.maxSendChunkCount)",
            ])
        context.fireUserInboundEventTriggered(UACPHandshakeCompleted(hello: hello, acknowledge: acknowledge, limits: negotiated))
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let message = unwrapOutboundIn(data)
        switch state {
        case .failed:
            promise?.fail(OPCUAError(.badConnectionClosed, "the connection failed and is closing"))
        case .awaitingHello:
            if case .error(let status, let reason) = message.kind {
                fail(context: context, OPCUAError(status, reason))
                promise?.succeed()
            } else {
                promise?.fail(OPCUAError(.badInvalidState, "no Hello has been answered yet"))
            }
        case .open(var core):
            state = .failed
            let action = core.outbound(message)
            state = .open(core)
            switch action {
            case .write(let chunks):
                UACPHandlerSupport.write(chunks, context: context, promise: promise)
            case .writeAbort(let chunk, let error):
                logger.warning("UACP response aborted", metadata: UACPHandlerSupport.metadata(error).merging(["uacp.request_id": "\(message.requestId)"]) { $1 })
                context.write(wrapOutboundOut(chunk), promise: nil)
                promise?.fail(error)
            case .reportAbort(_, let error):  // not produced for the Server role
                promise?.fail(error)
            case .fail(let error):
                fail(context: context, error)
                promise?.succeed()
            }
        }
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let error = error as? OPCUAError {
            fail(context: context, error)
        } else if case .failed = state {
            return  // e.g. bytes that arrived after a decoding error, while we close
        } else {
            logger.debug("UACP connection error", metadata: ["uacp.error": "\(error)"])
            context.fireErrorCaught(error)
            context.close(promise: nil)
        }
    }

    /// A transport error we detected: log, hand on `.error`, send ERR, close.
    private func fail(context: ChannelHandlerContext, _ error: OPCUAError) {
        if case .failed = state { return }
        state = .failed
        cancelHelloTimer()
        logger.warning("UACP transport error", metadata: UACPHandlerSupport.metadata(error))
        context.fireChannelRead(wrapInboundOut(.transportError(error.status, reason: error.message)))
        context.fireChannelReadComplete()
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(UACPHandlerSupport.errorFrame(error, allocator: channel.allocator))).whenComplete { _ in
            channel.close(promise: nil)
        }
    }

    /// The peer sent ERR: log, hand it on, close.
    private func peerFailed(context: ChannelHandlerContext, status: StatusCode, reason: String) {
        state = .failed
        logger.warning("UACP error from the peer", metadata: UACPHandlerSupport.metadata(OPCUAError(status, reason)))
        context.fireChannelRead(wrapInboundOut(.transportError(status, reason: reason)))
        context.fireChannelReadComplete()
        context.close(promise: nil)
    }
}

@available(*, unavailable)
extension UACPServerHandler: Sendable {}

// MARK: - Client

/// The Client end of a UACP connection.
///
/// On channelActive (or when added to an active channel) it sends a Hello with the
/// EndpointUrl and our limits, and waits for the Acknowledge: the `handshake` promise succeeds
/// with it (and the frame limit becomes our receive buffer size), or fails with the
/// ``OPCUAError`` of an ERR, a bad Acknowledge (`BadProtocolVersionUnsupported`, buffers below
/// 8192), any other first message (`BadTcpMessageTypeInvalid`) or the connection closing
/// (`BadConnectionClosed`). Write nothing before the handshake succeeds.
///
/// After that it behaves like ``UACPServerHandler``, except that: a request too large for the
/// Server's limits is not sent at all but handed back inbound as an `.abort` message with
/// `BadRequestTooLarge` (the write's promise fails too); ERR from the Server is handed on as
/// `.error` and the connection is closed; and the Client never sends ERR itself (§7.1.5),
/// it just closes.
public final class UACPClientHandler: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = UACPFrame
    public typealias InboundOut = SecureMessage
    public typealias OutboundIn = SecureMessage
    public typealias OutboundOut = ByteBuffer

    private enum State {
        case idle
        case awaitingAcknowledge(HelloMessage)
        case open(UACPConnectionCore)
        case failed
    }

    private var state: State = .idle
    private let endpointUrl: String
    private let limits: TransportLimits
    private let frameLimit: UACPFrameLimit
    private let logger: Logger
    private var handshake: EventLoopPromise<AcknowledgeMessage>?

    /// The limits in force once the Acknowledge arrived.
    public var negotiatedLimits: NegotiatedLimits? {
        if case .open(let core) = state { return core.limits }
        return nil
    }

    public init(
        endpointUrl: String, limits: TransportLimits = TransportLimits(), frameLimit: UACPFrameLimit, logger: Logger,
        handshake: EventLoopPromise<AcknowledgeMessage>
    ) {
        self.endpointUrl = endpointUrl
        self.limits = limits
        self.frameLimit = frameLimit
        self.logger = logger
        self.handshake = handshake
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { sendHello(context: context) }
    }

    public func channelActive(context: ChannelHandlerContext) {
        sendHello(context: context)
        context.fireChannelActive()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        failHandshake(OPCUAError(.badConnectionClosed, "the connection closed before the Acknowledge"))
        context.fireChannelInactive()
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        failHandshake(OPCUAError(.badConnectionClosed, "the UACP handler was removed before the Acknowledge"))
    }

    private func sendHello(context: ChannelHandlerContext) {
        guard case .idle = state else { return }
        guard endpointUrl.utf8.count <= UACPStringLimits.maxEndpointUrlLength else {
            fail(context: context, OPCUAError(.badTcpEndpointUrlInvalid, "EndpointUrl of \(endpointUrl.utf8.count) bytes exceeds the limit of \(UACPStringLimits.maxEndpointUrlLength)"))
            return
        }
        let hello = limits.hello(endpointUrl: endpointUrl)
        state = .awaitingAcknowledge(hello)
        frameLimit.maxFrameSize = TransportLimits.handshakeFrameSize
        var buffer = context.channel.allocator.buffer(capacity: 32 + endpointUrl.utf8.count)
        buffer.writeUACPMessage(.hello, hello)
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch state {
        case .failed:
            return
        case .idle:
            fail(context: context, OPCUAError(.badTcpMessageTypeInvalid, "\(frame.header.messageType.rawValue) before our Hello"))
        case .awaitingAcknowledge(let hello):
            do throws(OPCUAError) {
                var body = frame.body
                switch frame.header.messageType {
                case .acknowledge:
                    let acknowledge = try AcknowledgeMessage(decoding: &body)
                    let negotiated = try limits.applying(acknowledge, to: hello)
                    state = .open(UACPConnectionCore(role: .client, limits: negotiated))
                    frameLimit.maxFrameSize = Int(negotiated.receiveBufferSize)
                    logger.debug(
                        "UACP handshake completed",
                        metadata: [
                            "uacp.endpoint_url": "\(endpointUrl)", "uacp.receive_buffer_size": "\(negotiated.receiveBufferSize)",
                            "uacp.send_buffer_size": "\(negotiated.sendBufferSize)",
                            "uacp.peer_max_message_size": "\(negotiated.maxSendMessageSize)",
                            "uacp.peer_max_chunk_count": "\(negotiated.maxSendChunkCount)",
                        ])
                    let promise = handshake
                    handshake = nil
                    promise?.succeed(acknowledge)
                case .error:
                    let error = try ErrorMessage(decoding: &body)
                    peerFailed(context: context, status: error.error, reason: error.reason ?? "")
                default:
                    throw OPCUAError(.badTcpMessageTypeInvalid, "expected ACK, got \(frame.header.messageType.rawValue)")
                }
            } catch {
                fail(context: context, error)
            }
        case .open(var core):
            state = .failed
            do throws(OPCUAError) {
                let message = try core.inbound(frame)
                state = .open(core)
                guard let message else { return }
                if case .error(let status, let reason) = message.kind {
                    peerFailed(context: context, status: status, reason: reason)
                    return
                }
                if case .abort(let status, let reason) = message.kind {
                    logger.debug(
                        "UACP message aborted by the peer",
                        metadata: ["uacp.request_id": "\(message.requestId)", "uacp.status": "\(status)", "uacp.reason": "\(reason ?? "")"])
                }
                context.fireChannelRead(wrapInboundOut(message))
            } catch {
                state = .open(core)
                fail(context: context, error)
            }
        }
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let message = unwrapOutboundIn(data)
        switch state {
        case .failed:
            promise?.fail(OPCUAError(.badConnectionClosed, "the connection failed and is closing"))
        case .idle, .awaitingAcknowledge:
            if case .error(let status, let reason) = message.kind {
                fail(context: context, OPCUAError(status, reason))
                promise?.succeed()
            } else {
                promise?.fail(OPCUAError(.badInvalidState, "the Hello/Acknowledge exchange has not completed"))
            }
        case .open(var core):
            state = .failed
            let action = core.outbound(message)
            state = .open(core)
            switch action {
            case .write(let chunks):
                UACPHandlerSupport.write(chunks, context: context, promise: promise)
            case .reportAbort(let report, let error):
                logger.warning("UACP request not sent", metadata: UACPHandlerSupport.metadata(error).merging(["uacp.request_id": "\(message.requestId)"]) { $1 })
                promise?.fail(error)
                context.fireChannelRead(wrapInboundOut(report))
                context.fireChannelReadComplete()
            case .writeAbort(let chunk, let error):  // not produced for the Client role
                context.write(wrapOutboundOut(chunk), promise: nil)
                promise?.fail(error)
            case .fail(let error):
                fail(context: context, error)
                promise?.succeed()
            }
        }
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let error = error as? OPCUAError {
            fail(context: context, error)
        } else if case .failed = state {
            return
        } else {
            logger.debug("UACP connection error", metadata: ["uacp.error": "\(error)"])
            failHandshake(OPCUAError(.badCommunicationError, "\(error)"))
            context.fireErrorCaught(error)
            context.close(promise: nil)
        }
    }

    private func failHandshake(_ error: OPCUAError) {
        let promise = handshake
        handshake = nil
        promise?.fail(error)
    }

    /// A transport error we detected: log, fail the handshake, hand on `.error`, close
    /// (Clients do not send ERR).
    private func fail(context: ChannelHandlerContext, _ error: OPCUAError) {
        if case .failed = state { return }
        state = .failed
        logger.warning("UACP transport error", metadata: UACPHandlerSupport.metadata(error))
        failHandshake(error)
        context.fireChannelRead(wrapInboundOut(.transportError(error.status, reason: error.message)))
        context.fireChannelReadComplete()
        context.close(promise: nil)
    }

    /// The Server sent ERR: log, fail the handshake, hand it on, close.
    private func peerFailed(context: ChannelHandlerContext, status: StatusCode, reason: String) {
        state = .failed
        logger.warning("UACP error from the peer", metadata: UACPHandlerSupport.metadata(OPCUAError(status, reason)))
        failHandshake(OPCUAError(status, reason))
        context.fireChannelRead(wrapInboundOut(.transportError(status, reason: reason)))
        context.fireChannelReadComplete()
        context.close(promise: nil)
    }
}

@available(*, unavailable)
extension UACPClientHandler: Sendable {}

// MARK: - Pipeline setup

/// Installs the UACP handlers on a channel pipeline.
///
/// ```swift
/// let channel = try await ServerBootstrap(group: group).bind(host: "0.0.0.0", port: 4840) { child in
///     child.eventLoop.makeCompletedFuture {
///         try UACPTransport.addServerHandlers(to: child.pipeline.syncOperations, limits: limits, logger: logger)
///         return try NIOAsyncChannel<SecureMessage, SecureMessage>(wrappingChannelSynchronously: child)
///     }
/// }
/// ```
public enum UACPTransport {
    /// Adds `ByteToMessageHandler(UACPFrameDecoder)` and ``UACPServerHandler`` (sharing one
    /// ``UACPFrameLimit``). The last handler then reads and writes ``SecureMessage``.
    public static func addServerHandlers(
        to pipeline: ChannelPipeline.SynchronousOperations, limits: TransportLimits = TransportLimits(),
        logger: Logger = Logger(label: "opcua.uacp"), helloTimeout: TimeAmount? = .seconds(60)
    ) throws {
        let frameLimit = UACPFrameLimit()
        try pipeline.addHandler(ByteToMessageHandler(UACPFrameDecoder(limit: frameLimit)))
        try pipeline.addHandler(UACPServerHandler(limits: limits, frameLimit: frameLimit, logger: logger, helloTimeout: helloTimeout))
    }

    /// Adds `ByteToMessageHandler(UACPFrameDecoder)` and ``UACPClientHandler``; the Hello goes
    /// out when the channel becomes active (or at once if it already is) and `handshake`
    /// completes with the Acknowledge or fails with the reason.
    public static func addClientHandlers(
        to pipeline: ChannelPipeline.SynchronousOperations, endpointUrl: String, limits: TransportLimits = TransportLimits(),
        logger: Logger = Logger(label: "opcua.uacp"), handshake: EventLoopPromise<AcknowledgeMessage>
    ) throws {
        let frameLimit = UACPFrameLimit()
        try pipeline.addHandler(ByteToMessageHandler(UACPFrameDecoder(limit: frameLimit)))
        try pipeline.addHandler(
            UACPClientHandler(endpointUrl: endpointUrl, limits: limits, frameLimit: frameLimit, logger: logger, handshake: handshake))
    }
}
