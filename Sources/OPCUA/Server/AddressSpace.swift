// The server's address space (OPC 10000-3): nodes, references, attributes, the namespace-0
// nodes clients expect, and the type hierarchies Browse and Write consult.
import NIOCore

/// One reference from a node: its type, target and direction.
public struct Reference: Hashable, Sendable {
    public var referenceType: NodeId
    public var target: NodeId
    public var isForward: Bool

    public init(_ referenceType: NodeId, _ target: NodeId, isForward: Bool = true) {
        self.referenceType = referenceType
        self.target = target
        self.isForward = isForward
    }
}

/// AccessLevel bits (OPC 10000-3 §8.57).
public enum AccessLevel {
    public static let currentRead: UInt8 = 0x01
    public static let currentWrite: UInt8 = 0x02
    public static let readWrite: UInt8 = 0x03
}

/// A node and its attributes. Attributes that do not apply to the node class are ignored
/// when reading (the Read service answers BadAttributeIdInvalid for them).
public struct Node: Sendable {
    public var nodeId: NodeId
    public var nodeClass: NodeClass
    public var browseName: QualifiedName
    public var displayName: LocalizedText
    public var description: LocalizedText = .null
    public var writeMask: UInt32 = 0
    public var references: [Reference] = []
    /// Variable / VariableType: the current value with its status and timestamps.
    public var value = DataValue()
    public var dataType: NodeId = NodeId(numeric: 24)
    public var valueRank: Int32 = -1
    public var arrayDimensions: [UInt32]?
    public var accessLevel: UInt8 = AccessLevel.currentRead
    public var minimumSamplingInterval: Double = 0
    public var historizing = false
    /// ObjectType, VariableType, ReferenceType, DataType.
    public var isAbstract = false
    /// ReferenceType.
    public var symmetric = false
    public var inverseName: LocalizedText?
    /// Object, View.
    public var eventNotifier: UInt8 = 0
    /// View.
    public var containsNoLoops = false
    /// Method.
    public var executable = false

    public init(nodeId: NodeId, nodeClass: NodeClass, browseName: QualifiedName, displayName: LocalizedText? = nil) {
        self.nodeId = nodeId
        self.nodeClass = nodeClass
        self.browseName = browseName
        self.displayName = displayName ?? LocalizedText(browseName.name)
    }

    /// The target of the first forward HasTypeDefinition reference.
    public var typeDefinition: NodeId? {
        references.first { $0.isForward && $0.referenceType == NS0.HasTypeDefinition }?.target
    }
}

/// Nodes by id, with the namespace table and the subtype relation of all type nodes.
///
/// A fresh address space holds the namespace-0 nodes (Root, Objects, Types, Views, the type
/// folders, the reference-type and data-type hierarchies and the Server object). Add
/// namespaces and nodes with ``addNamespace(_:)``, ``addObject(_:browseName:parent:referenceType:typeDefinition:)``
/// and ``addVariable(_:browseName:parent:dataType:valueRank:arrayDimensions:value:accessLevel:)``.
///
/// ```swift
/// var space = AddressSpace()
/// let ns = space.addNamespace("urn:sinter:printers")
/// let printer = NodeId(string: "dmls-01", namespace: ns)
/// space.addObject(printer, browseName: QualifiedName("dmls-01", namespaceIndex: ns), parent: NS0.ObjectsFolder)
/// ```
public struct AddressSpace: Sendable {
    public internal(set) var nodes: [NodeId: Node] = [:]
    public private(set) var namespaces: [String] = ["http://opcfoundation.org/UA/"]
    /// HasSubtype inverse: each type's supertype.
    private var supertypes: [NodeId: NodeId] = [:]

    /// - Parameter serverUri: namespace 1, the server's own namespace (its ApplicationUri);
    ///   ``OPCUAServer`` replaces it with its configured ApplicationUri.
    public init(namespace0: Bool = true, serverUri: String = "urn:sinter:opcua:server") {
        namespaces.append(serverUri)
        if namespace0 { loadNamespace0() }
    }

    /// Sets namespace 1, the server's own namespace.
    public mutating func setServerNamespaceUri(_ uri: String) {
        namespaces[1] = uri
        publishNamespaceArray()
    }

    /// Mirrors the namespace table into Server/NamespaceArray.
    private mutating func publishNamespaceArray() {
        let now = DateTime.now
        setValue(NS0.Server_NamespaceArray, DataValue(value: .array(.string(namespaces), dimensions: nil), sourceTimestamp: now, serverTimestamp: now))
    }

    public subscript(id: NodeId) -> Node? {
        get { nodes[id] }
    }

    /// Registers a namespace URI and returns its index (the existing index if already present).
    @discardableResult
    public mutating func addNamespace(_ uri: String) -> UInt16 {
        if let index = namespaces.firstIndex(of: uri) { return UInt16(index) }
        namespaces.append(uri)
        publishNamespaceArray()
        return UInt16(namespaces.count - 1)
    }

    /// Inserts or replaces a node; its references are mirrored onto their targets.
    public mutating func add(_ node: Node) {
        nodes[node.nodeId] = node
        for reference in node.references {
            mirror(reference, from: node.nodeId)
        }
    }

    /// Adds a reference in both directions.
    public mutating func addReference(from source: NodeId, _ referenceType: NodeId, to target: NodeId) {
        let forward = Reference(referenceType, target, isForward: true)
        if nodes[source]?.references.contains(forward) == false {
            nodes[source]?.references.append(forward)
        }
        mirror(forward, from: source)
    }

    private mutating func mirror(_ reference: Reference, from source: NodeId) {
        if reference.referenceType == NS0.HasSubtype {
            if reference.isForward { supertypes[reference.target] = source } else { supertypes[source] = reference.target }
        }
        let inverse = Reference(reference.referenceType, source, isForward: !reference.isForward)
        if nodes[reference.target] != nil, nodes[reference.target]?.references.contains(inverse) == false {
            nodes[reference.target]?.references.append(inverse)
        }
    }

    /// Adds an Object under `parent`.
    @discardableResult
    public mutating func addObject(
        _ id: NodeId, browseName: QualifiedName, parent: NodeId,
        referenceType: NodeId = NS0.Organizes, typeDefinition: NodeId = NS0.BaseObjectType
    ) -> NodeId {
        var node = Node(nodeId: id, nodeClass: .object, browseName: browseName)
        node.references = [Reference(NS0.HasTypeDefinition, typeDefinition)]
        add(node)
        addReference(from: parent, referenceType, to: id)
        return id
    }

    /// Adds a Folder (FolderType) under `parent`.
    @discardableResult
    public mutating func addFolder(_ id: NodeId, browseName: QualifiedName, parent: NodeId) -> NodeId {
        addObject(id, browseName: browseName, parent: parent, referenceType: NS0.Organizes, typeDefinition: NS0.FolderType)
    }

    /// Adds a Variable (BaseDataVariableType) as a component of `parent`.
    @discardableResult
    public mutating func addVariable(
        _ id: NodeId, browseName: QualifiedName, parent: NodeId,
        dataType: NodeId, valueRank: Int32 = -1, arrayDimensions: [UInt32]? = nil,
        value: Variant, accessLevel: UInt8 = AccessLevel.readWrite,
        referenceType: NodeId = NS0.HasComponent, typeDefinition: NodeId = NS0.BaseDataVariableType
    ) -> NodeId {
        var node = Node(nodeId: id, nodeClass: .variable, browseName: browseName)
        node.dataType = dataType
        node.valueRank = valueRank
        node.arrayDimensions = arrayDimensions
        node.accessLevel = accessLevel
        let now = DateTime.now
        node.value = DataValue(value: value, status: nil, sourceTimestamp: now, serverTimestamp: now)
        node.references = [Reference(NS0.HasTypeDefinition, typeDefinition)]
        add(node)
        addReference(from: parent, referenceType, to: id)
        return id
    }

    /// Sets a variable's value without type checks (the server's own updates).
    public mutating func setValue(_ id: NodeId, _ value: DataValue) {
        nodes[id]?.value = value
    }

    // MARK: Type hierarchy

    /// True if `type` is `base` or (transitively) one of its subtypes.
    public func isSubtype(_ type: NodeId, of base: NodeId) -> Bool {
        var current: NodeId? = type
        var steps = 0
        while let node = current, steps < 64 {
            if node == base { return true }
            current = supertypes[node]
            steps += 1
        }
        return false
    }

    /// True if references of `type` match a filter of `filter` (with or without subtypes).
    func referenceMatches(_ type: NodeId, filter: NodeId, includeSubtypes: Bool) -> Bool {
        if filter.isNull { return true }
        return includeSubtypes ? isSubtype(type, of: filter) : type == filter
    }

    // MARK: Namespace 0

    private mutating func loadNamespace0() {
        for record in namespace0Nodes {
            var node = Node(
                nodeId: NodeId(numeric: record.id), nodeClass: NodeClass(rawValue: record.nodeClass),
                browseName: QualifiedName(record.browseName), displayName: LocalizedText(record.displayName)
            )
            if let text = record.description { node.description = LocalizedText(text) }
            node.isAbstract = record.isAbstract
            node.symmetric = record.symmetric
            node.inverseName = record.inverseName.map { LocalizedText($0) }
            node.dataType = NodeId(numeric: record.dataType == 0 ? 24 : record.dataType)
            node.valueRank = record.valueRank
            node.arrayDimensions = record.arrayDimensions.isEmpty ? nil : record.arrayDimensions
            node.eventNotifier = record.eventNotifier
            node.references = record.references.map {
                Reference(NodeId(numeric: $0.referenceType), NodeId(numeric: $0.target), isForward: $0.isForward)
            }
            nodes[node.nodeId] = node
        }
        for (id, node) in nodes {
            for reference in node.references where reference.referenceType == NS0.HasSubtype {
                if reference.isForward { supertypes[reference.target] = id } else { supertypes[id] = reference.target }
            }
        }
        // Make every reference navigable from both ends.
        for (id, node) in nodes {
            for reference in node.references { mirror(reference, from: id) }
        }
        publishNamespaceArray()
    }
}
