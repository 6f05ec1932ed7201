import Logging
import OPCUA
import Testing
import TelemetryModel
@testable import PrinterSimulation

/// The OPC UA output writes every step into an in-process OPC UA server's printer variables.
struct OPCUAOutputTests {
    /// Runs `body` against a server on 127.0.0.1 (port 0) with `printers`, then stops it.
    func withServer(printers: [String], _ body: @Sendable (OPCUAServer, String, UInt16) async throws -> Void) async throws {
        var serverConfiguration = OPCUA.ServerConfiguration()
        serverConfiguration.host = "127.0.0.1"
        serverConfiguration.port = 0
        var space = AddressSpace()
        var ns: UInt16 = 0
        for printer in printers {
            let nodes = space.addPrinter(printer)
            ns = try #require(nodes).object.namespace
        }
        let server = OPCUAServer(configuration: serverConfiguration, addressSpace: space, logger: quietLogger)
        let task = Task { try await server.run() }
        defer { task.cancel() }
        let port = try await server.listeningPort()
        try await body(server, "opc.tcp://127.0.0.1:\(port)", ns)
        task.cancel()
        _ = await task.result
    }

    @Test func theLastStepIsInTheServerBitForBitWithItsSimulatedTime() async throws {
        try await withServer(printers: ["dmls-01", "fdm-01"]) { server, url, ns in
            let output = try OPCUAOutput(url: url, logger: quietLogger)
            let fleetConfiguration = configuration(dmls: 1, fdm: 1)
            var fleet = try PrinterFleet(configuration: fleetConfiguration)
            for _ in 0..<5 { await output.send(fleet.step().records) }
            let report = await output.finish(within: .seconds(10))
            #expect(report.recordsSent == 10 && report.framesSent == 5 && report.requests == 5)
            #expect(report.recordsRejected == 0 && report.recordsDropped == 0 && report.backlog == 0)

            let expected = try Run(fleetConfiguration, samples: 5)
            let dmls = try #require(expected.records("dmls-01").last)
            let fdm = try #require(expected.records("fdm-01").last)
            let time = DateTime(unixNanoseconds: at(4).nanoseconds)
            #expect(dmls.timestamp == at(4))

            let temperature = await server.value(of: PrinterModel.variableId(printer: "dmls-01", channel: "Temperature", namespace: ns))
            guard case .array(.float(let values), let dimensions)? = temperature.value else {
                Issue.record("Temperature is not a Float matrix: \(String(describing: temperature.value))")
                return
            }
            let frame = try #require(dmls.frame)
            #expect(dimensions == [Int32(frame.height), Int32(frame.width)])
            #expect(values.map(\.bitPattern) == frame.values.map(\.bitPattern))
            #expect(temperature.sourceTimestamp == time)

            let nozzle = await server.value(of: PrinterModel.variableId(printer: "fdm-01", channel: "NozzleTempC", namespace: ns))
            let want = try #require(fdm.channels[ChannelName.nozzleTempC])
            #expect(nozzle.value == .scalar(.double(Double(want))))
            #expect(nozzle.sourceTimestamp == time)

            let layer = await server.value(of: PrinterModel.variableId(printer: "dmls-01", channel: "Layer", namespace: ns))
            #expect(layer.value == .scalar(.uint32(UInt32(try #require(dmls.channels["layer"])))))
            let state = await server.value(of: PrinterModel.variableId(printer: "fdm-01", channel: "State", namespace: ns))
            #expect(state.value == .scalar(.string(fdm.state)))
        }
    }

    @Test func aPrinterTheServerLacksIsCountedAsRejected() async throws {
        try await withServer(printers: ["dmls-01"]) { server, url, ns in
            let output = try OPCUAOutput(url: url, logger: quietLogger)
            var fleet = try PrinterFleet(configuration: configuration(dmls: 1, fdm: 1))
            for _ in 0..<3 { await output.send(fleet.step().records) }
            let report = await output.finish(within: .seconds(10))
            #expect(report.recordsSent == 3 && report.recordsRejected == 3 && report.requests == 3)
            let power = await server.value(of: PrinterModel.variableId(printer: "dmls-01", channel: "PowerKW", namespace: ns))
            #expect(power.sourceTimestamp == DateTime(unixNanoseconds: at(2).nanoseconds))
        }
    }

    @Test func aURLThatIsNotOPCTCPIsRefused() {
        #expect(throws: SimulationError.self) { try OPCUAOutput(url: "http://127.0.0.1:4840", logger: quietLogger) }
    }
}
