public import Logging
import OPCUA
public import TelemetryModel

/// Writes records into the printer variables of an OPC UA server (the edge gateway), the way
/// real printers would.
///
/// The server must serve Sinter's printer model (`PrinterModel` in `OPCUA`): namespace
/// `urn:sinter:printers`, variables `ns=N;s=<printer>.<Channel>`. Each step becomes one Write
/// request carrying every printer's variables; every DataValue's SourceTimestamp is the
/// sample's simulated time (truncated to OPC UA's 100 ns ticks). Record fields map to variables:
///
/// | record | variable | type |
/// |---|---|---|
/// | thermal frame (DMLS) | `Temperature` | Float matrix `[rows, columns]`, bit for bit |
/// | `power_kw`, `vibration_mm_s`, `plate_temp_c`, `chamber_temp_c` | `PowerKW`, `VibrationMmS`, `PlateTempC`, `ChamberTempC` | Double |
/// | `nozzle_temp_c`, `bed_temp_c`, `filament_flow`, `extruder_load`, `print_progress` | `NozzleTempC`, `BedTempC`, `FilamentFlow`, `ExtruderLoad`, `PrintProgress` | Double |
/// | `layer` | `Layer` | UInt32 (skipped when not a finite, non-negative number) |
/// | state | `State` | String |
///
/// Other channels have no variable and are not written.
///
/// Counting is per record: a record is sent when the server answers Good for all of its
/// variables, and rejected when any of them is Bad (a server without that printer answers
/// `BadNodeIdUnknown`; this is logged once per printer, other refusals once per printer and
/// status). Rejected records are not retried: they would be refused again. A request refused
/// as a whole with `BadResourceUnavailable` (the edge gateway's buffer is full; nothing was
/// applied) is written again with back-off and counted in ``OutputReport/retries``.
///
/// Steps queue in a bounded backlog (``Configuration/maximumBacklogBytes``) as in
/// ``HTTPOutput``: a full backlog drops its oldest steps, or makes ``send(_:)`` wait when
/// ``Configuration/waitWhenFull`` is set (`--speed max`). Lost connections are `OPCUAClient`'s
/// business (it reconnects and reactivates its session); a Write that fails meanwhile is
/// retried with back-off and counted in ``OutputReport/retries``. The first connection is made
/// by the sender and retried the same way, so the server may come up after the simulator.
///
/// ```swift
/// let output = try OPCUAOutput(url: "opc.tcp://127.0.0.1:4840", logger: logger)
/// await output.send(step.records)
/// let report = await output.finish(within: .seconds(10))
/// ```
public actor OPCUAOutput: TelemetryOutput {
    /// Tuning of an ``OPCUAOutput``.
    public struct Configuration: Sendable {
        /// Backlog bound, in estimated bytes (about 40 KB per 100×100 frame).
        public var maximumBacklogBytes = 256 << 20
        /// When the backlog is full: drop the oldest steps (false) or make `send` wait (true).
        public var waitWhenFull = false
        /// Time allowed for one request (also the longest wait for a reconnection per attempt).
        public var requestTimeout: Duration = .seconds(10)
        /// User name and password for the session; anonymous when nil.
        public var userName: (name: String, password: String)?

        public init() {}
    }

    /// Record channel → (variable name, written as UInt32), from the printer model of both kinds.
    static let scalarVariables: [String: (name: String, unsigned: Bool)] = Dictionary(
        (PrinterModel.channels(for: .dmls) + PrinterModel.channels(for: .fdm))
            .filter { $0.valueRank == -1 && $0.recordField != "state" }
            .map { ($0.recordField, (name: $0.name, unsigned: $0.dataType == .uint32)) },
        uniquingKeysWith: { a, _ in a })

    private let endpoint: String
    private let configuration: Configuration
    private let logger: Logger
    private let client: OPCUAClient
    /// The printers namespace index on the current connection.
    private var namespace: UInt16?
    /// `client.reconnections` when ``namespace`` was looked up (a new session may mean a restarted server).
    private var namespaceReconnections = -1
    private var queue: [[TelemetryRecord]] = []
    private var queueHead = 0
    /// Records taken by the sender and not yet answered.
    private var inFlight = 0
    private var backlogBytes = 0
    private var counters = OutputReport()
    private var sender: Task<Void, Never>?
    private var wakeSender: CheckedContinuation<Void, Never>?
    private var spaceWaiters: [CheckedContinuation<Void, Never>] = []
    private var finishing = false
    private var deadline: ContinuousClock.Instant?
    private var unreachable = false
    /// Printers (and printer/status pairs) whose refusals were logged already.
    private var refusalsLogged: Set<String> = []

    /// An output to the OPC UA server at `url` (`opc.tcp://host:port[/path]`). Nothing is
    /// connected until the first ``send(_:)``.
    /// - Throws: ``SimulationError`` (code `output`) if `url` is not an opc.tcp URL.
    public init(url: String, configuration: Configuration = Configuration(), logger: Logger) throws(SimulationError) {
        endpoint = url
        self.configuration = configuration
        self.logger = logger
        var clientConfiguration = ClientConfiguration()
        clientConfiguration.requestTimeout = configuration.requestTimeout
        clientConfiguration.sessionName = "sinter-sim"
        if let user = configuration.userName {
            clientConfiguration.identity = .userName(user.name, password: user.password)
        }
        do {
            client = try OPCUAClient(url: url, configuration: clientConfiguration, logger: logger)
        } catch {
            throw SimulationError(code: .output, message: "--opcua must be an opc.tcp:// URL like opc.tcp://127.0.0.1:4840; got \(url) (\(error.message))")
        }
    }

    /// The URL records are written to.
    public nonisolated var url: String { endpoint }

    static func estimatedSize(_ records: [TelemetryRecord]) -> Int {
        records.reduce(0) { $0 + HTTPOutput.estimatedSize($1) }
    }

    public func send(_ records: [TelemetryRecord]) async {
        guard !records.isEmpty else { return }
        let size = Self.estimatedSize(records)
        if configuration.waitWhenFull {
            while backlogBytes > 0, backlogBytes + size > configuration.maximumBacklogBytes {
                await withCheckedContinuation { spaceWaiters.append($0) }
            }
        }
        queue.append(records)
        backlogBytes += size
        if !configuration.waitWhenFull {
            var dropped = 0
            while backlogBytes > configuration.maximumBacklogBytes, queueHead < queue.count - 1 {
                backlogBytes -= Self.estimatedSize(queue[queueHead])
                dropped += queue[queueHead].count
                queue[queueHead] = []
                queueHead += 1
            }
            if dropped > 0 {
                counters.recordsDropped += dropped
                logger.warning("output.backlog_full", metadata: ["records.dropped": "\(dropped)", "output.url": "\(endpoint)"])
            }
        }
        startSenderIfNeeded()
        wakeSender?.resume()
        wakeSender = nil
    }

    /// Records still queued.
    private var queuedRecords: Int { queue[queueHead...].reduce(0) { $0 + $1.count } }

    public func report() -> OutputReport {
        var r = counters
        r.backlog = queuedRecords + inFlight
        return r
    }

    public func finish(within limit: Duration) async -> OutputReport {
        finishing = true
        deadline = ContinuousClock.now.advanced(by: limit)
        wakeSender?.resume()
        wakeSender = nil
        if let sender { await sender.value }
        await client.disconnect()
        var r = counters
        r.backlog = queuedRecords
        if r.backlog > 0 {
            counters.recordsDropped += r.backlog
            r.recordsDropped += r.backlog
            logger.warning("output.unsent_at_exit", metadata: ["records.dropped": "\(r.backlog)", "output.url": "\(endpoint)"])
        }
        r.backlog = 0
        return r
    }

    private func startSenderIfNeeded() {
        guard sender == nil else { return }
        sender = Task { await self.sendLoop() }
    }

    private func sendLoop() async {
        while true {
            if queueHead == queue.count {
                if finishing { return }
                await withCheckedContinuation { wakeSender = $0 }
                continue
            }
            let step = queue[queueHead]
            queue[queueHead] = []
            queueHead += 1
            if queueHead > 4096, queueHead * 2 > queue.count {
                queue.removeFirst(queueHead)
                queueHead = 0
            }
            inFlight = step.count
            let delivered = await deliver(step)
            inFlight = 0
            backlogBytes -= Self.estimatedSize(step)
            if !delivered {   // the finish deadline passed: finish() counts what is left
                counters.recordsDropped += step.count
                return
            }
            let waiters = spaceWaiters
            spaceWaiters = []
            for waiter in waiters { waiter.resume() }
        }
    }

    /// Connects (first time only; later the client reconnects by itself) and looks up the
    /// printers namespace for the current session.
    private func ready() async throws(OPCUAError) -> UInt16 {
        if case .disconnected = await client.state { try await client.connect() }
        let reconnections = await client.reconnections
        if let namespace, namespaceReconnections == reconnections { return namespace }
        guard let index = try await client.namespaceIndex(of: PrinterModel.namespaceUri) else {
            throw OPCUAError(.badNodeIdUnknown, "the server has no namespace \(PrinterModel.namespaceUri)")
        }
        if namespace != index {
            logger.info("output.opcua_namespace", metadata: ["opcua.namespace": "\(index)", "output.url": "\(endpoint)"])
        }
        namespace = index
        namespaceReconnections = reconnections
        return index
    }

    /// Writes one step until the server answers, or the finish deadline passes. Returns false
    /// only when it gave up at the deadline.
    private func deliver(_ step: [TelemetryRecord]) async -> Bool {
        var delay = Duration.milliseconds(100)
        while true {
            do throws(OPCUAError) {
                let ns = try await ready()
                let (writes, owners) = Self.writes(for: step, namespace: ns)
                let results = try await client.write(writes)
                // A gateway whose buffer is full refuses the whole request: nothing was applied,
                // so the whole step is written again later.
                if !results.isEmpty, results.allSatisfy({ $0 == .badResourceUnavailable }) {
                    counters.retries += 1
                    logger.debug("output.busy", metadata: ["output.url": "\(endpoint)"])
                    if finishing, let deadline, ContinuousClock.now >= deadline { return false }
                    try? await Task.sleep(for: delay)
                    delay = min(delay * 2, .seconds(5))
                    continue
                }
                if unreachable {
                    unreachable = false
                    logger.notice("output.reconnected", metadata: ["output.url": "\(endpoint)"])
                }
                counters.requests += 1
                account(step, writes: writes, owners: owners, results: results)
                return true
            } catch {
                if !unreachable {
                    unreachable = true
                    logger.warning("output.unreachable", metadata: ["output.url": "\(endpoint)", "error": "\(error)"])
                }
            }
            counters.retries += 1
            if finishing, let deadline, ContinuousClock.now >= deadline { return false }
            if finishing, let deadline {
                try? await Task.sleep(until: min(deadline, ContinuousClock.now.advanced(by: delay)), clock: .continuous)
            } else {
                try? await Task.sleep(for: delay)
            }
            delay = min(delay * 2, .seconds(5))
        }
    }

    /// Counts each record as sent (every variable Good) or rejected (any Bad), logging refusals once.
    private func account(_ step: [TelemetryRecord], writes: [(NodeId, DataValue)], owners: [Int], results: [StatusCode]) {
        var firstBad: [Int: (StatusCode, NodeId)] = [:]
        for (i, status) in results.enumerated() where status.isBad && firstBad[owners[i]] == nil {
            firstBad[owners[i]] = (status, writes[i].0)
        }
        for (index, record) in step.enumerated() {
            guard let (status, node) = firstBad[index] else {
                counters.recordsSent += 1
                if record.frame != nil { counters.framesSent += 1 }
                continue
            }
            counters.recordsRejected += 1
            let printer = record.machineID.rawValue
            let key = status == .badNodeIdUnknown ? printer : "\(printer) \(status.rawValue)"
            guard refusalsLogged.insert(key).inserted else { continue }
            if status == .badNodeIdUnknown {
                logger.error("output.opcua_unknown_printer", metadata: [
                    "printer": "\(printer)", "opcua.node": "\(node)", "output.url": "\(endpoint)",
                ])
            } else {
                logger.error("output.rejected", metadata: [
                    "printer": "\(printer)", "opcua.node": "\(node)", "opcua.status": "\(status)", "output.url": "\(endpoint)",
                ])
            }
        }
    }

    /// The Write items of one step, and for each item the index of the record it came from.
    static func writes(for records: [TelemetryRecord], namespace: UInt16) -> ([(NodeId, DataValue)], [Int]) {
        var writes: [(NodeId, DataValue)] = []
        var owners: [Int] = []
        for (index, record) in records.enumerated() {
            for (name, variant) in variables(of: record) {
                let id = PrinterModel.variableId(printer: record.machineID.rawValue, channel: name, namespace: namespace)
                writes.append((id, DataValue(value: variant, sourceTimestamp: DateTime(unixNanoseconds: record.timestamp.nanoseconds))))
                owners.append(index)
            }
        }
        return (writes, owners)
    }

    /// The printer variables a record sets, frame first, then scalar channels in name order, then the state.
    static func variables(of record: TelemetryRecord) -> [(String, Variant)] {
        var result: [(String, Variant)] = []
        if let frame = record.frame {
            result.append(("Temperature", .matrix(.float(frame.values), dimensions: [Int32(frame.height), Int32(frame.width)])))
        }
        for channel in record.channels.keys.sorted() {
            guard let variable = scalarVariables[channel], let value = record.channels[channel] else { continue }
            if variable.unsigned {
                guard value.isFinite, value >= 0, value <= Float(UInt32.max) else { continue }
                result.append((variable.name, .scalar(.uint32(UInt32(value)))))
            } else {
                result.append((variable.name, .scalar(.double(Double(value)))))
            }
        }
        if let state = record.state { result.append(("State", .scalar(.string(state)))) }
        return result
    }
}
