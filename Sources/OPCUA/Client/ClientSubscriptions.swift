// Subscriptions of the client: CreateSubscription/CreateMonitoredItems, the Publish loop,
// acknowledgements, Republish on sequence gaps, recreation after a new session
// (OPC 10000-4 §5.13, §5.14, §6.7).

/// A changed value of a monitored node.
public struct DataChange: Sendable, Hashable {
    /// The monitored node.
    public var nodeId: NodeId
    /// The client handle of its monitored item.
    public var clientHandle: UInt32
    /// The value, with the status and timestamps the server reported.
    public var value: DataValue

    public init(nodeId: NodeId, clientHandle: UInt32, value: DataValue) {
        self.nodeId = nodeId
        self.clientHandle = clientHandle
        self.value = value
    }
}

/// A subscription to data changes of some nodes, made by ``OPCUAClient/subscribe(_:publishingInterval:samplingInterval:queueSize:)``.
///
/// ``changes`` delivers every notification in the order the server numbered them, across
/// reconnections (after a server restart the subscription is recreated on the new session and
/// the stream keeps going). It ends after ``cancel()``, ``OPCUAClient/disconnect()``, or when
/// the client gives up reconnecting. When the reader stops reading (its task is cancelled),
/// the subscription is deleted as if ``cancel()`` had been called.
///
/// ```swift
/// let subscription = try await client.subscribe([power], publishingInterval: 100)
/// for await change in subscription.changes { print(change.nodeId, change.value) }
/// ```
public final class ClientSubscription: Sendable {
    /// The data changes, one element per monitored-item notification.
    public let changes: AsyncStream<DataChange>
    /// The monitored nodes, in the order given.
    public let nodeIds: [NodeId]
    let key: Int
    let client: OPCUAClient

    init(key: Int, nodeIds: [NodeId], changes: AsyncStream<DataChange>, client: OPCUAClient) {
        self.key = key
        self.nodeIds = nodeIds
        self.changes = changes
        self.client = client
    }

    /// Deletes the subscription on the server (DeleteSubscriptions) and ends ``changes``.
    public func cancel() async throws(OPCUAError) {
        try await client.cancelSubscription(key)
    }

    /// The server's id for the subscription (it changes when the subscription is recreated); nil
    /// while it has none.
    public var subscriptionId: UInt32? {
        get async { await client.serverSubscriptionId(key) }
    }

    /// The publishing interval (ms) and keep-alive count the server granted; nil while the
    /// subscription does not exist on the server.
    public var revisedParameters: (publishingInterval: Double, maxKeepAliveCount: UInt32)? {
        get async { await client.revisedParameters(key) }
    }
}

/// What the client keeps per subscription.
struct SubscriptionRecord {
    let key: Int
    let items: [(handle: UInt32, nodeId: NodeId)]
    let nodeByHandle: [UInt32: NodeId]
    let publishingInterval: Double
    let samplingInterval: Double
    let queueSize: UInt32
    let continuation: AsyncStream<DataChange>.Continuation
    /// The server's id; nil before creation and while being recreated.
    var serverId: UInt32?
    var revisedPublishingInterval: Double = 0
    var revisedKeepAliveCount: UInt32 = 0
    /// The last sequence number delivered (0: none yet on this server subscription).
    var lastSequence: UInt32 = 0
    /// The highest sequence number known to have been sent.
    var knownUpTo: UInt32 = 0
    /// Messages received ahead of a gap, waiting for the gap to be filled.
    var held: [UInt32: NotificationMessage] = [:]
    /// A task is filling a gap (Republish) and delivering held messages.
    var advancing = false

    mutating func resetSequence() {
        lastSequence = 0
        knownUpTo = 0
        held = [:]
    }
}

extension OPCUAClient {
    /// Subscribes to data changes of the Value attribute of `ids`.
    ///
    /// - Parameters:
    ///   - publishingInterval: requested publishing interval in milliseconds (the server may revise it).
    ///   - samplingInterval: requested sampling interval in milliseconds; 0 reports every change.
    ///   - queueSize: values the server queues per item between publishes (oldest discarded).
    /// - Throws: the service's status, or the first monitored item's bad status (the
    ///   subscription is then deleted again).
    public func subscribe(
        _ ids: [NodeId], publishingInterval: Double, samplingInterval: Double = 0, queueSize: UInt32 = 10
    ) async throws(OPCUAError) -> ClientSubscription {
        guard !ids.isEmpty else { throw OPCUAError(.badNothingToDo, "subscribe: no nodes given") }
        guard publishingInterval.isFinite, publishingInterval >= 0 else {
            throw OPCUAError(.badInvalidArgument, "subscribe: publishing interval \(publishingInterval) ms is not a non-negative number")
        }
        let key = nextSubscriptionKey
        nextSubscriptionKey += 1
        var items: [(handle: UInt32, nodeId: NodeId)] = []
        for id in ids {
            items.append((nextClientHandle, id))
            nextClientHandle = nextClientHandle == UInt32.max ? 1 : nextClientHandle + 1
        }
        let (stream, continuation) = AsyncStream.makeStream(
            of: DataChange.self, bufferingPolicy: .bufferingNewest(max(configuration.subscriptionBufferSize, 1)))
        // Nobody can read the changes any more: delete the subscription on the server too.
        continuation.onTermination = { [weak self] _ in
            Task { try? await self?.cancelSubscription(key) }
        }
        // Registered before creation, so notifications that overtake the CreateMonitoredItems
        // response still find their client handles.
        subscriptions[key] = SubscriptionRecord(
            key: key, items: items, nodeByHandle: Dictionary(items.map { ($0.handle, $0.nodeId) }, uniquingKeysWith: { a, _ in a }),
            publishingInterval: publishingInterval, samplingInterval: samplingInterval, queueSize: queueSize, continuation: continuation)
        do throws(OPCUAError) {
            let (session, generation) = try await readySession(timeout: configuration.requestTimeout, service: "CreateSubscription")
            try await createOnServer(key, token: session.authenticationToken, generation: generation)
        } catch {
            if let record = subscriptions.removeValue(forKey: key) {
                record.continuation.finish()
                if let serverId = record.serverId {
                    serverSubscriptions[serverId] = nil
                    _ = try? await call(DeleteSubscriptionsRequest(subscriptionIds: [serverId]), expecting: DeleteSubscriptionsResponse.self)
                }
            }
            throw error
        }
        publishingStopped = false
        noSubscriptionStreak = 0
        refillPublishes()
        return ClientSubscription(key: key, nodeIds: ids, changes: stream, client: self)
    }

    /// CreateSubscription and CreateMonitoredItems for a registered subscription.
    func createOnServer(_ key: Int, token: NodeId, generation: Int) async throws(OPCUAError) {
        guard let record = subscriptions[key] else { return }
        let interval = max(record.publishingInterval, 1)
        // Keep-alive about every 5 s; the subscription lives at least a minute without Publish requests.
        let keepAlive = UInt32(min(max((5000 / interval).rounded(.up), 3), 10_000))
        let lifetime = UInt32(min(max(Double(keepAlive) * 3, (60_000 / interval).rounded(.up)), 100_000))
        let created = try await internalCall(
            CreateSubscriptionRequest(
                requestedPublishingInterval: record.publishingInterval, requestedLifetimeCount: lifetime, requestedMaxKeepAliveCount: keepAlive,
                maxNotificationsPerPublish: 0, publishingEnabled: true, priority: 0),
            as: CreateSubscriptionResponse.self, token: token, generation: generation)
        guard subscriptions[key] != nil else {
            // Cancelled while being created.
            _ = try? await internalCall(
                DeleteSubscriptionsRequest(subscriptionIds: [created.subscriptionId]), as: DeleteSubscriptionsResponse.self, token: token,
                generation: generation)
            return
        }
        subscriptions[key]?.serverId = created.subscriptionId
        subscriptions[key]?.revisedPublishingInterval = created.revisedPublishingInterval
        subscriptions[key]?.revisedKeepAliveCount = created.revisedMaxKeepAliveCount
        subscriptions[key]?.resetSequence()
        serverSubscriptions[created.subscriptionId] = key
        let requests = record.items.map { item in
            MonitoredItemCreateRequest(
                itemToMonitor: ReadValueId(nodeId: item.nodeId, attributeId: AttributeId.value.rawValue), monitoringMode: .reporting,
                requestedParameters: MonitoringParameters(
                    clientHandle: item.handle, samplingInterval: record.samplingInterval, filter: .null, queueSize: record.queueSize,
                    discardOldest: true))
        }
        let response = try await internalCall(
            CreateMonitoredItemsRequest(subscriptionId: created.subscriptionId, timestampsToReturn: .both, itemsToCreate: requests),
            as: CreateMonitoredItemsResponse.self, token: token, generation: generation)
        let results = response.results ?? []
        guard results.count == requests.count else {
            throw OPCUAError(.badUnknownResponse, "CreateMonitoredItems: \(results.count) results for \(requests.count) items")
        }
        for (item, result) in zip(record.items, results) where result.statusCode.isBad {
            throw OPCUAError(result.statusCode, "monitoring \(item.nodeId) failed: \(result.statusCode)")
        }
        logger.debug(
            "opcua subscription created",
            metadata: ["opcua.subscription_id": "\(created.subscriptionId)", "opcua.publishing_interval_ms": "\(created.revisedPublishingInterval)",
                       "opcua.items": "\(requests.count)"])
    }

    func cancelSubscription(_ key: Int) async throws(OPCUAError) {
        guard let record = subscriptions.removeValue(forKey: key) else { return }
        record.continuation.finish()
        guard let serverId = record.serverId else { return }
        serverSubscriptions[serverId] = nil
        pendingAcks.removeAll { $0.subscriptionId == serverId }
        guard case .connected = state else { return }
        let response = try await call(DeleteSubscriptionsRequest(subscriptionIds: [serverId]), expecting: DeleteSubscriptionsResponse.self)
        if let status = response.results?.first, status.isBad, status != .badSubscriptionIdInvalid {
            throw OPCUAError(status, "DeleteSubscriptions \(serverId): \(status)")
        }
    }

    func serverSubscriptionId(_ key: Int) -> UInt32? { subscriptions[key]?.serverId }

    func revisedParameters(_ key: Int) -> (publishingInterval: Double, maxKeepAliveCount: UInt32)? {
        guard let record = subscriptions[key], record.serverId != nil else { return nil }
        return (record.revisedPublishingInterval, record.revisedKeepAliveCount)
    }

    /// Creates every subscription again on a new session (after the server lost the old one).
    func recreateSubscriptions(session: ClientSession) async throws(OPCUAError) {
        guard let generation = channel?.generation else {
            throw OPCUAError(.badConnectionClosed, "recreating subscriptions: the connection is closed")
        }
        serverSubscriptions = [:]
        pendingAcks = []
        publishTarget = configuration.effectivePublishRequests
        for key in subscriptions.keys.sorted() {
            subscriptions[key]?.serverId = nil
            subscriptions[key]?.resetSequence()
        }
        for key in subscriptions.keys.sorted() {
            do throws(OPCUAError) {
                try await createOnServer(key, token: session.authenticationToken, generation: generation)
            } catch {
                if Self.isConnectionError(error.status) { throw error }
                logger.error("opcua subscription could not be recreated; its stream ends", metadata: ["error": "\(error)"])
                if let record = subscriptions.removeValue(forKey: key) {
                    record.continuation.finish()
                    if let serverId = record.serverId { serverSubscriptions[serverId] = nil }
                }
            }
        }
        publishingStopped = false
        noSubscriptionStreak = 0
    }

    /// Recreates the subscriptions on the current session when the server has lost them.
    private func recoverSubscriptions() async {
        guard case .connected(let session) = state else { return }
        do throws(OPCUAError) {
            try await recreateSubscriptions(session: session)
        } catch {
            logger.warning("opcua subscriptions not recovered", metadata: ["error": "\(error)"])
        }
        refillPublishes()
    }

    /// After a reconnection: Publish requests of the old connection all failed; start again.
    func resumePublishing() {
        publishOutstanding = pending.values.count { if case .publish = $0.completion { true } else { false } }
        refillPublishes()
    }

    // MARK: Publish

    /// How long a Publish may wait at the server: the request timeout plus twice the longest keep-alive period.
    private var publishTimeout: Duration {
        let keepAlive = subscriptions.values.map { $0.revisedPublishingInterval * Double($0.revisedKeepAliveCount) }.max() ?? 0
        return configuration.requestTimeout + .milliseconds(Int64(min(keepAlive * 2, 3_600_000)))
    }

    /// Keeps `publishTarget` Publish requests in flight while any subscription exists.
    func refillPublishes() {
        guard case .connected(let session) = state, let context = channel, !publishingStopped,
            subscriptions.values.contains(where: { $0.serverId != nil })
        else { return }
        let timeout = publishTimeout
        while publishOutstanding < publishTarget {
            let acks = pendingAcks
            pendingAcks = []
            var request = PublishRequest(subscriptionAcknowledgements: acks)
            request.requestHeader = header(token: session.authenticationToken, timeout: timeout)
            publishOutstanding += 1
            // The server answers BadTimeout at the timeout hint; our own timeout comes later.
            send(
                request, kind: .message, context: context, requestId: allocateRequestId(), timeout: timeout + .seconds(5),
                service: "Publish", completion: .publish(acks: acks))
        }
    }

    func publishCompleted(_ result: Result<any ServiceResponse, OPCUAError>, acks: [SubscriptionAcknowledgement]) {
        publishOutstanding = max(0, publishOutstanding - 1)
        let response: PublishResponse
        do throws(OPCUAError) {
            response = try Self.unwrap(result, as: PublishResponse.self, service: "Publish")
        } catch {
            publishFailed(error, acks: acks)
            return
        }
        noSubscriptionStreak = 0
        process(response)
        refillPublishes()
    }

    private func publishFailed(_ error: OPCUAError, acks: [SubscriptionAcknowledgement]) {
        switch error.status {
        case .badTooManyPublishRequests:
            pendingAcks = acks + pendingAcks
            if publishTarget > 1 {
                publishTarget -= 1
                logger.info("opcua server wants fewer Publish requests", metadata: ["opcua.publish_requests": "\(publishTarget)"])
            }
            refillPublishes()
        case .badNoSubscription:
            // The server has none of our subscriptions (right after a DeleteSubscriptions this is
            // expected); publish again only while we have some.
            guard subscriptions.values.contains(where: { $0.serverId != nil }) else {
                publishingStopped = true
                return
            }
            noSubscriptionStreak += 1
            if noSubscriptionStreak >= 3 {
                publishingStopped = true
                logger.warning("opcua server lost our subscriptions; recreating them")
                Task { [weak self] in await self?.recoverSubscriptions() }
            } else {
                refillPublishes()
            }
        case .badTimeout, .badRequestTimeout:
            pendingAcks = acks + pendingAcks
            refillPublishes()
        case .badSessionIdInvalid, .badSessionClosed:
            sessionLost(error)
        default:
            pendingAcks = acks + pendingAcks
            guard case .connected = state, channel != nil else { return }  // reconnection resumes publishing
            logger.warning("opcua Publish failed; retrying in 1 s", metadata: ["error": "\(error)"])
            Task { [weak self] in
                try? await Task.sleep(for: .seconds(1))
                await self?.refillPublishes()
            }
        }
    }

    /// Handles one PublishResponse: acknowledges, detects gaps, delivers in sequence order.
    private func process(_ response: PublishResponse) {
        let serverId = response.subscriptionId
        let message = response.notificationMessage
        let hasData = !(message.notificationData ?? []).isEmpty
        guard let key = serverSubscriptions[serverId], let record = subscriptions[key] else {
            if hasData { pendingAcks.append(SubscriptionAcknowledgement(subscriptionId: serverId, sequenceNumber: message.sequenceNumber)) }
            return
        }
        let sequence = message.sequenceNumber
        if hasData, notificationsToDiscard > 0 {
            // Test support: the message is lost in transit (not acknowledged, not delivered).
            notificationsToDiscard -= 1
            discardedNotifications += 1
            let waiters = discardWaiters
            discardWaiters = []
            for waiter in waiters { waiter.resume() }
            return
        }
        if hasData {
            pendingAcks.append(SubscriptionAcknowledgement(subscriptionId: serverId, sequenceNumber: sequence))
            if record.lastSequence != 0, sequence <= record.lastSequence { return }  // a duplicate
            subscriptions[key]?.knownUpTo = max(record.knownUpTo, sequence)
            if !record.advancing, record.lastSequence == 0 || sequence == record.lastSequence &+ 1 {
                deliver(message, to: key)
                subscriptions[key]?.lastSequence = sequence
                return
            }
            subscriptions[key]?.held[sequence] = message
        } else {
            // A keep-alive carries the next sequence number: anything before it we have not seen was lost.
            guard record.lastSequence != 0, sequence > record.lastSequence &+ 1 else { return }
            subscriptions[key]?.knownUpTo = max(record.knownUpTo, sequence - 1)
        }
        if subscriptions[key]?.advancing == false {
            subscriptions[key]?.advancing = true
            Task { [weak self] in await self?.advance(key) }
        }
    }

    /// Fills a sequence gap with Republish and delivers held messages in order.
    private func advance(_ key: Int) async {
        while let record = subscriptions[key], record.lastSequence < record.knownUpTo {
            let next = record.lastSequence + 1
            if let message = record.held[next] {
                subscriptions[key]?.held[next] = nil
                deliver(message, to: key)
                subscriptions[key]?.lastSequence = next
                continue
            }
            guard let serverId = record.serverId, case .connected(let session) = state, let generation = channel?.generation else { break }
            do throws(OPCUAError) {
                let response = try await internalCall(
                    RepublishRequest(subscriptionId: serverId, retransmitSequenceNumber: next), as: RepublishResponse.self,
                    token: session.authenticationToken, generation: generation)
                guard subscriptions[key]?.serverId == serverId else { break }
                if response.notificationMessage.sequenceNumber == next { deliver(response.notificationMessage, to: key) }
                pendingAcks.append(SubscriptionAcknowledgement(subscriptionId: serverId, sequenceNumber: next))
                logger.debug("opcua notification republished", metadata: ["opcua.subscription_id": "\(serverId)", "opcua.sequence": "\(next)"])
            } catch {
                guard subscriptions[key]?.serverId == serverId else { break }
                if Self.isConnectionError(error.status) { break }
                logger.warning(
                    "opcua notification lost", metadata: ["opcua.subscription_id": "\(serverId)", "opcua.sequence": "\(next)", "error": "\(error)"])
            }
            if let last = subscriptions[key]?.lastSequence, last < next { subscriptions[key]?.lastSequence = next }
            // Held messages at or below the delivered number are stale.
            // (Computed first: `a?.b = f(a)` would read `a` while modifying it.)
            let fresher = subscriptions[key]?.held.filter { $0.key > next } ?? [:]
            subscriptions[key]?.held = fresher
        }
        subscriptions[key]?.advancing = false
    }

    /// Yields a notification message's data changes on the subscription's stream.
    private func deliver(_ message: NotificationMessage, to key: Int) {
        guard let record = subscriptions[key] else { return }
        for data in message.notificationData ?? [] {
            do throws(OPCUAError) {
                if let change = try data.decode(DataChangeNotification.self) {
                    for item in change.monitoredItems ?? [] {
                        guard let nodeId = record.nodeByHandle[item.clientHandle] else { continue }
                        record.continuation.yield(DataChange(nodeId: nodeId, clientHandle: item.clientHandle, value: item.value))
                    }
                } else if let status = try data.decode(StatusChangeNotification.self) {
                    logger.notice("opcua subscription status changed", metadata: ["opcua.status": "\(status.status)"])
                    if status.status == .badTimeout {
                        // The server expired the subscription: make it again.
                        Task { [weak self] in await self?.recoverSubscriptions() }
                    }
                } else {
                    logger.debug("opcua notification ignored", metadata: ["opcua.type_id": "\(data.typeId)"])
                }
            } catch {
                logger.warning("opcua notification not decodable", metadata: ["error": "\(error)"])
            }
        }
    }
}

// MARK: - Test support

extension OPCUAClient {
    /// Makes the next `count` notification messages vanish as if lost in transit (tests of the
    /// Republish path).
    func discardNextNotifications(_ count: Int) {
        notificationsToDiscard += count
    }

    /// Returns once `count` notification messages have been discarded in total.
    func waitForDiscardedNotifications(_ count: Int) async {
        while discardedNotifications < count {
            await withCheckedContinuation { discardWaiters.append($0) }
        }
    }
}
