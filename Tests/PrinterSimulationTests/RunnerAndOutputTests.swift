import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import StorageEngine
import Testing
import TelemetryModel
import TelemetryServer
@testable import PrinterSimulation

let quietLogger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

/// The runner paces the fleet by its (injected) clock and stops at its limits.
struct RunnerTests {
    @Test func samplesAreDueByTheClockTimesTheSpeed() async throws {
        let clock = ManualClock()
        let output = CollectingOutput()
        var runnerConfiguration = SimulationRunner<ManualClock>.Configuration(speed: .factor(10))
        runnerConfiguration.wallLimit = .seconds(3)
        let runner = SimulationRunner(fleet: try PrinterFleet(configuration: configuration(dmls: 1, fdm: 1)), output: output,
                                      labels: nil, status: nil, configuration: runnerConfiguration, clock: clock, logger: quietLogger)
        let task = Task { try await runner.runSimulation() }
        await clock.waitForSleeper()
        // At wall 0 only sample 0 (simulated 0 s) is due.
        #expect(await output.records.count == 2)
        clock.advance(by: .milliseconds(1000))
        await clock.waitForSleeper()
        // Wall 1 s at x10: simulated 0…10 s, 11 samples per printer.
        #expect(await output.records.count == 22)
        clock.advance(by: .milliseconds(450))
        await clock.waitForSleeper()
        #expect(await output.records.count == 30)   // simulated 0…14 s
        clock.advance(by: .seconds(5))
        let summary = try await task.value
        // Stopped at the wall limit: the last sample due within 3 s is simulated 30 s.
        #expect(summary.samples == 31)
        #expect(summary.records == 62)
        #expect(summary.simulatedSeconds == 30)
        #expect(await output.finished)
        let times = await output.records.map(\.timestamp)
        #expect(times.last == at(30))
    }

    @Test func unlimitedSpeedStopsAfterTheSimulatedLimitAndWritesLabels() async throws {
        let directory = TemporaryDirectory()
        let fleet = try PrinterFleet(configuration: configuration(dmls: 1, fdm: 1) {
            $0.faults = [try! FaultSpec(parsing: "power-spike:dmls-01@20+5")]
        })
        let labels = try LabelWriter(path: directory.path + "/labels.jsonl", fleet: fleet)
        let board = StatusBoard()
        var runnerConfiguration = SimulationRunner<ContinuousClock>.Configuration(speed: .unlimited)
        runnerConfiguration.simulatedLimit = 90
        let output = CollectingOutput()
        let summary = try await SimulationRunner(fleet: fleet, output: output, labels: labels, status: board,
                                                 configuration: runnerConfiguration, clock: ContinuousClock(), logger: quietLogger)
            .runSimulation()
        #expect(summary.samples == 91)
        #expect(summary.frames == 91)
        #expect(await output.records.count == 182)
        let lines = try String(contentsOfFile: directory.path + "/labels.jsonl", encoding: .utf8).split(separator: "\n")
        let count = lines.count
        #expect(count == 5)   // header, fdm-01's first state, the spike's start and end, printing at 60 s
        #expect(lines[0].contains("\"event\":\"simulation\"") && lines[0].contains("\"seed\":1"))
        func has(_ a: String, _ b: String) -> Bool { lines.contains { $0.contains(a) && $0.contains(b) } }
        #expect(has("\"event\":\"fault_start\"", "\"time_ns\":\(at(20).nanoseconds)"))
        #expect(has("\"event\":\"fault_end\"", "\"time_ns\":\(at(25).nanoseconds)"))
        #expect(has("\"state\":\"printing\"", "\"time_ns\":\(at(60).nanoseconds)"))
        for line in lines { _ = try JSONSerialization.jsonObject(with: Data(line.utf8)) }
        #expect(board.fdmStatus.first?.time == at(90))
    }
}

/// The HTTP output against a real sinter-server on a loopback socket.
struct HTTPOutputTests {
    func withServer(token: String? = nil, _ body: @Sendable (Int, TelemetryStore) async throws -> Void) async throws {
        let directory = TemporaryDirectory()
        let store = try TelemetryStore.open(at: directory.path, logger: quietLogger)
        let alerts = try AlertStore.open(at: directory.path, logger: quietLogger)
        var serverConfiguration = ServerConfiguration()
        serverConfiguration.port = 0
        serverConfiguration.token = token
        let app = SinterServer.makeApplication(configuration: serverConfiguration, store: store, alerts: alerts, logger: quietLogger)
        do {
            try await app.test(.live) { client in try await body(try #require(client.port), store) }
        } catch {
            try? await store.close()
            alerts.close()
            throw error
        }
        try await store.close()
        alerts.close()
    }

    @Test func aRunLandsInTheStoreBitForBit() async throws {
        try await withServer { port, store in
            var outputConfiguration = HTTPOutput.Configuration()
            outputConfiguration.batchRecords = 16
            let output = HTTPOutput(url: "http://127.0.0.1:\(port)/", configuration: outputConfiguration, logger: quietLogger)
            #expect(output.url == "http://127.0.0.1:\(port)/api/v1/telemetry")
            var runnerConfiguration = SimulationRunner<ContinuousClock>.Configuration(speed: .unlimited)
            runnerConfiguration.simulatedLimit = 40
            let fleetConfiguration = configuration(dmls: 2, fdm: 1)
            let summary = try await SimulationRunner(fleet: try PrinterFleet(configuration: fleetConfiguration), output: output,
                                                     labels: nil, status: nil, configuration: runnerConfiguration,
                                                     clock: ContinuousClock(), logger: quietLogger).runSimulation()
            let report = try #require(summary.output)
            #expect(report.recordsSent == 123 && report.framesSent == 82)
            #expect(report.requests >= 123 / 16)
            #expect(report.recordsDropped == 0 && report.recordsRejected == 0 && report.backlog == 0)
            // What the store holds is what the fleet produced.
            let expected = try Run(fleetConfiguration, samples: 41)
            let stored = try store.records(machine: try MachineID("dmls-02"), from: .min, to: .max, limit: 100, order: .ascending,
                                           includeFrames: true)
            #expect(stored.map(\.frame) == expected.records("dmls-02").map(\.frame))
            let fdm = try store.records(machine: try MachineID("fdm-01"), from: .min, to: .max, limit: 100, order: .ascending,
                                        includeFrames: false)
            #expect(fdm.map(\.state) == expected.records("fdm-01").map(\.state))
            #expect(fdm.map { $0.channels["nozzle_temp_c"] } == expected.records("fdm-01").map { $0.channels["nozzle_temp_c"] })
        }
    }

    @Test func refusedBatchesAreCountedNotRetried() async throws {
        try await withServer(token: "s3cret") { port, store in
            let output = HTTPOutput(url: "http://127.0.0.1:\(port)", logger: quietLogger)   // no token: 401
            var fleet = try PrinterFleet(configuration: configuration(dmls: 1, fdm: 1))
            for _ in 0..<5 { await output.send(fleet.step().records) }
            let report = await output.finish(within: .seconds(10))
            #expect(report.recordsRejected == 10)
            #expect(report.recordsSent == 0 && report.retries == 0)
            #expect(store.machines().isEmpty)
        }
    }

    @Test func anUnreachableServerIsRetriedThenReportedAsDropped() async throws {
        // A port nobody listens on: bind one, note it, close it.
        let directory = TemporaryDirectory()
        let port = try await {
            let store = try TelemetryStore.open(at: directory.path, logger: quietLogger)
            let alerts = try AlertStore.open(at: directory.path, logger: quietLogger)
            var c = ServerConfiguration()
            c.port = 0
            let app = SinterServer.makeApplication(configuration: c, store: store, alerts: alerts, logger: quietLogger)
            let port = try await app.test(.live) { client in client.port! }
            try await store.close()
            alerts.close()
            return port
        }()
        let output = HTTPOutput(url: "http://127.0.0.1:\(port)", logger: quietLogger)
        var fleet = try PrinterFleet(configuration: configuration(dmls: 0, fdm: 2))
        for _ in 0..<3 { await output.send(fleet.step().records) }
        let report = await output.finish(within: .milliseconds(400))
        #expect(report.retries >= 1)
        #expect(report.recordsSent == 0)
        #expect(report.recordsDropped == 6)
    }

    @Test func aFullBacklogDropsTheOldestRecords() async throws {
        var outputConfiguration = HTTPOutput.Configuration()
        outputConfiguration.maximumBacklogBytes = 3 * 41_000   // about three frames
        let output = HTTPOutput(url: "http://127.0.0.1:9", configuration: outputConfiguration, logger: quietLogger)
        var fleet = try PrinterFleet(configuration: configuration(dmls: 1, fdm: 0))
        for _ in 0..<10 { await output.send(fleet.step().records) }
        let mid = await output.report()
        #expect(mid.recordsDropped >= 6)
        #expect(mid.backlog <= 4)
        let report = await output.finish(within: .milliseconds(200))
        #expect(report.recordsDropped == 10)
    }
}

/// Seed 001's status endpoint.
struct StatusEndpointTests {
    @Test func answersInTheSeedsShape() async throws {
        let board = StatusBoard()
        var fleet = try PrinterFleet(configuration: configuration(dmls: 1, fdm: 2) {
            $0.faults = [try! FaultSpec(parsing: "filament-jam:fdm-02@60+60")]
        })
        for _ in 0..<75 { board.update(fleet.step()) }
        let app = Application(router: StatusServer.makeRouter(board: board))
        try await app.test(.router) { client in
            let response = try await client.execute(uri: "/api/v1/printer/status", method: .get)
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "application/json")
            let json = try #require(try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any])
            #expect(json["printer_id"] as? String == "fdm-01")
            #expect(json["printer_status"] as? String == "printing")      // 74 s: printing since 60 s
            #expect((json["nozzle_temp"] as? Double).map { $0 > 100 } == true)
            #expect(json["bed_temp"] is Double)
            #expect(json["print_progress"] is Double)
            #expect(json["filament_status"] as? String == "ok")
            #expect((json["timestamp"] as? String) == at(74).rfc3339)
            for key in ["filament_flow", "extruder_load", "power_kw"] { #expect(json[key] is Double, "\(key)") }

            let second = try await client.execute(uri: "/api/v1/printer/status?printer=fdm-02", method: .get)
            let jammed = try #require(try JSONSerialization.jsonObject(with: Data(buffer: second.body)) as? [String: Any])
            #expect(jammed["printer_id"] as? String == "fdm-02")
            #expect(jammed["filament_status"] as? String == "jammed")

            let missing = try await client.execute(uri: "/api/v1/printer/status?printer=fdm-09", method: .get)
            #expect(missing.status == .notFound)
            let error = try #require(try JSONSerialization.jsonObject(with: Data(buffer: missing.body)) as? [String: Any])
            let detail = try #require(error["error"] as? [String: Any])
            #expect(detail["field"] as? String == "printer")
            #expect((detail["message"] as? String)?.contains("fdm-09") == true)

            let all = try await client.execute(uri: "/api/v1/printers", method: .get)
            let printers = try #require((try JSONSerialization.jsonObject(with: Data(buffer: all.body)) as? [String: Any])?["printers"] as? [[String: Any]])
            #expect(printers.map { $0["machine_id"] as? String } == ["dmls-01", "fdm-01", "fdm-02"])
            let channels = try #require(printers[0]["channels"] as? [String: Any])
            #expect((channels["frame_max"] as? Double).map { $0 > 50 } == true)

            let health = try await client.execute(uri: "/health", method: .get)
            #expect(String(buffer: health.body).contains("\"status\":\"healthy\""))
        }
    }

    @Test func beforeTheFirstSampleTheEndpointAsksToRetry() async throws {
        let fleet = try PrinterFleet(configuration: configuration(dmls: 0, fdm: 1))
        try await Application(router: StatusServer.makeRouter(board: StatusBoard(printers: fleet.printers))).test(.router) { client in
            let response = try await client.execute(uri: "/api/v1/printer/status", method: .get)
            #expect(response.status == .serviceUnavailable)
            #expect(response.headers[.retryAfter] == "1")
        }
    }

    @Test func withoutFDMPrintersTheSeedEndpointSaysHowToGetOne() async throws {
        let board = StatusBoard()
        var fleet = try PrinterFleet(configuration: configuration(dmls: 1, fdm: 0))
        board.update(fleet.step())
        try await Application(router: StatusServer.makeRouter(board: board)).test(.router) { client in
            let response = try await client.execute(uri: "/api/v1/printer/status", method: .get)
            #expect(response.status == .notFound)
            #expect(String(buffer: response.body).contains("--fdm"))
        }
    }
}

extension Data {
    init(buffer: ByteBuffer) { self.init(buffer.readableBytesView) }
}
