// The detector service against a live in-process sinter-server: alerts through the API, their
// lifecycle, status.json, alerts.log, a restart that adopts open alerts.
import AnomalyDetection
import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import PrinterSimulation
import StorageEngine
import Synchronization
import TelemetryModel
import TelemetryServer
import Testing

let quiet: Logger = {
    var l = Logger(label: "test")
    l.logLevel = .critical
    return l
}()

/// sinter-server on a loopback port, in process.
final class TestServer: Sendable {
    let store: TelemetryStore
    let alerts: AlertStore
    let task = Mutex<Task<Void, Never>?>(nil)
    let boundPort = Mutex(0)

    init(directory: String) throws {
        store = try TelemetryStore.open(at: directory, logger: quiet)
        alerts = try AlertStore.open(at: directory, logger: quiet)
    }

    var url: String { "http://127.0.0.1:\(boundPort.withLock { $0 })" }

    func start() async {
        var configuration = ServerConfiguration()
        configuration.host = "127.0.0.1"
        configuration.port = 0
        let (ready, readyContinuation) = AsyncStream.makeStream(of: Int.self)
        let app = SinterServer.makeApplication(configuration: configuration, store: store, alerts: alerts, logger: quiet) { port in
            readyContinuation.yield(port)
            readyContinuation.finish()
        }
        task.withLock { $0 = Task { _ = try? await app.runService() } }
        for await port in ready { boundPort.withLock { $0 = port } }
    }

    func close() async throws {
        let t = task.withLock { $0 }
        t?.cancel()
        await t?.value
        try await store.close()
        alerts.close()
    }

    func post(_ records: [TelemetryRecord]) async throws {
        var request = HTTPClientRequest(url: url + "/api/v1/telemetry")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: FrameBatch.mediaType)
        request.body = .bytes(ByteBuffer(bytes: FrameBatch.encode(records)))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        #expect(response.status.code == 201 || response.status.code == 200)
        _ = try await response.body.collect(upTo: 1 << 20)
    }

    /// Waits (at most `seconds`) until `condition` holds on the alert store.
    func wait(_ what: String, seconds: Double = 60, _ condition: ([Alert]) -> Bool) async throws -> [Alert] {
        let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
        while ContinuousClock.now < deadline {
            let list = alerts.alerts(limit: 10_000)
            if condition(list) { return list }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("timed out waiting for \(what): \(alerts.alerts(limit: 10_000).map { "\($0.machineID) \($0.rule) \($0.state)" })")
        return alerts.alerts(limit: 10_000)
    }
}

struct ServiceTests {
    /// One FDM printer of seed 001's cycle (idle, printing, anomaly, error, printing; 60 s each).
    func fdmRecords(seconds: Int) throws -> [TelemetryRecord] {
        var configuration = SimulationConfiguration()
        configuration.dmlsCount = 0
        configuration.fdmCount = 1
        configuration.fdm.stagger = false
        var fleet = try PrinterFleet(configuration: configuration)
        return (0..<seconds).flatMap { _ in fleet.step().records }
    }

    func run(_ service: DetectService) -> Task<Void, any Error> {
        Task { try await service.run() }
    }

    @Test func alertsAreRaisedUpdatedAndResolvedThroughTheAPI() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("detect-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let server = try TestServer(directory: directory + "/store")
        await server.start()
        let records = try fdmRecords(seconds: 330)
        // History before the detector starts: idle and printing.
        try await server.post(Array(records[0..<110]))

        var configuration = DetectServiceConfiguration()
        configuration.serverURL = server.url
        configuration.interval = .milliseconds(100)
        configuration.statusFile = directory + "/status.json"
        configuration.alertsLog = directory + "/alerts.log"
        configuration.detector.disabledRules = [RuleName.isolationForest]
        let service = DetectService(configuration: configuration, logger: quiet)
        let task = run(service)

        // The anomaly (120–180 s) and the error (180–240 s), in 10-second posts.
        for start in stride(from: 110, to: 250, by: 10) { try await server.post(Array(records[start..<(start + 10)])) }
        var list = try await server.wait("predictive_overheat, overheating and hard_failure") { list in
            Set(list.map(\.rule)).isSuperset(of: [RuleName.predictiveOverheat, RuleName.overheating, RuleName.hardFailure])
        }
        let predicted = try #require(list.first { $0.rule == RuleName.predictiveOverheat })
        let failed = try #require(list.first { $0.rule == RuleName.hardFailure })
        #expect(predicted.raisedAt < failed.raisedAt)
        #expect(failed.severity == .critical && failed.machineID.rawValue == "fdm-01")
        // raisedAt is the record's time: the error began 180 s after the start.
        #expect(failed.raisedAt.nanoseconds - records[0].timestamp.nanoseconds == 180_000_000_000)
        // One alert per (printer, rule): never two of the same rule open.
        for rule in Set(list.map(\.rule)) { #expect(list.filter { $0.rule == rule && $0.isActive }.count <= 1, "\(rule)") }

        // Back to printing: every alert of the episode is resolved by the detector.
        for start in stride(from: 250, to: 330, by: 10) { try await server.post(Array(records[start..<(start + 10)])) }
        list = try await server.wait("everything resolved") { list in !list.isEmpty && list.allSatisfy { !$0.isActive } }
        let deadline = ContinuousClock.now + .seconds(30)
        func processed() async -> Int { let c = await service.status; return c.history + c.records }
        while await processed() < 330, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        #expect(await processed() == 330)   // each record once, history or followed
        #expect(list.filter { $0.rule == RuleName.hardFailure }.count == 1)
        #expect(list.allSatisfy { $0.resolvedBy == "sinter-detect" })

        task.cancel()
        _ = try? await task.value

        let log = try String(contentsOfFile: directory + "/alerts.log", encoding: .utf8)
        #expect(log.contains("RAISE CRITICAL fdm-01 hard_failure"))
        #expect(log.contains("RESOLVE"))
        let status = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: directory + "/status.json"))) as? [String: Any]
        let printer = (status?["printers"] as? [String: Any])?["fdm-01"] as? [String: Any]
        #expect(printer?["state"] as? String == "idle")   // 300–360 s: idle
        #expect(printer?["overall"] as? String == "normal")
        #expect((printer?["records"] as? Int ?? 0) >= 300)
        try await server.close()
    }

    @Test func aRestartedDetectorAdoptsOpenAlertsAndOperatorResolutionsAreRespected() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("detect-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let server = try TestServer(directory: directory + "/store")
        await server.start()
        let records = try fdmRecords(seconds: 330)
        try await server.post(Array(records[0..<200]))   // into the error state

        var configuration = DetectServiceConfiguration()
        configuration.serverURL = server.url
        configuration.interval = .milliseconds(100)
        configuration.statusFile = nil
        configuration.alertsLog = nil
        configuration.detector.disabledRules = [RuleName.isolationForest]
        // An alert left open by an earlier run, for a condition that is no longer there.
        let (stale, _) = try server.alerts.raise(NewAlert(machineID: try MachineID("fdm-01"), rule: RuleName.vibration,
                                                          severity: .warning, message: "left by an earlier run"))
        let first = DetectService(configuration: configuration, logger: quiet)
        let task = run(first)
        try await server.post(Array(records[200..<205]))
        // The first detector sees the error (warm-up of history raises nothing; new records do).
        _ = try await server.wait("hard_failure") { $0.contains { $0.rule == RuleName.hardFailure && $0.isActive } }
        // An operator resolves it by hand while the error continues.
        let open = try #require(server.alerts.alerts(limit: 100).first { $0.rule == RuleName.hardFailure && $0.isActive })
        _ = try server.alerts.resolve(id: open.id, by: "jane", note: "clearing the nozzle")
        task.cancel()
        _ = try? await task.value

        // A second run: the error goes on, then ends.
        let second = DetectService(configuration: configuration, logger: quiet)
        let task2 = run(second)
        for start in stride(from: 205, to: 330, by: 5) { try await server.post(Array(records[start..<(start + 5)])) }
        let list = try await server.wait("the stale alert resolved and hard_failure raised again") { list in
            list.contains { $0.id == stale.id && !$0.isActive }
                && list.filter { $0.rule == RuleName.hardFailure }.count == 2 && list.allSatisfy { !$0.isActive || $0.rule == RuleName.isolationForest }
        }
        // The operator's resolution stands; the detector raised a new alert for the still-present error, and resolved that one itself.
        let failures = list.filter { $0.rule == RuleName.hardFailure }.sorted { $0.id < $1.id }
        #expect(failures.first?.resolvedBy == "jane")
        #expect(failures.last?.resolvedBy == "sinter-detect")
        task2.cancel()
        _ = try? await task2.value
        try await server.close()
    }
}
