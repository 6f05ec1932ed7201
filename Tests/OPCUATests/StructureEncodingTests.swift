import NIOCore
import Testing

@testable import OPCUA

/// The generated Part 4 structures, the service registry and the namespace-0 table.
///
/// The golden byte vectors below came from asyncua 1.1.5 (`asyncua.ua.ua_binary.struct_to_binary`,
/// and `to_binary` for the enumerations), building the same values in Python. For service messages
/// asyncua writes the `*_Encoding_DefaultBinary` NodeId before the body, so those vectors start with it.
struct StructureEncodingTests {
    // Times used in the vectors: 2024-05-06 07:08:09.123456 UTC and 2024-05-06 07:08:10 UTC.
    static let t1 = DateTime(ticks: 133_594_528_891_234_560)
    static let t2 = DateTime(ticks: 133_594_528_900_000_000)

    static func requestHeader(_ handle: UInt32) -> RequestHeader {
        RequestHeader(
            authenticationToken: NodeId(.opaque([1, 2, 3, 4])), timestamp: t1, requestHandle: handle, returnDiagnostics: 0,
            auditEntryId: nil, timeoutHint: 10_000, additionalHeader: .null
        )
    }

    static func responseHeader(_ handle: UInt32) -> ResponseHeader {
        ResponseHeader(
            timestamp: t2, requestHandle: handle, serviceResult: .good, serviceDiagnostics: .empty, stringTable: [],
            additionalHeader: .null
        )
    }

    private func bytes(fromHex hex: String) -> [UInt8] {
        var result: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            result.append(UInt8(hex[index..<next], radix: 16)!)
            index = next
        }
        return result
    }

    private func encoded(_ value: some OPCUACodable) -> [UInt8] {
        var buffer = ByteBuffer()
        value.encode(to: &buffer)
        return Array(buffer.readableBytesView)
    }

    /// Encodes like asyncua encodes a service message: the encoding id, then the body.
    private func encodedWithTypeId<T: OPCUAStructure>(_ value: T) -> [UInt8] {
        var buffer = ByteBuffer()
        T.binaryEncodingId.encode(to: &buffer)
        value.encode(to: &buffer)
        return Array(buffer.readableBytesView)
    }

    /// Asserts `value` encodes to the golden bytes and the bytes decode back to `value` with nothing left.
    private func checkGolden<T: OPCUAStructure & Equatable>(_ value: T, _ hex: String, withTypeId: Bool) throws {
        let golden = bytes(fromHex: hex)
        #expect((withTypeId ? encodedWithTypeId(value) : encoded(value)) == golden)
        var buffer = ByteBuffer(bytes: golden)
        if withTypeId { #expect(try NodeId(decoding: &buffer) == T.binaryEncodingId) }
        let back = try T(decoding: &buffer)
        #expect(back == value)
        #expect(buffer.readableBytes == 0)
    }

    // MARK: - Golden vectors (asyncua 1.1.5)

    @Test func readRequestMatchesAsyncua() throws {
        let request = ReadRequest(
            requestHeader: Self.requestHeader(42), maxAge: 500, timestampsToReturn: .both,
            nodesToRead: [
                ReadValueId(nodeId: NodeId(numeric: 2258), attributeId: AttributeId.value.rawValue),
                ReadValueId(
                    nodeId: NodeId(string: "dmls-01.Temperature", namespace: 2), attributeId: 13, indexRange: "1:2",
                    dataEncoding: QualifiedName("Default Binary")
                ),
            ]
        )
        try checkGolden(
            request,
            "01007702050000040000000102030400697f26849fda012a00000000000000ffffffff102700000000000000000000407f40020000000200000001"
                + "00d2080d000000ffffffff0000ffffffff03020013000000646d6c732d30312e54656d70657261747572650d00000003000000313a320000"
                + "0e00000044656661756c742042696e617279",
            withTypeId: true
        )
    }

    @Test func readResponseMatchesAsyncua() throws {
        let response = ReadResponse(
            responseHeader: Self.responseHeader(42),
            results: [
                DataValue(value: .scalar(.double(21.5)), status: .good, sourceTimestamp: Self.t1, serverTimestamp: Self.t2),
                // asyncua always writes a DataValue's Value (here the null Variant) and its StatusCode.
                DataValue(value: .empty, status: .badNodeIdUnknown),
            ],
            diagnosticInfos: []
        )
        try checkGolden(
            response,
            "01007a0200290527849fda012a000000000000000000000000000000020000000f0b00000000008035400000000000697f26849fda0100290527849fda01"
                + "03000000348000000000",
            withTypeId: true
        )
    }

    @Test func browseRequestMatchesAsyncua() throws {
        let request = BrowseRequest(
            requestHeader: Self.requestHeader(7), view: ViewDescription(), requestedMaxReferencesPerNode: 100,
            nodesToBrowse: [
                BrowseDescription(
                    nodeId: NS0.ObjectsFolder, browseDirection: .forward, referenceTypeId: NS0.HierarchicalReferences,
                    includeSubtypes: true, nodeClassMask: 0, resultMask: UInt32(BrowseResultMask.all.rawValue)
                )
            ]
        )
        try checkGolden(
            request,
            "01000f02050000040000000102030400697f26849fda010700000000000000ffffffff10270000000000000000000000000000000000000064000000"
                + "01000000005500000000002101000000003f000000",
            withTypeId: true
        )
    }

    @Test func createSessionRequestMatchesAsyncua() throws {
        let request = CreateSessionRequest(
            requestHeader: Self.requestHeader(1),
            clientDescription: ApplicationDescription(
                applicationUri: "urn:sinter:client", productUri: "urn:sinter",
                applicationName: LocalizedText("Sinter client", locale: "en"), applicationType: .client, discoveryUrls: []
            ),
            serverUri: nil, endpointUrl: "opc.tcp://localhost:4840", sessionName: "session-1",
            clientNonce: ByteString(Array(0..<32)), clientCertificate: .null, requestedSessionTimeout: 3_600_000,
            maxResponseMessageSize: 0
        )
        try checkGolden(
            request,
            "0100cd01050000040000000102030400697f26849fda010100000000000000ffffffff102700000000001100000075726e3a73696e7465723a636c"
                + "69656e740a00000075726e3a73696e7465720302000000656e0d00000053696e74657220636c69656e7401000000ffffffffffffffff0000"
                + "0000ffffffff180000006f70632e7463703a2f2f6c6f63616c686f73743a343834300900000073657373696f6e2d312000000000010203040506"
                + "0708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1fffffffff0000000040774b4100000000",
            withTypeId: true
        )
    }

    @Test func publishResponseWithDataChangeMatchesAsyncua() throws {
        let change = DataChangeNotification(
            monitoredItems: [
                MonitoredItemNotification(
                    clientHandle: 7, value: DataValue(value: .scalar(.float(1.5)), status: .good, sourceTimestamp: Self.t1)
                )
            ],
            diagnosticInfos: []
        )
        try checkGolden(change, "0100000007000000070a0000c03f0000000000697f26849fda0100000000", withTypeId: false)
        let response = PublishResponse(
            responseHeader: Self.responseHeader(9), subscriptionId: 1, availableSequenceNumbers: [1], moreNotifications: false,
            notificationMessage: NotificationMessage(sequenceNumber: 1, publishTime: Self.t2, notificationData: [ExtensionObject(change)]),
            results: [], diagnosticInfos: []
        )
        try checkGolden(
            response,
            "01003d0300290527849fda0109000000000000000000000000000000010000000100000001000000000100000000290527849fda0101000000010"
                + "02b03011e0000000100000007000000070a0000c03f0000000000697f26849fda01000000000000000000000000",
            withTypeId: true
        )
        // The notification inside the ExtensionObject decodes back to the DataChangeNotification.
        let wrapped = try #require(response.notificationMessage.notificationData?.first)
        #expect(wrapped.typeId == NS0.DataChangeNotification_Encoding_DefaultBinary)
        #expect(try wrapped.decode(DataChangeNotification.self) == change)
        #expect(try wrapped.decode(StatusChangeNotification.self) == nil)
    }

    @Test func openSecureChannelRequestMatchesAsyncua() throws {
        let request = OpenSecureChannelRequest(
            requestHeader: Self.requestHeader(0), clientProtocolVersion: 0, requestType: .issue, securityMode: .none,
            clientNonce: ByteString([]), requestedLifetime: 600_000
        )
        try checkGolden(
            request,
            "0100be01050000040000000102030400697f26849fda010000000000000000ffffffff1027000000000000000000000000000100000000000000c0270900",
            withTypeId: true
        )
    }

    @Test func activateSessionRequestWithUserNameTokenMatchesAsyncua() throws {
        let token = UserNameIdentityToken(
            policyId: "username", userName: "operator", password: ByteString(Array("secret".utf8)), encryptionAlgorithm: nil
        )
        let request = ActivateSessionRequest(
            requestHeader: Self.requestHeader(2), clientSignature: SignatureData(), clientSoftwareCertificates: [],
            localeIds: ["en"], userIdentityToken: ExtensionObject(token), userTokenSignature: SignatureData()
        )
        try checkGolden(
            request,
            "0100d301050000040000000102030400697f26849fda010200000000000000ffffffff10270000000000ffffffffffffffff000000000100000002"
                + "000000656e01004401012600000008000000757365726e616d65080000006f70657261746f7206000000736563726574ffffffffffffffff"
                + "ffffffff",
            withTypeId: true
        )
        #expect(try request.userIdentityToken.decode(UserNameIdentityToken.self) == token)
    }

    @Test func serverStatusMatchesAsyncua() throws {
        let status = ServerStatusDataType(
            startTime: Self.t1, currentTime: Self.t2, state: .running,
            buildInfo: BuildInfo(
                productUri: "urn:sinter", manufacturerName: "Sinter", productName: "Sinter OPC UA", softwareVersion: "0.5.0",
                buildNumber: "5", buildDate: Self.t1
            ),
            secondsTillShutdown: 0, shutdownReason: .null
        )
        try checkGolden(
            status,
            "00697f26849fda0100290527849fda01000000000a00000075726e3a73696e7465720600000053696e7465720d00000053696e746572204f5043"
                + "2055410500000030" + "2e352e30010000003500697f26849fda010000000000",
            withTypeId: false
        )
    }

    @Test func enumerationsMatchAsyncuaAndStayOpen() throws {
        #expect(encoded(ServerState.communicationFault) == bytes(fromHex: "06000000"))
        #expect(encoded(BrowseDirection.both) == bytes(fromHex: "02000000"))
        var buffer = ByteBuffer(bytes: bytes(fromHex: "06000000"))
        #expect(try ServerState(decoding: &buffer) == .communicationFault)
        // A value the schema does not name still decodes and re-encodes unchanged.
        buffer = ByteBuffer(bytes: [99, 0, 0, 0])
        let unknown = try ServerState(decoding: &buffer)
        #expect(unknown.rawValue == 99)
        #expect(unknown.description == "ServerState(99)")
        #expect(encoded(unknown) == [99, 0, 0, 0])
        #expect(NodeClass.variable.description == "Variable")
        #expect(AccessLevelType([.currentRead, .currentWrite]).description == "CurrentRead|CurrentWrite")
        #expect(encoded(AccessLevelType.currentRead) == [1])
    }

    @Test func truncatedStructureFailsToDecode() throws {
        let golden = encoded(ReadRequest(requestHeader: Self.requestHeader(1), nodesToRead: [ReadValueId(nodeId: NS0.Server)]))
        for length in [0, 10, golden.count - 1] {
            var buffer = ByteBuffer(bytes: golden.prefix(length))
            #expect(throws: OPCUAError.self) { try ReadRequest(decoding: &buffer) }
        }
    }

    // MARK: - Registry

    @Test func everyServiceTypeRoundTripsThroughTheRegistry() throws {
        let required: [any ServiceRequest.Type] = [
            OpenSecureChannelRequest.self, CloseSecureChannelRequest.self, FindServersRequest.self, GetEndpointsRequest.self,
            CreateSessionRequest.self, ActivateSessionRequest.self, CloseSessionRequest.self, CancelRequest.self,
            BrowseRequest.self, BrowseNextRequest.self, TranslateBrowsePathsToNodeIdsRequest.self, RegisterNodesRequest.self,
            UnregisterNodesRequest.self, ReadRequest.self, WriteRequest.self, CreateSubscriptionRequest.self,
            ModifySubscriptionRequest.self, SetPublishingModeRequest.self, CreateMonitoredItemsRequest.self,
            ModifyMonitoredItemsRequest.self, SetMonitoringModeRequest.self, DeleteMonitoredItemsRequest.self,
            PublishRequest.self, RepublishRequest.self, DeleteSubscriptionsRequest.self, TransferSubscriptionsRequest.self,
        ]
        for type in required {
            #expect(ServiceRegistry.requestTypes.contains { $0 == type }, "\(type) is not in the registry")
        }
        // Every request has its response, plus ServiceFault.
        #expect(ServiceRegistry.responseTypes.count == ServiceRegistry.requestTypes.count + 1)
        #expect(ServiceRegistry.responseTypes.contains { $0 == ServiceFault.self })
        for type in ServiceRegistry.requestTypes {
            let value = type.init()
            var buffer = ByteBuffer()
            value.encode(to: &buffer)
            let decoded = try #require(try ServiceRegistry.decodeRequest(encodingId: type.binaryEncodingId, from: &buffer), "\(type)")
            #expect(Swift.type(of: decoded) == type)
            #expect(buffer.readableBytes == 0, "\(type)")
            #expect(value as? AnyHashable != nil && decoded as? AnyHashable == value as? AnyHashable, "\(type)")
        }
        for type in ServiceRegistry.responseTypes {
            let value = type.init()
            var buffer = ByteBuffer()
            value.encode(to: &buffer)
            let decoded = try #require(try ServiceRegistry.decodeResponse(encodingId: type.binaryEncodingId, from: &buffer), "\(type)")
            #expect(Swift.type(of: decoded) == type)
            #expect(buffer.readableBytes == 0, "\(type)")
            #expect(value as? AnyHashable != nil && decoded as? AnyHashable == value as? AnyHashable, "\(type)")
        }
        let requestIds = Set(ServiceRegistry.requestTypes.map { $0.binaryEncodingId })
        #expect(requestIds.count == ServiceRegistry.requestTypes.count)
    }

    @Test func registryAnswersNilForUnknownIdsWithoutConsuming() throws {
        var buffer = ByteBuffer(bytes: [1, 2, 3])
        #expect(try ServiceRegistry.decodeRequest(encodingId: NodeId(numeric: 634), from: &buffer) == nil)  // a response id
        #expect(try ServiceRegistry.decodeRequest(encodingId: NodeId(numeric: 631, namespace: 1), from: &buffer) == nil)
        #expect(try ServiceRegistry.decodeResponse(encodingId: NodeId(numeric: 631), from: &buffer) == nil)  // a request id
        #expect(buffer.readableBytes == 3)
        var fault = ByteBuffer()
        ServiceFault(responseHeader: ResponseHeader(requestHandle: 5, serviceResult: .badServiceUnsupported)).encode(to: &fault)
        let decoded = try #require(try ServiceRegistry.decodeResponse(encodingId: ServiceFault.binaryEncodingId, from: &fault))
        #expect(decoded.responseHeader.serviceResult == .badServiceUnsupported)
        #expect(decoded.responseHeader.requestHandle == 5)
    }

    // MARK: - NodeIds and namespace 0

    @Test func nodeIdConstantsFollowTheCsv() {
        #expect(NS0.Server_ServerStatus_CurrentTime == NodeId(numeric: 2258))
        #expect(NS0.HasTypeDefinition == NodeId(numeric: 40))
        #expect(NS0.NodeId == NodeId(numeric: 17))
        #expect(NS0.ReadRequest_Encoding_DefaultBinary == ReadRequest.binaryEncodingId)
        #expect(OPCUARange.binaryEncodingId == NS0.Range_Encoding_DefaultBinary)
        #expect(AttributeId.nodeId.rawValue == 1)
        #expect(AttributeId.value.rawValue == 13)
        #expect(AttributeId.accessLevelEx.rawValue == 27)
        #expect(AttributeId.allCases.count == 27)
        #expect(AttributeId.displayName.description == "DisplayName")
    }

    @Test func namespace0TableIsConsistent() throws {
        var byId: [UInt32: NS0Node] = [:]
        for node in namespace0Nodes {
            #expect(byId[node.id] == nil, "duplicate node \(node.id)")
            byId[node.id] = node
        }
        for node in namespace0Nodes {
            for reference in node.references {
                let target = try #require(byId[reference.target], "\(node.id) references missing \(reference.target)")
                #expect(byId[reference.referenceType]?.nodeClass == NodeClass.referenceType.rawValue)
                // Every reference is listed from both ends.
                #expect(
                    target.references.contains {
                        $0.target == node.id && $0.referenceType == reference.referenceType && $0.isForward != reference.isForward
                    },
                    "\(node.id) -> \(reference.target) is not mirrored"
                )
            }
            if node.nodeClass == NodeClass.variable.rawValue || node.nodeClass == NodeClass.object.rawValue {
                #expect(node.references.contains { $0.referenceType == 40 && $0.isForward }, "\(node.id) has no type definition")
            }
            if node.nodeClass == NodeClass.dataType.rawValue && node.id != 24 {
                #expect(node.references.contains { $0.referenceType == 45 && !$0.isForward }, "\(node.id) has no supertype")
            }
        }
        // Root reaches the Server object through forward Organizes/HasComponent references.
        var seen: Set<UInt32> = [84]
        var queue: [UInt32] = [84]
        while let next = queue.popLast() {
            for reference in byId[next]?.references ?? [] where reference.isForward && [35, 47].contains(reference.referenceType) {
                if seen.insert(reference.target).inserted { queue.append(reference.target) }
            }
        }
        #expect(seen.contains(2253))
        #expect(seen.contains(2258))  // ServerStatus.CurrentTime, via ServerStatus
        let serverStatus = try #require(byId[2256])
        #expect(serverStatus.references.contains { $0.referenceType == 40 && $0.target == 2138 && $0.isForward })
        #expect(byId[2138]?.nodeClass == NodeClass.variableType.rawValue)
        #expect(serverStatus.dataType == 862)
        // All ReferenceTypes, with their attributes.
        #expect(namespace0Nodes.filter { $0.nodeClass == NodeClass.referenceType.rawValue }.count >= 50)
        #expect(byId[33]?.isAbstract == true)  // HierarchicalReferences
        #expect(byId[45]?.inverseName == "SubtypeOf")
        #expect(byId[26]?.isAbstract == true)  // Number
        // The built-in DataTypes.
        for builtin in BuiltinType.allCases where builtin != .variant {
            #expect(byId[UInt32(builtin.rawValue)]?.nodeClass == NodeClass.dataType.rawValue, "\(builtin)")
        }
        // A constant Property value: the EnumStrings of ServerState.
        let enumStrings = try #require(byId[7612]?.value)
        #expect(enumStrings == .array(.localizedText((["Running", "Failed", "NoConfiguration", "Suspended", "Shutdown", "Test", "CommunicationFault", "Unknown"] as [String]).map { LocalizedText($0) }), dimensions: nil))
        #expect(byId[2253]?.eventNotifier == 1)
    }
}
