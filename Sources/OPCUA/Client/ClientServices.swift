// View and attribute services of the client: Browse, TranslateBrowsePathsToNodeIds, Read, Write.

extension OPCUAClient {
    /// The references of a node (Browse, then BrowseNext while the server returns continuation points).
    ///
    /// - Parameters:
    ///   - direction: forward (default), inverse or both.
    ///   - referenceType: the reference type to follow; default HierarchicalReferences.
    ///   - includeSubtypes: follow subtypes of `referenceType` too (default true).
    /// - Throws: the result's bad status (`BadNodeIdUnknown`, …) or the service's.
    public func browse(
        _ nodeId: NodeId, direction: BrowseDirection = .forward, referenceType: NodeId = NS0.HierarchicalReferences,
        includeSubtypes: Bool = true
    ) async throws(OPCUAError) -> [ReferenceDescription] {
        let description = BrowseDescription(
            nodeId: nodeId, browseDirection: direction, referenceTypeId: referenceType, includeSubtypes: includeSubtypes,
            nodeClassMask: 0, resultMask: 0x3F)
        let response = try await call(BrowseRequest(view: ViewDescription(), requestedMaxReferencesPerNode: 0, nodesToBrowse: [description]), expecting: BrowseResponse.self)
        guard let first = response.results?.first else { throw OPCUAError(.badUnknownResponse, "Browse \(nodeId): no result") }
        var result = first
        var references: [ReferenceDescription] = []
        var rounds = 0
        while true {
            guard !result.statusCode.isBad else { throw OPCUAError(result.statusCode, "Browse \(nodeId): \(result.statusCode)") }
            references += result.references ?? []
            guard let point = result.continuationPoint.bytes, !point.isEmpty else { return references }
            rounds += 1
            guard rounds <= 100_000 else {
                throw OPCUAError(.badTooManyOperations, "Browse \(nodeId): still continuing after \(rounds) BrowseNext calls")
            }
            let next = try await call(
                BrowseNextRequest(releaseContinuationPoints: false, continuationPoints: [result.continuationPoint]), expecting: BrowseNextResponse.self)
            guard let nextResult = next.results?.first else { throw OPCUAError(.badUnknownResponse, "BrowseNext \(nodeId): no result") }
            result = nextResult
        }
    }

    /// The node at the end of a browse path of hierarchical references (forward, subtypes included).
    ///
    /// - Throws: the result's bad status (`BadNoMatch`, …).
    public func translate(_ startingNode: NodeId, path: [QualifiedName]) async throws(OPCUAError) -> NodeId {
        let elements = path.map {
            RelativePathElement(referenceTypeId: NS0.HierarchicalReferences, isInverse: false, includeSubtypes: true, targetName: $0)
        }
        let browsePath = BrowsePath(startingNode: startingNode, relativePath: RelativePath(elements: elements))
        let response = try await call(TranslateBrowsePathsToNodeIdsRequest(browsePaths: [browsePath]), expecting: TranslateBrowsePathsToNodeIdsResponse.self)
        let text = "\(startingNode)/" + path.map(\.description).joined(separator: "/")
        guard let result = response.results?.first else { throw OPCUAError(.badUnknownResponse, "TranslateBrowsePaths \(text): no result") }
        guard !result.statusCode.isBad else { throw OPCUAError(result.statusCode, "TranslateBrowsePaths \(text): \(result.statusCode)") }
        let targets = result.targets ?? []
        guard let target = targets.first(where: { $0.remainingPathIndex == UInt32.max }) ?? targets.first else {
            throw OPCUAError(.badNoMatch, "TranslateBrowsePaths \(text): no target")
        }
        return target.targetId.nodeId
    }

    /// Reads one attribute of several nodes; one DataValue per node, in order (each with its own status).
    public func read(_ ids: [NodeId], attribute: AttributeId = .value) async throws(OPCUAError) -> [DataValue] {
        guard !ids.isEmpty else { return [] }
        let request = ReadRequest(
            maxAge: 0, timestampsToReturn: .both, nodesToRead: ids.map { ReadValueId(nodeId: $0, attributeId: attribute.rawValue) })
        let response = try await call(request, expecting: ReadResponse.self)
        let results = response.results ?? []
        guard results.count == ids.count else {
            throw OPCUAError(.badUnknownResponse, "Read: \(results.count) results for \(ids.count) nodes")
        }
        return results
    }

    /// The Value of one node.
    ///
    /// - Throws: the value's bad status (`BadNodeIdUnknown`, `BadNotReadable`, …).
    public func readValue(_ id: NodeId) async throws(OPCUAError) -> Variant {
        let value = try await read([id])[0]
        guard !value.effectiveStatus.isBad else { throw OPCUAError(value.effectiveStatus, "Read \(id): \(value.effectiveStatus)") }
        return value.value ?? .empty
    }

    /// Writes the Value attribute of several nodes; one status per node, in order.
    public func write(_ values: [(NodeId, DataValue)]) async throws(OPCUAError) -> [StatusCode] {
        guard !values.isEmpty else { return [] }
        let request = WriteRequest(nodesToWrite: values.map { WriteValue(nodeId: $0.0, attributeId: AttributeId.value.rawValue, value: $0.1) })
        let response = try await call(request, expecting: WriteResponse.self)
        let results = response.results ?? []
        guard results.count == values.count else {
            throw OPCUAError(.badUnknownResponse, "Write: \(results.count) results for \(values.count) nodes")
        }
        return results
    }

    /// Writes a node's Value (a DataValue holding only the Variant).
    ///
    /// - Throws: the write's bad status (`BadTypeMismatch`, `BadNotWritable`, …).
    public func writeValue(_ id: NodeId, _ variant: Variant) async throws(OPCUAError) {
        let status = try await write([(id, DataValue(value: variant))])[0]
        guard !status.isBad else { throw OPCUAError(status, "Write \(id): \(status)") }
    }

    /// The server's NamespaceArray (read each time: a restarted server may have renumbered).
    public func namespaceArray() async throws(OPCUAError) -> [String] {
        let value = try await readValue(NS0.Server_NamespaceArray)
        guard case .array(.string(let uris), _) = value else {
            throw OPCUAError(.badTypeMismatch, "NamespaceArray is not a String array: \(value)")
        }
        return uris.map { $0 ?? "" }
    }

    /// The index of a namespace URI in the server's NamespaceArray; nil if the server does not have it.
    public func namespaceIndex(of uri: String) async throws(OPCUAError) -> UInt16? {
        guard let index = try await namespaceArray().firstIndex(of: uri) else { return nil }
        return UInt16(exactly: index)
    }
}
