// `evaluate --labels FILE`: the detector against the simulator's ground truth.
import Foundation
public import TelemetryModel

/// Scores the detector on a simulated run: the records (from sinter-server) replayed through
/// ``Detector``, its alerts compared with the simulator's labels (`sinter-sim --labels FILE`).
///
/// - **Detection rate**: a fault counts as detected when any alert of its printer is raised
///   between its start and ``Options/graceSeconds`` after its end; the delay is from its start.
/// - **Lead time**: for every change of an FDM printer into `error`, the time from the first
///   alert raised on that printer since its `anomaly` phase began (at most
///   ``Options/leadWindowSeconds`` earlier), not counting the alerts that report the error itself
///   (`hard_failure`, `filament_jam`), to the error.
/// - **False alerts per printer-hour**: alerts raised outside every fault window and every
///   anomaly/error phase (each with the grace after it), divided by the hours of records.
///
/// ```swift
/// let labels = try LabelEvaluation.Labels(parsing: text)
/// let report = LabelEvaluation.evaluate(records: records, labels: labels)
/// print(report.lines.joined(separator: "\n"))
/// ```
public enum LabelEvaluation {
    public struct Options: Sendable {
        public var graceSeconds = 30.0
        public var leadWindowSeconds = 120.0
        public var detector = DetectorConfiguration()
        public init() {}
    }

    public struct Fault: Sendable, Equatable {
        public var id: Int
        public var kind: String
        public var machine: String
        public var start: Int64
        public var end: Int64
    }

    public struct StateChange: Sendable, Equatable {
        public var machine: String
        public var time: Int64
        public var state: String
    }

    /// The labels of one run.
    public struct Labels: Sendable {
        public var faults: [Fault] = []
        public var states: [StateChange] = []
        /// The printers the simulation header lists (also those without any event).
        public var printers: Set<String> = []
        public var machines: Set<String> { Set(faults.map(\.machine)).union(states.map(\.machine)).union(printers) }

        /// Parses the simulator's JSON Lines; errors name the line.
        public init(parsing text: String) throws(DetectionError) {
            var starts: [Int: Fault] = [:]
            var number = 0
            for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
                number += 1
                let trimmed = line.trimmingCharacters(in: .whitespaces)
                if trimmed.isEmpty { continue }
                let parsed = try? JSONSerialization.jsonObject(with: Data(trimmed.utf8)) as? [String: Any]
                if let parsed, parsed["event"] as? String == "simulation" {
                    for p in parsed["printers"] as? [[String: Any]] ?? [] { if let id = p["machine_id"] as? String { printers.insert(id) } }
                    continue
                }
                guard let object = parsed,
                      let event = object["event"] as? String, let machine = object["machine_id"] as? String,
                      let time = (object["time_ns"] as? NSNumber)?.int64Value else {
                    throw DetectionError(.invalidData, "labels line \(number): not a label event (needs event, machine_id, time_ns)")
                }
                switch event {
                case "fault_start":
                    guard let id = (object["fault_id"] as? NSNumber)?.intValue, let end = (object["end_ns"] as? NSNumber)?.int64Value else {
                        throw DetectionError(.invalidData, "labels line \(number): fault_start without fault_id or end_ns")
                    }
                    starts[id] = Fault(id: id, kind: object["kind"] as? String ?? "?", machine: machine, start: time, end: end)
                case "fault_end":
                    if let id = (object["fault_id"] as? NSNumber)?.intValue, var f = starts[id] { f.end = time; starts[id] = f }
                case "state":
                    states.append(StateChange(machine: machine, time: time, state: object["state"] as? String ?? ""))
                default:
                    throw DetectionError(.invalidData, "labels line \(number): unknown event \"\(event)\"")
                }
            }
            faults = starts.values.sorted { ($0.start, $0.id) < ($1.start, $1.id) }
            states.sort { ($0.time, $0.machine) < ($1.time, $1.machine) }
        }
    }

    /// The scores.
    public struct Report: Sendable {
        public var faults = 0
        public var detected = 0
        public var delays: [Double] = []
        /// kind → (faults, detected)
        public var byKind: [String: (Int, Int)] = [:]
        public var errors = 0
        public var warnedErrors = 0
        public var leadTimes: [Double] = []
        public var alerts = 0
        public var falseAlerts = 0
        public var printerHours = 0.0
        public var records = 0

        public var detectionRate: Double { faults > 0 ? Double(detected) / Double(faults) : .nan }
        public var falseAlertsPerPrinterHour: Double { printerHours > 0 ? Double(falseAlerts) / printerHours : .nan }

        /// One metric per line, like the other evaluations.
        public var lines: [String] {
            func f(_ v: Double, _ d: Int = 1) -> String { v.isFinite ? String(format: "%.\(d)f", v) : "n/a" }
            func median(_ v: [Double]) -> Double { v.isEmpty ? .nan : v.sorted()[v.count / 2] }
            var out = [
                "records \(records) (\(f(printerHours, 2)) printer-hours)",
                "detection \(f(100 * detectionRate)) % (\(detected) of \(faults) faults)",
                "detection delay median \(f(median(delays))) s",
            ]
            for kind in byKind.keys.sorted() {
                let (n, d) = byKind[kind]!
                out.append("detection \(kind) \(d) of \(n)")
            }
            out.append("warned before error \(warnedErrors) of \(errors)")
            out.append("lead time median \(f(median(leadTimes))) s (min \(f(leadTimes.min() ?? .nan)) s)")
            out.append("false alerts \(falseAlerts) of \(alerts) (\(f(falseAlertsPerPrinterHour, 2)) per printer-hour)")
            return out
        }
    }

    /// Replays each machine's records (oldest first) through a fresh detector and scores the
    /// raised alerts against `labels`.
    public static func evaluate(records: [String: [TelemetryRecord]], labels: Labels, options: Options = Options()) -> Report {
        var detector = Detector(configuration: options.detector)
        var raised: [String: [(time: Int64, rule: String)]] = [:]
        var report = Report()
        for (machine, list) in records.sorted(by: { $0.key < $1.key }) {
            report.records += list.count
            if let first = list.first, let last = list.last {
                report.printerHours += Double(last.timestamp.nanoseconds - first.timestamp.nanoseconds) / 3.6e12
            }
            for record in list {
                for d in detector.process(record) where d.action == .raise {
                    raised[machine, default: []].append((d.time.nanoseconds, d.rule))
                }
            }
        }
        let grace = Int64(options.graceSeconds * 1e9)
        var excused: [String: [ClosedRange<Int64>]] = [:]
        for fault in labels.faults where records[fault.machine] != nil {
            report.faults += 1
            excused[fault.machine, default: []].append(fault.start...(fault.end + grace))
            let hit = raised[fault.machine, default: []].filter { (fault.start...(fault.end + grace)).contains($0.time) }.map(\.time).min()
            var k = report.byKind[fault.kind] ?? (0, 0)
            k.0 += 1
            if let hit {
                report.detected += 1
                k.1 += 1
                report.delays.append(Double(hit - fault.start) / 1e9)
            }
            report.byKind[fault.kind] = k
        }
        // Anomaly → error phases.
        var anomalyStart: [String: Int64] = [:]
        var errorStart: [String: Int64] = [:]
        for change in labels.states where records[change.machine] != nil {
            switch change.state {
            case "anomaly":
                anomalyStart[change.machine] = change.time
            case "error":
                report.errors += 1
                errorStart[change.machine] = change.time
                let from = max(anomalyStart[change.machine] ?? Int64.min, change.time - Int64(options.leadWindowSeconds * 1e9))
                let early = raised[change.machine, default: []].filter {
                    $0.time >= from && $0.time < change.time && $0.rule != RuleName.hardFailure && $0.rule != RuleName.filamentJam
                }.map(\.time).min()
                if let early {
                    report.warnedErrors += 1
                    report.leadTimes.append(Double(change.time - early) / 1e9)
                }
            default:
                let start = anomalyStart.removeValue(forKey: change.machine) ?? errorStart[change.machine]
                if let start, let errorTime = errorStart.removeValue(forKey: change.machine) ?? Optional(change.time) {
                    excused[change.machine, default: []].append(start...(max(errorTime, change.time) + grace))
                }
            }
        }
        for (machine, start) in anomalyStart { excused[machine, default: []].append(start...Int64.max) }
        for (machine, start) in errorStart { excused[machine, default: []].append(start...Int64.max) }
        for (machine, list) in raised {
            report.alerts += list.count
            let windows = excused[machine] ?? []
            report.falseAlerts += list.filter { a in !windows.contains { $0.contains(a.time) } }.count
        }
        return report
    }
}
