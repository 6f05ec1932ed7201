// Client mode: subscribe to a real machine's OPC UA server and feed its values to the pipeline.
import Logging
import OPCUA
import SinterHTTPClient
import TelemetryModel

/// Subscribes to the mapped nodes of another OPC UA server and yields their changes as intake values.
///
/// Connects (retrying with backoff until it succeeds or the task is cancelled), resolves the
/// mapping's node ids (`nsu=` forms against the server's namespace table), or, without a
/// mapping, browses `Objects/Printers` in Sinter's printer namespace and takes every printer
/// there. Then it subscribes with sampling interval 0 (every change) and a queue of 100 per
/// item, and forwards each change; `OPCUAClient` keeps the subscription alive across
/// reconnections and server restarts.
struct SubscriptionSource: Sendable {
    /// Waits between reconnection attempts: the bounds of Sinter's retry policy, 200 ms doubling to 10 s.
    static let reconnect: RetryPolicy = {
        var policy = RetryPolicy()
        policy.initialBackoff = .milliseconds(200)
        policy.maximumBackoff = .seconds(10)
        return policy
    }()

    let url: String
    let mapping: NodeMapping?
    let publishingInterval: Double
    let frameSize: (width: Int, height: Int)
    let logger: Logger

    /// Where one node's changes go.
    struct Target: Sendable, Equatable {
        var machine: MachineID
        var field: RecordField
    }

    /// What the subscription feeds: node → the (machine, field)s it feeds — one node may feed
    /// several machines (a shared ambient sensor, say) — and the fields each machine has.
    struct Plan: Sendable {
        var targets: [NodeId: [Target]] = [:]

        /// Adds one mapping; the same (node, machine, field) twice is kept once.
        mutating func add(_ node: NodeId, machine: MachineID, field: RecordField) {
            let target = Target(machine: machine, field: field)
            if !(targets[node]?.contains(target) ?? false) { targets[node, default: []].append(target) }
            fields[machine, default: []].insert(field)
        }

        var fields: [MachineID: Set<RecordField>] = [:]
        var kinds: [MachineID: String] = [:]
    }

    func run(pipeline: EdgePipeline, status: StatusBox) async {
        var clientConfiguration = ClientConfiguration()
        clientConfiguration.sessionName = "sinter-edge"
        clientConfiguration.subscriptionBufferSize = 100_000
        let client: OPCUAClient
        do throws(OPCUAError) {
            client = try OPCUAClient(url: url, configuration: clientConfiguration, logger: logger)
        } catch {
            logger.error("edge.subscribe_invalid_url", metadata: ["opcua.url": "\(url)", "error": "\(error)"])
            return
        }
        var attempt = 0
        while !Task.isCancelled {
            do throws(OPCUAError) {
                if case .disconnected = await client.state { try await client.connect() }
                let plan = try await makePlan(client)
                await pipeline.register(fields: plan.fields, kinds: plan.kinds)
                let nodes = Array(plan.targets.keys)
                let subscription = try await client.subscribe(nodes, publishingInterval: publishingInterval, samplingInterval: 0, queueSize: 100)
                logger.notice("edge.subscribed", metadata: [
                    "opcua.url": "\(url)", "nodes": "\(nodes.count)", "machines": "\(plan.fields.count)",
                ])
                attempt = 0
                for await change in subscription.changes {
                    guard let targets = plan.targets[change.nodeId] else { continue }
                    guard !(change.value.status?.isBad ?? false), let variant = change.value.value else {
                        status.update { $0.valuesUnusable += 1 }
                        continue
                    }
                    let time = IntakeValue.time(of: change.value, arrival: Timestamp(nanoseconds: DateTime.now.unixNanoseconds))
                    await pipeline.ingest(targets.map {
                        IntakeValue(machine: $0.machine, field: $0.field, value: variant, timestamp: time)
                    })
                }
                if Task.isCancelled { break }
                logger.warning("edge.subscription_ended", metadata: ["opcua.url": "\(url)"])
            } catch {
                logger.warning("edge.subscribe_failed", metadata: ["opcua.url": "\(url)", "error": "\(error)"])
            }
            let delay = Self.reconnect.bound(attempt: attempt)
            attempt += 1
            do { try await Task.sleep(for: delay) } catch { break }
        }
        await client.disconnect()
    }

    /// Resolves the mapping, or discovers the printers of a printer-model server.
    func makePlan(_ client: OPCUAClient) async throws(OPCUAError) -> Plan {
        var plan = Plan()
        if let mapping {
            for entry in mapping.entries {
                let node = try await resolve(entry.node, client: client, line: entry.line)
                plan.add(node, machine: entry.machine, field: entry.field)
                plan.kinds[entry.machine] = PrinterModel.Kind(printerId: entry.machine.rawValue)?.rawValue ?? ""
            }
            return plan
        }
        guard let ns = try await client.namespaceIndex(of: PrinterModel.namespaceUri) else {
            throw OPCUAError(.badNodeIdUnknown, "\(url) has no namespace \(PrinterModel.namespaceUri); give a node mapping (--mapping FILE)")
        }
        let folder = NodeId(string: "Printers", namespace: ns)
        for reference in try await client.browse(folder) {
            guard let name = reference.browseName.name, let kind = PrinterModel.Kind(printerId: name),
                  let machine = try? MachineID(name) else { continue }
            for channel in PrinterModel.channels(for: kind, frame: (frameSize.height, frameSize.width)) {
                guard let field = RecordField(parsing: channel.recordField) else { continue }
                plan.add(PrinterModel.variableId(printer: name, channel: channel.name, namespace: ns), machine: machine, field: field)
            }
            plan.kinds[machine] = kind.rawValue
        }
        guard !plan.targets.isEmpty else {
            throw OPCUAError(.badNodeIdUnknown, "\(url) has no printers under Objects/Printers")
        }
        return plan
    }

    /// `nsu=<uri>;<rest>` → `ns=<index>;<rest>` on this server, then parsed.
    private func resolve(_ text: String, client: OPCUAClient, line: Int) async throws(OPCUAError) -> NodeId {
        var text = text
        if text.hasPrefix("nsu="), let semicolon = text.firstIndex(of: ";") {
            let uri = String(text[text.index(text.startIndex, offsetBy: 4)..<semicolon])
            guard let index = try await client.namespaceIndex(of: uri) else {
                throw OPCUAError(.badNodeIdUnknown, "mapping line \(line): the server has no namespace \(uri)")
            }
            text = "ns=\(index)" + text[semicolon...]
        }
        do throws(OPCUAError) {
            return try NodeId(parsing: text)
        } catch {
            throw OPCUAError(.badNodeIdInvalid, "mapping line \(line): \(text) is not a node id (\(error.message))")
        }
    }
}
