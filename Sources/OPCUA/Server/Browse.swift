// Browse (OPC 10000-4 §5.8.2) and TranslateBrowsePathsToNodeIds (§5.8.4) over the address space.

extension AddressSpace {
    /// All references of a node matching a BrowseDescription, as ReferenceDescriptions.
    /// Returns a bad status for an unknown node, reference type or direction.
    public func browse(_ description: BrowseDescription) -> (StatusCode, [ReferenceDescription]) {
        guard let node = nodes[description.nodeId] else { return (.badNodeIdUnknown, []) }
        guard description.browseDirection.rawValue >= 0, description.browseDirection.rawValue <= 2 else {
            return (.badBrowseDirectionInvalid, [])
        }
        if !description.referenceTypeId.isNull {
            guard let refType = nodes[description.referenceTypeId], refType.nodeClass == .referenceType else {
                return (.badReferenceTypeIdInvalid, [])
            }
        }
        let mask = description.resultMask
        var results: [ReferenceDescription] = []
        for reference in node.references {
            switch description.browseDirection {
            case .forward where !reference.isForward: continue
            case .inverse where reference.isForward: continue
            default: break
            }
            guard referenceMatches(reference.referenceType, filter: description.referenceTypeId, includeSubtypes: description.includeSubtypes) else { continue }
            let target = nodes[reference.target]
            if description.nodeClassMask != 0 {
                guard let target, UInt32(bitPattern: target.nodeClass.rawValue) & description.nodeClassMask != 0 else { continue }
            }
            var result = ReferenceDescription()
            result.nodeId = ExpandedNodeId(reference.target)
            if mask & 0x01 != 0 { result.referenceTypeId = reference.referenceType }
            if mask & 0x02 != 0 { result.isForward = reference.isForward }
            if let target {
                if mask & 0x04 != 0 { result.nodeClass = target.nodeClass }
                if mask & 0x08 != 0 { result.browseName = target.browseName }
                if mask & 0x10 != 0 { result.displayName = target.displayName }
                if mask & 0x20 != 0, target.nodeClass == .object || target.nodeClass == .variable,
                   let typeDefinition = target.typeDefinition {
                    result.typeDefinition = ExpandedNodeId(typeDefinition)
                }
            }
            results.append(result)
        }
        return (.good, results)
    }

    /// Follows a relative path from a starting node (OPC 10000-4 §5.8.4).
    public func translate(_ path: BrowsePath) -> BrowsePathResult {
        guard nodes[path.startingNode] != nil else { return BrowsePathResult(statusCode: .badNodeIdUnknown) }
        let elements = path.relativePath.elements ?? []
        guard !elements.isEmpty else { return BrowsePathResult(statusCode: .badNothingToDo) }
        var current: [NodeId] = [path.startingNode]
        for element in elements {
            guard let name = element.targetName.name, !name.isEmpty else {
                return BrowsePathResult(statusCode: .badBrowseNameInvalid)
            }
            var next: [NodeId] = []
            for source in current {
                guard let node = nodes[source] else { continue }
                for reference in node.references where reference.isForward == !element.isInverse {
                    let filter = element.referenceTypeId.isNull ? NS0.HierarchicalReferences : element.referenceTypeId
                    guard referenceMatches(reference.referenceType, filter: filter, includeSubtypes: element.includeSubtypes || element.referenceTypeId.isNull) else { continue }
                    guard let target = nodes[reference.target], target.browseName == element.targetName else { continue }
                    if !next.contains(reference.target) { next.append(reference.target) }
                }
            }
            if next.isEmpty {
                return BrowsePathResult(statusCode: .badNoMatch)
            }
            current = next
        }
        return BrowsePathResult(
            statusCode: .good,
            targets: current.map { BrowsePathTarget(targetId: ExpandedNodeId($0), remainingPathIndex: UInt32.max) }
        )
    }
}
