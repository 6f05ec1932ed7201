import SyntheticData
public import TelemetryModel

/// A simulated FDM printer: a nozzle and a bed under temperature controllers, an extruder
/// pushing filament, and seed 001's state cycle.
///
/// Temperatures follow first-order dynamics towards the controller's target with an AR(1)
/// fluctuation (±1.5 °C on the nozzle while printing, as the seed's), filament flow follows the
/// print's features, extruder load follows the flow. The cycle's states act on the physics:
/// `idle` lets everything cool to room temperature, `printing` holds the set points, `anomaly`
/// lets the nozzle overheat at `anomalyDriftPerSecond` (the precursor a predictive detector
/// can see), `error` is a jam after the overheating (flow near zero, extruder load above 85 %).
public struct FDMPrinter: Sendable {
    public let machineID: MachineID
    let configuration: FDMConfiguration
    let resolution: Double
    let start: Timestamp
    var rng: SeededRandom
    /// How far into its cycle the printer is at the start (nanoseconds).
    let offsetNanoseconds: Int64
    /// Cumulative end of each phase within one cycle (nanoseconds).
    let phaseEnds: [Int64]

    var nozzle: Double
    var bed: Double
    var nozzleWobble = 0.0
    var bedWobble = 0.0
    var anomalyExcess = 0.0
    /// Print progress, 0–100 %.
    public private(set) var progress = 0.0
    var lastReadings: [String: Float] = [:]
    var jammedNow = false

    init(machineID: MachineID, index: Int, configuration: SimulationConfiguration) {
        self.machineID = machineID
        self.configuration = configuration.fdm
        resolution = configuration.sensorResolution
        start = configuration.start
        rng = SeededRandom(seed: configuration.seed, stream: 0xF000_0000 &+ UInt64(index))
        var setup = SeededRandom(seed: configuration.seed, stream: 0xF5E7_0000 &+ UInt64(index))
        var ends: [Int64] = []
        var total: Int64 = 0
        for phase in configuration.fdm.cycle {
            total += Int64((phase.seconds * 1e9).rounded())
            ends.append(total)
        }
        phaseEnds = ends
        // A staggered printer starts at a whole second of its cycle.
        offsetNanoseconds = configuration.fdm.stagger ? Int64(setup.nextDouble() * Double(total / 1_000_000_000)) * 1_000_000_000 : 0
        nozzle = configuration.fdm.ambient
        bed = configuration.fdm.ambient
        let (state, _, _) = self.phase(at: configuration.start)
        if state != .idle {
            nozzle = configuration.fdm.nozzleSetpoint
            bed = configuration.fdm.bedSetpoint
        }
    }

    var cycleNanoseconds: Int64 { phaseEnds.last ?? 1 }

    /// The true state at `time`, how long it has lasted (s), and the phase's index in the cycle.
    public func phase(at time: Timestamp) -> (state: FDMState, secondsInState: Double, index: Int) {
        var e = (time.nanoseconds &- start.nanoseconds &+ offsetNanoseconds) % cycleNanoseconds
        if e < 0 { e += cycleNanoseconds }
        var begin: Int64 = 0
        for (i, end) in phaseEnds.enumerated() {
            if e < end { return (configuration.cycle[i].state, Double(e - begin) / 1e9, i) }
            begin = end
        }
        return (configuration.cycle[0].state, 0, 0)
    }

    /// The state changes in (after, upTo]: (instant, from, to), in order.
    func transitions(after: Timestamp, upTo: Timestamp) -> [(Timestamp, FDMState, FDMState)] {
        var result: [(Timestamp, FDMState, FDMState)] = []
        var t = after
        while true {
            let index = phase(at: t).index
            // The exact end of the current phase, in integer nanoseconds.
            var e = (t.nanoseconds &- start.nanoseconds &+ offsetNanoseconds) % cycleNanoseconds
            if e < 0 { e += cycleNanoseconds }
            let boundary = Timestamp(nanoseconds: t.nanoseconds + (phaseEnds[index] - e))
            guard boundary <= upTo else { break }
            let from = configuration.cycle[index].state
            let to = configuration.cycle[(index + 1) % configuration.cycle.count].state
            if from != to { result.append((boundary, from, to)) }
            t = boundary
        }
        return result
    }

    /// Fills in the defaults of a fault on this printer.
    func resolve(_ fault: inout Fault) {
        switch fault.kind {
        case .heaterRunaway:
            if fault.parameters["rate"] == nil { fault.parameters["rate"] = 2.0 }
            if fault.options["target"] == nil { fault.options["target"] = "nozzle" }
        case .thermocoupleDropout:
            if fault.options["mode"] == nil { fault.options["mode"] = "nan" }
            if fault.options["channel"] == nil { fault.options["channel"] = ChannelName.nozzleTempC }
        case .powerSpike:
            if fault.parameters["kw"] == nil { fault.parameters["kw"] = 0.8 }
        default:
            break
        }
    }

    /// Advances by `seconds` of simulated time ending at `time` and returns the sample.
    mutating func step(to time: Timestamp, seconds: Double, faults: [Fault], kind: String = "fdm") -> TelemetryRecord {
        let substeps = max(1, Int((seconds / 0.5).rounded(.up)))
        let dt = seconds / Double(substeps)
        let begin = time.advanced(byNanoseconds: -Int64(seconds * 1e9))
        for s in 1...substeps where seconds > 0 {
            let t = begin.advanced(byNanoseconds: Int64(Double(s) * dt * 1e9))
            advance(dt: dt, time: t, active: faults.filter { $0.isActive(at: t) })
        }
        return sample(time: time, faults: faults.filter { $0.isActive(at: time) })
    }

    private mutating func advance(dt: Double, time: Timestamp, active: [Fault]) {
        let c = configuration
        let (state, inState, _) = phase(at: time)
        var nozzleTarget: Double, nozzleTau: Double, bedTarget: Double, bedTau: Double
        switch state {
        case .idle:
            (nozzleTarget, nozzleTau, bedTarget, bedTau) = (c.ambient, 45, c.ambient, 120)
            progress = 0
        case .printing:
            (nozzleTarget, nozzleTau, bedTarget, bedTau) = (c.nozzleSetpoint, 8, c.bedSetpoint, 40)
        case .anomaly:
            // The regulation drifts: the nozzle runs hotter and hotter.
            (nozzleTarget, nozzleTau, bedTarget, bedTau) = (c.nozzleSetpoint + c.anomalyDriftPerSecond * inState, 3, c.bedSetpoint, 40)
        case .error:
            (nozzleTarget, nozzleTau, bedTarget, bedTau) = (c.nozzleSetpoint, 8, c.bedSetpoint, 40)
        }
        if state == .printing || state == .anomaly {
            progress += 100 * dt / c.printSeconds
            if progress >= 100 { progress -= 100 }
        }
        if let runaway = active.first(where: { $0.kind == .heaterRunaway }) {
            let rate = runaway.parameters["rate"] ?? 2.0
            if runaway.options["target"] == "bed" {
                bed = min(150, bed + rate * dt)
                bedTau = .infinity
            } else {
                nozzle = min(320, nozzle + rate * dt)
                nozzleTau = .infinity
            }
        }
        if nozzleTau.isFinite { nozzle += (nozzleTarget - nozzle) * min(1, dt / nozzleTau) }
        if bedTau.isFinite { bed += (bedTarget - bed) * min(1, dt / bedTau) }
        // AR(1) fluctuations with a time constant of 2 s; the anomaly's grows with its age.
        let nozzleSigma = state == .anomaly ? 0.9 + 0.04 * inState : (state == .idle ? 0.9 : 0.7)
        nozzleWobble += -nozzleWobble * dt / 2 + nozzleSigma * (dt).squareRoot() * rng.nextGaussian()
        bedWobble += -bedWobble * dt / 4 + 0.3 * (dt / 2).squareRoot() * rng.nextGaussian()
        jammedNow = state == .error || (active.contains { $0.kind == .filamentJam } && state != .idle)
    }

    private mutating func sample(time: Timestamp, faults: [Fault]) -> TelemetryRecord {
        let c = configuration
        let (state, _, _) = phase(at: time)
        let extruding = state == .printing || state == .anomaly
        var flow: Double, load: Double
        if jammedNow {
            flow = 0.25 + 0.15 * abs(rng.nextGaussian())
            load = min(100, 88 + 3 * rng.nextGaussian())
        } else if extruding {
            flow = max(0, 7.5 + 1.2 * _sin(2 * Double.pi * progress * 7 / 100) + 0.35 * rng.nextGaussian())
            load = 28 + 0.9 * flow + 1.5 * rng.nextGaussian()
        } else {
            flow = 0
            load = 2 + 0.5 * abs(rng.nextGaussian())
        }
        let heating = state != .idle
        let nozzleDuty = heating ? min(1, max(0, (nozzle - c.ambient) / 250 + (c.nozzleSetpoint - nozzle) / 20)) : 0
        let bedDuty = heating ? min(1, max(0, (bed - c.ambient) / 60 + (c.bedSetpoint - bed) / 10)) : 0
        var power = 0.03 + 0.04 * nozzleDuty + 0.22 * bedDuty + (extruding ? 0.02 : 0) + 0.004 * rng.nextGaussian()
        if let runaway = faults.first(where: { $0.kind == .heaterRunaway }) {
            power += runaway.options["target"] == "bed" ? 0.22 : 0.04
        }
        for fault in faults where fault.kind == .powerSpike { power += (fault.parameters["kw"] ?? 0.8) * (0.8 + 0.4 * rng.nextDouble()) }
        let res = resolution
        var channels: [String: Float] = [
            ChannelName.nozzleTempC: DMLSPrinter.quantize(Float(nozzle + nozzleWobble), res),
            ChannelName.bedTempC: DMLSPrinter.quantize(Float(bed + bedWobble), res),
            ChannelName.filamentFlow: DMLSPrinter.quantize(Float(flow), res),
            "extruder_load": DMLSPrinter.quantize(Float(max(0, load)), res),
            "print_progress": DMLSPrinter.quantize(Float(progress), res),
            ChannelName.powerKW: DMLSPrinter.quantize(Float(max(0, power)), max(res, 0.001)),
        ]
        var frozen: Set<String> = []
        for fault in faults where fault.kind == .thermocoupleDropout {
            let channel = fault.options["channel"] ?? ChannelName.nozzleTempC
            guard channels[channel] != nil else { continue }
            frozen.insert(channel)
            channels[channel] = fault.options["mode"] == "stuck" ? (lastReadings[channel] ?? channels[channel]) : .nan
        }
        for (name, value) in channels where !frozen.contains(name) { lastReadings[name] = value }
        let reported = state == .anomaly && !c.reportAnomalyState ? "printing" : state.rawValue
        return TelemetryRecord(machineID: machineID, timestamp: time, kind: "fdm", channels: channels, state: reported)
    }

    /// Whether the filament is jammed now (seed 001's `filament_status`).
    public var filamentJammed: Bool { jammedNow }
}
