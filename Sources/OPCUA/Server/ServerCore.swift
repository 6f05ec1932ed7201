// The server's state machine: sessions and the services of OPC 10000-4, as an actor.
package import Logging
import NIOCore

/// A value written by a client through the Write service (or by the host through ``OPCUAServer/setValue(_:_:)``).
public struct NodeWrite: Sendable {
    public var nodeId: NodeId
    public var value: DataValue
}

/// What ``ServerCore/begin(_:context:)`` made of a request: a response now, none (a parked
/// Publish), or a response that comes once the host's write hook has answered.
package enum ServiceOutcome: Sendable {
    case now((any ServiceResponse)?)
    /// The request was applied in arrival order; awaiting this gives its response.
    case later(@Sendable () async -> any ServiceResponse)
}

/// Sessions, subscriptions and the address space behind every service call.
///
/// One actor serialises all state; the connection tasks call ``handle(_:context:)`` and get
/// the response, or nil when the request is parked (Publish).
package actor ServerCore {
    package enum State: Sendable { case running, stopped }

    let configuration: ServerConfiguration
    package var addressSpace: AddressSpace
    let logger: Logger
    private let onWrite: (@Sendable ([NodeWrite]) async -> StatusCode)?
    private let admitWrites: (@Sendable () -> StatusCode)?
    package private(set) var state = State.running
    private var sessions: [NodeId: Session] = [:]
    private var subscriptions: [UInt32: Subscription] = [:]
    /// Node → monitored items watching its Value (subscription id, item id).
    private var watchers: [NodeId: [(UInt32, UInt32)]] = [:]
    private var nextSessionNumber: UInt32 = 1
    private var nextSubscriptionId: UInt32 = 1
    private var nextItemId: UInt32 = 1
    private let startTime: DateTime
    package var endpointUrl: String
    let clock = ContinuousClock()

    package init(
        configuration: ServerConfiguration, addressSpace: AddressSpace, endpointUrl: String, logger: Logger,
        onWrite: (@Sendable ([NodeWrite]) async -> StatusCode)?, admitWrites: (@Sendable () -> StatusCode)? = nil
    ) {
        self.configuration = configuration
        self.startTime = DateTime.now
        self.endpointUrl = endpointUrl
        self.logger = logger
        self.onWrite = onWrite
        self.admitWrites = admitWrites
        var space = addressSpace
        space.setServerNamespaceUri(configuration.applicationUri)
        let now = DateTime.now
        let startTime = self.startTime
        func set(_ id: NodeId, _ value: Variant) {
            space.setValue(id, DataValue(value: value, sourceTimestamp: now, serverTimestamp: now))
        }
        set(NS0.Server_ServerArray, .array(.string([configuration.applicationUri]), dimensions: nil))
        set(NS0.Server_ServerStatus_StartTime, .scalar(.dateTime(startTime)))
        set(NS0.Server_ServerStatus_State, .scalar(.int32(ServerState.running.rawValue)))
        set(NS0.Server_ServerStatus_SecondsTillShutdown, .scalar(.uint32(0)))
        set(NS0.Server_ServerStatus_ShutdownReason, .scalar(.localizedText(.null)))
        set(NS0.Server_ServerStatus_BuildInfo, .scalar(.extensionObject(ExtensionObject(Self.buildInfo(configuration)))))
        set(NS0.Server_ServerStatus_BuildInfo_ProductUri, .scalar(.string(configuration.productUri)))
        set(NS0.Server_ServerStatus_BuildInfo_ManufacturerName, .scalar(.string(configuration.manufacturerName)))
        set(NS0.Server_ServerStatus_BuildInfo_ProductName, .scalar(.string(configuration.applicationName)))
        set(NS0.Server_ServerStatus_BuildInfo_SoftwareVersion, .scalar(.string(configuration.softwareVersion)))
        set(NS0.Server_ServerStatus_BuildInfo_BuildNumber, .scalar(.string("1")))
        set(NS0.Server_ServerStatus_BuildInfo_BuildDate, .scalar(.dateTime(startTime)))
        set(NS0.Server_ServiceLevel, .scalar(.byte(255)))
        set(NS0.Server_Auditing, .scalar(.boolean(false)))
        set(NS0.Server_ServerCapabilities_ServerProfileArray, .array(.string([
            "http://opcfoundation.org/UA-Profile/Server/MicroEmbeddedDevice2017",
        ]), dimensions: nil))
        set(NS0.Server_ServerCapabilities_LocaleIdArray, .array(.string(["en"]), dimensions: nil))
        set(NS0.Server_ServerCapabilities_MinSupportedSampleRate, .scalar(.double(configuration.minSamplingInterval)))
        set(NS0.Server_ServerCapabilities_MaxBrowseContinuationPoints, .scalar(.uint16(UInt16(configuration.maxBrowseContinuationPoints))))
        set(NS0.Server_ServerCapabilities_MaxQueryContinuationPoints, .scalar(.uint16(0)))
        set(NS0.Server_ServerCapabilities_MaxHistoryContinuationPoints, .scalar(.uint16(0)))
        set(NS0.Server_ServerCapabilities_MaxArrayLength, .scalar(.uint32(UInt32(DecodingLimits.maxArrayLength))))
        set(NS0.Server_ServerCapabilities_MaxStringLength, .scalar(.uint32(UInt32(DecodingLimits.maxArrayLength))))
        set(NS0.Server_ServerCapabilities_MaxByteStringLength, .scalar(.uint32(UInt32(DecodingLimits.maxArrayLength))))
        self.addressSpace = space
    }

    static func buildInfo(_ configuration: ServerConfiguration) -> BuildInfo {
        BuildInfo(
            productUri: configuration.productUri, manufacturerName: configuration.manufacturerName,
            productName: configuration.applicationName, softwareVersion: configuration.softwareVersion,
            buildNumber: "1", buildDate: .null
        )
    }

    /// Values computed at read time (the clock and the status structure).
    private func dynamicValue(_ id: NodeId, now: DateTime) -> DataValue? {
        switch id {
        case NS0.Server_ServerStatus_CurrentTime:
            return DataValue(value: .scalar(.dateTime(now)), sourceTimestamp: now, serverTimestamp: now)
        case NS0.Server_ServerStatus:
            let status = ServerStatusDataType(
                startTime: startTime, currentTime: now, state: state == .running ? .running : .shutdown,
                buildInfo: Self.buildInfo(configuration), secondsTillShutdown: 0, shutdownReason: .null
            )
            return DataValue(value: .scalar(.extensionObject(ExtensionObject(status))), sourceTimestamp: now, serverTimestamp: now)
        default:
            return nil
        }
    }

    private func isDynamic(_ id: NodeId) -> Bool {
        id == NS0.Server_ServerStatus_CurrentTime || id == NS0.Server_ServerStatus
    }

    /// Reads an attribute, computing dynamic values.
    func readAttribute(_ id: NodeId, attribute: UInt32, timestamps: TimestampsToReturn, now: DateTime) -> DataValue {
        if attribute == AttributeId.value.rawValue, let value = dynamicValue(id, now: now) {
            return addressSpace.applying(timestamps, to: value, now: now)
        }
        return addressSpace.read(id, attribute: attribute, timestamps: timestamps, now: now)
    }

    // MARK: Host API

    /// Applies a host-side change (edge, simulator bridge) and notifies monitored items.
    package func setValue(_ id: NodeId, _ value: DataValue) {
        addressSpace.setValue(id, value)
        valueChanged(id, value)
    }

    package func modifyAddressSpace(_ body: @Sendable (inout AddressSpace) -> Void) {
        body(&addressSpace)
    }

    package func shutdown() {
        state = .stopped
        for (id, subscription) in subscriptions {
            subscription.timer?.cancel()
            subscriptions[id]?.timer = nil
        }
        for (token, session) in sessions {
            for pending in session.publishQueue {
                pending.sink.send(fault(.badShutdown, handle: pending.requestHandle), requestId: pending.requestId)
            }
            sessions[token]?.publishQueue.removeAll()
        }
    }

    package var sessionCount: Int { sessions.count }

    // MARK: Dispatch

    func header(_ handle: UInt32, _ result: StatusCode = .good) -> ResponseHeader {
        ResponseHeader(timestamp: .now, requestHandle: handle, serviceResult: result)
    }

    func fault(_ status: StatusCode, handle: UInt32) -> ServiceFault {
        ServiceFault(responseHeader: header(handle, status))
    }

    /// Runs one service and waits for its response; nil when the response comes later through
    /// the sink (Publish).
    package func handle(_ request: any ServiceRequest, context: RequestContext) async -> (any ServiceResponse)? {
        switch begin(request, context: context) {
        case .now(let response): return response
        case .later(let response): return await response()
        }
    }

    /// Runs one service up to the point where it would wait for the host: a Write is applied to
    /// the address space at once (so requests are applied in arrival order) and its response
    /// awaits the write hook, off this actor.
    package func begin(_ request: any ServiceRequest, context: RequestContext) -> ServiceOutcome {
        if let request = request as? WriteRequest, state == .running, let session = sessions[request.requestHeader.authenticationToken],
           session.activated, session.channelId == context.channelId {
            sessions[request.requestHeader.authenticationToken]?.lastActivity = clock.now
            return write(request)
        }
        return .now(dispatch(request, context: context))
    }

    private func dispatch(_ request: any ServiceRequest, context: RequestContext) -> (any ServiceResponse)? {
        let handle = request.requestHeader.requestHandle
        guard state == .running else { return fault(.badServerHalted, handle: handle) }
        switch request {
        case let request as FindServersRequest: return findServers(request)
        case let request as GetEndpointsRequest: return getEndpoints(request)
        case let request as CreateSessionRequest: return createSession(request, context: context)
        case let request as ActivateSessionRequest: return activateSession(request, context: context)
        default: break
        }
        // Everything else needs an activated session bound to this channel.
        let token = request.requestHeader.authenticationToken
        guard var session = sessions[token] else { return fault(.badSessionIdInvalid, handle: handle) }
        guard session.activated else {
            if request is CloseSessionRequest { return closeSession(request as! CloseSessionRequest, token: token) }
            return fault(.badSessionNotActivated, handle: handle)
        }
        guard session.channelId == context.channelId else { return fault(.badSecureChannelIdInvalid, handle: handle) }
        session.lastActivity = clock.now
        sessions[token] = session
        switch request {
        case let request as CloseSessionRequest: return closeSession(request, token: token)
        case let request as CancelRequest: return CancelResponse(responseHeader: header(request.requestHeader.requestHandle), cancelCount: 0)
        case let request as BrowseRequest: return browse(request, token: token)
        case let request as BrowseNextRequest: return browseNext(request, token: token)
        case let request as TranslateBrowsePathsToNodeIdsRequest: return translate(request)
        case let request as RegisterNodesRequest: return registerNodes(request)
        case let request as UnregisterNodesRequest: return unregisterNodes(request)
        case let request as ReadRequest: return read(request)
        case let request as WriteRequest:
            if case .now(let response) = write(request) { return response }
            return fault(.badInternalError, handle: handle)   // not reached: begin(_:context:) handles writes
        case let request as CreateSubscriptionRequest: return createSubscription(request, token: token)
        case let request as ModifySubscriptionRequest: return modifySubscription(request, token: token)
        case let request as SetPublishingModeRequest: return setPublishingMode(request, token: token)
        case let request as DeleteSubscriptionsRequest: return deleteSubscriptions(request, token: token)
        case let request as CreateMonitoredItemsRequest: return createMonitoredItems(request, token: token)
        case let request as ModifyMonitoredItemsRequest: return modifyMonitoredItems(request, token: token)
        case let request as SetMonitoringModeRequest: return setMonitoringMode(request, token: token)
        case let request as DeleteMonitoredItemsRequest: return deleteMonitoredItems(request, token: token)
        case let request as PublishRequest: return publish(request, token: token, context: context)
        case let request as RepublishRequest: return republish(request, token: token)
        default: return fault(.badServiceUnsupported, handle: handle)
        }
    }

    /// Checks the operation count of a request.
    func checkCount(_ count: Int?, handle: UInt32) -> ServiceFault? {
        guard let count, count > 0 else { return fault(.badNothingToDo, handle: handle) }
        guard count <= configuration.maxOperationsPerRequest else { return fault(.badTooManyOperations, handle: handle) }
        return nil
    }

    // MARK: Discovery

    var applicationDescription: ApplicationDescription {
        ApplicationDescription(
            applicationUri: configuration.applicationUri, productUri: configuration.productUri,
            applicationName: LocalizedText(configuration.applicationName), applicationType: .server,
            gatewayServerUri: nil, discoveryProfileUri: nil, discoveryUrls: [endpointUrl]
        )
    }

    static let securityPolicyNone = "http://opcfoundation.org/UA/SecurityPolicy#None"
    static let transportProfile = "http://opcfoundation.org/UA-Profile/Transport/uatcp-uasc-uabinary"

    var endpoints: [EndpointDescription] {
        var policies: [UserTokenPolicy] = []
        if configuration.allowAnonymous {
            policies.append(UserTokenPolicy(policyId: "anonymous", tokenType: .anonymous, issuedTokenType: nil, issuerEndpointUrl: nil, securityPolicyUri: nil))
        }
        if configuration.allowUserNameOverNone {
            policies.append(UserTokenPolicy(policyId: "username", tokenType: .userName, issuedTokenType: nil, issuerEndpointUrl: nil, securityPolicyUri: Self.securityPolicyNone))
        }
        return [EndpointDescription(
            endpointUrl: endpointUrl, server: applicationDescription, serverCertificate: .null,
            securityMode: .none, securityPolicyUri: Self.securityPolicyNone, userIdentityTokens: policies,
            transportProfileUri: Self.transportProfile, securityLevel: 0
        )]
    }

    func findServers(_ request: FindServersRequest) -> any ServiceResponse {
        var servers = [applicationDescription]
        if let uris = request.serverUris, !uris.isEmpty, !uris.contains(configuration.applicationUri) { servers = [] }
        return FindServersResponse(responseHeader: header(request.requestHeader.requestHandle), servers: servers)
    }

    func getEndpoints(_ request: GetEndpointsRequest) -> any ServiceResponse {
        var result = endpoints
        if let profiles = request.profileUris, !profiles.isEmpty, !profiles.contains(where: { $0 == Self.transportProfile }) { result = [] }
        return GetEndpointsResponse(responseHeader: header(request.requestHeader.requestHandle), endpoints: result)
    }

    // MARK: Sessions

    private static func randomBytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }

    func createSession(_ request: CreateSessionRequest, context: RequestContext) -> any ServiceResponse {
        let handle = request.requestHeader.requestHandle
        expireSessions()
        guard sessions.count < configuration.maxSessions else { return fault(.badTooManySessions, handle: handle) }
        let number = nextSessionNumber
        nextSessionNumber += 1
        var generator = SystemRandomNumberGenerator()
        let token = NodeId(namespace: 1, .guid(Guid(
            data1: generator.next(), data2: generator.next(), data3: generator.next(), data4: generator.next()
        )))
        let timeout = min(max(request.requestedSessionTimeout, configuration.minSessionTimeout), configuration.maxSessionTimeout)
        let session = Session(
            sessionId: NodeId(numeric: number, namespace: 1), authenticationToken: token, name: request.sessionName,
            channelId: context.channelId, sink: context.sink, timeout: timeout.isNaN ? configuration.maxSessionTimeout : timeout,
            lastActivity: clock.now
        )
        sessions[token] = session
        logger.info("session created", metadata: ["session.id": "\(session.sessionId)", "session.name": "\(request.sessionName ?? "")"])
        return CreateSessionResponse(
            responseHeader: header(handle), sessionId: session.sessionId, authenticationToken: token,
            revisedSessionTimeout: session.timeout, serverNonce: ByteString(Self.randomBytes(32)),
            serverCertificate: .null, serverEndpoints: endpoints, serverSoftwareCertificates: nil,
            serverSignature: SignatureData(algorithm: nil, signature: .null),
            maxRequestMessageSize: configuration.transport.maxMessageSize
        )
    }

    func activateSession(_ request: ActivateSessionRequest, context: RequestContext) -> any ServiceResponse {
        let handle = request.requestHeader.requestHandle
        let token = request.requestHeader.authenticationToken
        guard var session = sessions[token] else { return fault(.badSessionIdInvalid, handle: handle) }
        let identity = request.userIdentityToken
        var userName: String?
        if identity.isNull || (try? identity.decode(AnonymousIdentityToken.self)) != nil {
            guard configuration.allowAnonymous else { return fault(.badIdentityTokenRejected, handle: handle) }
        } else if let user = try? identity.decode(UserNameIdentityToken.self) {
            guard configuration.allowUserNameOverNone else { return fault(.badIdentityTokenRejected, handle: handle) }
            if let algorithm = user.encryptionAlgorithm, !algorithm.isEmpty {
                return fault(.badIdentityTokenInvalid, handle: handle)
            }
            let password = String(decoding: user.password.bytes ?? [], as: UTF8.self)
            guard let name = user.userName, let expected = configuration.users[name], expected == password else {
                logger.notice("user rejected", metadata: ["user.name": "\(user.userName ?? "")"])
                return fault(.badUserAccessDenied, handle: handle)
            }
            userName = name
        } else {
            return fault(.badIdentityTokenInvalid, handle: handle)
        }
        if session.activated, session.channelId != context.channelId, session.userName != userName {
            return fault(.badIdentityChangeNotSupported, handle: handle)
        }
        session.activated = true
        session.userName = userName
        session.channelId = context.channelId
        session.sink = context.sink
        session.lastActivity = clock.now
        // Parked publish requests of the old channel cannot be answered there any more.
        session.publishQueue.removeAll { $0.sink.channelId != context.channelId }
        sessions[token] = session
        logger.info("session activated", metadata: ["session.id": "\(session.sessionId)", "user.name": "\(userName ?? "anonymous")"])
        return ActivateSessionResponse(responseHeader: header(handle), serverNonce: ByteString(Self.randomBytes(32)), results: [], diagnosticInfos: nil)
    }

    func closeSession(_ request: CloseSessionRequest, token: NodeId) -> any ServiceResponse {
        removeSession(token, status: .badSessionClosed)
        return CloseSessionResponse(responseHeader: header(request.requestHeader.requestHandle))
    }

    private func removeSession(_ token: NodeId, status: StatusCode) {
        guard let session = sessions.removeValue(forKey: token) else { return }
        for id in session.subscriptionIds { deleteSubscription(id) }
        for pending in session.publishQueue {
            pending.sink.send(fault(status, handle: pending.requestHandle), requestId: pending.requestId)
        }
        logger.info("session closed", metadata: ["session.id": "\(session.sessionId)"])
    }

    /// Closes sessions idle past their timeout; answers publish requests past their timeout hint.
    package func expireSessions() {
        let now = clock.now
        for (token, session) in sessions {
            let idle = now - session.lastActivity
            // A parked Publish request counts as activity; a session never activated holds its
            // slot for at most 10 s, so clients that give up after CreateSession cannot exhaust maxSessions.
            let limit = session.activated ? session.timeout : min(session.timeout, 10_000)
            if session.publishQueue.isEmpty, idle > .milliseconds(Int64(limit)) {
                logger.notice("session timed out", metadata: ["session.id": "\(session.sessionId)"])
                removeSession(token, status: .badSessionClosed)
                continue
            }
            var kept: [PendingPublish] = []
            for pending in session.publishQueue {
                if pending.timeoutHint > 0, now - pending.received > .milliseconds(Int64(pending.timeoutHint)) {
                    pending.sink.send(fault(.badTimeout, handle: pending.requestHandle), requestId: pending.requestId)
                } else {
                    kept.append(pending)
                }
            }
            sessions[token]?.publishQueue = kept
            if !kept.isEmpty { sessions[token]?.lastActivity = now }
        }
    }

    /// A secure channel closed: its sessions keep running (a client may reactivate them on a new channel).
    package func channelClosed(_ channelId: UInt32) {
        for (token, session) in sessions where session.channelId == channelId {
            sessions[token]?.publishQueue.removeAll()
            sessions[token]?.sink = nil
        }
    }

    // MARK: View services

    func browse(_ request: BrowseRequest, token: NodeId) -> any ServiceResponse {
        let handle = request.requestHeader.requestHandle
        if let fault = checkCount(request.nodesToBrowse?.count, handle: handle) { return fault }
        guard request.view.viewId.isNull else { return fault(.badViewIdUnknown, handle: handle) }
        let maxPerNode = request.requestedMaxReferencesPerNode == 0
            ? Int(configuration.maxReferencesPerBrowse) : Int(min(request.requestedMaxReferencesPerNode, configuration.maxReferencesPerBrowse))
        var results: [BrowseResult] = []
        for description in request.nodesToBrowse ?? [] {
            let (status, references) = addressSpace.browse(description)
            guard status == .good else { results.append(BrowseResult(statusCode: status)); continue }
            results.append(page(references, maxPerNode: maxPerNode, token: token))
        }
        return BrowseResponse(responseHeader: header(handle), results: results, diagnosticInfos: nil)
    }

    /// Returns up to maxPerNode references and keeps the rest behind a continuation point.
    private func page(_ references: [ReferenceDescription], maxPerNode: Int, token: NodeId) -> BrowseResult {
        guard references.count > maxPerNode else { return BrowseResult(statusCode: .good, continuationPoint: .null, references: references) }
        guard var session = sessions[token] else { return BrowseResult(statusCode: .badSessionIdInvalid) }
        guard session.continuationPoints.count < configuration.maxBrowseContinuationPoints else {
            return BrowseResult(statusCode: .badNoContinuationPoints)
        }
        let number = session.nextContinuationPoint
        session.nextContinuationPoint &+= 1
        let id = withUnsafeBytes(of: number.littleEndian) { Array($0) } + Self.randomBytes(4)
        session.continuationPoints.append((id, Array(references[maxPerNode...]), maxPerNode))
        sessions[token] = session
        return BrowseResult(statusCode: .good, continuationPoint: ByteString(id), references: Array(references[..<maxPerNode]))
    }

    func browseNext(_ request: BrowseNextRequest, token: NodeId) -> any ServiceResponse {
        let handle = request.requestHeader.requestHandle
        if let fault = checkCount(request.continuationPoints?.count, handle: handle) { return fault }
        var results: [BrowseResult] = []
        for point in request.continuationPoints ?? [] {
            guard let bytes = point.bytes, let index = sessions[token]?.continuationPoints.firstIndex(where: { $0.id == bytes }),
                  let entry = sessions[token]?.continuationPoints.remove(at: index)
            else {
                results.append(BrowseResult(statusCode: .badContinuationPointInvalid))
                continue
            }
            if request.releaseContinuationPoints {
                results.append(BrowseResult(statusCode: .good))
            } else {
                results.append(page(entry.remaining, maxPerNode: entry.maxPerNode, token: token))
            }
        }
        return BrowseNextResponse(responseHeader: header(handle), results: results, diagnosticInfos: nil)
    }

    func translate(_ request: TranslateBrowsePathsToNodeIdsRequest) -> any ServiceResponse {
        let handle = request.requestHeader.requestHandle
        if let fault = checkCount(request.browsePaths?.count, handle: handle) { return fault }
        let results = (request.browsePaths ?? []).map { addressSpace.translate($0) }
        return TranslateBrowsePathsToNodeIdsResponse(responseHeader: header(handle), results: results, diagnosticInfos: nil)
    }

    func registerNodes(_ request: RegisterNodesRequest) -> any ServiceResponse {
        let handle = request.requestHeader.requestHandle
        if let fault = checkCount(request.nodesToRegister?.count, handle: handle) { return fault }
        return RegisterNodesResponse(responseHeader: header(handle), registeredNodeIds: request.nodesToRegister)
    }

    func unregisterNodes(_ request: UnregisterNodesRequest) -> any ServiceResponse {
        let handle = request.requestHeader.requestHandle
        if let fault = checkCount(request.nodesToUnregister?.count, handle: handle) { return fault }
        return UnregisterNodesResponse(responseHeader: header(handle))
    }

    // MARK: Attribute services

    func read(_ request: ReadRequest) -> any ServiceResponse {
        let handle = request.requestHeader.requestHandle
        if let fault = checkCount(request.nodesToRead?.count, handle: handle) { return fault }
        guard request.maxAge >= 0 else { return fault(.badMaxAgeInvalid, handle: handle) }
        guard (0...3).contains(request.timestampsToReturn.rawValue) else { return fault(.badTimestampsToReturnInvalid, handle: handle) }
        let now = DateTime.now
        let results = (request.nodesToRead ?? []).map { item -> DataValue in
            if let range = item.indexRange, !range.isEmpty { return DataValue(status: .badIndexRangeInvalid) }
            if let encoding = item.dataEncoding.name, !encoding.isEmpty, encoding != "Default Binary" {
                return DataValue(status: .badDataEncodingUnsupported)
            }
            return readAttribute(item.nodeId, attribute: item.attributeId, timestamps: request.timestampsToReturn, now: now)
        }
        return ReadResponse(responseHeader: header(handle), results: results, diagnosticInfos: nil)
    }

    /// Applies a Write and, when the host has a write hook and something was stored, answers
    /// later: the items stored are Good only if the hook returns Good, else they carry the
    /// hook's status (the values stay applied to the address space either way).
    func write(_ request: WriteRequest) -> ServiceOutcome {
        let handle = request.requestHeader.requestHandle
        if let fault = checkCount(request.nodesToWrite?.count, handle: handle) { return .now(fault) }
        // The host may refuse a whole request (its buffer is full): nothing is applied.
        if let admission = admitWrites?(), admission.isBad {
            let results = Array(repeating: admission, count: request.nodesToWrite?.count ?? 0)
            return .now(WriteResponse(responseHeader: header(handle), results: results, diagnosticInfos: nil))
        }
        let now = DateTime.now
        var results: [StatusCode] = []
        var written: [NodeWrite] = []
        for item in request.nodesToWrite ?? [] {
            let (status, stored) = addressSpace.write(item, now: now)
            results.append(status)
            if let stored {
                written.append(NodeWrite(nodeId: item.nodeId, value: stored))
                valueChanged(item.nodeId, stored)
            }
        }
        guard let onWrite, !written.isEmpty else {
            return .now(WriteResponse(responseHeader: header(handle), results: results, diagnosticInfos: nil))
        }
        let stored = results, values = written
        return .later {
            let verdict = await onWrite(values)
            let final = verdict.isGood ? stored : stored.map { $0.isGood ? verdict : $0 }
            return WriteResponse(responseHeader: ResponseHeader(timestamp: .now, requestHandle: handle, serviceResult: .good),
                                 results: final, diagnosticInfos: nil)
        }
    }

    // MARK: Change notification

    /// Queues a changed Value for every monitored item watching it.
    func valueChanged(_ id: NodeId, _ value: DataValue) {
        guard let list = watchers[id] else { return }
        for (subscriptionId, itemId) in list {
            guard var item = subscriptions[subscriptionId]?.items[itemId], !item.sampled else { continue }
            offer(value, to: &item)
            subscriptions[subscriptionId]?.items[itemId] = item
        }
    }

    /// Applies the item's filter and queue policy to a new value.
    func offer(_ value: DataValue, to item: inout MonitoredItem) {
        guard item.mode != .disabled else { return }
        if let last = item.lastValue, !passes(value, last: last, filter: item.filter) { return }
        item.lastValue = value
        var stamped = addressSpace.applying(item.timestamps, to: value, now: value.serverTimestamp ?? .now)
        if item.queue.count >= Int(max(item.queueSize, 1)) {
            if item.discardOldest { item.queue.removeFirst() } else { item.queue.removeLast() }
            if item.queueSize > 1 {
                // Overflow bit (InfoType DataValue, Overflow) on the value next to the discarded one.
                let index = item.discardOldest ? 0 : item.queue.count
                if item.discardOldest {
                    var first = item.queue[index]
                    first.status = StatusCode((first.status ?? .good).rawValue | 0x480)
                    item.queue[index] = first
                } else {
                    stamped.status = StatusCode((stamped.status ?? .good).rawValue | 0x480)
                }
            }
        }
        item.queue.append(stamped)
    }

    /// The DataChangeFilter test (OPC 10000-4 §7.22.2): trigger and absolute deadband.
    func passes(_ value: DataValue, last: DataValue, filter: DataChangeFilter?) -> Bool {
        let trigger = filter?.trigger ?? .statusValue
        let statusChanged = value.effectiveStatus != last.effectiveStatus
        if statusChanged { return true }
        if trigger == .status { return false }
        var valueChanged: Bool
        if let filter, filter.deadbandType == 1, let new = value.value, let old = last.value {
            valueChanged = Self.exceedsDeadband(new, old, filter.deadbandValue)
        } else {
            valueChanged = value.value != last.value
        }
        if trigger == .statusValueTimestamp, value.sourceTimestamp != last.sourceTimestamp { valueChanged = true }
        return valueChanged
    }

    static func numbers(_ variant: Variant) -> [Double]? {
        func scalar(_ s: Scalar) -> Double? {
            switch s {
            case .sbyte(let v): Double(v)
            case .byte(let v): Double(v)
            case .int16(let v): Double(v)
            case .uint16(let v): Double(v)
            case .int32(let v): Double(v)
            case .uint32(let v): Double(v)
            case .int64(let v): Double(v)
            case .uint64(let v): Double(v)
            case .float(let v): Double(v)
            case .double(let v): v
            default: nil
            }
        }
        switch variant {
        case .scalar(let s): return scalar(s).map { [$0] }
        case .array(.float(let a), _): return a.map(Double.init)
        case .array(.double(let a), _): return a
        case .array(.int32(let a), _): return a.map(Double.init)
        default: return nil
        }
    }

    static func exceedsDeadband(_ new: Variant, _ old: Variant, _ deadband: Double) -> Bool {
        guard let a = numbers(new), let b = numbers(old), a.count == b.count else { return new != old }
        for (x, y) in zip(a, b) where abs(x - y) > deadband || x.isNaN != y.isNaN { return true }
        return false
    }

    // MARK: Subscriptions (continued in Subscriptions.swift)

    func session(_ token: NodeId) -> Session? { sessions[token] }
    func updateSession(_ token: NodeId, _ body: (inout Session) -> Void) {
        if var session = sessions[token] {
            body(&session)
            sessions[token] = session
        }
    }
    func subscription(_ id: UInt32) -> Subscription? { subscriptions[id] }
    func updateSubscription(_ id: UInt32, _ body: (inout Subscription) -> Void) {
        if var subscription = subscriptions[id] {
            body(&subscription)
            subscriptions[id] = subscription
        }
    }
    func insertSubscription(_ subscription: Subscription) { subscriptions[subscription.id] = subscription }
    func allocateSubscriptionId() -> UInt32 {
        defer { nextSubscriptionId &+= 1 }
        return nextSubscriptionId
    }
    func allocateItemId() -> UInt32 {
        defer { nextItemId &+= 1 }
        return nextItemId
    }
    func watch(_ id: NodeId, subscription: UInt32, item: UInt32) { watchers[id, default: []].append((subscription, item)) }
    func unwatch(_ id: NodeId, subscription: UInt32, item: UInt32) {
        watchers[id]?.removeAll { $0 == (subscription, item) }
        if watchers[id]?.isEmpty == true { watchers[id] = nil }
    }
    func removeSubscription(_ id: UInt32) -> Subscription? { subscriptions.removeValue(forKey: id) }
    func isSampled(_ id: NodeId, attribute: UInt32) -> Bool { attribute != AttributeId.value.rawValue || isDynamic(id) }
}
