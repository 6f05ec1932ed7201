// sinter-detect's service: follow sinter-server, run the detector, write alerts, status.json, alerts.log.
import AsyncHTTPClient
import Foundation
public import Logging
import NIOCore
import SinterHTTPClient
public import ServiceLifecycle
import TelemetryModel

/// Settings of the detector service.
public struct DetectServiceConfiguration: Sendable {
    /// sinter-server's base URL.
    public var serverURL = "http://127.0.0.1:8080"
    /// Bearer token for the server, if it requires one.
    public var token: String?
    /// How often new records are fetched and processed.
    public var interval: Duration = .seconds(1)
    /// How much history each printer's rules and model learn from at start.
    public var history: Duration = .seconds(900)
    /// Records per request.
    public var batch = 500
    /// `status.json`: the current state of every printer (written atomically every interval).
    public var statusFile: String? = "status.json"
    /// `alerts.log`: one line per alert raised, updated or resolved.
    public var alertsLog: String? = "alerts.log"
    /// Only these printers (empty: every printer the server has).
    public var machines: Set<String> = []
    /// The rules and model.
    public var detector = DetectorConfiguration()
    /// Stop after this long (tests, demos); nil runs until SIGINT/SIGTERM.
    public var duration: Duration?
    /// Progress line every this often.
    public var reportEvery: Duration = .seconds(10)
    public init() {}
}

/// Counters of the service.
public struct DetectCounters: Sendable, Equatable {
    /// Records read at start to warm up (no alerts sent for them).
    public var history = 0
    /// Records followed since.
    public var records = 0
    public var raised = 0
    public var updated = 0
    public var resolved = 0
    public var serverErrors = 0
}

/// Follows sinter-server and turns its records into alerts, as a swift-service-lifecycle service.
///
/// At start it lists the machines, reads each one's last ``DetectServiceConfiguration/history``
/// to warm up the rules' learned levels and the model (decisions during the warm-up are not
/// sent: they are history), and adopts the server's open alerts of its rules so they are
/// resolved when their condition clears. Then it subscribes to the live stream (`/api/v1/stream`)
/// to learn which machines have new records and which alerts operators resolved, and every
/// ``DetectServiceConfiguration/interval`` reads new records of those machines as binary
/// batches (every machine each 10th interval, and whenever the stream is down). Decisions go
/// to the alerts API; `status.json` and `alerts.log` follow seed 001.
///
/// ```swift
/// let service = DetectService(configuration: configuration, logger: logger)
/// try await ServiceGroup(services: [service], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger).run()
/// ```
public actor DetectService: Service {
    enum State: Sendable { case idle, warmingUp, following, stopped }

    public let configuration: DetectServiceConfiguration
    private let logger: Logger
    private var state = State.idle
    private var detector: Detector
    private var cursors: [MachineID: Timestamp] = [:]
    private var kinds: [MachineID: String] = [:]
    private var dirty: Set<MachineID> = []
    /// Printers found after start, not read yet: read from their first record.
    private var fromStart: Set<MachineID> = []
    private var alertIDs: [String: String] = [:]      // "machine/rule" → id
    private var counters = DetectCounters()
    private var streamUp = false
    private var log: FileHandle?

    public init(configuration: DetectServiceConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        detector = Detector(configuration: configuration.detector)
    }

    /// The counters so far.
    public var status: DetectCounters { counters }

    public func run() async throws {
        var clientConfiguration = SinterClientConfiguration(baseURL: configuration.serverURL, token: configuration.token)
        clientConfiguration.requestTimeout = .seconds(10)
        // Waits after a failed poll or a dropped stream: at most 250 ms doubling to 10 s, with jitter.
        clientConfiguration.retry.initialBackoff = .milliseconds(250)
        clientConfiguration.retry.maximumBackoff = .seconds(10)
        let http = SinterClient(configuration: clientConfiguration, logger: logger)
        let client = DetectorAPI(client: http)
        if let path = configuration.alertsLog {
            if !FileManager.default.fileExists(atPath: path), !FileManager.default.createFile(atPath: path, contents: nil) {
                logger.warning("detect.alerts_log_failed", metadata: ["file": "\(path)"])
            }
            log = FileHandle(forWritingAtPath: path)
            _ = try? log?.seekToEnd()
        }
        logger.notice("detect.started", metadata: ["server.url": "\(configuration.serverURL)", "history.seconds": "\(configuration.history.components.seconds)"])
        let started = ContinuousClock.now
        // SIGTERM/SIGINT (the service group's graceful shutdown) cancels the loops.
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.follow(client) }
                group.addTask { await self.listen(client) }
                group.addTask { await self.report() }
                if let duration = self.configuration.duration {
                    group.addTask { try? await Task.sleep(until: started + duration) }
                }
                _ = await group.next()
                group.cancelAll()
            }
        }
        logger.info("detect.stopping")
        state = .stopped
        writeStatus()
        try? log?.close()
        await http.shutdown()
        logger.notice("detect.stopped", metadata: [
            "records": "\(counters.records)", "alerts.raised": "\(counters.raised)", "alerts.resolved": "\(counters.resolved)",
        ])
    }

    // MARK: Following

    private func follow(_ client: DetectorAPI) async {
        var tick = 0
        var attempt = 0
        while !Task.isCancelled {
            do throws(DetectionError) {
                // A warm-up cut short by a server error starts again (records seen twice are skipped).
                if state == .idle || state == .warmingUp { try await warmUp(client) }
                let all = tick % 10 == 0 || !streamUp
                if all { try await discover(client) }
                let machines = all ? Array(cursors.keys) : Array(dirty)
                dirty = []
                for machine in machines.sorted() { try await catchUp(machine, client) }
                attempt = 0
            } catch {
                counters.serverErrors += 1
                logger.warning("detect.server_failed", metadata: ["error": "\(error.message)", "attempt": "\(attempt)"])
                attempt += 1
            }
            writeStatus()
            tick += 1
            if attempt == 0 {
                do { try await Task.sleep(for: configuration.interval) } catch { return }
            } else {
                var retry = attempt - 1
                if !(await client.client.pause(attempt: &retry)) { return }
            }
        }
    }

    private func warmUp(_ client: DetectorAPI) async throws(DetectionError) {
        state = .warmingUp
        for alert in try await client.openAlerts() where RuleName.all.contains(alert.rule) {
            alertIDs["\(alert.machineID)/\(alert.rule)"] = alert.id
        }
        try await discover(client)
        var warmed = 0
        for machine in cursors.keys.sorted() {
            guard let last = cursors[machine] else { continue }
            let start = last.advanced(byNanoseconds: -Debouncer.nanoseconds(configuration.history))
            var cursor = start.advanced(byNanoseconds: -1)
            while true {
                let records = try await client.records(machine: machine, after: cursor, to: last, limit: configuration.batch)
                for record in records { _ = detector.process(record) }
                warmed += records.count
                counters.history += records.count
                guard let newest = records.last?.timestamp, records.count == configuration.batch else { break }
                cursor = newest
            }
        }
        // Alerts the server holds open from an earlier run: kept if the history shows their
        // condition still present, resolved if it shows it gone, adopted (resolved when seen
        // clear) if the printer has no history.
        let holding = Set(detector.openAlerts.map { "\($0.machineID.rawValue)/\($0.rule)" })
        let seen = Set(detector.machines.map(\.rawValue))
        for (key, id) in alertIDs.sorted(by: { $0.key < $1.key }) where !holding.contains(key) {
            let parts = key.split(separator: "/", maxSplits: 1).map(String.init)
            guard parts.count == 2, let machine = try? MachineID(parts[0]) else { continue }
            if seen.contains(parts[0]) {
                do throws(DetectionError) {
                    try await client.resolve(id: id, note: "condition not present when sinter-detect started")
                    alertIDs.removeValue(forKey: key)
                    counters.resolved += 1
                    logger.notice("detect.alert_resolved", metadata: ["machine.id": "\(machine)", "alert.rule": "\(parts[1])", "alert.id": "\(id)"])
                } catch {
                    logger.warning("detect.alert_failed", metadata: ["machine.id": "\(machine)", "alert.rule": "\(parts[1])", "error": "\(error.message)"])
                }
            } else {
                detector.adopt(machine: machine, rule: parts[1])
            }
        }
        // Conditions still present at the end of the history with no alert open: raise them now.
        for decision in detector.openAlerts where alertIDs["\(decision.machineID.rawValue)/\(decision.rule)"] == nil {
            await act(decision, client)
        }
        logger.notice("detect.warmed_up", metadata: ["machines": "\(cursors.count)", "records": "\(warmed)", "alerts.open": "\(alertIDs.count)"])
        state = .following
    }

    /// Learns new machines (their cursor starts at their newest record).
    private func discover(_ client: DetectorAPI) async throws(DetectionError) {
        for m in try await client.machines() where configuration.machines.isEmpty || configuration.machines.contains(m.id.rawValue) {
            kinds[m.id] = m.kind
            if cursors[m.id] == nil {
                // At start a printer is followed from its newest record (its history warms up);
                // one that appears later is read from its first.
                cursors[m.id] = m.last ?? Timestamp(nanoseconds: 0)
                if state != .warmingUp { fromStart.insert(m.id) }
                if state != .warmingUp { logger.info("detect.machine_found", metadata: ["machine.id": "\(m.id)"]) }
            }
        }
    }

    private func catchUp(_ machine: MachineID, _ client: DetectorAPI) async throws(DetectionError) {
        while let cursor = cursors[machine] {
            let records = try await client.records(machine: machine, after: fromStart.contains(machine) ? nil : cursor, limit: configuration.batch)
            fromStart.remove(machine)
            for record in records {
                counters.records += 1
                for decision in detector.process(record) { await act(decision, client) }
            }
            guard let newest = records.last?.timestamp else { return }
            cursors[machine] = newest
            if records.count < configuration.batch { return }
        }
    }

    private func act(_ d: AlertDecision, _ client: DetectorAPI) async {
        let key = "\(d.machineID.rawValue)/\(d.rule)"
        do throws(DetectionError) {
            switch d.action {
            case .raise, .update:
                let id = try await client.raise(d)
                alertIDs[key] = id
                if d.action == .raise { counters.raised += 1 } else { counters.updated += 1 }
                logger.notice(d.action == .raise ? "detect.alert_raised" : "detect.alert_updated", metadata: [
                    "machine.id": "\(d.machineID)", "alert.rule": "\(d.rule)", "alert.severity": "\(d.severity.rawValue)", "alert.id": "\(id)",
                ])
            case .resolve:
                guard let id = alertIDs.removeValue(forKey: key) else { return }
                try await client.resolve(id: id, note: "condition cleared at \(d.time.rfc3339)")
                counters.resolved += 1
                logger.notice("detect.alert_resolved", metadata: ["machine.id": "\(d.machineID)", "alert.rule": "\(d.rule)", "alert.id": "\(id)"])
            }
            appendLog(d)
        } catch {
            counters.serverErrors += 1
            logger.warning("detect.alert_failed", metadata: ["machine.id": "\(d.machineID)", "alert.rule": "\(d.rule)", "error": "\(error.message)"])
        }
    }

    // MARK: Live stream

    /// Reads the live stream: record events mark machines to read, alert events tell of
    /// alerts resolved by operators. Reconnects with backoff.
    private func listen(_ client: DetectorAPI) async {
        var attempt = 0
        while !Task.isCancelled {
            do {
                let response = try await client.stream()
                streamUp = true
                attempt = 0
                logger.info("detect.stream_connected")
                var parser = ServerSentEvents()
                for try await chunk in response.body {
                    for event in parser.feed(chunk) { handle(event) }
                }
            } catch {
                if Task.isCancelled { break }
                logger.debug("detect.stream_failed", metadata: ["error": "\(error)"])
            }
            streamUp = false
            if !(await client.client.pause(attempt: &attempt)) { break }
        }
    }

    private func handle(_ event: ServerSentEvents.Event) {
        switch event.name {
        case "record":
            if let id = ServerSentEvents.stringField("machine_id", in: event.data), let machine = try? MachineID(id),
               configuration.machines.isEmpty || configuration.machines.contains(id) {
                dirty.insert(machine)
            }
        case "alert":
            guard let object = try? JSONSerialization.jsonObject(with: Data(event.data.utf8)) as? [String: Any],
                  let alert = ServerAlert(json: object), alert.state == "resolved" else { return }
            let key = "\(alert.machineID)/\(alert.rule)"
            guard alertIDs[key] == alert.id, let machine = try? MachineID(alert.machineID) else { return }
            alertIDs.removeValue(forKey: key)
            detector.alertResolvedElsewhere(machine: machine, rule: alert.rule)
            logger.info("detect.alert_resolved_by_operator", metadata: ["machine.id": "\(alert.machineID)", "alert.rule": "\(alert.rule)"])
        default:
            break
        }
    }

    // MARK: Outputs

    private func report() async {
        var last = counters
        while !Task.isCancelled {
            do { try await Task.sleep(for: configuration.reportEvery) } catch { return }
            let now = counters
            logger.info("detect.progress", metadata: [
                "machines": "\(cursors.count)", "records": "\(now.records)", "records.new": "\(now.records - last.records)",
                "alerts.open": "\(alertIDs.count)", "alerts.raised": "\(now.raised)", "alerts.resolved": "\(now.resolved)",
                "stream.up": "\(streamUp)", "server.errors": "\(now.serverErrors)",
            ])
            last = now
        }
    }

    /// One line per decision, like seed 001's alerts.log.
    private func appendLog(_ d: AlertDecision) {
        guard let log else { return }
        let line = "\(d.time.rfc3339) \(d.action.rawValue.uppercased()) \(d.severity.rawValue.uppercased()) \(d.machineID.rawValue) \(d.rule): \(d.message)\n"
        log.write(Data(line.utf8))
    }

    private func writeStatus() {
        guard let path = configuration.statusFile else { return }
        let json = StatusDocument.json(snapshots: detector.snapshots, counters: counters, alertIDs: alertIDs, streamUp: streamUp)
        do {
            try Data(json.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            logger.warning("detect.status_file_failed", metadata: ["file": "\(path)", "error": "\(error)"])
        }
    }
}
