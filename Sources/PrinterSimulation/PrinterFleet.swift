public import TelemetryModel

/// One printer of a fleet: its name and kind.
public struct PrinterInfo: Sendable, Hashable {
    public var machineID: MachineID
    public var kind: PrinterKind
}

/// What one step of the fleet produced: a record per printer at one instant, and the ground
/// truth that changed since the previous step.
public struct FleetStep: Sendable {
    /// The sample instant.
    public var time: Timestamp
    /// One record per printer, DMLS printers first, in name order.
    public var records: [TelemetryRecord]
    /// Fault starts and ends and FDM state changes in (previous step, ``time``], in time order.
    public var labels: [LabelEvent]
    /// Seed 001's status of each FDM printer after this step.
    public var fdmStatus: [FDMStatus]
}

/// Seed 001's view of an FDM printer: what `GET /api/v1/printer/status` answers.
public struct FDMStatus: Sendable, Hashable {
    public var machineID: MachineID
    public var time: Timestamp
    /// What the printer reports: `idle`, `printing` (also while drifting) or `error`.
    public var printerStatus: String
    public var nozzleTemp: Float
    public var bedTemp: Float
    public var printProgress: Float
    /// `ok` or `jammed`.
    public var filamentStatus: String
    public var filamentFlow: Float
    public var extruderLoad: Float
    public var powerKW: Float
}

/// A deterministic fleet of simulated printers, advanced one sample at a time.
///
/// Sample `k` of every printer is at `start + k / rate`; nothing depends on the wall clock, so a
/// seed always gives the same records, bit for bit, and the same labels. Random faults are drawn
/// lazily from per-printer streams, so a run can go on for as long as it is asked to.
///
/// ```swift
/// var configuration = SimulationConfiguration()
/// configuration.dmlsCount = 2
/// var fleet = try PrinterFleet(configuration: configuration)
/// for _ in 0..<60 {
///     let step = fleet.step()
///     try await output.send(step.records)
/// }
/// ```
public struct PrinterFleet: Sendable {
    public let configuration: SimulationConfiguration
    /// Every printer, DMLS first.
    public let printers: [PrinterInfo]
    var dmls: [DMLSPrinter]
    var fdm: [FDMPrinter]
    var plan: FaultPlan
    /// Samples taken so far (per printer).
    public private(set) var samplesTaken: Int64 = 0
    private var previousTime: Timestamp?

    /// A fleet; throws if the configuration or a scheduled fault does not fit it.
    public init(configuration: SimulationConfiguration) throws(SimulationError) {
        try configuration.validate()
        self.configuration = configuration
        var printers: [PrinterInfo] = []
        var dmls: [DMLSPrinter] = [], fdm: [FDMPrinter] = []
        for i in 0..<configuration.dmlsCount {
            let id = Self.name("dmls", i + 1)
            printers.append(PrinterInfo(machineID: id, kind: .dmls))
            dmls.append(DMLSPrinter(machineID: id, index: i, configuration: configuration))
        }
        for i in 0..<configuration.fdmCount {
            let id = Self.name("fdm", i + 1)
            printers.append(PrinterInfo(machineID: id, kind: .fdm))
            fdm.append(FDMPrinter(machineID: id, index: i, configuration: configuration))
        }
        self.printers = printers
        self.dmls = dmls
        self.fdm = fdm
        plan = try FaultPlan(configuration: configuration, printers: printers.map { ($0.machineID, $0.kind) })
    }

    /// `dmls-01`, `fdm-12`, `dmls-100`: two digits at least.
    static func name(_ prefix: String, _ n: Int) -> MachineID {
        try! MachineID(n < 10 ? "\(prefix)-0\(n)" : "\(prefix)-\(n)")   // always valid
    }

    /// When the next ``step()`` samples.
    public var nextSampleTime: Timestamp {
        configuration.start.advanced(byNanoseconds: samplesTaken &* configuration.periodNanoseconds)
    }

    /// The faults known so far (scheduled, and random ones drawn up to the last step), including
    /// those still to come; ended faults are forgotten a step after their end label.
    public var pendingFaults: [Fault] { plan.faults }

    /// Advances every printer to ``nextSampleTime`` and samples it.
    public mutating func step() -> FleetStep {
        let time = nextSampleTime
        let period = configuration.periodNanoseconds
        let previous = previousTime ?? time.advanced(byNanoseconds: -1)
        // The first sample shows the printers as they start; later ones advance by one period.
        let seconds = previousTime == nil ? 0 : Double(period) / 1e9
        var labels: [LabelEvent] = []

        // Random faults that begin by now, then labels of faults starting or ending in (previous, time].
        for printer in printers { plan.drawRandom(for: printer.machineID, kind: printer.kind, upTo: time) }
        for var fault in plan.faults {
            if fault.start > previous, fault.start <= time {
                if let i = dmls.firstIndex(where: { $0.machineID == fault.machineID }) {
                    dmls[i].resolve(&fault)
                } else if let i = fdm.firstIndex(where: { $0.machineID == fault.machineID }) {
                    fdm[i].resolve(&fault)
                }
                plan.update(fault)
                labels.append(.faultStarted(fault))
            }
            if fault.end > previous, fault.end <= time { labels.append(.faultEnded(fault)) }
        }
        // FDM state changes (and each printer's first state).
        for printer in fdm {
            if previousTime == nil {
                labels.append(.stateChanged(machineID: printer.machineID, time: time, from: nil, to: printer.phase(at: time).state))
            } else {
                for (at, from, to) in printer.transitions(after: previous, upTo: time) {
                    labels.append(.stateChanged(machineID: printer.machineID, time: at, from: from, to: to))
                }
            }
        }
        labels.sort { ($0.time, $0.order) < ($1.time, $1.order) }

        var byMachine: [MachineID: [Fault]] = [:]
        for fault in plan.faults where fault.start <= time && fault.end > previous {
            byMachine[fault.machineID, default: []].append(fault)
        }
        var records: [TelemetryRecord] = []
        records.reserveCapacity(printers.count)
        for i in dmls.indices {
            records.append(dmls[i].step(to: time, seconds: seconds, faults: byMachine[dmls[i].machineID] ?? []))
        }
        var statuses: [FDMStatus] = []
        for i in fdm.indices {
            let record = fdm[i].step(to: time, seconds: seconds, faults: byMachine[fdm[i].machineID] ?? [])
            let c = record.channels
            statuses.append(FDMStatus(
                machineID: record.machineID, time: time, printerStatus: record.state ?? "idle",
                nozzleTemp: c[ChannelName.nozzleTempC] ?? .nan, bedTemp: c[ChannelName.bedTempC] ?? .nan,
                printProgress: c["print_progress"] ?? 0, filamentStatus: fdm[i].filamentJammed ? "jammed" : "ok",
                filamentFlow: c[ChannelName.filamentFlow] ?? 0, extruderLoad: c["extruder_load"] ?? 0,
                powerKW: c[ChannelName.powerKW] ?? 0))
            records.append(record)
        }
        plan.prune(before: previous)
        previousTime = time
        samplesTaken += 1
        return FleetStep(time: time, records: records, labels: labels, fdmStatus: statuses)
    }

    /// The true state of FDM printer `machineID` at `time` (the label's view, not the reported one).
    public func fdmState(of machineID: MachineID, at time: Timestamp) -> FDMState? {
        fdm.first { $0.machineID == machineID }?.phase(at: time).state
    }

    /// Where the laser of DMLS printer `machineID` was at the last sample (cells), if it was on.
    public func laserPosition(of machineID: MachineID) -> (x: Double, y: Double)? {
        dmls.first { $0.machineID == machineID }?.laserPosition
    }

    /// Layers finished by DMLS printer `machineID`.
    public func layer(of machineID: MachineID) -> Int? {
        dmls.first { $0.machineID == machineID }?.layer
    }
}
