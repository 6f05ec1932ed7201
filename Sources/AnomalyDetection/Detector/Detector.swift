// The detector: every rule and the streaming model, per printer, record by record.
import Foundation
public import TelemetryModel

/// What the detector wants done with an alert.
///
/// `raise` creates the alert of (machine, rule), or updates the open one (its severity,
/// message, details); `resolve` closes it.
public struct AlertDecision: Sendable, Equatable {
    public enum Action: String, Sendable, Equatable { case raise, update, resolve }
    public var action: Action
    public var machineID: MachineID
    public var rule: String
    public var severity: AlertSeverity
    public var message: String
    public var details: [String: Double]
    /// The time of the record that caused it.
    public var time: Timestamp
}

/// Runs every rule and the streaming model over each printer's records, in time order.
///
/// Pure and synchronous: feed records with ``process(_:)``, act on the returned decisions.
/// One open alert per (printer, rule): a rule's ``Debouncer`` raises once, reports severity
/// changes as updates, and resolves when the condition has cleared.
///
/// ```swift
/// var detector = Detector()
/// for record in records {
///     for decision in detector.process(record) { print(decision.action, decision.rule) }
/// }
/// ```
public struct Detector: Sendable {
    public let configuration: DetectorConfiguration
    private var monitors: [MachineID: PrinterMonitor] = [:]

    public init(configuration: DetectorConfiguration = DetectorConfiguration()) {
        self.configuration = configuration
    }

    /// Runs one record through its printer's rules and model. Records older than the printer's
    /// newest are ignored (replays, duplicates).
    public mutating func process(_ record: TelemetryRecord) -> [AlertDecision] {
        var monitor = monitors[record.machineID] ?? PrinterMonitor(machineID: record.machineID, configuration: configuration)
        let decisions = monitor.process(record)
        monitors[record.machineID] = monitor
        return decisions
    }

    /// Forgets an open alert that was resolved elsewhere (an operator), so the next occurrence
    /// raises a new one.
    public mutating func alertResolvedElsewhere(machine: MachineID, rule: String) {
        monitors[machine]?.reset(rule: rule)
    }

    /// Takes over an alert the server holds open (from an earlier run): the rule counts as
    /// open, so the alert is resolved once its condition is seen clear, or kept if it holds.
    public mutating func adopt(machine: MachineID, rule: String, severity: AlertSeverity = .warning) {
        var monitor = monitors[machine] ?? PrinterMonitor(machineID: machine, configuration: configuration)
        monitor.debouncers[rule]?.adopt(severity)
        monitors[machine] = monitor
    }

    /// Every rule the detector holds open, as raise decisions with the latest message (after a
    /// warm-up on history, for the conditions that are still present).
    public var openAlerts: [AlertDecision] {
        monitors.values.sorted { $0.machineID < $1.machineID }.flatMap { m in
            RuleName.all.compactMap { rule -> AlertDecision? in
                guard let severity = m.debouncers[rule]?.severity, let f = m.lastFindings[rule], let time = m.lastTime else { return nil }
                return AlertDecision(action: .raise, machineID: m.machineID, rule: rule, severity: severity,
                                     message: f.message, details: f.details, time: time)
            }
        }
    }

    /// The current view of every printer (for `status.json`).
    public var snapshots: [PrinterSnapshot] {
        monitors.values.map(\.snapshot).sorted { $0.machineID < $1.machineID }
    }

    /// The printers seen so far.
    public var machines: [MachineID] { monitors.keys.sorted() }
}

/// One printer's current state as the detector sees it.
public struct PrinterSnapshot: Sendable, Equatable {
    public var machineID: MachineID
    public var kind: String
    public var state: String?
    public var lastSeen: Timestamp?
    public var records: Int
    /// Open alerts: rule → severity.
    public var openAlerts: [String: AlertSeverity]
    /// Latest values of the numeric channels.
    public var channels: [String: Double]
    /// Latest model score and threshold, once the model has been fitted.
    public var modelScore: Double?
    public var modelThreshold: Double?
    public var modelFits: Int
}

/// The rules and model of one printer.
struct PrinterMonitor: Sendable {
    let machineID: MachineID
    let configuration: DetectorConfiguration
    var kind = ""
    var state: String?
    var lastTime: Timestamp?
    var records = 0
    var debouncers: [String: Debouncer] = [:]
    var windows: [String: RollingWindow] = [:]
    var power: RollingWindow
    var learnedLevels: [String: Double] = [:]
    var learnedCount: [String: Int] = [:]
    var frames: FrameAnalyzer
    var model: StreamingModel
    var lastChannels: [String: Double] = [:]
    /// Temperature channels with absolute or learned limits, in order.
    let temperatureChannels: [String]
    var lastScore: StreamingModel.Score?
    /// The latest finding of each rule that held (its message and details).
    var lastFindings: [String: Finding] = [:]

    init(machineID: MachineID, configuration: DetectorConfiguration) {
        self.machineID = machineID
        self.configuration = configuration
        power = RollingWindow(seconds: configuration.powerWindowSeconds, capacity: 20_000)
        frames = FrameAnalyzer(configuration: configuration.frames)
        model = StreamingModel(configuration: configuration.model)
        temperatureChannels = Set(configuration.temperatureLimits.keys).union(configuration.learnedTemperatureOffsets.keys).sorted()
        func d(_ t: DetectorConfiguration.Timing) -> Debouncer { Debouncer(pending: t.pending, clearAfter: t.clearAfter) }
        debouncers = [
            RuleName.hardFailure: d(configuration.hardFailure), RuleName.filamentJam: d(configuration.filamentJam),
            RuleName.overheating: d(configuration.overheating), RuleName.predictiveOverheat: d(configuration.predictiveOverheat),
            RuleName.powerSpike: d(configuration.powerSpike), RuleName.vibration: d(configuration.vibrationTiming),
            RuleName.sensorDropout: d(configuration.sensorDropout), RuleName.hotSpot: d(configuration.frameTiming),
            RuleName.nonUniformLayer: d(configuration.frameTiming), RuleName.isolationForest: d(configuration.modelTiming),
        ]
    }

    mutating func reset(rule: String) { debouncers[rule]?.reset() }

    var snapshot: PrinterSnapshot {
        var open: [String: AlertSeverity] = [:]
        for (rule, d) in debouncers { if let s = d.severity { open[rule] = s } }
        return PrinterSnapshot(machineID: machineID, kind: kind, state: state, lastSeen: lastTime, records: records,
                               openAlerts: open, channels: lastChannels, modelScore: lastScore?.smoothed,
                               modelThreshold: lastScore?.threshold, modelFits: model.fits)
    }

    /// One evaluation: the reading, the message for each severity, the details.
    struct Finding {
        var reading: RuleReading
        var message: String
        var details: [String: Double]
    }

    mutating func process(_ record: TelemetryRecord) -> [AlertDecision] {
        if let lastTime, record.timestamp <= lastTime { return [] }
        lastTime = record.timestamp
        records += 1
        if !record.kind.isEmpty { kind = record.kind }
        if let s = record.state { state = s }
        let t = record.timestamp
        var values: [String: Double] = [:]
        for (k, v) in record.channels { values[k] = Double(v) }
        // The store adds frame statistics as channels; a record straight from a printer has only
        // the frame. Either way the rules and the model see the same four numbers.
        let frameStatistics = record.frameStatistics ?? record.frame?.statistics()
        if let stats = frameStatistics { for (k, v) in stats.channels { values[k] = Double(v) } }
        lastChannels = values
        for (k, v) in values where !k.hasPrefix("frame_") {
            windows[k, default: RollingWindow(seconds: max(configuration.trendSeconds, 30))].add(v, at: t)
        }

        var findings: [String: Finding] = [:]
        findings[RuleName.hardFailure] = hardFailure(record)
        findings[RuleName.filamentJam] = filamentJam(values)
        findings[RuleName.overheating] = overheating(values)
        findings[RuleName.predictiveOverheat] = predictiveOverheat(values)
        findings[RuleName.powerSpike] = powerSpike(values, at: t)
        if let v = values["vibration_mm_s"] {
            let r = configuration.vibration.reading(v, open: debouncers[RuleName.vibration]?.severity)
            findings[RuleName.vibration] = Finding(reading: r, message: "vibration \(Self.format(v)) mm/s (limits \(Self.format(configuration.vibration.warning)) / \(Self.format(configuration.vibration.critical)))",
                                                  details: ["vibration_mm_s": v])
        }
        findings[RuleName.sensorDropout] = sensorDropout(record)
        var extra: [String: Double] = [:]
        if let frame = record.frame, let reading = frames.add(frame, at: t, laserOn: record.state != "recoating") {
            extra["hot_excess"] = reading.hottest.excess
            extra["cold_excess"] = reading.coldest.excess
            let h = reading.hottest, c = reading.coldest
            findings[RuleName.hotSpot] = Finding(
                reading: configuration.hotSpot.reading(h.excess, open: debouncers[RuleName.hotSpot]?.severity),
                message: "bed region at (\(h.x), \(h.y)) \(Self.format(h.excess)) °C above its normal",
                details: ["x": Double(h.x), "y": Double(h.y), "excess_c": h.excess, "block_spread_c": reading.blockSpread])
            let open = debouncers[RuleName.nonUniformLayer]?.severity
            let cold = configuration.coldSpot.reading(c.excess, open: open)
            let weak = configuration.weakPools.reading(Double(reading.weakPools), open: open)
            if case .holds = weak, let at = reading.weakPoolAt {
                findings[RuleName.nonUniformLayer] = Finding(
                    reading: Self.worse(cold, weak),
                    message: "melt pool \(reading.weakPools)× weak in \(Int(configuration.frames.weakPoolSeconds)) s, last at (\(at.x), \(at.y)): too little laser energy there (lack of fusion)",
                    details: ["x": Double(at.x), "y": Double(at.y), "weak_pools": Double(reading.weakPools),
                              "pool_c": reading.pool, "normal_pool_c": reading.normalPool])
            } else {
                findings[RuleName.nonUniformLayer] = Finding(
                    reading: Self.worse(cold, weak),
                    message: "bed region at (\(c.x), \(c.y)) \(Self.format(-c.excess)) °C below its normal (uneven layer)",
                    details: ["x": Double(c.x), "y": Double(c.y), "excess_c": c.excess, "block_spread_c": reading.blockSpread])
            }
        }

        // The model learns only what looks normal: no rule pending or open, not in error.
        let quiet = debouncers.allSatisfy { rule, d in rule == RuleName.isolationForest ? !d.isOpen : (d.state == .clear) }
            && findings.values.allSatisfy { if case .holds = $0.reading { return false } else { return true } }
            && state != "error" && state != "anomaly"
        let modelQuiet = quiet && !(lastScore.map { $0.smoothed > $0.threshold } ?? false)
        if let score = model.add(record, frameStatistics: frameStatistics, extra: extra, normal: modelQuiet) {
            lastScore = score
            let open = debouncers[RuleName.isolationForest]?.isOpen ?? false
            let limit = open ? score.threshold - 0.02 : score.threshold
            findings[RuleName.isolationForest] = Finding(
                reading: score.smoothed > limit ? .holds(.warning) : .clear,
                message: "unusual behaviour (score \(Self.format(score.smoothed, 3)) over \(Self.format(score.threshold, 3)); most unusual: \(score.topFeature))",
                details: ["score": score.smoothed, "threshold": score.threshold])
        }

        var decisions: [AlertDecision] = []
        for rule in RuleName.all {
            guard let finding = findings[rule], !configuration.disabledRules.contains(rule),
                  var debouncer = debouncers[rule] else { continue }
            if case .holds = finding.reading { lastFindings[rule] = finding }
            // The severity the alert had while open: what a resolve reports (and logs).
            let openSeverity = debouncer.severity ?? .warning
            let transition = debouncer.update(finding.reading, at: t)
            debouncers[rule] = debouncer
            guard let transition else { continue }
            switch transition {
            case .raised(let s):
                decisions.append(AlertDecision(action: .raise, machineID: machineID, rule: rule, severity: s,
                                               message: finding.message, details: finding.details, time: t))
            case .changed(let s):
                decisions.append(AlertDecision(action: .update, machineID: machineID, rule: rule, severity: s,
                                               message: finding.message, details: finding.details, time: t))
            case .resolved:
                decisions.append(AlertDecision(action: .resolve, machineID: machineID, rule: rule, severity: openSeverity,
                                               message: "condition cleared", details: [:], time: t))
            }
        }
        return decisions
    }

    // MARK: Rules

    func hardFailure(_ record: TelemetryRecord) -> Finding? {
        guard let s = record.state else { return nil }
        return Finding(reading: s == "error" ? .holds(.critical) : .clear, message: "printer reports the error state", details: [:])
    }

    func filamentJam(_ v: [String: Double]) -> Finding? {
        guard let flow = v["filament_flow"] else { return nil }
        guard flow.isFinite else { return Finding(reading: .unknown, message: "", details: [:]) }
        let extruding = state.map { ["printing", "anomaly", "error"].contains($0) } ?? true
        let load = v["extruder_load"]
        let open = debouncers[RuleName.filamentJam]?.isOpen ?? false
        let flowLimit = open ? configuration.jamFlow + 1 : configuration.jamFlow
        let loaded = load.map { $0.isFinite ? $0 > configuration.jamLoad - (open ? 5 : 0) : true } ?? true
        let holds = extruding && flow < flowLimit && loaded
        var details = ["filament_flow": flow]
        if let load { details["extruder_load"] = load }
        return Finding(reading: holds ? .holds(.critical) : .clear,
                       message: "filament flow \(Self.format(flow)) mm³/s with extruder load \(load.map { Self.format($0) } ?? "?") %: filament jam",
                       details: details)
    }

    /// The limit of a temperature channel: absolute, or learned level + offset.
    func limit(_ channel: String) -> Threshold? {
        if let t = configuration.temperatureLimits[channel] { return t }
        guard let offset = configuration.learnedTemperatureOffsets[channel], let level = learnedLevels[channel],
              (learnedCount[channel] ?? 0) >= 30 else { return nil }
        return Threshold(warning: level + offset.warning, critical: level + offset.critical, hysteresis: offset.hysteresis)
    }

    mutating func overheating(_ v: [String: Double]) -> Finding? {
        var worst: RuleReading = .unknown
        var message = ""
        var details: [String: Double] = [:]
        let open = debouncers[RuleName.overheating]?.severity
        for channel in temperatureChannels {
            guard let value = v[channel] else { continue }
            learn(channel, value)
            guard let threshold = limit(channel) else { continue }
            let r = threshold.reading(value, open: open)
            switch (worst, r) {
            case (_, .unknown): continue
            case (.holds(let a), .holds(let b)) where b <= a: continue
            case (.holds, .clear): continue
            default: break
            }
            worst = r
            if case .holds = r {
                message = "\(channel) \(Self.format(value)) °C (limits \(Self.format(threshold.warning)) / \(Self.format(threshold.critical)))"
                details = [channel: value, "warning_c": threshold.warning, "critical_c": threshold.critical]
            }
        }
        if case .unknown = worst { return nil }
        return Finding(reading: worst, message: message, details: details)
    }

    /// Learns a printer's normal level of a channel while it is printing and the value is near it.
    mutating func learn(_ channel: String, _ value: Double) {
        guard configuration.learnedTemperatureOffsets[channel] != nil, value.isFinite,
              state == nil || state == "printing" || state == "recoating" else { return }
        guard !(debouncers[RuleName.overheating]?.isOpen ?? false) else { return }
        let n = learnedCount[channel] ?? 0
        let level = learnedLevels[channel] ?? value
        let band = configuration.learnedTemperatureOffsets[channel]!.warning / 2
        if n >= 30, abs(value - level) > band { return }
        let weight = n < 30 ? 1 / Double(n + 1) : 1 / 300.0
        learnedLevels[channel] = level + weight * (value - level)
        learnedCount[channel] = n + 1
    }

    func predictiveOverheat(_ v: [String: Double]) -> Finding? {
        var any = false
        for channel in temperatureChannels {
            guard v[channel] != nil, let w = windows[channel], let threshold = limit(channel), let value = w.last else { continue }
            any = true
            guard w.span >= configuration.trendSeconds * 0.8 else { continue }
            let slope = w.slope
            let (older, newer) = w.halfSlopes
            let steady = slope >= configuration.trendMinimumSlope && newer >= 0.6 * older && older > 0
            let eta = (threshold.critical - value) / max(slope, 1e-9)
            if steady, value < threshold.critical, value >= threshold.warning - 20, eta <= configuration.trendHorizonSeconds {
                return Finding(reading: .holds(.warning),
                               message: "\(channel) rising \(Self.format(slope, 2)) °C/s: \(Self.format(threshold.critical)) °C in about \(Int(eta.rounded())) s",
                               details: [channel: value, "slope_c_per_s": slope, "seconds_to_critical": eta])
            }
        }
        return any ? Finding(reading: .clear, message: "", details: [:]) : nil
    }

    mutating func powerSpike(_ v: [String: Double], at t: Timestamp) -> Finding? {
        guard let p = v["power_kw"] else { return nil }
        guard p.isFinite else { return Finding(reading: .unknown, message: "", details: [:]) }
        guard power.count >= 30 else {
            power.add(p, at: t)
            return Finding(reading: .unknown, message: "", details: [:])
        }
        let open = debouncers[RuleName.powerSpike]?.severity
        let normal = power.quantile(0.95)
        let minimum = configuration.powerMinimumDelta[kind] ?? max(0.5 * normal, 0.1)
        let excessLimit = max(normal * (configuration.powerRatio - 1), minimum)
        let excess = p - normal
        let threshold = Threshold(warning: excessLimit, critical: 2 * excessLimit, hysteresis: 0.2 * excessLimit)
        let reading = threshold.reading(excess, open: open)
        // Only normal power is learned: a spike must not become the new normal.
        if reading == .clear, debouncers[RuleName.powerSpike]?.state == .clear { power.add(p, at: t) }
        return Finding(reading: reading,
                       message: "power \(Self.format(p)) kW, \(Self.format(excess)) kW over its recent normal \(Self.format(normal)) kW",
                       details: ["power_kw": p, "normal_kw": normal])
    }

    func sensorDropout(_ record: TelemetryRecord) -> Finding? {
        var dead: [String] = []
        var any = false
        for (k, v) in record.channels where k.hasSuffix("_temp_c") {
            any = true
            if !v.isFinite { dead.append(k); continue }
            if let w = windows[k], w.lastValuesEqual(configuration.frozenSamples) { dead.append(k) }
        }
        guard any else { return nil }
        dead.sort()
        return Finding(reading: dead.isEmpty ? .clear : .holds(.warning),
                       message: "temperature sensor not reporting: \(dead.joined(separator: ", ")) (NaN or frozen)",
                       details: ["sensors": Double(dead.count)])
    }

    static func worse(_ a: RuleReading, _ b: RuleReading) -> RuleReading {
        switch (a, b) {
        case (.holds(let x), .holds(let y)): .holds(max(x, y))
        case (.holds, _): a
        case (_, .holds): b
        case (.clear, _), (_, .clear): .clear
        default: .unknown
        }
    }

    static func format(_ v: Double, _ digits: Int = 1) -> String {
        guard v.isFinite else { return "\(v)" }
        return String(format: "%.\(digits)f", v)
    }
}
