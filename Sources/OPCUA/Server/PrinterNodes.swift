// Printer objects in the address space: the shape the edge gateway serves and the simulator writes.

/// The OPC UA model of Sinter's printers.
///
/// Printers live under `Objects/Printers` in namespace `urn:sinter:printers`; a printer is an
/// Object `ns=N;s=<printer-id>` whose variables are `ns=N;s=<printer-id>.<Channel>`. DMLS
/// printers (`dmls-…`) have a `Temperature` Float matrix (ValueRank 2, ArrayDimensions
/// [rows, columns]) and scalar channels; FDM printers (`fdm-…`) have scalar channels only.
/// Every variable is readable and writable, so a printer (or the simulator) can write its
/// samples into the server.
///
/// ```swift
/// var space = AddressSpace()
/// let nodes = space.addPrinter("dmls-01")!
/// nodes.variables["Temperature"] // ns=2;s=dmls-01.Temperature
/// ```
public enum PrinterModel {
    /// The namespace URI of printer nodes.
    public static let namespaceUri = "urn:sinter:printers"

    public enum Kind: String, Sendable, CaseIterable {
        case dmls, fdm

        /// The kind named by an id's prefix (`dmls-01` → DMLS); nil for other ids.
        public init?(printerId: String) {
            if printerId.hasPrefix("dmls-") { self = .dmls } else if printerId.hasPrefix("fdm-") { self = .fdm } else { return nil }
        }
    }

    /// One variable of a printer.
    public struct Channel: Sendable, Hashable {
        public var name: String
        public var dataType: BuiltinType
        public var valueRank: Int32
        public var arrayDimensions: [UInt32]?
        public var initial: Variant
        /// The field of a Sinter telemetry record this variable carries: `frame` (the thermal
        /// frame), `state` (the state label), or a channel name such as `power_kw`.
        public var recordField: String
    }

    /// Variable name → record field, for every variable of both kinds (`Temperature` → `frame`,
    /// `PowerKW` → `power_kw`, `State` → `state`, …).
    public static let recordFields: [String: String] = Dictionary(
        (channels(for: .dmls) + channels(for: .fdm)).map { ($0.name, $0.recordField) }, uniquingKeysWith: { a, _ in a })

    /// The variables of a printer kind; `frame` is the thermal camera's rows × columns.
    public static func channels(for kind: Kind, frame: (rows: Int, columns: Int) = (100, 100)) -> [Channel] {
        func double(_ name: String, _ field: String) -> Channel {
            Channel(name: name, dataType: .double, valueRank: -1, initial: .scalar(.double(0)), recordField: field)
        }
        let state = Channel(name: "State", dataType: .string, valueRank: -1, initial: .scalar(.string("idle")), recordField: "state")
        switch kind {
        case .dmls:
            let count = frame.rows * frame.columns
            let temperature = Channel(
                name: "Temperature", dataType: .float, valueRank: 2,
                arrayDimensions: [UInt32(frame.rows), UInt32(frame.columns)],
                initial: .matrix(.float(Array(repeating: 25, count: count)), dimensions: [Int32(frame.rows), Int32(frame.columns)]),
                recordField: "frame"
            )
            return [
                temperature, double("PowerKW", "power_kw"), double("VibrationMmS", "vibration_mm_s"),
                double("PlateTempC", "plate_temp_c"), double("ChamberTempC", "chamber_temp_c"),
                Channel(name: "Layer", dataType: .uint32, valueRank: -1, initial: .scalar(.uint32(0)), recordField: "layer"), state,
            ]
        case .fdm:
            return [
                double("NozzleTempC", "nozzle_temp_c"), double("BedTempC", "bed_temp_c"), double("FilamentFlow", "filament_flow"),
                double("ExtruderLoad", "extruder_load"), double("PrintProgress", "print_progress"), double("PowerKW", "power_kw"), state,
            ]
        }
    }

    /// The NodeId of a printer's variable.
    public static func variableId(printer: String, channel: String, namespace: UInt16) -> NodeId {
        NodeId(string: "\(printer).\(channel)", namespace: namespace)
    }
}

/// The nodes of one printer object.
public struct PrinterNodes: Sendable {
    public var printerId: String
    public var kind: PrinterModel.Kind
    public var object: NodeId
    /// Channel name → variable NodeId.
    public var variables: [String: NodeId]
}

extension AddressSpace {
    /// The `Objects/Printers` folder, created on first use; returns its id and the namespace index.
    @discardableResult
    public mutating func printersFolder() -> (folder: NodeId, namespace: UInt16) {
        let ns = addNamespace(PrinterModel.namespaceUri)
        let folder = NodeId(string: "Printers", namespace: ns)
        if nodes[folder] == nil {
            addFolder(folder, browseName: QualifiedName("Printers", namespaceIndex: ns), parent: NS0.ObjectsFolder)
        }
        return (folder, ns)
    }

    /// Adds a printer object with its typed variables; nil if the id names no printer kind
    /// (`dmls-…` or `fdm-…`) or the printer exists already.
    @discardableResult
    public mutating func addPrinter(_ printerId: String, frame: (rows: Int, columns: Int) = (100, 100)) -> PrinterNodes? {
        guard let kind = PrinterModel.Kind(printerId: printerId) else { return nil }
        let (folder, ns) = printersFolder()
        let object = NodeId(string: printerId, namespace: ns)
        guard nodes[object] == nil else { return nil }
        addObject(object, browseName: QualifiedName(printerId, namespaceIndex: ns), parent: folder)
        var variables: [String: NodeId] = [:]
        for channel in PrinterModel.channels(for: kind, frame: frame) {
            let id = PrinterModel.variableId(printer: printerId, channel: channel.name, namespace: ns)
            addVariable(
                id, browseName: QualifiedName(channel.name, namespaceIndex: ns), parent: object,
                dataType: channel.dataType.dataTypeId, valueRank: channel.valueRank,
                arrayDimensions: channel.arrayDimensions, value: channel.initial
            )
            variables[channel.name] = id
        }
        return PrinterNodes(printerId: printerId, kind: kind, object: object, variables: variables)
    }
}
