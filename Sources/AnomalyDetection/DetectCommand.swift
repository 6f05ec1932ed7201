// sinter-detect's command line: the service (default) and `evaluate`.
public import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle

/// `sinter-detect`: the anomaly detector.
public struct DetectCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "sinter-detect",
        abstract: "Anomaly detector: watches sinter-server's printers and raises, updates and resolves alerts.",
        discussion: """
            Without a subcommand it runs the detector service (see 'sinter-detect run --help'); \
            'sinter-detect evaluate' scores the detector on labelled data (SKAB, a CSV with label \
            windows, or the simulator's fault labels).
            """,
        subcommands: [RunCommand.self, EvaluateCommand.self],
        defaultSubcommand: RunCommand.self
    )

    public init() {}
}

/// `sinter-detect run`: the detector service.
public struct RunCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Follow sinter-server and write alerts (the default subcommand).",
        discussion: """
            Reads every printer's records from sinter-server (binary range queries, woken by the \
            live stream), runs the rules and a per-printer Isolation Forest over them, and writes \
            alerts through the server's alerts API: one open alert per printer and rule, updated \
            when its severity changes, resolved when the condition has cleared.

            Rules: hard_failure (error state), filament_jam (flow near zero under load), \
            overheating (nozzle/bed limits, DMLS plate against its learned level), \
            predictive_overheat (a steady rise that will reach the critical limit soon), \
            power_spike (above the recent normal), vibration (ISO 10816 zones, 4.5 / 7.1 mm/s), \
            sensor_dropout (a temperature NaN or frozen), frame_hot_spot and non_uniform_layer \
            (DMLS bed regions persistently above or below their normal), isolation_forest (the \
            model's smoothed score over its adaptive threshold). Each has a pending period and \
            hysteresis, so alerts do not flap.

            At start the last --history seconds of every printer warm up the learned levels and \
            the model. status.json (--status-file) holds each printer's state, latest values, open \
            alerts and model score; alerts.log (--alerts-log) one line per alert change.

            Examples:
              sinter-detect --server http://127.0.0.1:8080
              sinter-detect --server http://127.0.0.1:8080 --interval 2 \\
                --disable vibration --status-file /tmp/status.json
            """
    )

    @Option(help: "sinter-server's base URL.")
    var server = "http://127.0.0.1:8080"
    @Option(help: "Bearer token for the server (default: $SINTER_TOKEN).")
    var token: String?
    @Option(parsing: .unconditional, help: "Seconds between reads of new records.")
    var interval = 1.0
    @Option(parsing: .unconditional, help: "Seconds of history each printer learns from at start.")
    var history = 900.0
    @Option(help: "Where to keep status.json ('none' to skip).")
    var statusFile = "status.json"
    @Option(help: "Where to append alert lines ('none' to skip).")
    var alertsLog = "alerts.log"
    @Option(help: "Only these printers (comma-separated; default: all).")
    var machines: String?
    @Option(help: "Rules to switch off (comma-separated names, see above).")
    var disable: String?
    @Option(parsing: .unconditional, help: "Stop after this many seconds (default: run until SIGINT/SIGTERM).")
    var duration: Double?
    @Option(parsing: .unconditional, help: "Seconds between progress lines.")
    var reportEvery = 10.0
    @Option(help: "Log level: trace, debug, info, notice, warning, error.")
    var logLevel = "info"

    public init() {}

    public func validate() throws {
        guard interval > 0, interval <= 3600 else { throw ValidationError("--interval must be between 0 and 3600 seconds, got \(interval)") }
        guard history >= 0 else { throw ValidationError("--history must not be negative, got \(history)") }
        guard reportEvery > 0 else { throw ValidationError("--report-every must be positive, got \(reportEvery)") }
        if let duration, !(duration > 0) { throw ValidationError("--duration must be positive, got \(duration)") }
        guard server.hasPrefix("http://") || server.hasPrefix("https://") else {
            throw ValidationError("--server must be an http:// or https:// URL, got \(server)")
        }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("--log-level must be trace, debug, info, notice, warning or error, got \(logLevel)") }
        for rule in list(disable) where !RuleName.all.contains(rule) {
            throw ValidationError("--disable: unknown rule \(rule); rules are \(RuleName.all.joined(separator: ", "))")
        }
    }

    func list(_ text: String?) -> [String] {
        (text ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    public func run() async throws {
        var logger = Logger(label: "sinter-detect")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        var c = DetectServiceConfiguration()
        c.serverURL = server
        c.token = token ?? ProcessInfo.processInfo.environment["SINTER_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        c.interval = .milliseconds(Int64(interval * 1000))
        c.history = .milliseconds(Int64(history * 1000))
        c.statusFile = statusFile == "none" ? nil : statusFile
        c.alertsLog = alertsLog == "none" ? nil : alertsLog
        c.machines = Set(list(machines))
        c.detector.disabledRules = Set(list(disable))
        c.duration = duration.map { .milliseconds(Int64($0 * 1000)) }
        c.reportEvery = .milliseconds(Int64(reportEvery * 1000))
        let service = DetectService(configuration: c, logger: logger)
        print("sinter-detect: following \(server), status \(c.statusFile ?? "-"), alerts log \(c.alertsLog ?? "-")")
        fflush(nil)
        let group = ServiceGroup(configuration: .init(services: [.init(service: service)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}
