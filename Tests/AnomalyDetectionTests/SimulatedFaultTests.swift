// The detector against the simulator: every scheduled fault is found, normal running is quiet.
import AnomalyDetection
import PrinterSimulation
import Testing
import TelemetryModel

/// Runs a simulated fleet through the detector and returns the decisions.
func simulate(dmls: Int, fdm: Int, seconds: Int, faults: [String], seed: UInt64 = 7,
              configure: (inout SimulationConfiguration) -> Void = { _ in }) throws -> (decisions: [AlertDecision], labels: [LabelEvent], start: Timestamp) {
    var configuration = SimulationConfiguration()
    configuration.dmlsCount = dmls
    configuration.fdmCount = fdm
    configuration.seed = seed
    configuration.faults = try faults.map { spec in try FaultSpec(parsing: spec) }
    configure(&configuration)
    var fleet = try PrinterFleet(configuration: configuration)
    var detector = Detector()
    var decisions: [AlertDecision] = []
    var labels: [LabelEvent] = []
    for _ in 0..<seconds {
        let step = fleet.step()
        labels += step.labels
        for record in step.records { decisions += detector.process(record) }
    }
    return (decisions, labels, configuration.start)
}

struct SimulatedFaultTests {
    /// Seconds after the simulation start.
    static func offset(_ t: Timestamp, _ start: Timestamp) -> Double { Double(t.nanoseconds - start.nanoseconds) / 1e9 }

    @Test func dmlsFaultsAreFoundByTheirRules() throws {
        // Warm-up 600 s (baselines, the model's first fits), then one fault after another.
        let faults = [
            "hot-spot:dmls-01@700+120,delta=20",
            "recoater-jam:dmls-01@1000+60",
            "power-spike:dmls-01@1200+40",
            "lack-of-fusion:dmls-01@1400+120",
            "heater-runaway:dmls-01@1700+120",
        ]
        let run = try simulate(dmls: 1, fdm: 0, seconds: 2000, faults: faults)
        for d in run.decisions {
            print("dmls", Int(Self.offset(d.time, run.start)), d.action, d.rule, d.severity, d.message)
        }
        let raised = run.decisions.filter { $0.action == .raise }
        func found(_ rule: String, in window: ClosedRange<Double>) -> Bool {
            raised.contains { $0.rule == rule && window.contains(Self.offset($0.time, run.start)) }
        }
        #expect(found(RuleName.hotSpot, in: 700...820))
        #expect(found(RuleName.vibration, in: 1000...1060))
        #expect(found(RuleName.powerSpike, in: 1200...1240))
        #expect(found(RuleName.nonUniformLayer, in: 1400...1520))
        #expect(found(RuleName.overheating, in: 1700...1820))
        // Nothing before the first fault but (at most) the model settling in.
        let early = raised.filter { Self.offset($0.time, run.start) < 700 && $0.rule != RuleName.isolationForest }
        #expect(early.isEmpty, "\(early.map { "\($0.rule) at \(Self.offset($0.time, run.start))" })")
    }

    @Test func fdmCycleIsWarnedBeforeTheErrorState() throws {
        // Seed 001's cycle: idle → printing → anomaly (nozzle drifting up) → error → printing.
        let run = try simulate(dmls: 0, fdm: 1, seconds: 1500, faults: []) { $0.fdm.stagger = false }
        for d in run.decisions {
            print("fdm", Int(Self.offset(d.time, run.start)), d.action, d.rule, d.severity, d.message)
        }
        let errors = run.labels.compactMap { event -> Timestamp? in
            if case .stateChanged(_, let time, _, let to) = event, to == .error { return time }
            return nil
        }
        #expect(errors.count >= 4)
        for error in errors {
            let e = Self.offset(error, run.start)
            let warned = run.decisions.contains {
                $0.action == .raise && [RuleName.predictiveOverheat, RuleName.overheating].contains($0.rule)
                    && (e - 60...e - 10).contains(Self.offset($0.time, run.start))
            }
            #expect(warned, "no warning in the minute before the error at \(e) s")
            let failed = run.decisions.contains {
                $0.action == .raise && $0.rule == RuleName.hardFailure && (e...e + 5).contains(Self.offset($0.time, run.start))
            }
            #expect(failed, "no hard_failure at the error at \(e) s")
        }
    }
}
