// Subscription and MonitoredItem services and the publishing cycle (OPC 10000-4 §5.12, §5.13, §5.14).

extension ServerCore {
    func revisedInterval(_ requested: Double) -> Double {
        guard requested.isFinite, requested > 0 else { return configuration.minPublishingInterval }
        return min(max(requested, configuration.minPublishingInterval), configuration.maxPublishingInterval)
    }

    /// Keep-alive at least 1; lifetime at least 3 × keep-alive (OPC 10000-4 §5.13.2.2).
    func revisedCounts(lifetime: UInt32, keepAlive: UInt32) -> (UInt32, UInt32) {
        let keepAlive = min(max(keepAlive, 1), 10_000)
        let lifetime = max(lifetime, keepAlive * 3)
        return (min(lifetime, 100_000), keepAlive)
    }

    func createSubscription(_ request: CreateSubscriptionRequest, token: NodeId) -> any ServiceResponse {
        let handle = request.requestHeader.requestHandle
        guard let session = session(token) else { return fault(.badSessionIdInvalid, handle: handle) }
        guard session.subscriptionIds.count < configuration.maxSubscriptionsPerSession else {
            return fault(.badTooManySubscriptions, handle: handle)
        }
        let id = allocateSubscriptionId()
        let interval = revisedInterval(request.requestedPublishingInterval)
        let (lifetime, keepAlive) = revisedCounts(lifetime: request.requestedLifetimeCount, keepAlive: request.requestedMaxKeepAliveCount)
        var subscription = Subscription(
            id: id, sessionToken: token, publishingInterval: interval, lifetimeCount: lifetime,
            maxKeepAliveCount: keepAlive, maxNotificationsPerPublish: request.maxNotificationsPerPublish,
            priority: request.priority, publishingEnabled: request.publishingEnabled
        )
        subscription.timer = startTimer(id, interval: interval)
        insertSubscription(subscription)
        updateSession(token) { $0.subscriptionIds.append(id) }
        return CreateSubscriptionResponse(
            responseHeader: header(handle), subscriptionId: id, revisedPublishingInterval: interval,
            revisedLifetimeCount: lifetime, revisedMaxKeepAliveCount: keepAlive
        )
    }

    private func startTimer(_ id: UInt32, interval: Double) -> Task<Void, Never> {
        Task { [weak self] in
            let clock = ContinuousClock()
            var next = clock.now
            while !Task.isCancelled {
                next = next.advanced(by: .microseconds(Int64(interval * 1000)))
                try? await clock.sleep(until: next, tolerance: .milliseconds(1))
                guard let self, !Task.isCancelled else { return }
                await self.publishingCycle(id)
            }
        }
    }

    /// A subscription of this session, or the status to answer with.
    private func owned(_ id: UInt32, token: NodeId) -> StatusCode? {
        guard let subscription = subscription(id), subscription.sessionToken == token else { return .badSubscriptionIdInvalid }
        return nil
    }

    func modifySubscription(_ request: ModifySubscriptionRequest, token: NodeId) -> any ServiceResponse {
        let handle = request.requestHeader.requestHandle
        if let status = owned(request.subscriptionId, token: token) { return fault(status, handle: handle) }
        let interval = revisedInterval(request.requestedPublishingInterval)
        let (lifetime, keepAlive) = revisedCounts(lifetime: request.requestedLifetimeCount, keepAlive: request.requestedMaxKeepAliveCount)
        var restart = false
        updateSubscription(request.subscriptionId) {
            restart = $0.publishingInterval != interval
            $0.publishingInterval = interval
            $0.lifetimeCount = lifetime
            $0.maxKeepAliveCount = keepAlive
            $0.maxNotificationsPerPublish = request.maxNotificationsPerPublish
            $0.priority = request.priority
            $0.lifetimeCounter = 0
        }
        if restart {
            subscription(request.subscriptionId)?.timer?.cancel()
            let timer = startTimer(request.subscriptionId, interval: interval)
            updateSubscription(request.subscriptionId) { $0.timer = timer }
        }
        return ModifySubscriptionResponse(
            responseHeader: header(handle), revisedPublishingInterval: interval,
            revisedLifetimeCount: lifetime, revisedMaxKeepAliveCount: keepAlive
        )
    }

    func setPublishingMode(_ request: SetPublishingModeRequest, token: NodeId) -> any ServiceResponse {
        let handle = request.requestHeader.requestHandle
        if let fault = checkCount(request.subscriptionIds?.count, handle: handle) { return fault }
        let results = (request.subscriptionIds ?? []).map { id -> StatusCode in
            if let status = owned(id, token: token) { return status }
            updateSubscription(id) { $0.publishingEnabled = request.publishingEnabled }
            return .good
        }
        return SetPublishingModeResponse(responseHeader: header(handle), results: results, diagnosticInfos: nil)
    }

    func deleteSubscriptions(_ request: DeleteSubscriptionsRequest, token: NodeId) -> any ServiceResponse {
        let handle = request.requestHeader.requestHandle
        if let fault = checkCount(request.subscriptionIds?.count, handle: handle) { return fault }
        let results = (request.subscriptionIds ?? []).map { id -> StatusCode in
            if let status = owned(id, token: token) { return status }
            deleteSubscription(id)
            return .good
        }
        answerPublishesWithoutSubscriptions(token)
        return DeleteSubscriptionsResponse(responseHeader: header(handle), results: results, diagnosticInfos: nil)
    }

    func deleteSubscription(_ id: UInt32) {
        guard let subscription = removeSubscription(id) else { return }
        subscription.timer?.cancel()
        for item in subscription.items.values { unwatch(item.nodeId, subscription: id, item: item.id) }
        updateSession(subscription.sessionToken) { $0.subscriptionIds.removeAll { $0 == id } }
    }

    /// A session without subscriptions answers its parked Publish requests with BadNoSubscription.
    private func answerPublishesWithoutSubscriptions(_ token: NodeId) {
        guard let session = session(token), session.subscriptionIds.isEmpty, !session.publishQueue.isEmpty else { return }
        for pending in session.publishQueue {
            pending.sink.send(fault(.badNoSubscription, handle: pending.requestHandle), requestId: pending.requestId)
        }
        updateSession(token) { $0.publishQueue.removeAll() }
    }

    // MARK: Monitored items

    private func parseFilter(_ filter: ExtensionObject, attribute: UInt32) -> (DataChangeFilter?, StatusCode) {
        if filter.isNull { return (nil, .good) }
        guard attribute == AttributeId.value.rawValue else { return (nil, .badFilterNotAllowed) }
        guard let change = try? filter.decode(DataChangeFilter.self) else { return (nil, .badMonitoredItemFilterUnsupported) }
        guard (0...2).contains(change.trigger.rawValue) else { return (nil, .badMonitoredItemFilterInvalid) }
        switch change.deadbandType {
        case 0: return (change, .good)
        case 1: return change.deadbandValue >= 0 ? (change, .good) : (nil, .badDeadbandFilterInvalid)
        default: return (nil, .badMonitoredItemFilterUnsupported)
        }
    }

    private func revisedSampling(_ requested: Double, publishingInterval: Double, sampled: Bool) -> Double {
        // Change-driven items report every change (0 = "as fast as possible"); sampled items are
        // read on publishing cycles, so their interval is at least the publishing interval's floor.
        if requested < 0 { return sampled ? max(publishingInterval, configuration.minSamplingInterval) : publishingInterval }
        if !sampled { return requested }
        return max(requested, configuration.minSamplingInterval)
    }

    func createMonitoredItems(_ request: CreateMonitoredItemsRequest, token: NodeId) -> any ServiceResponse {
        let handle = request.requestHeader.requestHandle
        if let status = owned(request.subscriptionId, token: token) { return fault(status, handle: handle) }
        if let fault = checkCount(request.itemsToCreate?.count, handle: handle) { return fault }
        guard (0...3).contains(request.timestampsToReturn.rawValue) else { return fault(.badTimestampsToReturnInvalid, handle: handle) }
        guard let subscription = subscription(request.subscriptionId) else { return fault(.badSubscriptionIdInvalid, handle: handle) }
        var count = subscription.items.count
        let now = DateTime.now
        var results: [MonitoredItemCreateResult] = []
        for create in request.itemsToCreate ?? [] {
            let target = create.itemToMonitor
            guard count < configuration.maxMonitoredItemsPerSubscription else {
                results.append(MonitoredItemCreateResult(statusCode: .badTooManyMonitoredItems)); continue
            }
            guard addressSpace[target.nodeId] != nil else {
                results.append(MonitoredItemCreateResult(statusCode: .badNodeIdUnknown)); continue
            }
            let probe = readAttribute(target.nodeId, attribute: target.attributeId, timestamps: request.timestampsToReturn, now: now)
            if let status = probe.status, status == .badAttributeIdInvalid || status == .badNotReadable {
                results.append(MonitoredItemCreateResult(statusCode: status)); continue
            }
            if let range = target.indexRange, !range.isEmpty {
                results.append(MonitoredItemCreateResult(statusCode: .badIndexRangeInvalid)); continue
            }
            guard (0...2).contains(create.monitoringMode.rawValue) else {
                results.append(MonitoredItemCreateResult(statusCode: .badMonitoringModeInvalid)); continue
            }
            let parameters = create.requestedParameters
            let (filter, filterStatus) = parseFilter(parameters.filter, attribute: target.attributeId)
            guard filterStatus == .good else { results.append(MonitoredItemCreateResult(statusCode: filterStatus)); continue }
            let sampled = isSampled(target.nodeId, attribute: target.attributeId)
            let sampling = revisedSampling(parameters.samplingInterval, publishingInterval: subscription.publishingInterval, sampled: sampled)
            let queueSize = min(max(parameters.queueSize, 1), configuration.maxQueueSize)
            let id = allocateItemId()
            var item = MonitoredItem(
                id: id, clientHandle: parameters.clientHandle, nodeId: target.nodeId, attributeId: target.attributeId,
                mode: create.monitoringMode, samplingInterval: sampling, queueSize: queueSize,
                discardOldest: parameters.discardOldest, filter: filter, timestamps: request.timestampsToReturn, sampled: sampled
            )
            // The first value is always reported (OPC 10000-4 §5.12.1.2).
            if item.mode != .disabled {
                item.queue.append(probe)
                item.lastValue = probe
                item.lastSample = clock.now
            }
            updateSubscription(request.subscriptionId) { $0.items[id] = item }
            if !sampled { watch(target.nodeId, subscription: request.subscriptionId, item: id) }
            count += 1
            results.append(MonitoredItemCreateResult(
                statusCode: .good, monitoredItemId: id, revisedSamplingInterval: sampling, revisedQueueSize: queueSize, filterResult: .null
            ))
        }
        return CreateMonitoredItemsResponse(responseHeader: header(handle), results: results, diagnosticInfos: nil)
    }

    func modifyMonitoredItems(_ request: ModifyMonitoredItemsRequest, token: NodeId) -> any ServiceResponse {
        let handle = request.requestHeader.requestHandle
        if let status = owned(request.subscriptionId, token: token) { return fault(status, handle: handle) }
        if let fault = checkCount(request.itemsToModify?.count, handle: handle) { return fault }
        guard (0...3).contains(request.timestampsToReturn.rawValue) else { return fault(.badTimestampsToReturnInvalid, handle: handle) }
        let interval = subscription(request.subscriptionId)?.publishingInterval ?? configuration.minPublishingInterval
        var results: [MonitoredItemModifyResult] = []
        for modify in request.itemsToModify ?? [] {
            guard var item = subscription(request.subscriptionId)?.items[modify.monitoredItemId] else {
                results.append(MonitoredItemModifyResult(statusCode: .badMonitoredItemIdInvalid)); continue
            }
            let parameters = modify.requestedParameters
            let (filter, filterStatus) = parseFilter(parameters.filter, attribute: item.attributeId)
            guard filterStatus == .good else { results.append(MonitoredItemModifyResult(statusCode: filterStatus)); continue }
            item.clientHandle = parameters.clientHandle
            item.samplingInterval = revisedSampling(parameters.samplingInterval, publishingInterval: interval, sampled: item.sampled)
            item.queueSize = min(max(parameters.queueSize, 1), configuration.maxQueueSize)
            item.discardOldest = parameters.discardOldest
            item.filter = filter
            item.timestamps = request.timestampsToReturn
            if item.queue.count > Int(item.queueSize) {
                item.queue = item.discardOldest ? Array(item.queue.suffix(Int(item.queueSize))) : Array(item.queue.prefix(Int(item.queueSize)))
            }
            let stored = item
            updateSubscription(request.subscriptionId) { $0.items[modify.monitoredItemId] = stored }
            results.append(MonitoredItemModifyResult(
                statusCode: .good, revisedSamplingInterval: item.samplingInterval, revisedQueueSize: item.queueSize, filterResult: .null
            ))
        }
        return ModifyMonitoredItemsResponse(responseHeader: header(handle), results: results, diagnosticInfos: nil)
    }

    func setMonitoringMode(_ request: SetMonitoringModeRequest, token: NodeId) -> any ServiceResponse {
        let handle = request.requestHeader.requestHandle
        if let status = owned(request.subscriptionId, token: token) { return fault(status, handle: handle) }
        if let fault = checkCount(request.monitoredItemIds?.count, handle: handle) { return fault }
        guard (0...2).contains(request.monitoringMode.rawValue) else { return fault(.badMonitoringModeInvalid, handle: handle) }
        let results = (request.monitoredItemIds ?? []).map { id -> StatusCode in
            guard subscription(request.subscriptionId)?.items[id] != nil else { return .badMonitoredItemIdInvalid }
            updateSubscription(request.subscriptionId) {
                $0.items[id]?.mode = request.monitoringMode
                if request.monitoringMode == .disabled { $0.items[id]?.queue.removeAll() }
            }
            return .good
        }
        return SetMonitoringModeResponse(responseHeader: header(handle), results: results, diagnosticInfos: nil)
    }

    func deleteMonitoredItems(_ request: DeleteMonitoredItemsRequest, token: NodeId) -> any ServiceResponse {
        let handle = request.requestHeader.requestHandle
        if let status = owned(request.subscriptionId, token: token) { return fault(status, handle: handle) }
        if let fault = checkCount(request.monitoredItemIds?.count, handle: handle) { return fault }
        let results = (request.monitoredItemIds ?? []).map { id -> StatusCode in
            guard let item = subscription(request.subscriptionId)?.items[id] else { return .badMonitoredItemIdInvalid }
            unwatch(item.nodeId, subscription: request.subscriptionId, item: id)
            updateSubscription(request.subscriptionId) { $0.items[id] = nil }
            return .good
        }
        return DeleteMonitoredItemsResponse(responseHeader: header(handle), results: results, diagnosticInfos: nil)
    }

    // MARK: Publish

    func publish(_ request: PublishRequest, token: NodeId, context: RequestContext) -> (any ServiceResponse)? {
        let handle = request.requestHeader.requestHandle
        guard let session = session(token) else { return fault(.badSessionIdInvalid, handle: handle) }
        // Acknowledgements.
        var ackResults: [StatusCode] = []
        for ack in request.subscriptionAcknowledgements ?? [] {
            guard let subscription = subscription(ack.subscriptionId), subscription.sessionToken == token else {
                ackResults.append(.badSubscriptionIdInvalid); continue
            }
            if subscription.retransmission.contains(where: { $0.sequenceNumber == ack.sequenceNumber }) {
                updateSubscription(ack.subscriptionId) { $0.retransmission.removeAll { $0.sequenceNumber == ack.sequenceNumber } }
                ackResults.append(.good)
            } else {
                ackResults.append(.badSequenceNumberUnknown)
            }
        }
        guard !session.subscriptionIds.isEmpty else {
            return PublishResponse(responseHeader: header(handle, .badNoSubscription), subscriptionId: 0, availableSequenceNumbers: nil,
                                   moreNotifications: false, notificationMessage: NotificationMessage(), results: ackResults, diagnosticInfos: nil)
        }
        let pending = PendingPublish(
            requestId: context.requestId, requestHandle: handle, sink: context.sink, received: clock.now,
            timeoutHint: request.requestHeader.timeoutHint, acks: ackResults
        )
        updateSession(token) { $0.publishQueue.append(pending) }
        // Too many parked: the oldest answers BadTooManyPublishRequests.
        if let queue = self.session(token)?.publishQueue, queue.count > configuration.maxPublishRequestsPerSession {
            let oldest = queue[0]
            updateSession(token) { $0.publishQueue.removeFirst() }
            oldest.sink.send(fault(.badTooManyPublishRequests, handle: oldest.requestHandle), requestId: oldest.requestId)
        }
        // A late subscription (notifications or keep-alive waiting for a request) answers at once.
        for id in session.subscriptionIds {
            if let subscription = subscription(id), subscription.lifetimeCounter > 0 {
                publishingCycle(id, late: true)
                break
            }
        }
        return nil
    }

    func republish(_ request: RepublishRequest, token: NodeId) -> any ServiceResponse {
        let handle = request.requestHeader.requestHandle
        if let status = owned(request.subscriptionId, token: token) { return fault(status, handle: handle) }
        guard let message = subscription(request.subscriptionId)?.retransmission.first(where: { $0.sequenceNumber == request.retransmitSequenceNumber }) else {
            return fault(.badMessageNotAvailable, handle: handle)
        }
        return RepublishResponse(responseHeader: header(handle), notificationMessage: message)
    }

    /// Takes the oldest parked Publish request of a session.
    private func takePublish(_ token: NodeId) -> PendingPublish? {
        guard let first = session(token)?.publishQueue.first else { return nil }
        updateSession(token) { $0.publishQueue.removeFirst() }
        return first
    }

    /// Samples items whose value is read rather than pushed.
    private func sample(_ id: UInt32) {
        guard let subscription = subscription(id) else { return }
        let now = clock.now
        let wire = DateTime.now
        for (itemId, var item) in subscription.items where item.sampled && item.mode != .disabled {
            if let last = item.lastSample, now - last < .microseconds(Int64(item.samplingInterval * 1000)) { continue }
            item.lastSample = now
            let value = readAttribute(item.nodeId, attribute: item.attributeId, timestamps: .both, now: wire)
            offer(value, to: &item)
            let stored = item
            updateSubscription(id) { $0.items[itemId] = stored }
        }
    }

    /// One publishing cycle (OPC 10000-4 §5.13.1.1): send notifications or a keep-alive when a
    /// Publish request is available, count towards the lifetime otherwise.
    func publishingCycle(_ id: UInt32, late: Bool = false) {
        guard state == .running else { return }
        if !late { sample(id) }
        guard var subscription = subscription(id) else { return }
        let token = subscription.sessionToken
        var notifications: [MonitoredItemNotification] = []
        let limit = subscription.maxNotificationsPerPublish == 0 ? Int.max : Int(subscription.maxNotificationsPerPublish)
        var more = false
        if subscription.publishingEnabled {
            let itemIds = subscription.items.keys.sorted()
            for itemId in itemIds {
                guard var item = subscription.items[itemId], item.mode == .reporting, !item.queue.isEmpty else { continue }
                let room = limit - notifications.count
                if room <= 0 { more = true; break }
                let taken = item.queue.prefix(room)
                notifications += taken.map { MonitoredItemNotification(clientHandle: item.clientHandle, value: $0) }
                item.queue.removeFirst(taken.count)
                if !item.queue.isEmpty { more = true }
                subscription.items[itemId] = item
            }
        }
        let keepAliveDue = subscription.firstCycle || subscription.keepAliveCounter + 1 >= subscription.maxKeepAliveCount
        if notifications.isEmpty && !keepAliveDue && !late {
            subscription.keepAliveCounter += 1
            insertSubscription(subscription)
            return
        }
        guard let pending = takePublish(token) else {
            // Late: keep the notifications for the next Publish request; count towards the lifetime.
            if !notifications.isEmpty { restore(notifications, into: &subscription) }
            subscription.lifetimeCounter += 1
            if subscription.lifetimeCounter >= subscription.lifetimeCount {
                insertSubscription(subscription)
                logger.notice("subscription expired", metadata: ["subscription.id": "\(id)"])
                deleteSubscription(id)
                return
            }
            insertSubscription(subscription)
            return
        }
        var message = NotificationMessage(sequenceNumber: subscription.nextSequenceNumber, publishTime: .now, notificationData: nil)
        if !notifications.isEmpty {
            message.sequenceNumber = subscription.takeSequenceNumber()
            message.notificationData = [ExtensionObject(DataChangeNotification(monitoredItems: notifications, diagnosticInfos: nil))]
            subscription.retransmission.append(message)
            if subscription.retransmission.count > configuration.maxRetransmissionQueue { subscription.retransmission.removeFirst() }
        }
        subscription.keepAliveCounter = 0
        subscription.lifetimeCounter = 0
        subscription.firstCycle = false
        insertSubscription(subscription)
        let acks = pending.acks
        let response = PublishResponse(
            responseHeader: header(pending.requestHandle), subscriptionId: id,
            availableSequenceNumbers: subscription.retransmission.map(\.sequenceNumber), moreNotifications: more,
            notificationMessage: message, results: acks, diagnosticInfos: nil
        )
        pending.sink.send(response, requestId: pending.requestId)
    }

    private func restore(_ notifications: [MonitoredItemNotification], into subscription: inout Subscription) {
        var byHandle: [UInt32: [DataValue]] = [:]
        for notification in notifications { byHandle[notification.clientHandle, default: []].append(notification.value) }
        for (itemId, item) in subscription.items {
            if let values = byHandle[item.clientHandle] { subscription.items[itemId]?.queue.insert(contentsOf: values, at: 0) }
        }
    }
}
