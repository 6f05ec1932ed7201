import EdgeGateway
import Foundation
import Hummingbird
import Logging
import OPCUA
import PrinterSimulation
import ServiceLifecycle
import StorageEngine
import Synchronization
import Testing
import TelemetryModel
import TelemetryServer

let quietLogger: Logger = {
    var logger = Logger(label: "e2e")
    logger.logLevel = .critical
    return logger
}()

/// 2026-11-21T10:00:00Z.
let start = Timestamp(milliseconds: 1_795_255_200_000)

/// A directory under /tmp removed when the value goes away.
final class TemporaryDirectory: Sendable {
    let path: String
    init() {
        path = NSTemporaryDirectory() + "sinter-e2e-" + UUID().uuidString
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// sinter-server on a loopback port over an open store, which can be stopped and started again on the same port.
final class LiveServer: Sendable {
    let store: TelemetryStore
    let alerts: AlertStore
    private let running = Mutex<Task<Void, Never>?>(nil)
    private let boundPort = Mutex(0)

    let token: String?

    init(directory: String, token: String? = nil) throws {
        self.token = token
        store = try TelemetryStore.open(at: directory, logger: quietLogger)
        alerts = try AlertStore.open(at: directory, logger: quietLogger)
    }

    var port: Int { boundPort.withLock { $0 } }
    var url: String { "http://127.0.0.1:\(port)" }

    /// Starts listening (on the previous port after a stop) and returns once it accepts connections.
    func start() async {
        var configuration = TelemetryServer.ServerConfiguration()
        configuration.host = "127.0.0.1"
        configuration.port = port
        configuration.token = token
        let (ready, readyContinuation) = AsyncStream.makeStream(of: Int.self)
        let app = SinterServer.makeApplication(configuration: configuration, store: store, alerts: alerts, logger: quietLogger) { port in
            readyContinuation.yield(port)
            readyContinuation.finish()
        }
        let task = Task { _ = try? await app.runService() }
        running.withLock { $0 = task }
        for await port in ready { boundPort.withLock { $0 = port } }
    }

    func stop() async {
        let task = running.withLock { t in defer { t = nil }; return t }
        task?.cancel()
        await task?.value
    }

    func close() async throws {
        await stop()
        try await store.close()
        alerts.close()
    }

    func records(_ machine: String) throws -> [TelemetryRecord] {
        try store.records(machine: try MachineID(machine), from: .min, to: .max, limit: 100_000, order: .ascending, includeFrames: true)
    }
}

/// An edge gateway running in a service group, stopped gracefully on request.
struct RunningEdge {
    let gateway: EdgeGateway
    let group: ServiceGroup
    let task: Task<Void, any Error>

    static func start(_ configuration: EdgeConfiguration, drain: Duration = .seconds(60)) async throws -> RunningEdge {
        let gateway = try EdgeGateway(configuration: configuration, logger: quietLogger, drainTimeout: drain)
        let group = ServiceGroup(services: [gateway], logger: quietLogger)
        let task = Task { try await group.run() }
        return RunningEdge(gateway: gateway, group: group, task: task)
    }

    var opcuaURL: String {
        get async throws { "opc.tcp://127.0.0.1:\(try await gateway.opcuaPort())" }
    }

    /// Graceful shutdown: intake stops, partial groups are spooled, the spool drains; returns the final status.
    func stop() async throws -> EdgeStatus {
        await group.triggerGracefulShutdown()
        try await task.value
        return await gateway.status()
    }
}

func edgeConfiguration(spool: String, server: String, printers: [String], average: Int = 1) -> EdgeConfiguration {
    var c = EdgeConfiguration(spoolDirectory: spool)
    c.listen = "opc.tcp://127.0.0.1:0"
    c.printers = printers
    c.serverURL = server
    c.average = average
    c.batchRecords = 16
    c.initialBackoff = .milliseconds(20)
    c.maximumBackoff = .milliseconds(200)
    c.reportEvery = .zero
    return c
}

func fleetConfiguration(dmls: Int = 1, fdm: Int = 1) -> SimulationConfiguration {
    var c = SimulationConfiguration()
    c.dmlsCount = dmls
    c.fdmCount = fdm
    c.seed = 7
    c.start = start
    return c
}

/// The record fields the printer model carries (what the edge can receive of a simulated record).
func modelView(_ record: TelemetryRecord) -> TelemetryRecord {
    var r = record
    let fields = Set(PrinterModel.recordFields.values)
    r.channels = r.channels.filter { fields.contains($0.key) }
    return r
}

/// Writes `steps` simulated steps into the edge over OPC UA, like `sinter-sim --opcua`; returns every record written.
func simulate(into url: String, fleet: inout PrinterFleet, steps: Int) async throws -> [TelemetryRecord] {
    let output = try OPCUAOutput(url: url, logger: quietLogger)
    var written: [TelemetryRecord] = []
    for _ in 0..<steps {
        let records = fleet.step().records
        written += records
        await output.send(records)
    }
    let report = await output.finish(within: .seconds(60))
    #expect(report.recordsSent == written.count && report.recordsRejected == 0 && report.recordsDropped == 0)
    return written
}

@Suite(.serialized)
struct PipelineTests {
    @Test func everySimulatedRecordArrivesOnceAveragedWithItsStatistics() async throws {
        let directory = TemporaryDirectory()
        let server = try LiveServer(directory: directory.path + "/store")
        await server.start()
        let edge = try await RunningEdge.start(edgeConfiguration(spool: directory.path + "/spool", server: server.url,
                                                                 printers: ["dmls-01", "fdm-01"], average: 3))
        var fleet = try PrinterFleet(configuration: fleetConfiguration())
        let written = try await simulate(into: try await edge.opcuaURL, fleet: &fleet, steps: 10)
        let status = try await edge.stop()

        #expect(status.recordsIn == 20 && status.recordsOut == 8 && status.forwarded == 8)
        #expect(status.dropped == 0 && status.rejected == 0 && status.spool.pendingRecords == 0)
        for machine in ["dmls-01", "fdm-01"] {
            let sent = written.filter { $0.machineID.rawValue == machine }.map(modelView)
            let stored = try server.records(machine)
            // Groups of 3 (0-2, 3-5, 6-8) and the partial group (9) spooled at shutdown.
            let groups = [Array(sent[0..<3]), Array(sent[3..<6]), Array(sent[6..<9]), [sent[9]]]
            #expect(stored.count == groups.count)
            for (group, record) in zip(groups, stored) {
                #expect(record.timestamp == group.last?.timestamp)
                #expect(record.state == group.last?.state)
                for (name, _) in group[0].channels {
                    let mean = Float(group.reduce(0.0) { $0 + Double($1.channels[name] ?? .nan) } / Double(group.count))
                    #expect(record.channels[name]?.bitPattern == mean.bitPattern, "\(machine) \(name)")
                }
                guard let first = group[0].frame else {
                    #expect(record.frame == nil)
                    continue
                }
                let frame = try #require(record.frame)
                var sums = [Double](repeating: 0, count: first.values.count)
                for member in group { for (i, v) in (member.frame?.values ?? []).enumerated() { sums[i] += Double(v) } }
                let expected = sums.map { Float($0 / Double(group.count)) }
                #expect(frame.values.map(\.bitPattern) == expected.map(\.bitPattern))
                // The statistics the store keeps are those of the averaged frame, and the edge's agree.
                let stats = try #require(FrameStatistics(expected))
                #expect(record.frameStatistics == stats)
            }
            let last = try #require(stored.last)
            #expect(status.machines[machine]?.lastTimestamp == last.timestamp)
            #expect(status.machines[machine]?.lastFrame == last.frame?.statistics())
        }
        try await server.close()
    }

    @Test func aServerStoppedAndRestartedMidStreamLosesNothingAndDuplicatesNothing() async throws {
        let directory = TemporaryDirectory()
        let server = try LiveServer(directory: directory.path + "/store")
        await server.start()
        let edge = try await RunningEdge.start(edgeConfiguration(spool: directory.path + "/spool", server: server.url,
                                                                 printers: ["dmls-01", "fdm-01"]))
        let url = try await edge.opcuaURL
        var fleet = try PrinterFleet(configuration: fleetConfiguration())
        var written = try await simulate(into: url, fleet: &fleet, steps: 10)
        await server.stop()
        written += try await simulate(into: url, fleet: &fleet, steps: 10)
        await server.start()
        written += try await simulate(into: url, fleet: &fleet, steps: 10)
        let status = try await edge.stop()

        #expect(status.recordsIn == 60 && status.dropped == 0 && status.rejected == 0)
        #expect(status.retries > 0)   // the outage was seen
        #expect(status.spool.pendingRecords == 0)
        #expect(status.forwarded >= 60)
        for machine in ["dmls-01", "fdm-01"] {
            let stored = try server.records(machine)
            let sent = written.filter { $0.machineID.rawValue == machine }
            #expect(stored.map(\.timestamp) == sent.map(\.timestamp))
            #expect(stored.map(\.frame) == sent.map(\.frame))
        }
        try await server.close()
    }

    @Test func anEdgeRestartedAfterAnOutageReplaysItsSpool() async throws {
        let directory = TemporaryDirectory()
        let server = try LiveServer(directory: directory.path + "/store")
        await server.start()
        let port = server.port
        await server.stop()   // nobody listens there now

        let spool = directory.path + "/spool"
        let first = try await RunningEdge.start(edgeConfiguration(spool: spool, server: "http://127.0.0.1:\(port)",
                                                                  printers: ["dmls-01", "fdm-01"]), drain: .zero)
        var fleet = try PrinterFleet(configuration: fleetConfiguration())
        let written = try await simulate(into: try await first.opcuaURL, fleet: &fleet, steps: 8)
        let before = try await first.stop()
        #expect(before.forwarded == 0 && before.retries > 0 && before.spool.pendingRecords == 16)

        await server.start()
        #expect(server.port == port)
        let second = try await RunningEdge.start(edgeConfiguration(spool: spool, server: server.url, printers: ["dmls-01", "fdm-01"]))
        let after = try await second.stop()
        #expect(after.spool.recoveredRecords == 16 && after.forwarded == 16 && after.spool.pendingRecords == 0)
        for machine in ["dmls-01", "fdm-01"] {
            let stored = try server.records(machine)
            #expect(stored.map(\.timestamp) == written.filter { $0.machineID.rawValue == machine }.map(\.timestamp))
        }
        try await server.close()
    }

    @Test func aWrongTokenKeepsEveryRecordSpooledAndTheRightOneStoresEachExactlyOnce() async throws {
        let directory = TemporaryDirectory()
        let server = try LiveServer(directory: directory.path + "/store", token: "right")
        await server.start()
        var configuration = edgeConfiguration(spool: directory.path + "/spool", server: server.url, printers: ["dmls-01", "fdm-01"])
        configuration.token = "wrong"
        configuration.statusFile = directory.path + "/status.json"
        let first = try await RunningEdge.start(configuration, drain: .seconds(2))
        var fleet = try PrinterFleet(configuration: fleetConfiguration())
        let written = try await simulate(into: try await first.opcuaURL, fleet: &fleet, steps: 8)
        // Wait (at most 30 s) until the server has refused the token at least twice.
        let deadline = ContinuousClock.now.advanced(by: .seconds(30))
        while await first.gateway.status().retries < 2, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        let before = try await first.stop()
        #expect(before.recordsOut == 16 && before.forwarded == 0 && before.rejected == 0 && before.dropped == 0)
        #expect(before.serverRefusesToken && before.retries >= 2)
        #expect(before.lastHTTPError?.hasPrefix("HTTP 401") == true)
        #expect(before.spool.pendingRecords == 16)
        let statusFile = try String(contentsOfFile: directory.path + "/status.json", encoding: .utf8)
        #expect(statusFile.contains("\"server_refuses_token\":true"))
        for machine in ["dmls-01", "fdm-01"] { #expect(try server.records(machine).isEmpty) }

        // The same spool with the right token: every record is stored, exactly once.
        configuration.token = "right"
        let second = try await RunningEdge.start(configuration)
        let after = try await second.stop()
        #expect(after.spool.recoveredRecords == 16 && after.forwarded == 16 && after.spool.pendingRecords == 0)
        #expect(!after.serverRefusesToken && after.rejected == 0 && after.deadLetters == 0)
        var stored = 0
        for machine in ["dmls-01", "fdm-01"] {
            let records = try server.records(machine)
            let sent = written.filter { $0.machineID.rawValue == machine }
            #expect(records.map(\.timestamp) == sent.map(\.timestamp))
            #expect(records.map(\.frame) == sent.map(\.frame))
            stored += records.count
        }
        #expect(stored == 16)
        try await server.close()
    }

    @Test func aShutdownRightAfterAnOutageForwardsAtOnceInsteadOfWaitingOutTheBackoff() async throws {
        let directory = TemporaryDirectory()
        let server = try LiveServer(directory: directory.path + "/store")
        await server.start()
        await server.stop()
        var configuration = edgeConfiguration(spool: directory.path + "/spool", server: server.url, printers: ["dmls-01", "fdm-01"])
        configuration.initialBackoff = .seconds(600)   // the forwarder sleeps through the rest of the test
        configuration.maximumBackoff = .seconds(600)
        let edge = try await RunningEdge.start(configuration)
        var fleet = try PrinterFleet(configuration: fleetConfiguration())
        let written = try await simulate(into: try await edge.opcuaURL, fleet: &fleet, steps: 5)
        // Wait (at most 30 s) until the forwarder has failed once, i.e. is in its backoff.
        let deadline = ContinuousClock.now.advanced(by: .seconds(30))
        while await edge.gateway.status().retries == 0, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        await server.start()
        let status = try await edge.stop()
        #expect(status.retries > 0)
        #expect(status.spool.pendingRecords == 0 && status.forwarded == 10)
        for machine in ["dmls-01", "fdm-01"] {
            #expect(try server.records(machine).map(\.timestamp) == written.filter { $0.machineID.rawValue == machine }.map(\.timestamp))
        }
        try await server.close()
    }

    @Test func aFullSpoolRefusesWritesAndTheWriterRetriesUntilThereIsRoom() async throws {
        let directory = TemporaryDirectory()
        let server = try LiveServer(directory: directory.path + "/store")
        await server.start()
        let port = server.port
        await server.stop()

        var configuration = edgeConfiguration(spool: directory.path + "/spool", server: "http://127.0.0.1:\(port)", printers: ["dmls-01"])
        configuration.spool.maximumBytes = 200_000       // about four 100×100 frames
        configuration.spool.segmentBytes = 50_000
        configuration.buffer = 1
        let edge = try await RunningEdge.start(configuration)
        let url = try await edge.opcuaURL
        // The sim's writes are refused while the spool is full; it retries. Bring the server back
        // while it does, so the spool drains and every record gets through.
        let writer = Task {
            var fleet = try PrinterFleet(configuration: fleetConfiguration(dmls: 1, fdm: 0))
            return try await simulate(into: url, fleet: &fleet, steps: 12)
        }
        // Wait (at most 30 s) until the edge has refused a write: an observable condition, polled.
        let deadline = ContinuousClock.now.advanced(by: .seconds(30))
        while await edge.gateway.status().writesRefused == 0, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(await edge.gateway.status().writesRefused > 0)
        await server.start()
        let written = try await writer.value
        let status = try await edge.stop()
        #expect(status.writesRefused > 0 && status.dropped == 0)
        #expect(status.spool.diskBytes <= 200_000)
        #expect(try server.records("dmls-01").map(\.timestamp) == written.map(\.timestamp))
        try await server.close()
    }
}

/// Client mode: the gateway subscribes to a machine's own OPC UA server through a node mapping.
struct ClientModeTests {
    @Test func aMappedMachineIsSubscribedAndItsSamplesBecomeRecords() async throws {
        // A "machine": its own namespace and names, sampled by the host (setValue), as a PLC would.
        var space = AddressSpace()
        let ns = space.addNamespace("urn:acme:press")
        let press = space.addObject(NodeId(string: "Press7", namespace: ns), browseName: QualifiedName("Press7", namespaceIndex: ns),
                                    parent: NS0.ObjectsFolder)
        func variable(_ name: String, _ type: BuiltinType, _ value: Variant, rank: Int32 = -1, dims: [UInt32]? = nil) -> NodeId {
            space.addVariable(NodeId(string: "Press7.\(name)", namespace: ns), browseName: QualifiedName(name, namespaceIndex: ns),
                              parent: press, dataType: type.dataTypeId, valueRank: rank, arrayDimensions: dims, value: value)
        }
        let thermal = variable("Thermal", .float, .matrix(.float(Array(repeating: 0, count: 12)), dimensions: [3, 4]), rank: 2, dims: [3, 4])
        let power = variable("Power", .double, .scalar(.double(0)))
        let statusNode = variable("Status", .string, .scalar(.string("idle")))
        var serverConfiguration = OPCUA.ServerConfiguration()
        serverConfiguration.port = 0
        let machine = OPCUAServer(configuration: serverConfiguration, addressSpace: space, logger: quietLogger)
        let machineTask = Task { try await machine.run() }
        defer { machineTask.cancel() }
        let machinePort = try await machine.listeningPort()

        let directory = TemporaryDirectory()
        let server = try LiveServer(directory: directory.path + "/store")
        await server.start()
        var configuration = edgeConfiguration(spool: directory.path + "/spool", server: server.url, printers: [])
        configuration.listen = nil
        configuration.subscribeURL = "opc.tcp://127.0.0.1:\(machinePort)"
        configuration.frameSize = (4, 3)
        configuration.publishingInterval = 10
        configuration.mapping = try NodeMapping(parsing: """
            dmls-07 frame    nsu=urn:acme:press;s=Press7.Thermal
            dmls-07 power_kw ns=\(ns);s=Press7.Power
            dmls-07 state    ns=\(ns);s=Press7.Status
            """)
        let edge = try await RunningEdge.start(configuration)

        // Samples are set only once the edge's subscription delivered the initial values (a
        // record at the variables' initial time), so none is missed.
        let deadline = ContinuousClock.now.advanced(by: .seconds(30))
        while await edge.gateway.status().valuesIn < 3, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        try #require(await edge.gateway.status().valuesIn >= 3)
        var expected: [TelemetryRecord] = []
        for k in 0..<5 {
            let time = DateTime(unixNanoseconds: start.nanoseconds + Int64(k) * 1_000_000_000)
            let values = (0..<12).map { Float(20 + k) + Float($0) * 0.5 }
            await machine.setValue(thermal, DataValue(value: .matrix(.float(values), dimensions: [3, 4]), sourceTimestamp: time))
            await machine.setValue(power, DataValue(value: .scalar(.double(Double(k) + 0.25)), sourceTimestamp: time))
            await machine.setValue(statusNode, DataValue(value: .scalar(.string(k == 4 ? "error" : "printing")), sourceTimestamp: time))
            expected.append(TelemetryRecord(machineID: try MachineID("dmls-07"), timestamp: start.advanced(byNanoseconds: Int64(k) * 1_000_000_000),
                                            kind: "dmls", channels: ["power_kw": Float(k) + 0.25], state: k == 4 ? "error" : "printing",
                                            frame: try ThermalFrame(width: 4, height: 3, values: values)))
        }
        let last = try #require(expected.last).timestamp
        while await edge.gateway.status().machines["dmls-07"]?.lastTimestamp != last, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        let status = try await edge.stop()
        #expect(status.dropped == 0 && status.valuesUnusable == 0)
        // Besides the samples, the store has the initial values' record(s), stamped when the machine started.
        let stored = try server.records("dmls-07").filter { $0.timestamp >= start && $0.timestamp <= last }
        #expect(stored.count == 5)
        for (got, want) in zip(stored, expected) {
            #expect(got.timestamp == want.timestamp && got.state == want.state && got.kind == "dmls")
            #expect(got.channels["power_kw"] == want.channels["power_kw"])
            #expect(got.frame?.values == want.frame?.values && got.frame?.width == 4)
            #expect(got.frameStatistics == want.frame?.statistics())
        }
        try await server.close()
    }
}
