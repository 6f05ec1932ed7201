import Logging
import NIOCore
import Synchronization
import Testing

@testable import OPCUA

/// A server core with one activated session, driven without sockets.
private struct Harness {
    let core: ServerCore
    let sink: ResponseSink
    let outgoing: AsyncStream<ResponseSink.Outgoing>
    var token = NodeId.null
    var requestId: UInt32 = 1
    let writes: WriteLog

    final class WriteLog: Sendable {
        private let lock = Mutex<[NodeWrite]>([])
        func append(_ values: [NodeWrite]) { lock.withLock { $0 += values } }
        var all: [NodeWrite] { lock.withLock { $0 } }
    }

    init(configure: (inout ServerConfiguration) -> Void = { _ in }) async throws {
        var configuration = ServerConfiguration()
        configure(&configuration)
        var space = AddressSpace()
        space.addPrinter("dmls-01")
        space.addPrinter("fdm-01")
        let log = WriteLog()
        writes = log
        core = ServerCore(
            configuration: configuration, addressSpace: space, endpointUrl: "opc.tcp://127.0.0.1:4840",
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }), onWrite: { log.append($0); return .good }
        )
        let (stream, continuation) = AsyncStream<ResponseSink.Outgoing>.makeStream()
        outgoing = stream
        sink = ResponseSink(channelId: 7, continuation: continuation)
        token = try await openSession()
    }

    var context: RequestContext { RequestContext(channelId: 7, requestId: requestId, sink: sink) }

    mutating func openSession() async throws -> NodeId {
        let created = try #require(await core.handle(CreateSessionRequest(requestedSessionTimeout: 60_000), context: context) as? CreateSessionResponse)
        var activate = ActivateSessionRequest()
        activate.requestHeader.authenticationToken = created.authenticationToken
        let activated = await core.handle(activate, context: context)
        #expect(activated is ActivateSessionResponse)
        return created.authenticationToken
    }

    /// Calls a service with the session's token; nil when parked.
    mutating func call<R: ServiceRequest>(_ request: R, handle: UInt32 = 1) async -> (any ServiceResponse)? {
        var request = request
        request.requestHeader.authenticationToken = token
        request.requestHeader.requestHandle = handle
        requestId += 1
        return await core.handle(request, context: context)
    }

    mutating func expect<T: ServiceResponse, R: ServiceRequest>(_ type: T.Type, _ request: R) async throws -> T {
        let response = await call(request)
        if let fault = response as? ServiceFault { Issue.record("service fault \(fault.responseHeader.serviceResult)") }
        return try #require(response as? T)
    }

    var ns: UInt16 { 2 }
    func variable(_ printer: String, _ channel: String) -> NodeId { PrinterModel.variableId(printer: printer, channel: channel, namespace: ns) }
}

/// Waits for the next asynchronous response, bounded in time.
private func nextOutgoing(_ iterator: inout AsyncStream<ResponseSink.Outgoing>.AsyncIterator, seconds: Double = 5) async -> ResponseSink.Outgoing? {
    let box = IteratorBox(iterator)
    let result = await withTaskGroup(of: ResponseSink.Outgoing?.self) { group in
        group.addTask { await box.next() }
        group.addTask {
            try? await Task.sleep(for: .seconds(seconds))
            return nil
        }
        let first = await group.next() ?? nil
        group.cancelAll()
        return first
    }
    iterator = box.iterator
    return result
}

private final class IteratorBox: @unchecked Sendable {
    var iterator: AsyncStream<ResponseSink.Outgoing>.AsyncIterator
    init(_ iterator: AsyncStream<ResponseSink.Outgoing>.AsyncIterator) { self.iterator = iterator }
    func next() async -> ResponseSink.Outgoing? { await iterator.next() }
}

struct ServerServiceTests {
    @Test func readsTheMandatoryAttributesOfEveryNodeClass() async throws {
        var harness = try await Harness()
        // Object, Variable, ObjectType, VariableType, ReferenceType, DataType.
        let cases: [(NodeId, [AttributeId])] = [
            (NS0.ObjectsFolder, [.nodeId, .nodeClass, .browseName, .displayName, .description, .writeMask, .userWriteMask, .eventNotifier]),
            (NS0.Server_NamespaceArray, [.value, .dataType, .valueRank, .arrayDimensions, .accessLevel, .userAccessLevel, .minimumSamplingInterval, .historizing]),
            (NS0.BaseObjectType, [.isAbstract]),
            (NS0.BaseDataVariableType, [.isAbstract, .dataType, .valueRank]),
            (NS0.HierarchicalReferences, [.isAbstract, .symmetric, .inverseName]),
            (NodeId(numeric: 11), [.isAbstract]),
        ]
        for (node, attributes) in cases {
            let read = ReadRequest(timestampsToReturn: .both, nodesToRead: attributes.map { ReadValueId(nodeId: node, attributeId: $0.rawValue) })
            let response = try await harness.expect(ReadResponse.self, read)
            let results = response.results ?? []
            #expect(results.count == attributes.count)
            for (attribute, value) in zip(attributes, results) {
                #expect(value.effectiveStatus.isGood, "\(node) \(attribute): \(value.effectiveStatus)")
                #expect(value.value != nil, "\(node) \(attribute) has no value")
            }
        }
        // An attribute the class does not have, an unknown node, an unknown attribute id.
        let bad = ReadRequest(nodesToRead: [
            ReadValueId(nodeId: NS0.ObjectsFolder, attributeId: AttributeId.value.rawValue),
            ReadValueId(nodeId: NodeId(string: "nope", namespace: 2), attributeId: AttributeId.value.rawValue),
            ReadValueId(nodeId: NS0.ObjectsFolder, attributeId: 999),
        ])
        let response = try await harness.expect(ReadResponse.self, bad)
        #expect(response.results?.map(\.effectiveStatus) == [.badAttributeIdInvalid, .badNodeIdUnknown, .badAttributeIdInvalid])
    }

    @Test func matrixVariableDescribesItsShape() async throws {
        var harness = try await Harness()
        let temperature = harness.variable("dmls-01", "Temperature")
        let read = ReadRequest(nodesToRead: [
            ReadValueId(nodeId: temperature, attributeId: AttributeId.valueRank.rawValue),
            ReadValueId(nodeId: temperature, attributeId: AttributeId.arrayDimensions.rawValue),
            ReadValueId(nodeId: temperature, attributeId: AttributeId.dataType.rawValue),
            ReadValueId(nodeId: temperature, attributeId: AttributeId.value.rawValue),
        ])
        let results = try await harness.expect(ReadResponse.self, read).results ?? []
        try #require(results.count == 4)
        #expect(results[0].value == .scalar(.int32(2)))
        #expect(results[1].value == .array(.uint32([100, 100]), dimensions: nil))
        #expect(results[2].value == .scalar(.nodeId(NodeId(numeric: 10))))
        #expect(results[3].value?.arrayDimensions == [100, 100])
    }

    @Test func browseHandsOutContinuationPoints() async throws {
        var harness = try await Harness()
        let all = BrowseDescription(nodeId: NS0.Server, browseDirection: .both, referenceTypeId: .null, includeSubtypes: true, resultMask: 0x3F)
        let full = try await harness.expect(BrowseResponse.self, BrowseRequest(nodesToBrowse: [all]))
        let everything = full.results?.first?.references ?? []
        #expect(everything.count > 3)

        var collected: [ReferenceDescription] = []
        let first = try await harness.expect(BrowseResponse.self, BrowseRequest(requestedMaxReferencesPerNode: 2, nodesToBrowse: [all]))
        var result = try #require(first.results?.first)
        collected += result.references ?? []
        #expect(result.references?.count == 2)
        var rounds = 0
        while let point = result.continuationPoint.bytes, !point.isEmpty, rounds < 100 {
            let next = try await harness.expect(BrowseNextResponse.self, BrowseNextRequest(releaseContinuationPoints: false, continuationPoints: [ByteString(point)]))
            result = try #require(next.results?.first)
            collected += result.references ?? []
            rounds += 1
        }
        #expect(collected == everything)

        // A used or made-up continuation point is invalid; releasing works.
        let again = try await harness.expect(BrowseResponse.self, BrowseRequest(requestedMaxReferencesPerNode: 1, nodesToBrowse: [all]))
        let point = try #require(again.results?.first?.continuationPoint)
        let released = try await harness.expect(BrowseNextResponse.self, BrowseNextRequest(releaseContinuationPoints: true, continuationPoints: [point]))
        #expect(released.results?.first?.statusCode == .good)
        let stale = try await harness.expect(BrowseNextResponse.self, BrowseNextRequest(releaseContinuationPoints: false, continuationPoints: [point, ByteString([1, 2, 3])]))
        #expect(stale.results?.map(\.statusCode) == [.badContinuationPointInvalid, .badContinuationPointInvalid])
    }

    @Test func browseFiltersByReferenceTypeAndNodeClass() async throws {
        var harness = try await Harness()
        let printer = NodeId(string: "dmls-01", namespace: harness.ns)
        let variablesOnly = BrowseDescription(nodeId: printer, browseDirection: .forward, referenceTypeId: NS0.HierarchicalReferences,
                                              includeSubtypes: true, nodeClassMask: UInt32(NodeClass.variable.rawValue), resultMask: 0x3F)
        let response = try await harness.expect(BrowseResponse.self, BrowseRequest(nodesToBrowse: [variablesOnly]))
        let names = Set((response.results?.first?.references ?? []).compactMap(\.browseName.name))
        #expect(names == Set(PrinterModel.channels(for: .dmls).map(\.name)))
        let unknown = BrowseDescription(nodeId: NodeId(string: "ghost", namespace: 2), browseDirection: .forward)
        let badType = BrowseDescription(nodeId: printer, browseDirection: .forward, referenceTypeId: NS0.ObjectsFolder)
        let statuses = try await harness.expect(BrowseResponse.self, BrowseRequest(nodesToBrowse: [unknown, badType])).results?.map(\.statusCode)
        #expect(statuses == [.badNodeIdUnknown, .badReferenceTypeIdInvalid])
    }

    @Test func translatesBrowsePaths() async throws {
        var harness = try await Harness()
        func path(_ names: [String]) -> BrowsePath {
            BrowsePath(startingNode: NS0.ObjectsFolder, relativePath: RelativePath(elements: names.map {
                RelativePathElement(referenceTypeId: NS0.HierarchicalReferences, isInverse: false, includeSubtypes: true, targetName: QualifiedName($0, namespaceIndex: 2))
            }))
        }
        let request = TranslateBrowsePathsToNodeIdsRequest(browsePaths: [path(["Printers", "fdm-01", "NozzleTempC"]), path(["Printers", "zzz"]), path([])])
        let results = try await harness.expect(TranslateBrowsePathsToNodeIdsResponse.self, request).results ?? []
        try #require(results.count == 3)
        #expect(results[0].statusCode == .good)
        #expect(results[0].targets?.first?.targetId.nodeId == harness.variable("fdm-01", "NozzleTempC"))
        #expect(results[0].targets?.first?.remainingPathIndex == UInt32.max)
        #expect(results[1].statusCode == .badNoMatch)
        #expect(results[2].statusCode == .badNothingToDo)
    }

    @Test func writeKeepsOrStampsTheSourceTimestampAndChecksTypes() async throws {
        var harness = try await Harness()
        let power = harness.variable("dmls-01", "PowerKW")
        let temperature = harness.variable("dmls-01", "Temperature")
        let source = DateTime(unixNanoseconds: 1_700_000_000_000_000_000)
        let before = DateTime.now
        let request = WriteRequest(nodesToWrite: [
            WriteValue(nodeId: power, attributeId: AttributeId.value.rawValue, value: DataValue(value: .scalar(.double(12.5)), sourceTimestamp: source)),
            WriteValue(nodeId: harness.variable("fdm-01", "BedTempC"), attributeId: AttributeId.value.rawValue, value: DataValue(value: .scalar(.double(60)))),
            WriteValue(nodeId: power, attributeId: AttributeId.value.rawValue, value: DataValue(value: .scalar(.float(1)))),
            WriteValue(nodeId: temperature, attributeId: AttributeId.value.rawValue, value: DataValue(value: .matrix(.float(Array(repeating: 1, count: 10_000)), dimensions: [50, 200]))),
            WriteValue(nodeId: NS0.Server_NamespaceArray, attributeId: AttributeId.value.rawValue, value: DataValue(value: .array(.string(["x"]), dimensions: nil))),
            WriteValue(nodeId: power, attributeId: AttributeId.displayName.rawValue, value: DataValue(value: .scalar(.localizedText("x")))),
            WriteValue(nodeId: power, attributeId: AttributeId.value.rawValue, value: DataValue(value: .scalar(.double(1)), serverTimestamp: source)),
        ])
        let results = try await harness.expect(WriteResponse.self, request).results
        #expect(results == [.good, .good, .badTypeMismatch, .badTypeMismatch, .badNotWritable, .badNotWritable, .badWriteNotSupported])

        let read = ReadRequest(timestampsToReturn: .both, nodesToRead: [
            ReadValueId(nodeId: power, attributeId: AttributeId.value.rawValue),
            ReadValueId(nodeId: harness.variable("fdm-01", "BedTempC"), attributeId: AttributeId.value.rawValue),
        ])
        let values = try await harness.expect(ReadResponse.self, read).results ?? []
        try #require(values.count == 2)
        #expect(values[0].value == .scalar(.double(12.5)))
        #expect(values[0].sourceTimestamp == source, "a client's SourceTimestamp is kept")
        #expect(values[1].value == .scalar(.double(60)))
        #expect((values[1].sourceTimestamp ?? .null) >= before, "without one the server stamps the write")
        #expect((values[1].serverTimestamp ?? .null) >= before)
        // The write callback saw exactly the two stored values.
        #expect(harness.writes.all.map(\.nodeId) == [power, harness.variable("fdm-01", "BedTempC")])
    }

    @Test func unknownServicesAnswerBadServiceUnsupported() async throws {
        let harness = try await Harness()
        var connection = ServerConnection(channelId: 9, core: harness.core, sink: harness.sink, configuration: ServerConfiguration(), logger: Logger(label: "t"))
        var open = ByteBuffer()
        OpenSecureChannelRequest.binaryEncodingId.encode(to: &open)
        OpenSecureChannelRequest(requestType: .issue, securityMode: .none, requestedLifetime: 60_000).encode(to: &open)
        let opened = await connection.receive(SecureMessage(kind: .open(.securityPolicyNone), secureChannelId: 0, requestId: 1, body: open))
        #expect(opened.count == 1)
        // A Call request (a service this server does not offer) and a made-up encoding id.
        for encodingId in [NodeId(numeric: 712) /* CallRequest */, NodeId(numeric: 99_999)] {
            var body = ByteBuffer()
            encodingId.encode(to: &body)
            RequestHeader(authenticationToken: harness.token, requestHandle: 42).encode(to: &body)
            body.writeUA(Int32(0))
            let replies = await connection.receive(SecureMessage(kind: .message(tokenId: 1), secureChannelId: 9, requestId: 2, body: body))
            var reply = try #require(replies.first).body
            #expect(try NodeId(decoding: &reply) == ServiceFault.binaryEncodingId)
            let fault = try ServiceFault(decoding: &reply)
            #expect(fault.responseHeader.serviceResult == .badServiceUnsupported)
            #expect(fault.responseHeader.requestHandle == 42)
        }
        // A wrong token closes the channel with an error.
        var body = ByteBuffer()
        ReadRequest.binaryEncodingId.encode(to: &body)
        ReadRequest().encode(to: &body)
        let replies = await connection.receive(SecureMessage(kind: .message(tokenId: 77), secureChannelId: 9, requestId: 3, body: body))
        guard case .error(let status, _) = replies.first?.kind else { Issue.record("expected a transport error"); return }
        #expect(status == .badSecureChannelTokenUnknown)
        #expect(connection.isClosed)
    }

    @Test func sessionLimitsAndServicesWithoutASession() async throws {
        var harness = try await Harness { $0.maxSessions = 2 }
        _ = try await harness.openSession()  // the second of two parallel sessions
        let third = await harness.core.handle(CreateSessionRequest(), context: harness.context)
        #expect((third as? ServiceFault)?.responseHeader.serviceResult == .badTooManySessions)
        // Discovery works without a session; other services do not.
        let endpoints = await harness.core.handle(GetEndpointsRequest(), context: harness.context) as? GetEndpointsResponse
        #expect(endpoints?.endpoints?.first?.securityPolicyUri == "http://opcfoundation.org/UA/SecurityPolicy#None")
        let servers = await harness.core.handle(FindServersRequest(), context: harness.context) as? FindServersResponse
        #expect(servers?.servers?.first?.applicationUri == ServerConfiguration().applicationUri)
        let anonymousRead = await harness.core.handle(ReadRequest(nodesToRead: [ReadValueId(nodeId: NS0.ObjectsFolder, attributeId: 1)]), context: harness.context)
        #expect((anonymousRead as? ServiceFault)?.responseHeader.serviceResult == .badSessionIdInvalid)
    }

    @Test func userNamesNeedExplicitPermissionOverNone() async throws {
        func activate(_ harness: Harness, user: String, password: String) async throws -> StatusCode {
            let created = try #require(await harness.core.handle(CreateSessionRequest(), context: harness.context) as? CreateSessionResponse)
            var request = ActivateSessionRequest(userIdentityToken: ExtensionObject(UserNameIdentityToken(policyId: "username", userName: user, password: ByteString(Array(password.utf8)))))
            request.requestHeader.authenticationToken = created.authenticationToken
            let response = await harness.core.handle(request, context: harness.context)
            return (response as? ServiceFault)?.responseHeader.serviceResult ?? response?.responseHeader.serviceResult ?? .bad
        }
        let closed = try await Harness { $0.users = ["operator": "s3cret"] }
        #expect(try await activate(closed, user: "operator", password: "s3cret") == .badIdentityTokenRejected)
        let open = try await Harness {
            $0.users = ["operator": "s3cret"]
            $0.allowUserNameOverNone = true
        }
        #expect(try await activate(open, user: "operator", password: "s3cret") == .good)
        #expect(try await activate(open, user: "operator", password: "wrong") == .badUserAccessDenied)
        #expect(try await activate(open, user: "nobody", password: "s3cret") == .badUserAccessDenied)
    }

    @Test func publishQueuesTwentyRequestsAndAnswersTheOldestWhenFull() async throws {
        var harness = try await Harness()
        var iterator = harness.outgoing.makeAsyncIterator()
        // Without subscriptions: BadNoSubscription at once.
        let none = await harness.call(PublishRequest())
        #expect(none?.responseHeader.serviceResult == .badNoSubscription)
        // A slow subscription (1 h keep-alive) keeps requests parked.
        let created = try await harness.expect(CreateSubscriptionResponse.self, CreateSubscriptionRequest(
            requestedPublishingInterval: 60_000, requestedLifetimeCount: 30_000, requestedMaxKeepAliveCount: 10_000, publishingEnabled: true))
        #expect(created.subscriptionId > 0)
        // The first cycle sends a keep-alive only after 60 s, so every request parks.
        for handle in 1...21 {
            let response = await harness.call(PublishRequest(), handle: UInt32(handle))
            #expect(response == nil, "request \(handle) should be parked")
        }
        // The 21st pushed out the oldest (handle 1).
        let pushed = try #require(await nextOutgoing(&iterator))
        #expect((pushed.response as? ServiceFault)?.responseHeader.serviceResult == .badTooManyPublishRequests)
        #expect(pushed.response.responseHeader.requestHandle == 1)
        // Deleting the last subscription answers the parked ones with BadNoSubscription.
        _ = try await harness.expect(DeleteSubscriptionsResponse.self, DeleteSubscriptionsRequest(subscriptionIds: [created.subscriptionId]))
        var handles: [UInt32] = []
        for _ in 0..<20 {
            let answer = try #require(await nextOutgoing(&iterator))
            #expect(answer.response.responseHeader.serviceResult == .badNoSubscription)
            handles.append(answer.response.responseHeader.requestHandle)
        }
        #expect(handles == Array(2...21))
    }

    @Test func dataChangesArePublishedRepublishedAndAcknowledged() async throws {
        var harness = try await Harness()
        var iterator = harness.outgoing.makeAsyncIterator()
        let power = harness.variable("dmls-01", "PowerKW")
        let subscription = try await harness.expect(CreateSubscriptionResponse.self, CreateSubscriptionRequest(
            requestedPublishingInterval: 20, requestedLifetimeCount: 3000, requestedMaxKeepAliveCount: 1000, publishingEnabled: true))
        let filter = ExtensionObject(DataChangeFilter(trigger: .statusValue, deadbandType: 1, deadbandValue: 0.5))
        let items = try await harness.expect(CreateMonitoredItemsResponse.self, CreateMonitoredItemsRequest(
            subscriptionId: subscription.subscriptionId, timestampsToReturn: .both, itemsToCreate: [
                MonitoredItemCreateRequest(itemToMonitor: ReadValueId(nodeId: power, attributeId: AttributeId.value.rawValue), monitoringMode: .reporting,
                                           requestedParameters: MonitoringParameters(clientHandle: 77, samplingInterval: 0, filter: filter, queueSize: 10, discardOldest: true)),
            ]))
        #expect(items.results?.first?.statusCode == .good)

        func nextValues() async throws -> (UInt32, [Double]) {
            #expect(await harness.call(PublishRequest()) == nil)
            let outgoing = try #require(await nextOutgoing(&iterator))
            let response = try #require(outgoing.response as? PublishResponse)
            let data = try (response.notificationMessage.notificationData ?? []).compactMap { try $0.decode(DataChangeNotification.self) }
            let values = data.flatMap { $0.monitoredItems ?? [] }.map { notification -> Double in
                #expect(notification.clientHandle == 77)
                if case .scalar(.double(let v)) = notification.value.value { return v }
                return .nan
            }
            return (response.notificationMessage.sequenceNumber, values)
        }
        // The initial value comes first.
        let (firstSequence, initial) = try await nextValues()
        #expect(initial == [0])
        // 0.3 is within the 0.5 deadband, 1.0 is not, 1.2 is again within it of 1.0, 3 is not.
        for value in [0.3, 1.0, 1.2, 3.0] {
            _ = try await harness.expect(WriteResponse.self, WriteRequest(nodesToWrite: [
                WriteValue(nodeId: power, attributeId: AttributeId.value.rawValue, value: DataValue(value: .scalar(.double(value)))),
            ]))
        }
        var received: [Double] = []
        var lastSequence = firstSequence
        for _ in 0..<5 where received.count < 2 {
            let (sequence, values) = try await nextValues()
            received += values
            if !values.isEmpty { lastSequence = sequence }
        }
        #expect(received == [1.0, 3.0])
        // Republish returns a kept message; after the acknowledgement it is gone.
        let republished = await harness.call(RepublishRequest(subscriptionId: subscription.subscriptionId, retransmitSequenceNumber: lastSequence))
        #expect((republished as? RepublishResponse)?.notificationMessage.sequenceNumber == lastSequence)
        _ = await harness.call(PublishRequest(subscriptionAcknowledgements: [SubscriptionAcknowledgement(subscriptionId: subscription.subscriptionId, sequenceNumber: lastSequence)]))
        let gone = await harness.call(RepublishRequest(subscriptionId: subscription.subscriptionId, retransmitSequenceNumber: lastSequence))
        #expect((gone as? ServiceFault)?.responseHeader.serviceResult == .badMessageNotAvailable)
    }

    @Test func subscriptionAndItemSettingsCanBeChanged() async throws {
        var harness = try await Harness()
        let power = harness.variable("fdm-01", "PowerKW")
        let created = try await harness.expect(CreateSubscriptionResponse.self, CreateSubscriptionRequest(
            requestedPublishingInterval: 1, requestedLifetimeCount: 1, requestedMaxKeepAliveCount: 5, publishingEnabled: true))
        // Revised: the interval to the 10 ms floor, the lifetime to at least 3 keep-alives.
        #expect(created.revisedPublishingInterval == 10)
        #expect(created.revisedLifetimeCount == 15)
        let modified = try await harness.expect(ModifySubscriptionResponse.self, ModifySubscriptionRequest(
            subscriptionId: created.subscriptionId, requestedPublishingInterval: 250, requestedLifetimeCount: 100, requestedMaxKeepAliveCount: 10))
        #expect(modified.revisedPublishingInterval == 250)
        #expect(modified.revisedLifetimeCount == 100)
        #expect(modified.revisedMaxKeepAliveCount == 10)
        let unknown = await harness.call(ModifySubscriptionRequest(subscriptionId: 9999))
        #expect(unknown?.responseHeader.serviceResult == .badSubscriptionIdInvalid)

        let items = try await harness.expect(CreateMonitoredItemsResponse.self, CreateMonitoredItemsRequest(
            subscriptionId: created.subscriptionId, timestampsToReturn: .both, itemsToCreate: [
                MonitoredItemCreateRequest(itemToMonitor: ReadValueId(nodeId: power, attributeId: AttributeId.value.rawValue), monitoringMode: .reporting,
                                           requestedParameters: MonitoringParameters(clientHandle: 1, samplingInterval: -1, queueSize: 0)),
                MonitoredItemCreateRequest(itemToMonitor: ReadValueId(nodeId: NodeId(string: "ghost", namespace: 2), attributeId: AttributeId.value.rawValue), monitoringMode: .reporting),
                MonitoredItemCreateRequest(itemToMonitor: ReadValueId(nodeId: NS0.ObjectsFolder, attributeId: AttributeId.value.rawValue), monitoringMode: .reporting),
                MonitoredItemCreateRequest(itemToMonitor: ReadValueId(nodeId: NS0.ObjectsFolder, attributeId: AttributeId.displayName.rawValue), monitoringMode: .reporting,
                                           requestedParameters: MonitoringParameters(filter: ExtensionObject(DataChangeFilter(trigger: .status)))),
            ]))
        let results = items.results ?? []
        #expect(results.map(\.statusCode) == [.good, .badNodeIdUnknown, .badAttributeIdInvalid, .badFilterNotAllowed])
        #expect(results.first?.revisedQueueSize == 1)
        #expect(results.first?.revisedSamplingInterval == 250, "-1 means the publishing interval")
        let itemId = try #require(results.first?.monitoredItemId)

        let changed = try await harness.expect(ModifyMonitoredItemsResponse.self, ModifyMonitoredItemsRequest(
            subscriptionId: created.subscriptionId, timestampsToReturn: .source, itemsToModify: [
                MonitoredItemModifyRequest(monitoredItemId: itemId, requestedParameters: MonitoringParameters(clientHandle: 2, samplingInterval: 0, queueSize: 5000, discardOldest: true)),
                MonitoredItemModifyRequest(monitoredItemId: 424242),
            ]))
        #expect(changed.results?.map(\.statusCode) == [.good, .badMonitoredItemIdInvalid])
        #expect(changed.results?.first?.revisedQueueSize == 1000, "clamped to maxQueueSize")

        let mode = try await harness.expect(SetMonitoringModeResponse.self, SetMonitoringModeRequest(
            subscriptionId: created.subscriptionId, monitoringMode: .disabled, monitoredItemIds: [itemId, 31337]))
        #expect(mode.results == [.good, .badMonitoredItemIdInvalid])
        let publishing = try await harness.expect(SetPublishingModeResponse.self, SetPublishingModeRequest(
            publishingEnabled: false, subscriptionIds: [created.subscriptionId, 777]))
        #expect(publishing.results == [.good, .badSubscriptionIdInvalid])
        let deleted = try await harness.expect(DeleteMonitoredItemsResponse.self, DeleteMonitoredItemsRequest(
            subscriptionId: created.subscriptionId, monitoredItemIds: [itemId, itemId]))
        #expect(deleted.results == [.good, .badMonitoredItemIdInvalid])
        let nothing = await harness.call(DeleteMonitoredItemsRequest(subscriptionId: created.subscriptionId, monitoredItemIds: []))
        #expect(nothing?.responseHeader.serviceResult == .badNothingToDo)
        let registered = try await harness.expect(RegisterNodesResponse.self, RegisterNodesRequest(nodesToRegister: [power]))
        #expect(registered.registeredNodeIds == [power])
        _ = try await harness.expect(UnregisterNodesResponse.self, UnregisterNodesRequest(nodesToUnregister: [power]))
        _ = try await harness.expect(CloseSessionResponse.self, CloseSessionRequest(deleteSubscriptions: true))
        let afterClose = await harness.call(ReadRequest(nodesToRead: [ReadValueId(nodeId: power, attributeId: 13)]))
        #expect(afterClose?.responseHeader.serviceResult == .badSessionIdInvalid)
    }

    @Test func renewedTokensReplaceTheOldOneOnceUsed() throws {
        var state = SecureChannelState(channelId: 5, minLifetime: 1000, maxLifetime: 60_000)
        let now = ContinuousClock.now
        let first = try state.open(OpenSecureChannelRequest(requestType: .issue, securityMode: .none, requestedLifetime: 30_000),
                                   securityPolicyUri: SecureChannelState.securityPolicyNone, requestChannelId: 0, now: now)
        let second = try state.open(OpenSecureChannelRequest(requestType: .renew, securityMode: .none, requestedLifetime: 30_000),
                                    securityPolicyUri: SecureChannelState.securityPolicyNone, requestChannelId: 5, now: now)
        #expect(first.tokenId != second.tokenId)
        #expect(try state.accept(tokenId: first.tokenId, channelId: 5, now: now) == first.tokenId, "the old token stays valid until the new one is used")
        #expect(try state.accept(tokenId: second.tokenId, channelId: 5, now: now) == second.tokenId)
        #expect(throws: OPCUAError.self) { try state.accept(tokenId: first.tokenId, channelId: 5, now: now) }
        // Expiry: 25 % past the revised lifetime.
        #expect(throws: OPCUAError.self) { try state.accept(tokenId: second.tokenId, channelId: 5, now: now + .seconds(40)) }
        // Policies other than None are refused.
        var other = SecureChannelState(channelId: 6, minLifetime: 1000, maxLifetime: 60_000)
        #expect(throws: OPCUAError.self) {
            try other.open(OpenSecureChannelRequest(requestType: .issue, securityMode: .none), securityPolicyUri: "http://opcfoundation.org/UA/SecurityPolicy#Basic256Sha256", requestChannelId: 0, now: now)
        }
    }
}
