// Reading and writing node attributes (OPC 10000-4 §5.10.2 Read, §5.10.4 Write).
import NIOCore

extension AddressSpace {
    /// Reads one attribute. Missing nodes give BadNodeIdUnknown; attributes the node class
    /// does not have give BadAttributeIdInvalid; an unreadable value gives BadNotReadable.
    public func read(_ id: NodeId, attribute: UInt32, timestamps: TimestampsToReturn = .both, now: DateTime = .now) -> DataValue {
        guard let node = nodes[id] else { return DataValue(status: .badNodeIdUnknown) }
        guard let attributeId = AttributeId(rawValue: attribute) else { return DataValue(status: .badAttributeIdInvalid) }
        func plain(_ scalar: Scalar) -> DataValue { DataValue(value: .scalar(scalar)) }
        let cls = node.nodeClass
        let isVariableLike = cls == .variable || cls == .variableType
        let isType = cls == .objectType || cls == .variableType || cls == .referenceType || cls == .dataType
        switch attributeId {
        case .nodeId: return plain(.nodeId(node.nodeId))
        case .nodeClass: return plain(.int32(node.nodeClass.rawValue))
        case .browseName: return plain(.qualifiedName(node.browseName))
        case .displayName: return plain(.localizedText(node.displayName))
        case .description: return plain(.localizedText(node.description))
        case .writeMask: return plain(.uint32(node.writeMask))
        case .userWriteMask: return plain(.uint32(node.writeMask))
        case .isAbstract where isType: return plain(.boolean(node.isAbstract))
        case .symmetric where cls == .referenceType: return plain(.boolean(node.symmetric))
        case .inverseName where cls == .referenceType:
            guard let inverse = node.inverseName else { return DataValue(status: .badAttributeIdInvalid) }
            return plain(.localizedText(inverse))
        case .containsNoLoops where cls == .view: return plain(.boolean(node.containsNoLoops))
        case .eventNotifier where cls == .object || cls == .view: return plain(.byte(node.eventNotifier))
        case .value where isVariableLike:
            if cls == .variable && node.accessLevel & AccessLevel.currentRead == 0 { return DataValue(status: .badNotReadable) }
            return applying(timestamps, to: node.value, now: now)
        case .dataType where isVariableLike: return plain(.nodeId(node.dataType))
        case .valueRank where isVariableLike: return plain(.int32(node.valueRank))
        case .arrayDimensions where isVariableLike:
            guard let dims = node.arrayDimensions else { return DataValue(value: .nullArray(.uint32)) }
            return DataValue(value: .array(.uint32(dims), dimensions: nil))
        case .accessLevel where cls == .variable, .userAccessLevel where cls == .variable:
            return plain(.byte(node.accessLevel))
        case .accessLevelEx where cls == .variable: return plain(.uint32(UInt32(node.accessLevel)))
        case .minimumSamplingInterval where cls == .variable: return plain(.double(node.minimumSamplingInterval))
        case .historizing where cls == .variable: return plain(.boolean(node.historizing))
        case .executable where cls == .method, .userExecutable where cls == .method: return plain(.boolean(node.executable))
        default: return DataValue(status: .badAttributeIdInvalid)
        }
    }

    /// Keeps the timestamps the client asked for (OPC 10000-4 §7.40).
    public func applying(_ timestamps: TimestampsToReturn, to value: DataValue, now: DateTime) -> DataValue {
        var result = value
        switch timestamps {
        case .source:
            result.serverTimestamp = nil
            result.serverPicoseconds = nil
        case .server:
            result.sourceTimestamp = nil
            result.sourcePicoseconds = nil
            result.serverTimestamp = now
        case .neither:
            result.sourceTimestamp = nil
            result.sourcePicoseconds = nil
            result.serverTimestamp = nil
            result.serverPicoseconds = nil
        default:
            result.serverTimestamp = now
        }
        return result
    }

    /// Checks a value against a variable's DataType, ValueRank and ArrayDimensions.
    public func accepts(_ value: Variant, for node: Node) -> Bool {
        guard let type = value.type else { return true }  // null values are allowed
        let valueType = type == .variant ? NodeId(numeric: 24) : type.dataTypeId
        let typeOK: Bool
        if node.dataType == NodeId(numeric: 24) || isSubtype(valueType, of: node.dataType) {
            typeOK = true
        } else if type == .int32, isSubtype(node.dataType, of: NS0.Enumeration) {
            typeOK = true
        } else if type == .extensionObject, isSubtype(node.dataType, of: NS0.Structure) {
            typeOK = true
        } else if type == .byteString, node.dataType == NodeId(numeric: 15) {
            typeOK = true
        } else {
            typeOK = false
        }
        guard typeOK else { return false }
        let rank = value.valueRank ?? -1
        switch node.valueRank {
        case -2: break
        case -3: guard rank == -1 || rank == 1 else { return false }
        case -1: guard rank == -1 else { return false }
        case 0: guard rank >= 1 else { return false }
        default: guard rank == node.valueRank else { return false }
        }
        if let fixed = node.arrayDimensions, rank >= 1, let actual = value.arrayDimensions, fixed.count == actual.count {
            for (want, got) in zip(fixed, actual) where want != 0 && want != got { return false }
        }
        return true
    }

    /// Writes one attribute: only the Value of a writable variable.
    ///
    /// Timestamp policy: a SourceTimestamp the client sends is kept; without one the server
    /// stamps the write time. The ServerTimestamp is always the server's time of the write.
    /// A StatusCode the client sends is kept (Good when absent). Writes with an IndexRange
    /// are refused with BadWriteNotSupported.
    public mutating func write(_ request: WriteValue, now: DateTime = .now) -> (StatusCode, DataValue?) {
        guard let node = nodes[request.nodeId] else { return (.badNodeIdUnknown, nil) }
        guard let attribute = AttributeId(rawValue: request.attributeId) else { return (.badAttributeIdInvalid, nil) }
        guard attribute == .value else {
            return (read(request.nodeId, attribute: request.attributeId).status == .badAttributeIdInvalid ? .badAttributeIdInvalid : .badNotWritable, nil)
        }
        guard node.nodeClass == .variable else { return (.badAttributeIdInvalid, nil) }
        guard node.accessLevel & AccessLevel.currentWrite != 0 else { return (.badNotWritable, nil) }
        if let range = request.indexRange, !range.isEmpty { return (.badWriteNotSupported, nil) }
        guard request.value.serverTimestamp == nil, request.value.serverPicoseconds == nil else {
            return (.badWriteNotSupported, nil)
        }
        let variant = request.value.value ?? .empty
        guard accepts(variant, for: node) else { return (.badTypeMismatch, nil) }
        var stored = DataValue(value: variant)
        stored.status = request.value.status.flatMap { $0 == .good ? nil : $0 }
        stored.sourceTimestamp = request.value.sourceTimestamp ?? now
        stored.sourcePicoseconds = request.value.sourceTimestamp == nil ? nil : request.value.sourcePicoseconds
        stored.serverTimestamp = now
        nodes[request.nodeId]?.value = stored
        return (.good, stored)
    }
}
