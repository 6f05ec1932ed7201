public import ArgumentParser
import Foundation
import Logging
import OPCUA
import ServiceLifecycle
import TelemetryModel

/// `sinter-sim`: simulated DMLS and FDM printers that feed sinter-server.
public struct SimulatorCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "sinter-sim",
        abstract: "Simulate DMLS and FDM printers: thermal frames, temperatures, state cycles, faults with ground-truth labels.",
        discussion: """
            Printers are named dmls-01… and fdm-01…. A DMLS printer sends a 100x100 thermal frame of \
            its powder bed (a heat model with a scanning laser, layers and recoater passes), power_kw, \
            vibration_mm_s, plate_temp_c, chamber_temp_c and layer. An FDM printer cycles idle -> \
            printing -> anomaly -> error -> printing (60 s each; the anomaly is an overheating drift \
            the printer still reports as printing) and sends nozzle_temp_c, bed_temp_c, filament_flow, \
            extruder_load, print_progress and power_kw.

            Simulated time starts at --start and advances 1/--rate per sample; --speed scales it \
            against the wall clock. The same --seed and --start give the same records, bit for bit. \
            --http sends the records to sinter-server; --opcua writes them into the printer \
            variables of an OPC UA server (the edge gateway, e.g. sinter-opcua serve --printers \
            dmls-01,fdm-01): one Write per step with every printer's variables, SourceTimestamp = \
            the simulated sample time. The two are exclusive. Without either the records are \
            generated and counted only (a dry run).

            Faults: --fault KIND:PRINTER@START[+DURATION][,key=value] with times in simulated \
            seconds from the start (units s, m, h allowed; duration default 60 s) and PRINTER a name \
            or '*'. Kinds: hot-spot (x,y,radius,delta), lack-of-fusion (x,y,radius,power), \
            recoater-jam, heater-runaway (rate, target=plate|nozzle|bed), thermocouple-dropout \
            (mode=nan|stuck, channel), filament-jam, power-spike (kw). --labels writes every fault \
            start and end and every FDM state change as JSON Lines.

            Examples:
              sinter-sim --dmls 2 --fdm 2 --http http://127.0.0.1:8080
              sinter-sim --fdm 1 --dmls 0 --status-port 5000   # seed 001 status
              sinter-sim --speed max --sim-seconds 3600 --random-faults 2 \\
                --labels labels.jsonl \\
                --http http://127.0.0.1:8080
              sinter-sim --fault hot-spot:dmls-01@2m+90s \\
                --fault filament-jam:fdm-01@30+20 --http http://127.0.0.1:8080
              sinter-sim --dmls 1 --fdm 1 --opcua opc.tcp://127.0.0.1:4840
            """
    )

    @Option(parsing: .unconditional, help: "Number of DMLS printers (dmls-01…).")
    var dmls = 1

    @Option(parsing: .unconditional, help: "Number of FDM printers (fdm-01…).")
    var fdm = 1

    @Option(parsing: .unconditional, help: "Samples per printer per simulated second.")
    var rate = 1.0

    @Option(help: "Simulated seconds per wall second, or 'max' (as fast as possible; the output then waits instead of dropping).")
    var speed = "1"

    @Option(parsing: .unconditional, help: "Stop after this many wall seconds (default: run until SIGINT/SIGTERM or --sim-seconds).")
    var duration: Double?

    @Option(parsing: .unconditional, help: "Stop after this many simulated seconds.")
    var simSeconds: Double?

    @Option(parsing: .unconditional, help: "Seed of every random choice (noise, part shapes, random faults, stagger).")
    var seed: UInt64 = 1

    @Option(help: "Simulated time of the first sample: RFC 3339, epoch milliseconds, or 'now'.")
    var start = "now"

    @Option(help: "Send records to sinter-server at this URL (e.g. http://127.0.0.1:8080), as binary batches.")
    var http: String?

    @Option(help: "Write records into the printer variables of an OPC UA server (the edge gateway) at this URL (e.g. opc.tcp://127.0.0.1:4840); not with --http.")
    var opcua: String?

    @Option(help: "Bearer token for sinter-server with --http (default: $SINTER_TOKEN).")
    var token: String?

    @Option(parsing: .unconditional, help: "Serve seed 001's GET /api/v1/printer/status on this port (0 picks one and prints it).")
    var statusPort: Int?

    @Option(help: "Address of the status endpoint.")
    var statusHost = "127.0.0.1"

    @Option(name: .customLong("fault"), help: ArgumentHelp("A scheduled fault (repeatable): KIND:PRINTER@START[+DURATION][,key=value].", valueName: "spec"))
    var faults: [String] = []

    @Option(parsing: .unconditional, help: "Mean number of random faults per printer per simulated hour.")
    var randomFaults = 0.0

    @Option(help: "Write ground truth (fault starts and ends, FDM state changes) to this JSON Lines file.")
    var labels: String?

    @Option(parsing: .unconditional, help: "Seconds each FDM state lasts.")
    var stateSeconds = 60.0

    @Flag(help: "Start every FDM printer at the beginning of its cycle (default: staggered by the seed).")
    var noStagger = false

    @Flag(help: "FDM records report the anomaly state as 'anomaly' (default: 'printing', as a real printer would).")
    var reportAnomalyState = false

    @Option(help: "Thermal frame size, WIDTHxHEIGHT.")
    var frameSize = "100x100"

    @Option(help: "The thermal camera's range in °C, LOW:HIGH.")
    var temperatureRange = "20:80"

    @Option(parsing: .unconditional, help: "Resolution of every reading (°C, kW, mm/s); 0 = full Float precision.")
    var sensorResolution = 0.01

    @Option(parsing: .unconditional, help: "Most records per HTTP request (--http only; --opcua writes one request per step).")
    var batch = 64

    @Option(parsing: .unconditional, help: "Output backlog bound in MiB while the server is unreachable (oldest records are dropped beyond it).")
    var backlogMb = 256

    @Option(parsing: .unconditional, help: "Wall seconds between progress lines (on stderr).")
    var reportEvery = 5.0

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel = "info"

    public init() {}

    func parsedSpeed() throws -> SimulationSpeed {
        if speed == "max" { return .unlimited }
        guard let x = Double(speed), x.isFinite, x > 0, x <= 1_000_000 else {
            throw ValidationError("--speed must be a number in (0, 1000000] or 'max'; got \(speed)")
        }
        return .factor(x)
    }

    func parsedStart() throws -> Timestamp {
        if start == "now" {
            return Timestamp(milliseconds: Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)))
        }
        do {
            return try Timestamp(parsing: start)
        } catch {
            throw ValidationError("--start must be RFC 3339 (2026-11-21T10:00:00Z), epoch milliseconds or 'now'; got \(start)")
        }
    }

    /// The simulation configuration the flags describe.
    func simulationConfiguration() throws -> SimulationConfiguration {
        var c = SimulationConfiguration()
        c.dmlsCount = dmls
        c.fdmCount = fdm
        c.rate = rate
        c.seed = seed
        c.start = try parsedStart()
        c.randomFaultsPerHour = randomFaults
        c.sensorResolution = sensorResolution
        c.fdm.stagger = !noStagger
        c.fdm.reportAnomalyState = reportAnomalyState
        guard stateSeconds.isFinite, stateSeconds > 0 else { throw ValidationError("--state-seconds must be > 0; got \(stateSeconds)") }
        c.fdm.cycle = c.fdm.cycle.map { FDMPhase($0.state, seconds: stateSeconds) }
        let size = frameSize.lowercased().split(separator: "x").compactMap { Int($0) }
        guard size.count == 2 else { throw ValidationError("--frame-size must be WIDTHxHEIGHT, e.g. 100x100; got \(frameSize)") }
        c.dmls.width = size[0]
        c.dmls.height = size[1]
        let range = temperatureRange.split(separator: ":").compactMap { Float($0) }
        guard range.count == 2, range[0] < range[1] else {
            throw ValidationError("--temperature-range must be LOW:HIGH in °C with LOW < HIGH, e.g. 20:80; got \(temperatureRange)")
        }
        c.dmls.temperatureRange = range[0]...range[1]
        do {
            c.faults = try faults.map { text throws(SimulationError) in try FaultSpec(parsing: text) }
            try c.validate()
        } catch {
            throw ValidationError(error.message)
        }
        return c
    }

    public func validate() throws {
        _ = try parsedSpeed()
        _ = try simulationConfiguration()
        if let duration, !(duration > 0) { throw ValidationError("--duration must be > 0 seconds; got \(duration)") }
        if let simSeconds, !(simSeconds >= 0) { throw ValidationError("--sim-seconds must be ≥ 0; got \(simSeconds)") }
        if let statusPort, !(0...65_535).contains(statusPort) { throw ValidationError("--status-port must be in 0...65535; got \(statusPort)") }
        if let http {
            guard http.hasPrefix("http://") || http.hasPrefix("https://"), URL(string: http)?.host != nil else {
                throw ValidationError("--http must be an http:// or https:// URL like http://127.0.0.1:8080; got \(http)")
            }
        }
        if http != nil, opcua != nil {
            throw ValidationError("--http and --opcua are exclusive: send to sinter-server (--http) or to an OPC UA server (--opcua), not both")
        }
        if let opcua {
            do { _ = try EndpointURL(opcua) } catch {
                throw ValidationError("--opcua must be an opc.tcp:// URL like opc.tcp://127.0.0.1:4840; got \(opcua) (\(error.message))")
            }
        }
        guard batch >= 1, batch <= 10_000 else { throw ValidationError("--batch must be 1...10000; got \(batch)") }
        guard backlogMb >= 1 else { throw ValidationError("--backlog-mb must be ≥ 1; got \(backlogMb)") }
        guard reportEvery > 0 else { throw ValidationError("--report-every must be > 0; got \(reportEvery)") }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical; got \(logLevel)")
        }
    }

    public func run() async throws {
        var logger = Logger(label: "sinter-sim")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        let configuration = try simulationConfiguration()
        let speed = try parsedSpeed()
        let fleet: PrinterFleet
        do { fleet = try PrinterFleet(configuration: configuration) } catch { throw ValidationError(error.message) }
        let labelWriter: LabelWriter?
        do { labelWriter = try labels.map { path throws(SimulationError) in try LabelWriter(path: path, fleet: fleet) } } catch {
            throw ValidationError(error.message)
        }
        var output: (any TelemetryOutput)?
        var target = "no output (dry run)"
        if let http {
            var outputConfiguration = HTTPOutput.Configuration()
            outputConfiguration.batchRecords = batch
            outputConfiguration.maximumBacklogBytes = backlogMb << 20
            outputConfiguration.waitWhenFull = speed == .unlimited
            outputConfiguration.token = token ?? ProcessInfo.processInfo.environment["SINTER_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
            let httpOutput = HTTPOutput(url: http, configuration: outputConfiguration, logger: logger)
            target = httpOutput.url
            output = httpOutput
        } else if let opcua {
            var outputConfiguration = OPCUAOutput.Configuration()
            outputConfiguration.maximumBacklogBytes = backlogMb << 20
            outputConfiguration.waitWhenFull = speed == .unlimited
            do { output = try OPCUAOutput(url: opcua, configuration: outputConfiguration, logger: logger) } catch {
                throw ValidationError(error.message)
            }
            target = opcua
        }
        let board = statusPort == nil ? nil : StatusBoard(printers: fleet.printers)

        var runnerConfiguration = SimulationRunner<ContinuousClock>.Configuration(speed: speed)
        runnerConfiguration.wallLimit = duration.map { .milliseconds(Int64($0 * 1000)) }
        runnerConfiguration.simulatedLimit = simSeconds
        runnerConfiguration.reportInterval = .milliseconds(Int64(reportEvery * 1000))
        let runner = SimulationRunner(fleet: fleet, output: output, labels: labelWriter, status: board,
                                      configuration: runnerConfiguration, clock: ContinuousClock(), logger: logger) { summary in
            print(summary.line)
            fflush(nil)
        }
        print("sinter-sim: \(configuration.dmlsCount) DMLS + \(configuration.fdmCount) FDM printers, \(format2(configuration.rate)) Hz, "
              + "speed \(speed), seed \(configuration.seed), start \(configuration.start.rfc3339) -> \(target)")
        fflush(nil)

        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: runner, successTerminationBehavior: .gracefullyShutdownGroup),
        ]
        if let board, let statusPort {
            let host = statusHost
            let app = StatusServer.makeApplication(board: board, host: host, port: statusPort, logger: logger) { port in
                print("sinter-sim status on http://\(host):\(port)/api/v1/printer/status")
                fflush(nil)
            }
            services.append(.init(service: app))
        }
        let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}
