// The OPC UA server: TCP listener, secure channels, and the connection loop (async code over the
// UACP ChannelHandlers).
public import Logging
import NIOConcurrencyHelpers
public import NIOCore
import NIOPosix
public import ServiceLifecycle
import Synchronization

/// An OPC UA server (SecurityPolicy None) as a swift-service-lifecycle `Service`.
///
/// Each TCP connection carries one secure channel; sessions outlive channels, so a client can
/// reconnect and reactivate its session. Host code changes values with ``setValue(_:_:)`` and
/// learns of client writes through `onWrite`, which decides how they are answered.
///
/// A Write is applied to the address space when it arrives, in order; its response waits for
/// `onWrite`. Meanwhile the connection goes on reading and answering its other requests (up to
/// ``ServerConfiguration/maxPendingWritesPerConnection`` Writes may wait at once), and other
/// connections are not held up.
///
/// ```swift
/// var space = AddressSpace()
/// space.addPrinter("dmls-01")
/// let server = OPCUAServer(configuration: ServerConfiguration(), addressSpace: space, logger: logger)
/// try await ServiceGroup(services: [server], logger: logger).run()
/// ```
public final class OPCUAServer: Service, Sendable {
    public let configuration: ServerConfiguration
    package let core: ServerCore
    private let logger: Logger
    private let group: any EventLoopGroup
    private let listening: EventLoopPromise<Int>
    private let channelIds = Atomic<UInt32>(0)

    /// - Parameters:
    ///   - onWrite: called after each Write service call with the values it stored (not for values
    ///     set with ``setValue(_:_:)``); the response waits for it. Good answers the stored items
    ///     Good; any other status (say `BadResourceUnavailable` when the host could not keep the
    ///     values) is the result of every item that was stored. The values stay applied to the
    ///     address space either way.
    ///   - admitWrites: asked before each Write service call; a Bad status (say
    ///     `BadResourceUnavailable` while the host's buffer is full) refuses every item of the
    ///     request with that status and applies none, so the writer can retry the whole request.
    public init(
        configuration: ServerConfiguration, addressSpace: AddressSpace = AddressSpace(), logger: Logger,
        eventLoopGroup: (any EventLoopGroup)? = nil,
        onWrite: (@Sendable ([NodeWrite]) async -> StatusCode)? = nil,
        admitWrites: (@Sendable () -> StatusCode)? = nil
    ) {
        self.configuration = configuration
        self.logger = logger
        let group = eventLoopGroup ?? MultiThreadedEventLoopGroup.singleton
        self.group = group
        self.listening = group.next().makePromise(of: Int.self)
        self.core = ServerCore(
            configuration: configuration, addressSpace: addressSpace,
            endpointUrl: configuration.advertisedEndpointUrl(boundPort: configuration.port), logger: logger, onWrite: onWrite,
            admitWrites: admitWrites
        )
    }

    deinit {
        listening.fail(OPCUAError(.badShutdown, "server released before it listened"))
    }

    /// Waits until the socket is bound and returns the port (useful with port 0).
    public func listeningPort() async throws -> Int {
        try await listening.futureResult.get()
    }

    /// Sets a value as the host (a printer sample arriving by other means) and notifies subscribers.
    public func setValue(_ id: NodeId, _ value: DataValue) async {
        await core.setValue(id, value)
    }

    /// Reads a node's current value.
    public func value(of id: NodeId) async -> DataValue {
        await core.readAttribute(id, attribute: AttributeId.value.rawValue, timestamps: .both, now: .now)
    }

    /// Changes the address space while running (adds printers, say).
    public func modifyAddressSpace(_ body: @escaping @Sendable (inout AddressSpace) -> Void) async {
        await core.modifyAddressSpace(body)
    }

    /// Binds, serves until graceful shutdown or cancellation, then closes every connection.
    public func run() async throws {
        let limits = configuration.transport
        let logger = self.logger
        let serverChannel: NIOAsyncChannel<NIOAsyncChannel<SecureMessage, SecureMessage>, Never>
        do {
            serverChannel = try await ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 64)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                .bind(host: configuration.host, port: configuration.port) { child in
                    child.eventLoop.makeCompletedFuture {
                        try UACPTransport.addServerHandlers(to: child.pipeline.syncOperations, limits: limits, logger: logger)
                        return try NIOAsyncChannel<SecureMessage, SecureMessage>(wrappingChannelSynchronously: child)
                    }
                }
        } catch {
            listening.fail(error)
            throw error
        }
        let port = serverChannel.channel.localAddress?.port ?? configuration.port
        await core.setEndpointUrl(configuration.advertisedEndpointUrl(boundPort: port))
        logger.notice("opcua server listening", metadata: ["opcua.endpoint": "\(configuration.advertisedEndpointUrl(boundPort: port))"])
        listening.succeed(port)
        let closer = serverChannel.channel
        do {
            try await withGracefulShutdownHandler {
                try await withThrowingDiscardingTaskGroup { group in
                    group.addTask { await self.housekeeping() }
                    try await serverChannel.executeThenClose { inbound in
                        for try await connection in inbound {
                            group.addTask { await self.serve(connection) }
                        }
                    }
                    group.cancelAll()
                }
            } onGracefulShutdown: {
                closer.close(promise: nil)
            }
        } catch {
            // Cancelled (or failed) rather than shut down gracefully: stop the core all the same,
            // or its subscription timers keep running.
            await core.shutdown()
            logger.notice("opcua server stopped", metadata: ["error": "\(error)"])
            throw error
        }
        await core.shutdown()
        logger.notice("opcua server stopped")
    }

    /// Session and publish-request timeouts, once a second.
    private func housekeeping() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(1))
            await core.expireSessions()
        }
    }

    private func serve(_ connection: NIOAsyncChannel<SecureMessage, SecureMessage>) async {
        let channelId = channelIds.add(1, ordering: .relaxed).newValue
        let remote = connection.channel.remoteAddress?.description ?? "?"
        logger.debug("connection opened", metadata: ["channel.id": "\(channelId)", "peer.address": "\(remote)"])
        let (stream, continuation) = AsyncStream<ResponseSink.Outgoing>.makeStream()
        let sink = ResponseSink(channelId: channelId, continuation: continuation)
        var endpoint = ServerConnection(
            channelId: channelId, core: core, sink: sink, configuration: configuration, logger: logger
        )
        let sendToken = endpoint.sendToken
        _ = try? await connection.executeThenClose { inbound, outbound in
            await withThrowingTaskGroup(of: Void.self) { group in
                // Responses produced later (Publish) and in order: encoded here, off the core actor.
                group.addTask {
                    for await outgoing in stream {
                        let message = ServerConnection.encode(outgoing, channelId: channelId, tokenId: sendToken.load())
                        try await outbound.write(message)
                    }
                }
                // Writes waiting for the host's hook answer through the sink, so that this
                // loop goes on with the connection's next requests; past the limit it waits.
                let pending = PendingCount()
                let limit = max(1, self.configuration.maxPendingWritesPerConnection)
                do {
                    for try await message in inbound {
                        let (replies, later) = await endpoint.receiveDeferring(message)
                        for reply in replies { try await outbound.write(reply) }
                        if let later {
                            if pending.value >= limit {
                                sink.send(await later.response(), requestId: later.requestId)
                            } else {
                                pending.add(1)
                                group.addTask {
                                    sink.send(await later.response(), requestId: later.requestId)
                                    pending.add(-1)
                                }
                            }
                        }
                        if endpoint.isClosed { break }
                    }
                } catch {
                    self.logger.debug("connection failed", metadata: ["channel.id": "\(channelId)", "error": "\(error)"])
                }
                sink.finish()
                try? await group.waitForAll()
            }
        }
        await core.channelClosed(channelId)
        logger.debug("connection closed", metadata: ["channel.id": "\(channelId)"])
    }
}

extension ServerCore {
    package func setEndpointUrl(_ url: String) { endpointUrl = url }
}

/// Writes of one connection whose response is still waiting for the host.
private final class PendingCount: Sendable {
    private let count = Atomic<Int>(0)
    var value: Int { count.load(ordering: .relaxed) }
    func add(_ n: Int) { count.add(n, ordering: .relaxed) }
}

/// One connection's secure channel and request decoding; responses are returned to the caller.
///
/// Kept free of sockets so the stateful fuzzer and the tests can drive it directly.
package struct ServerConnection {
    let channelId: UInt32
    let core: ServerCore
    let sink: ResponseSink
    let logger: Logger
    var channel: SecureChannelState
    /// The token id responses are secured with (read by the outbound task).
    let sendToken = TokenBox()
    package private(set) var isClosed = false
    /// Set by `receiveMessage` when the request's response waits for the host.
    private var deferred: Deferred?

    package final class TokenBox: Sendable {
        private let value = Atomic<UInt32>(0)
        func load() -> UInt32 { value.load(ordering: .relaxed) }
        func store(_ token: UInt32) { value.store(token, ordering: .relaxed) }
    }

    package init(channelId: UInt32, core: ServerCore, sink: ResponseSink, configuration: ServerConfiguration, logger: Logger) {
        self.channelId = channelId
        self.core = core
        self.sink = sink
        self.logger = logger
        self.channel = SecureChannelState(
            channelId: channelId, minLifetime: configuration.minTokenLifetime, maxLifetime: configuration.maxTokenLifetime
        )
    }

    /// Encodes a service response as a MSG.
    static func encode(_ outgoing: ResponseSink.Outgoing, channelId: UInt32, tokenId: UInt32) -> SecureMessage {
        SecureMessage(
            kind: .message(tokenId: tokenId), secureChannelId: channelId, requestId: outgoing.requestId,
            body: outgoing.response.messageBody()
        )
    }

    private mutating func fail(_ error: OPCUAError) -> [SecureMessage] {
        logger.notice("secure channel error", metadata: ["channel.id": "\(channelId)", "opcua.status": "\(error.status)", "error": "\(error.message)"])
        isClosed = true
        channel.close()
        return [SecureMessage.transportError(error.status, reason: error.message)]
    }

    /// A response that waits for the host (a Write), with the request id to answer.
    package struct Deferred: Sendable {
        package let requestId: UInt32
        package let response: @Sendable () async -> any ServiceResponse
    }

    /// Handles one inbound message and returns what to write back at once (a Write's response,
    /// which waits for the host's hook, is awaited here too).
    package mutating func receive(_ message: SecureMessage) async -> [SecureMessage] {
        let (replies, later) = await receiveDeferring(message)
        guard let later else { return replies }
        let response = await later.response()
        return replies + [Self.encode(ResponseSink.Outgoing(requestId: later.requestId, response: response), channelId: channelId, tokenId: sendToken.load())]
    }

    /// Handles one inbound message: what to write back at once, and a response still to come
    /// (a Write waiting for the host's hook), already applied, to send through the sink.
    package mutating func receiveDeferring(_ message: SecureMessage) async -> ([SecureMessage], Deferred?) {
        let replies = await receiveMessage(message)
        defer { deferred = nil }
        return (replies, deferred)
    }

    private mutating func receiveMessage(_ message: SecureMessage) async -> [SecureMessage] {
        let now = ContinuousClock.now
        switch message.kind {
        case .open(let header):
            var body = message.body
            let request: OpenSecureChannelRequest
            do {
                let typeId = try ExpandedNodeId(decoding: &body).nodeId
                guard typeId == OpenSecureChannelRequest.binaryEncodingId else {
                    return fail(OPCUAError(.badTcpMessageTypeInvalid, "OPN carries \(typeId), not an OpenSecureChannelRequest"))
                }
                request = try OpenSecureChannelRequest(decoding: &body)
            } catch {
                return fail(error)
            }
            let token: ChannelSecurityToken
            do {
                token = try channel.open(request, securityPolicyUri: header.securityPolicyUri, requestChannelId: message.secureChannelId, now: now)
            } catch {
                return fail(error)
            }
            if request.requestType == .issue { sendToken.store(token.tokenId) }
            logger.debug("secure channel token issued", metadata: ["channel.id": "\(channelId)", "token.id": "\(token.tokenId)"])
            let response = OpenSecureChannelResponse(
                responseHeader: ResponseHeader(timestamp: .now, requestHandle: request.requestHeader.requestHandle, serviceResult: .good),
                serverProtocolVersion: 0, securityToken: token, serverNonce: ByteString([])
            )
            return [SecureMessage(kind: .open(.securityPolicyNone), secureChannelId: channelId, requestId: message.requestId, body: response.messageBody())]

        case .close(let tokenId):
            _ = try? channel.accept(tokenId: tokenId, channelId: message.secureChannelId, now: now)
            channel.close()
            isClosed = true
            return []

        case .message(let tokenId):
            do {
                let token = try channel.accept(tokenId: tokenId, channelId: message.secureChannelId, now: now)
                sendToken.store(token)
            } catch {
                return fail(error)
            }
            let context = RequestContext(channelId: channelId, requestId: message.requestId, sink: sink)
            var body = message.body
            let response: (any ServiceResponse)?
            switch Self.decodeRequest(&body) {
            case .request(let request):
                switch await core.begin(request, context: context) {
                case .now(let now):
                    response = now
                case .later(let later):
                    deferred = Deferred(requestId: message.requestId, response: later)
                    return []
                }
            case .unsupported(let handle):
                response = ServiceFault(responseHeader: ResponseHeader(timestamp: .now, requestHandle: handle, serviceResult: .badServiceUnsupported))
            case .undecodable(let handle, let error):
                logger.info("request not decodable", metadata: ["channel.id": "\(channelId)", "error": "\(error.message)"])
                guard let handle else { return fail(error) }
                response = ServiceFault(responseHeader: ResponseHeader(timestamp: .now, requestHandle: handle, serviceResult: .badDecodingError))
            }
            guard let response else { return [] }
            return [Self.encode(ResponseSink.Outgoing(requestId: message.requestId, response: response), channelId: channelId, tokenId: sendToken.load())]

        case .abort(let status, let reason):
            logger.info("request aborted by peer", metadata: ["channel.id": "\(channelId)", "opcua.status": "\(status)", "reason": "\(reason ?? "")"])
            return []

        case .error(let status, let reason):
            logger.info("transport error", metadata: ["channel.id": "\(channelId)", "opcua.status": "\(status)", "reason": "\(reason)"])
            isClosed = true
            return []
        }
    }

    enum Decoded {
        case request(any ServiceRequest)
        case unsupported(handle: UInt32)
        case undecodable(handle: UInt32?, OPCUAError)
    }

    /// Decodes a MSG body: the encoding id, then the request. Unknown services are recognised by
    /// their RequestHeader, which every request starts with.
    static func decodeRequest(_ body: inout ByteBuffer) -> Decoded {
        let typeId: NodeId
        do {
            typeId = try ExpandedNodeId(decoding: &body).nodeId
        } catch {
            return .undecodable(handle: nil, error)
        }
        let afterType = body
        do {
            if let request = try ServiceRegistry.decodeRequest(encodingId: typeId, from: &body) {
                return .request(request)
            }
            var headerBytes = afterType
            let header = try RequestHeader(decoding: &headerBytes)
            return .unsupported(handle: header.requestHandle)
        } catch {
            var headerBytes = afterType
            let handle = (try? RequestHeader(decoding: &headerBytes))?.requestHandle
            return .undecodable(handle: handle, error)
        }
    }
}
