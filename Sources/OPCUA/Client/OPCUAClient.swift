// The OPC UA client: connection, secure channel, session and request correlation
// (OPC 10000-4 §5.5, §5.6; OPC 10000-6 §6.7, §7.1), SecurityPolicy None.
public import Logging
public import NIOCore
import NIOPosix

/// An OPC UA client session over one TCP connection (SecurityPolicy None).
///
/// ``connect()`` opens the connection to the URL it was given (never to the URL the server
/// advertises: a server behind NAT or bound to port 0 advertises something else), exchanges
/// Hello/Acknowledge, opens a secure channel, asks GetEndpoints on that channel for the None
/// endpoint and its user token policies, then creates and activates a session. Requests are
/// correlated by request id; each has a timeout. The secure channel is renewed at 75 % of its
/// token lifetime. When the connection is lost the client reconnects with back-off and
/// reactivates its session, or creates a new one and recreates every subscription, so that
/// subscription streams keep delivering.
///
/// ```swift
/// let client = try OPCUAClient(url: "opc.tcp://127.0.0.1:4840")
/// try await client.connect()
/// let ns = try await client.namespaceIndex(of: "urn:sinter:printers")
/// let power = try await client.readValue(NodeId(string: "dmls-01.PowerKW", namespace: ns ?? 2))
/// await client.disconnect()
/// ```
public actor OPCUAClient {
    /// Where the client is in its life cycle.
    public enum State: Sendable, CustomStringConvertible {
        /// Not connected; ``OPCUAClient/connect()`` may be called (initially, after a failed
        /// connect, or after reconnection gave up).
        case disconnected
        /// ``OPCUAClient/connect()`` is in progress.
        case connecting
        /// A session is active on an open secure channel.
        case connected(ClientSession)
        /// The connection was lost; the client is reconnecting and will try to reactivate this session.
        case reconnecting(ClientSession)
        /// ``OPCUAClient/disconnect()`` was called; the client is done.
        case closed

        public var description: String {
            switch self {
            case .disconnected: "disconnected"
            case .connecting: "connecting"
            case .connected(let session): "connected (session \(session.sessionId))"
            case .reconnecting(let session): "reconnecting (session \(session.sessionId))"
            case .closed: "closed"
            }
        }
    }

    /// The URL given to the initializer: where the client connects, what its Hello and
    /// CreateSession name.
    public nonisolated let url: String
    /// ``url`` parsed.
    public nonisolated let endpoint: EndpointURL
    /// The settings given to the initializer.
    public nonisolated let configuration: ClientConfiguration
    /// Things that happen to the connection, for monitoring and tests (newest 256 kept while
    /// nobody reads; one reader).
    public nonisolated let events: AsyncStream<ClientEvent>

    let logger: Logger
    let group: any EventLoopGroup
    private let eventContinuation: AsyncStream<ClientEvent>.Continuation

    /// The current state.
    public private(set) var state: State = .disconnected
    /// Secure channel renewals completed (OpenSecureChannel Renew answered), over all connections.
    public private(set) var channelRenewals = 0
    /// Reconnections completed after a lost connection.
    public private(set) var reconnections = 0
    /// Sessions created (the first one included).
    public private(set) var sessionsCreated = 0
    /// The Acknowledge of the current connection.
    public var acknowledge: AcknowledgeMessage? { channel?.acknowledge }
    /// The limits in force on the current connection.
    public var negotiatedLimits: NegotiatedLimits? { channel?.limits }

    // MARK: Connection state

    struct ChannelContext {
        let generation: Int
        let channel: any Channel
        let acknowledge: AcknowledgeMessage
        let limits: NegotiatedLimits
        var secureChannelId: UInt32 = 0
        var tokenId: UInt32 = 0
        var tokenLifetime: UInt32 = 0
        var tokenReceived = ContinuousClock.now
        var renewing = false
        var lastRequest = ContinuousClock.now
        var transportError: OPCUAError?
        var maintenance: Task<Void, Never>?

        var renewAt: ContinuousClock.Instant {
            tokenReceived + .milliseconds(max(Int64(tokenLifetime) * 3 / 4, 100))
        }
    }

    struct PendingRequest {
        enum Completion {
            case call(CheckedContinuation<Result<any ServiceResponse, OPCUAError>, Never>)
            case publish(acks: [SubscriptionAcknowledgement])
            case renewal
        }
        let generation: Int
        let service: String
        let completion: Completion
        let timer: Scheduled<Void>
    }

    enum OutboundKind { case open, message }

    var channel: ChannelContext?
    private var generation = 0
    private var nextRequestId: UInt32 = 1
    private var nextRequestHandle: UInt32 = 1
    var pending: [UInt32: PendingRequest] = [:]
    private var waiters: [Int: (continuation: CheckedContinuation<Void, Never>, timer: Task<Void, Never>)] = [:]
    private var nextWaiter = 0
    private var reconnectTask: Task<Void, Never>?
    /// disconnect() is closing the session: no reconnection, no more Publish requests.
    var closing = false

    // MARK: Subscription state (used in ClientSubscriptions.swift)

    var subscriptions: [Int: SubscriptionRecord] = [:]
    var serverSubscriptions: [UInt32: Int] = [:]
    var nextSubscriptionKey = 1
    var nextClientHandle: UInt32 = 1
    var publishOutstanding = 0
    var publishTarget: Int
    var pendingAcks: [SubscriptionAcknowledgement] = []
    var noSubscriptionStreak = 0
    var publishingStopped = false
    // Test support (ClientSubscriptions.swift).
    var notificationsToDiscard = 0
    var discardedNotifications = 0
    var discardWaiters: [CheckedContinuation<Void, Never>] = []

    /// - Parameters:
    ///   - url: the server's `opc.tcp://host:port[/path]` URL; the client connects exactly here.
    ///   - logger: connection events at notice/info, protocol details at debug.
    ///   - eventLoopGroup: defaults to `MultiThreadedEventLoopGroup.singleton`.
    /// - Throws: `BadTcpEndpointUrlInvalid` if `url` is not an opc.tcp URL.
    public init(
        url: String, configuration: ClientConfiguration = ClientConfiguration(), logger: Logger = Logger(label: "opcua.client"),
        eventLoopGroup: (any EventLoopGroup)? = nil
    ) throws(OPCUAError) {
        self.url = url
        self.endpoint = try EndpointURL(url)
        self.configuration = configuration
        self.logger = logger
        self.group = eventLoopGroup ?? MultiThreadedEventLoopGroup.singleton
        self.publishTarget = configuration.effectivePublishRequests
        (events, eventContinuation) = AsyncStream.makeStream(of: ClientEvent.self, bufferingPolicy: .bufferingNewest(256))
    }

    deinit {
        channel?.channel.close(promise: nil)
        channel?.maintenance?.cancel()
        reconnectTask?.cancel()
        for record in subscriptions.values { record.continuation.finish() }
        eventContinuation.finish()
    }

    // MARK: Connect and disconnect

    /// Connects, opens a secure channel, picks the None endpoint with GetEndpoints, and creates
    /// and activates a session with the configured identity.
    ///
    /// Does nothing if already connected.
    /// - Throws: the first failure: `BadNotConnected` (no TCP connection), `BadTimeout`, a
    ///   transport error from the server's ERR, or a service status such as
    ///   `BadUserAccessDenied` / `BadIdentityTokenRejected` from ActivateSession.
    public func connect() async throws(OPCUAError) {
        switch state {
        case .disconnected: break
        case .connected: return
        case .connecting, .reconnecting:
            throw OPCUAError(.badInvalidState, "connect() while \(state)")
        case .closed:
            throw OPCUAError(.badInvalidState, "the client was disconnected; make a new OPCUAClient")
        }
        setState(.connecting)
        do throws(OPCUAError) {
            let (session, _) = try await establish(previous: nil)
            guard case .connecting = state else {
                throw OPCUAError(.badConnectionClosed, "disconnected while connecting")
            }
            setState(.connected(session))
            logger.info("opcua client connected", metadata: ["opcua.url": "\(url)", "opcua.session": "\(session.sessionId)"])
        } catch {
            if case .connecting = state { setState(.disconnected) }
            closeChannel()
            throw error
        }
    }

    /// Closes the session (deleting its subscriptions) and the secure channel, and ends every
    /// subscription stream. Best effort: failures are logged, not thrown. The client cannot
    /// connect again afterwards.
    public func disconnect() async {
        if case .closed = state { return }
        closing = true
        publishingStopped = true
        reconnectTask?.cancel()
        reconnectTask = nil
        if case .connected(let session) = state, let generation = channel?.generation {
            var request = CloseSessionRequest(deleteSubscriptions: true)
            request.requestHeader = makeHeader(token: session.authenticationToken, timeout: shortTimeout)
            let result = await transact(request, kind: .message, generation: generation, timeout: shortTimeout)
            do throws(OPCUAError) {
                _ = try Self.unwrap(result, as: CloseSessionResponse.self, service: "CloseSession")
            } catch {
                logger.notice("CloseSession failed", metadata: ["error": "\(error)"])
            }
        }
        for record in subscriptions.values { record.continuation.finish() }
        subscriptions = [:]
        serverSubscriptions = [:]
        setState(.closed)
        if let closed = closeChannel() { try? await closed.get() }
        eventContinuation.finish()
    }

    /// The request timeout, or 5 s if that is shorter (for cleanup on the way out).
    private var shortTimeout: Duration { min(configuration.requestTimeout, .seconds(5)) }

    // MARK: Services without a session

    /// The server's endpoints (GetEndpoints). Uses the current connection when connected, a
    /// connection of its own (no session) otherwise.
    public func getEndpoints() async throws(OPCUAError) -> [EndpointDescription] {
        let response = try await discovery(GetEndpointsRequest(endpointUrl: url), as: GetEndpointsResponse.self, service: "GetEndpoints")
        return response.endpoints ?? []
    }

    /// The servers the server knows (FindServers), itself included. Uses the current connection
    /// when connected, a connection of its own (no session) otherwise.
    public func findServers() async throws(OPCUAError) -> [ApplicationDescription] {
        let response = try await discovery(FindServersRequest(endpointUrl: url), as: FindServersResponse.self, service: "FindServers")
        return response.servers ?? []
    }

    private func discovery<R: ServiceResponse>(_ request: some ServiceRequest, as: R.Type, service: String) async throws(OPCUAError) -> R {
        if case .connected = state, let generation = channel?.generation {
            return try await internalCall(request, as: R.self, token: .null, generation: generation, service: service)
        }
        // A probe client of our own, so this connection never mixes with the session's.
        let probe = try OPCUAClient(url: url, configuration: configuration, logger: logger, eventLoopGroup: group)
        return try await probe.probeCall(request, as: R.self, service: service)
    }

    private func probeCall<R: ServiceResponse>(_ request: some ServiceRequest, as: R.Type, service: String) async throws(OPCUAError) -> R {
        do throws(OPCUAError) {
            let generation = try await openChannel()
            let response = try await internalCall(request, as: R.self, token: .null, generation: generation, service: service)
            if let closed = closeChannel() { try? await closed.get() }
            return response
        } catch {
            if let closed = closeChannel() { try? await closed.get() }
            throw error
        }
    }

    // MARK: Calls

    /// Sends any service request with the session's authentication token (unless the request
    /// carries one already) and returns the response.
    ///
    /// Waits up to the request timeout while the client (re)connects.
    /// - Throws: `OPCUAError` with the ServiceFault's or the response's bad ServiceResult,
    ///   `BadTimeout`, `BadConnectionClosed`, or `BadUnknownResponse` if the answer is not `Response`.
    public func call<Response: ServiceResponse>(_ request: some ServiceRequest, expecting: Response.Type) async throws(OPCUAError) -> Response {
        try await call(request, expecting: Response.self, timeout: configuration.requestTimeout)
    }

    func call<Response: ServiceResponse>(_ request: some ServiceRequest, expecting: Response.Type, timeout: Duration) async throws(OPCUAError) -> Response {
        let service = Self.serviceName(of: request)
        let (session, generation) = try await readySession(timeout: timeout, service: service)
        var request = request
        let token = request.requestHeader.authenticationToken.isNull ? session.authenticationToken : request.requestHeader.authenticationToken
        request.requestHeader = makeHeader(token: token, timeout: timeout)
        let result = await transact(request, kind: .message, generation: generation, timeout: timeout)
        do throws(OPCUAError) {
            return try Self.unwrap(result, as: Response.self, service: service)
        } catch {
            // The server lost the session we are using (not one a caller named): start over.
            if Self.isSessionLost(error.status), case .connected(let current) = state, current.authenticationToken == token {
                sessionLost(error)
            }
            throw error
        }
    }

    /// A call on a given connection, with a given token (during connect and reconnect).
    func internalCall<Response: ServiceResponse>(
        _ request: some ServiceRequest, as: Response.Type, token: NodeId, generation: Int, service: String? = nil
    ) async throws(OPCUAError) -> Response {
        var request = request
        request.requestHeader = makeHeader(token: token, timeout: configuration.requestTimeout)
        let result = await transact(request, kind: .message, generation: generation, timeout: configuration.requestTimeout)
        return try Self.unwrap(result, as: Response.self, service: service ?? Self.serviceName(of: request))
    }

    /// The session and connection to send on, waiting while the client (re)connects.
    func readySession(timeout: Duration, service: String) async throws(OPCUAError) -> (ClientSession, Int) {
        let deadline = ContinuousClock.now + timeout
        while true {
            switch state {
            case .connected(let session):
                if let generation = channel?.generation { return (session, generation) }
            case .closed:
                throw OPCUAError(.badConnectionClosed, "\(service): the client was disconnected")
            case .disconnected:
                throw OPCUAError(.badNotConnected, "\(service): not connected (call connect() first)")
            case .connecting, .reconnecting:
                break
            }
            guard ContinuousClock.now < deadline else {
                throw OPCUAError(.badTimeout, "\(service): not connected within \(timeout) (state \(state))")
            }
            await waitForStateChange(until: deadline)
        }
    }

    private func waitForStateChange(until deadline: ContinuousClock.Instant) async {
        let id = nextWaiter
        nextWaiter += 1
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let timer = Task { [weak self] in
                try? await Task.sleep(until: deadline, clock: .continuous)
                await self?.wakeWaiter(id)
            }
            waiters[id] = (continuation, timer)
        }
    }

    private func wakeWaiter(_ id: Int) {
        waiters.removeValue(forKey: id)?.continuation.resume()
    }

    func setState(_ newState: State) {
        state = newState
        eventContinuation.yield(.stateChanged(newState))
        if case .connected = newState, let generation = channel?.generation {
            // Session keep-alive starts now: reschedule the connection's maintenance.
            channel?.maintenance?.cancel()
            let maintenance = startMaintenance(generation: generation)
            channel?.maintenance = maintenance
        }
        let woken = waiters
        waiters = [:]
        for waiter in woken.values {
            waiter.timer.cancel()
            waiter.continuation.resume()
        }
    }

    func emit(_ event: ClientEvent) { eventContinuation.yield(event) }

    private func makeHeader(token: NodeId, timeout: Duration) -> RequestHeader {
        let handle = nextRequestHandle
        nextRequestHandle = nextRequestHandle == UInt32.max ? 1 : nextRequestHandle + 1
        return RequestHeader(
            authenticationToken: token, timestamp: .now, requestHandle: handle, returnDiagnostics: 0, auditEntryId: nil,
            timeoutHint: Self.milliseconds(timeout), additionalHeader: .null)
    }

    func header(token: NodeId, timeout: Duration) -> RequestHeader { makeHeader(token: token, timeout: timeout) }

    func allocateRequestId() -> UInt32 {
        let id = nextRequestId
        nextRequestId = nextRequestId == UInt32.max ? 1 : nextRequestId + 1
        return id
    }

    /// Sends a request on connection `generation` and waits for its response (or failure).
    func transact(_ request: some ServiceRequest, kind: OutboundKind, generation: Int, timeout: Duration) async -> Result<any ServiceResponse, OPCUAError> {
        let service = Self.serviceName(of: request)
        guard let context = channel, context.generation == generation else {
            return .failure(OPCUAError(.badConnectionClosed, "\(service): the connection to \(url) is closed"))
        }
        let requestId = allocateRequestId()
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Result<any ServiceResponse, OPCUAError>, Never>) in
                send(request, kind: kind, context: context, requestId: requestId, timeout: timeout, service: service, completion: .call(continuation))
            }
        } onCancel: {
            Task { await self.cancelRequest(requestId) }
        }
    }

    /// Encodes and writes a request, registering its completion and timeout first.
    func send(
        _ request: some ServiceRequest, kind: OutboundKind, context: ChannelContext, requestId: UInt32, timeout: Duration, service: String,
        completion: PendingRequest.Completion
    ) {
        let body = request.messageBody()
        let messageKind: SecureMessage.Kind
        switch kind {
        case .open: messageKind = .open(.securityPolicyNone)
        case .message: messageKind = .message(tokenId: context.tokenId)
        }
        let message = SecureMessage(kind: messageKind, secureChannelId: context.secureChannelId, requestId: requestId, body: body)
        let timer = context.channel.eventLoop.scheduleTask(in: Self.timeAmount(timeout)) { [weak self] in
            Task { await self?.expireRequest(requestId, after: timeout) }
            return ()
        }
        pending[requestId] = PendingRequest(generation: context.generation, service: service, completion: completion, timer: timer)
        if channel?.generation == context.generation { channel?.lastRequest = .now }
        context.channel.writeAndFlush(message).whenFailure { [weak self] error in
            Task { await self?.writeFailed(requestId, error) }
        }
    }

    private func expireRequest(_ requestId: UInt32, after timeout: Duration) {
        guard let entry = pending.removeValue(forKey: requestId) else { return }
        complete(entry, .failure(OPCUAError(.badTimeout, "\(entry.service): no response within \(timeout)")))
    }

    private func writeFailed(_ requestId: UInt32, _ error: any Error) {
        guard let entry = pending.removeValue(forKey: requestId) else { return }
        entry.timer.cancel()
        let failure = (error as? OPCUAError) ?? OPCUAError(.badConnectionClosed, "\(entry.service): the request could not be sent: \(error)")
        complete(entry, .failure(failure))
    }

    private func cancelRequest(_ requestId: UInt32) {
        guard let entry = pending.removeValue(forKey: requestId) else { return }
        entry.timer.cancel()
        complete(entry, .failure(OPCUAError(.badRequestCancelledByClient, "\(entry.service): cancelled")))
    }

    private func complete(_ entry: PendingRequest, _ result: Result<any ServiceResponse, OPCUAError>) {
        switch entry.completion {
        case .call(let continuation):
            continuation.resume(returning: result)
        case .publish(let acks):
            publishCompleted(result, acks: acks)
        case .renewal:
            renewalCompleted(result, generation: entry.generation)
        }
    }

    // MARK: Inbound

    /// An inbound message, decoded off the actor by the connection's reader.
    enum Inbound: Sendable {
        case response(requestId: UInt32, isOpen: Bool, Result<any ServiceResponse, OPCUAError>)
        case abort(requestId: UInt32, OPCUAError)
        case transportError(OPCUAError)
        case unexpected(String)
    }

    static func decode(_ message: SecureMessage) -> Inbound {
        switch message.kind {
        case .open, .message:
            let isOpen = if case .open = message.kind { true } else { false }
            var body = message.body
            do throws(OPCUAError) {
                let typeId = try ExpandedNodeId(decoding: &body).nodeId
                guard let response = try ServiceRegistry.decodeResponse(encodingId: typeId, from: &body) else {
                    return .response(
                        requestId: message.requestId, isOpen: isOpen,
                        .failure(OPCUAError(.badUnknownResponse, "the response type \(typeId) is not a service response this client knows")))
                }
                return .response(requestId: message.requestId, isOpen: isOpen, .success(response))
            } catch {
                return .response(requestId: message.requestId, isOpen: isOpen, .failure(error))
            }
        case .close:
            return .unexpected("CloseSecureChannel from the server")
        case .abort(let status, let reason):
            return .abort(requestId: message.requestId, OPCUAError(status, "the server aborted the response: \(reason ?? "no reason given")"))
        case .error(let status, let reason):
            return .transportError(OPCUAError(status, reason))
        }
    }

    func receive(_ inbound: Inbound, generation: Int) {
        switch inbound {
        case .response(let requestId, let isOpen, let result):
            guard let entry = pending[requestId], entry.generation == generation else {
                logger.debug("response to an unknown request", metadata: ["opcua.request_id": "\(requestId)"])
                return
            }
            pending[requestId] = nil
            entry.timer.cancel()
            if isOpen, case .success(let response) = result, let opened = response as? OpenSecureChannelResponse,
                opened.responseHeader.serviceResult.isGood, channel?.generation == generation
            {
                applyToken(opened.securityToken)
            }
            complete(entry, result)
        case .abort(let requestId, let error):
            guard let entry = pending[requestId], entry.generation == generation else { return }
            pending[requestId] = nil
            entry.timer.cancel()
            complete(entry, .failure(error))
        case .transportError(let error):
            if channel?.generation == generation { channel?.transportError = error }
            logger.notice("opcua transport error", metadata: ["opcua.status": "\(error.status)", "error": "\(error.message)"])
        case .unexpected(let what):
            logger.notice("unexpected message from the server", metadata: ["opcua.message": "\(what)"])
        }
    }

    // MARK: Secure channel

    /// Opens a TCP connection to ``endpoint``, does Hello/Acknowledge and OpenSecureChannel Issue;
    /// returns the new connection's generation.
    func openChannel() async throws(OPCUAError) -> Int {
        if channel != nil { closeChannel() }
        generation += 1
        let generation = self.generation
        let timeout = configuration.requestTimeout
        let deadline = ContinuousClock.now + timeout
        let eventLoop = group.next()
        let handshake = eventLoop.makePromise(of: AcknowledgeMessage.self)
        let limits = configuration.transport
        let hostUrl = url
        let logger = self.logger
        let asyncChannel: NIOAsyncChannel<SecureMessage, SecureMessage>
        do {
            asyncChannel = try await ClientBootstrap(group: eventLoop)
                .connectTimeout(Self.timeAmount(timeout))
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .connect(host: endpoint.host, port: endpoint.port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try UACPTransport.addClientHandlers(
                            to: channel.pipeline.syncOperations, endpointUrl: hostUrl, limits: limits, logger: logger, handshake: handshake)
                        return try NIOAsyncChannel<SecureMessage, SecureMessage>(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            handshake.fail(error)
            throw OPCUAError(.badNotConnected, "cannot connect to \(endpoint.host):\(endpoint.port): \(error)")
        }
        let nioChannel = asyncChannel.channel
        // The reader owns the NIOAsyncChannel from here on (executeThenClose), whatever happens next.
        startReader(asyncChannel, generation: generation)
        let handshakeTimer = nioChannel.eventLoop.scheduleTask(in: Self.timeAmount(timeout)) { nioChannel.close(promise: nil) }
        let acknowledge: AcknowledgeMessage
        do {
            acknowledge = try await handshake.futureResult.get()
            handshakeTimer.cancel()
        } catch {
            handshakeTimer.cancel()
            nioChannel.close(promise: nil)
            if ContinuousClock.now >= deadline {
                throw OPCUAError(.badTimeout, "no Acknowledge from \(url) within \(timeout)")
            }
            throw (error as? OPCUAError) ?? OPCUAError(.badCommunicationError, "Hello to \(url) failed: \(error)")
        }
        let negotiated: NegotiatedLimits
        do throws(OPCUAError) {
            negotiated = try limits.applying(acknowledge, to: limits.hello(endpointUrl: url))
        } catch {
            nioChannel.close(promise: nil)
            throw error
        }
        channel = ChannelContext(generation: generation, channel: nioChannel, acknowledge: acknowledge, limits: negotiated)
        logger.debug(
            "opcua connection open",
            metadata: ["opcua.url": "\(url)", "uacp.receive_buffer_size": "\(negotiated.receiveBufferSize)", "uacp.send_buffer_size": "\(negotiated.sendBufferSize)"])

        var request = OpenSecureChannelRequest(
            clientProtocolVersion: 0, requestType: .issue, securityMode: .none, clientNonce: ByteString([]),
            requestedLifetime: configuration.requestedTokenLifetime)
        request.requestHeader = makeHeader(token: .null, timeout: timeout)
        let result = await transact(request, kind: .open, generation: generation, timeout: timeout)
        let opened = try Self.unwrap(result, as: OpenSecureChannelResponse.self, service: "OpenSecureChannel")
        logger.debug(
            "opcua secure channel open",
            metadata: ["opcua.channel_id": "\(opened.securityToken.channelId)", "opcua.token_id": "\(opened.securityToken.tokenId)",
                       "opcua.token_lifetime_ms": "\(opened.securityToken.revisedLifetime)"])
        let maintenance = startMaintenance(generation: generation)
        channel?.maintenance = maintenance
        return generation
    }

    private func startReader(_ asyncChannel: NIOAsyncChannel<SecureMessage, SecureMessage>, generation: Int) {
        Task { [weak self] in
            var failure: OPCUAError?
            do {
                try await asyncChannel.executeThenClose { inbound, _ in
                    for try await message in inbound {
                        let decoded = OPCUAClient.decode(message)
                        guard let self else { return }
                        await self.receive(decoded, generation: generation)
                    }
                }
            } catch {
                failure = (error as? OPCUAError) ?? OPCUAError(.badCommunicationError, "\(error)")
            }
            await self?.connectionEnded(generation: generation, error: failure)
        }
    }

    private func applyToken(_ token: ChannelSecurityToken) {
        guard var context = channel else { return }
        let renewed = context.tokenId != 0
        context.secureChannelId = token.channelId
        context.tokenId = token.tokenId
        context.tokenLifetime = token.revisedLifetime == 0 ? configuration.requestedTokenLifetime : token.revisedLifetime
        context.tokenReceived = .now
        context.renewing = false
        channel = context
        if renewed {
            channelRenewals += 1
            logger.debug("opcua secure channel renewed", metadata: ["opcua.token_id": "\(token.tokenId)"])
            emit(.channelRenewed(tokenId: token.tokenId, lifetime: context.tokenLifetime))
        }
    }

    /// Renews the secure channel (OpenSecureChannel Renew); the new token is used once the
    /// response arrived (``applyToken(_:)``), responses under the old one are still accepted.
    private func renewChannel() {
        guard let context = channel, !context.renewing, context.tokenId != 0 else { return }
        channel?.renewing = true
        var request = OpenSecureChannelRequest(
            clientProtocolVersion: 0, requestType: .renew, securityMode: .none, clientNonce: ByteString([]),
            requestedLifetime: configuration.requestedTokenLifetime)
        request.requestHeader = makeHeader(token: .null, timeout: configuration.requestTimeout)
        send(
            request, kind: .open, context: context, requestId: allocateRequestId(), timeout: configuration.requestTimeout,
            service: "OpenSecureChannel (Renew)", completion: .renewal)
    }

    private func renewalCompleted(_ result: Result<any ServiceResponse, OPCUAError>, generation: Int) {
        do throws(OPCUAError) {
            _ = try Self.unwrap(result, as: OpenSecureChannelResponse.self, service: "OpenSecureChannel (Renew)")
        } catch {
            guard channel?.generation == generation else { return }
            logger.warning("opcua secure channel renewal failed; reconnecting", metadata: ["error": "\(error)"])
            channel?.renewing = false
            channel?.channel.close(promise: nil)
        }
    }

    /// Renewal and session keep-alive for one connection.
    func startMaintenance(generation: Int) -> Task<Void, Never> {
        Task { [weak self] in
            while !Task.isCancelled {
                guard let wake = await self?.nextMaintenance(generation: generation) else { return }
                try? await Task.sleep(until: wake, clock: .continuous)
                if Task.isCancelled { return }
                await self?.maintain(generation: generation)
            }
        }
    }

    private func nextMaintenance(generation: Int) -> ContinuousClock.Instant? {
        guard let context = channel, context.generation == generation else { return nil }
        var wake = context.renewing ? ContinuousClock.now + .seconds(1) : context.renewAt
        if case .connected(let session) = state {
            wake = min(wake, context.lastRequest + keepAliveInterval(session))
        }
        return min(wake, ContinuousClock.now + .seconds(5))
    }

    private func keepAliveInterval(_ session: ClientSession) -> Duration {
        .milliseconds(max(Int64(session.revisedSessionTimeout / 2), 500))
    }

    private func maintain(generation: Int) {
        guard let context = channel, context.generation == generation else { return }
        let now = ContinuousClock.now
        if !context.renewing, now >= context.renewAt { renewChannel() }
        if case .connected(let session) = state, now >= context.lastRequest + keepAliveInterval(session) {
            // Keeps an idle session from timing out on the server.
            Task { [weak self] in _ = try? await self?.read([NS0.Server_ServerStatus_State]) }
        }
    }

    /// Writes CloseSecureChannel and closes the connection; returns the close future.
    @discardableResult
    func closeChannel() -> EventLoopFuture<Void>? {
        guard let context = channel else { return nil }
        channel = nil
        context.maintenance?.cancel()
        failPending(generation: context.generation, OPCUAError(.badConnectionClosed, "the connection to \(url) was closed by the client"))
        let nioChannel = context.channel
        if context.tokenId != 0 {
            let body = CloseSecureChannelRequest(requestHeader: makeHeader(token: .null, timeout: shortTimeout)).messageBody(capacity: 64)
            let message = SecureMessage(
                kind: .close(tokenId: context.tokenId), secureChannelId: context.secureChannelId, requestId: allocateRequestId(), body: body)
            nioChannel.writeAndFlush(message).whenComplete { _ in nioChannel.close(promise: nil) }
        } else {
            nioChannel.close(promise: nil)
        }
        return nioChannel.closeFuture
    }

    private func failPending(generation: Int, _ error: OPCUAError) {
        let failed = pending.filter { $0.value.generation == generation }
        for (id, entry) in failed.sorted(by: { $0.key < $1.key }) {
            pending[id] = nil
            entry.timer.cancel()
            complete(entry, .failure(OPCUAError(error.status, "\(entry.service): \(error.message)")))
        }
    }

    // MARK: Connection loss and reconnection

    private func connectionEnded(generation: Int, error: OPCUAError?) {
        guard let context = channel, context.generation == generation else { return }
        channel = nil
        context.maintenance?.cancel()
        let cause = context.transportError ?? error ?? OPCUAError(.badConnectionClosed, "the server closed the connection")
        logger.notice("opcua connection lost", metadata: ["opcua.url": "\(url)", "opcua.status": "\(cause.status)", "error": "\(cause.message)"])
        failPending(generation: generation, OPCUAError(cause.status, "connection lost: \(cause.message)"))
        emit(.connectionLost(cause))
        if !closing, case .connected(let session) = state { startReconnecting(session) }
    }

    /// The server no longer knows our session (it restarted or timed the session out): drop the
    /// connection; reconnection creates a new session and recreates the subscriptions.
    func sessionLost(_ error: OPCUAError) {
        guard !closing, case .connected = state, let context = channel else { return }
        logger.notice("opcua session lost; reconnecting", metadata: ["opcua.status": "\(error.status)"])
        context.channel.close(promise: nil)
    }

    /// Drops the TCP connection without CloseSession or CloseSecureChannel, as a network failure
    /// would (tests use it to exercise reconnection with session reactivation).
    func dropConnection() {
        channel?.channel.close(promise: nil)
    }

    private func startReconnecting(_ session: ClientSession) {
        guard configuration.reconnect.enabled else {
            giveUp(OPCUAError(.badConnectionClosed, "the connection was lost and reconnection is off"))
            return
        }
        setState(.reconnecting(session))
        reconnectTask = Task { [weak self] in await self?.reconnectLoop() }
    }

    private func giveUp(_ error: OPCUAError) {
        logger.error("opcua client gave up reconnecting", metadata: ["error": "\(error)"])
        for record in subscriptions.values { record.continuation.finish() }
        subscriptions = [:]
        serverSubscriptions = [:]
        setState(.disconnected)
    }

    private func reconnectLoop() async {
        let policy = configuration.reconnect
        var attempt = 0
        while !Task.isCancelled {
            attempt += 1
            if let maxAttempts = policy.maxAttempts, attempt > maxAttempts {
                giveUp(OPCUAError(.badConnectionClosed, "\(maxAttempts) reconnection attempts failed"))
                return
            }
            try? await Task.sleep(for: policy.delay(beforeAttempt: attempt))
            guard !Task.isCancelled, case .reconnecting(let session) = state else { return }
            do throws(OPCUAError) {
                let (newSession, created) = try await establish(previous: session)
                if created { try await recreateSubscriptions(session: newSession) }
                guard case .reconnecting = state else { return }
                reconnections += 1
                setState(.connected(newSession))
                logger.notice(
                    "opcua client reconnected",
                    metadata: ["opcua.url": "\(url)", "opcua.attempt": "\(attempt)", "opcua.new_session": "\(created)"])
                emit(.reconnected(newSession: created))
                resumePublishing()
                return
            } catch {
                logger.info("opcua reconnection attempt failed", metadata: ["opcua.attempt": "\(attempt)", "error": "\(error)"])
                closeChannel()
            }
        }
    }

    // MARK: Session

    /// Opens a connection and activates `previous` on it, or creates and activates a new session.
    private func establish(previous: ClientSession?) async throws(OPCUAError) -> (ClientSession, created: Bool) {
        let generation = try await openChannel()
        let endpoints = try await internalCall(
            GetEndpointsRequest(endpointUrl: url), as: GetEndpointsResponse.self, token: .null, generation: generation, service: "GetEndpoints")
        let endpoint = try Self.noneEndpoint(endpoints.endpoints ?? [], url: url)
        let policyId = try Self.tokenPolicy(for: configuration.identity, in: endpoint)
        if var previous {
            do throws(OPCUAError) {
                previous.userTokenPolicyId = policyId
                try await activate(previous, generation: generation)
                return (previous, false)
            } catch {
                if Self.isConnectionError(error.status) { throw error }
                logger.notice("opcua session not reactivated; creating a new one", metadata: ["opcua.status": "\(error.status)"])
            }
        }
        var request = CreateSessionRequest(
            clientDescription: ApplicationDescription(
                applicationUri: configuration.applicationUri, productUri: configuration.productUri,
                applicationName: LocalizedText(configuration.applicationName), applicationType: .client),
            serverUri: endpoint.server.applicationUri, endpointUrl: url, sessionName: configuration.sessionName,
            clientNonce: ByteString(Self.randomBytes(32)), clientCertificate: .null,
            requestedSessionTimeout: configuration.sessionTimeout, maxResponseMessageSize: configuration.transport.maxMessageSize)
        request.requestHeader = makeHeader(token: .null, timeout: configuration.requestTimeout)
        let created = try await internalCall(request, as: CreateSessionResponse.self, token: .null, generation: generation, service: "CreateSession")
        let session = ClientSession(
            sessionId: created.sessionId, authenticationToken: created.authenticationToken,
            revisedSessionTimeout: created.revisedSessionTimeout, endpoint: endpoint, userTokenPolicyId: policyId)
        do throws(OPCUAError) {
            try await activate(session, generation: generation)
        } catch {
            // Do not leave a session the server would keep until it times out.
            var close = CloseSessionRequest(deleteSubscriptions: true)
            close.requestHeader = makeHeader(token: session.authenticationToken, timeout: shortTimeout)
            _ = await transact(close, kind: .message, generation: generation, timeout: shortTimeout)
            throw error
        }
        sessionsCreated += 1
        return (session, true)
    }

    private func activate(_ session: ClientSession, generation: Int) async throws(OPCUAError) {
        let identity: ExtensionObject
        switch configuration.identity {
        case .anonymous:
            identity = ExtensionObject(AnonymousIdentityToken(policyId: session.userTokenPolicyId))
        case .userName(let name, let password):
            identity = ExtensionObject(UserNameIdentityToken(
                policyId: session.userTokenPolicyId, userName: name, password: ByteString(Array(password.utf8)), encryptionAlgorithm: nil))
        }
        let request = ActivateSessionRequest(
            clientSignature: SignatureData(), clientSoftwareCertificates: nil, localeIds: nil, userIdentityToken: identity,
            userTokenSignature: SignatureData())
        _ = try await internalCall(
            request, as: ActivateSessionResponse.self, token: session.authenticationToken, generation: generation, service: "ActivateSession")
    }

    static let transportProfile = "http://opcfoundation.org/UA-Profile/Transport/uatcp-uasc-uabinary"

    /// The SecurityPolicy None endpoint among `endpoints`.
    static func noneEndpoint(_ endpoints: [EndpointDescription], url: String) throws(OPCUAError) -> EndpointDescription {
        let candidates = endpoints.filter {
            $0.securityPolicyUri == AsymmetricSecurityHeader.securityPolicyNoneUri && $0.securityMode == .none
                && ($0.transportProfileUri == nil || $0.transportProfileUri == "" || $0.transportProfileUri == transportProfile)
        }
        guard let endpoint = candidates.first else {
            let offered = endpoints.map { "\($0.securityPolicyUri ?? "?") (\($0.securityMode))" }
            throw OPCUAError(
                .badSecurityPolicyRejected,
                "\(url) offers no SecurityPolicy None endpoint (offered: \(offered.isEmpty ? "none" : offered.joined(separator: ", ")))")
        }
        return endpoint
    }

    /// The policy id of the user token policy for `identity` on the None endpoint.
    static func tokenPolicy(for identity: ClientConfiguration.Identity, in endpoint: EndpointDescription) throws(OPCUAError) -> String? {
        let policies = endpoint.userIdentityTokens ?? []
        switch identity {
        case .anonymous:
            guard let policy = policies.first(where: { $0.tokenType == .anonymous }) else {
                throw OPCUAError(.badIdentityTokenRejected, "the server accepts no anonymous sessions on its None endpoint")
            }
            return policy.policyId
        case .userName:
            let userPolicies = policies.filter { $0.tokenType == .userName }
            let clearText = userPolicies.first {
                $0.securityPolicyUri == nil || $0.securityPolicyUri == "" || $0.securityPolicyUri == AsymmetricSecurityHeader.securityPolicyNoneUri
            }
            guard let policy = clearText else {
                if let other = userPolicies.first {
                    throw OPCUAError(
                        .badIdentityTokenRejected,
                        "the server wants user names encrypted with \(other.securityPolicyUri ?? "?"), which this client does not support")
                }
                throw OPCUAError(.badIdentityTokenRejected, "the server accepts no user names on its None endpoint")
            }
            return policy.policyId
        }
    }

    // MARK: Helpers

    static func unwrap<R: ServiceResponse>(_ result: Result<any ServiceResponse, OPCUAError>, as: R.Type, service: String) throws(OPCUAError) -> R {
        let response: any ServiceResponse
        switch result {
        case .success(let value): response = value
        case .failure(let error): throw error
        }
        let status = response.responseHeader.serviceResult
        if response is ServiceFault {
            throw OPCUAError(status == .good ? .badUnexpectedError : status, "\(service): the server answered with a ServiceFault")
        }
        if status.isBad { throw OPCUAError(status, "\(service): the server answered \(status)") }
        guard let typed = response as? R else {
            throw OPCUAError(.badUnknownResponse, "\(service): expected \(R.self), got \(type(of: response))")
        }
        return typed
    }

    static func serviceName(of request: some ServiceRequest) -> String {
        let name = "\(type(of: request))"
        return name.hasSuffix("Request") ? String(name.dropLast(7)) : name
    }

    /// Statuses meaning the connection (not the request) failed.
    static func isConnectionError(_ status: StatusCode) -> Bool {
        [StatusCode.badConnectionClosed, .badNotConnected, .badTimeout, .badSecureChannelClosed, .badCommunicationError,
         .badSecureChannelIdInvalid, .badSecureChannelTokenUnknown, .badServerNotConnected, .badRequestCancelledByClient]
            .contains(status) || (0x807D_0000...0x8083_0000).contains(status.rawValue & 0xFFFF_0000)  // BadTcp…
    }

    /// Statuses meaning the server no longer has the session.
    static func isSessionLost(_ status: StatusCode) -> Bool {
        status == .badSessionIdInvalid || status == .badSessionClosed
    }

    static func milliseconds(_ duration: Duration) -> UInt32 {
        let (seconds, attoseconds) = duration.components
        let ms = Double(seconds) * 1000 + Double(attoseconds) / 1e15
        return ms >= Double(UInt32.max) ? UInt32.max : UInt32(max(ms, 0))
    }

    static func timeAmount(_ duration: Duration) -> TimeAmount {
        let (seconds, attoseconds) = duration.components
        return .nanoseconds(seconds.multipliedReportingOverflow(by: 1_000_000_000).partialValue + attoseconds / 1_000_000_000)
    }

    static func randomBytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }
}

/// An active session as the client knows it.
public struct ClientSession: Sendable, Hashable {
    /// The SessionId the server assigned.
    public var sessionId: NodeId
    /// The secret token every request of the session carries.
    public var authenticationToken: NodeId
    /// The session timeout the server granted, in milliseconds.
    public var revisedSessionTimeout: Double
    /// The None endpoint the session was made on (as GetEndpoints described it).
    public var endpoint: EndpointDescription
    /// The user token policy id used in ActivateSession.
    public var userTokenPolicyId: String?
}

/// Something that happened to an ``OPCUAClient``'s connection.
public enum ClientEvent: Sendable {
    /// The client entered a new state.
    case stateChanged(OPCUAClient.State)
    /// The secure channel was renewed; `tokenId` is now used for sending.
    case channelRenewed(tokenId: UInt32, lifetime: UInt32)
    /// The connection was lost (the client reconnects if its policy allows).
    case connectionLost(OPCUAError)
    /// The client reconnected; `newSession` is true when the old session was gone and a new one
    /// was created (with every subscription recreated).
    case reconnected(newSession: Bool)
}
