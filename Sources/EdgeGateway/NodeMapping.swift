// Client mode: which nodes of a machine's OPC UA server feed which record fields.
public import TelemetryModel

/// The nodes the gateway subscribes to on another OPC UA server, and the record field each feeds.
///
/// Written as a text file, one node per line: machine id, record field (`frame`, `state`, or
/// a channel name), node id. Blank lines and `#` comments are ignored. A node id is the OPC UA
/// text form; `nsu=<namespace URI>;` instead of `ns=<index>;` is resolved against the
/// server's namespace table when subscribing, so a mapping survives a server that numbers its
/// namespaces differently.
///
/// ```
/// # machine   field            node
/// dmls-07     frame            nsu=urn:acme:press;s=Press7.Thermal
/// dmls-07     power_kw         ns=2;s=Press7.PowerKW
/// dmls-07     state            ns=2;i=5012
/// ```
///
/// ```swift
/// let mapping = try NodeMapping(parsing: text)
/// mapping.entries.count
/// ```
public struct NodeMapping: Sendable, Hashable {
    /// One mapped node.
    public struct Entry: Sendable, Hashable {
        public var machine: MachineID
        public var field: RecordField
        /// The node id as written (`ns=2;s=…`, `nsu=urn:…;s=…`, `i=…`).
        public var node: String
        /// The line it came from (1-based), for messages.
        public var line: Int

        public init(machine: MachineID, field: RecordField, node: String, line: Int = 0) {
            self.machine = machine
            self.field = field
            self.node = node
            self.line = line
        }
    }

    public var entries: [Entry]

    public init(entries: [Entry]) { self.entries = entries }

    /// Parses the text form; errors name the line and what is wrong with it.
    public init(parsing text: String) throws(EdgeError) {
        var entries: [Entry] = []
        var seen: [String: Int] = [:]
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let number = index + 1
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })
            if words.isEmpty { continue }
            guard words.count == 3 else {
                throw EdgeError(.invalidArgument, "mapping line \(number): expected `machine field node`, got \(words.count) words")
            }
            guard let machine = try? MachineID(String(words[0])) else {
                throw EdgeError(.invalidArgument, "mapping line \(number): \(words[0]) is not a machine id (1-64 of A-Z a-z 0-9 . _ -)")
            }
            guard let field = RecordField(parsing: String(words[1])) else {
                throw EdgeError(.invalidArgument, "mapping line \(number): \(words[1]) is not a record field (frame, state, or a channel name other than frame_*)")
            }
            let node = String(words[2])
            guard node.contains("=") else {
                throw EdgeError(.invalidArgument, "mapping line \(number): \(node) is not a node id like ns=2;s=Press7.PowerKW")
            }
            if let first = seen["\(machine.rawValue) \(field)"] {
                throw EdgeError(.invalidArgument, "mapping line \(number): \(machine.rawValue) \(field) is mapped already on line \(first)")
            }
            seen["\(machine.rawValue) \(field)"] = number
            entries.append(Entry(machine: machine, field: field, node: node, line: number))
        }
        guard !entries.isEmpty else { throw EdgeError(.invalidArgument, "the mapping names no nodes") }
        self.entries = entries
    }
}
