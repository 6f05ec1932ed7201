import Testing
import TelemetryModel
@testable import PrinterSimulation

/// Seed 001's state cycle, with physics behind each state.
struct FDMTests {
    @Test func statesFollowTheSeedsCycleAtItsTimes() throws {
        let run = try Run(configuration(dmls: 0, fdm: 1), samples: 601)
        let expected: [(Double, FDMState)] = [(0, .idle), (60, .printing), (120, .anomaly), (180, .error), (240, .printing),
                                              (300, .idle), (360, .printing), (420, .anomaly), (480, .error), (540, .printing),
                                              (600, .idle)]
        let changes = run.labels.compactMap { event -> (Timestamp, FDMState)? in
            if case .stateChanged(_, let time, _, let to) = event { return (time, to) }
            return nil
        }
        #expect(changes.map(\.0) == expected.map { at($0.0) })
        #expect(changes.map(\.1) == expected.map(\.1))
        for second in [0.0, 59, 60, 119.5, 120, 179, 180, 239, 240, 299, 300] {
            let truth = try #require(run.fleet.fdmState(of: try MachineID("fdm-01"), at: at(second)))
            let slot = expected.last { $0.0 <= second }!.1
            #expect(truth == slot, "at \(second) s")
        }
        // What the printer reports: it does not know it is drifting.
        let states = run.records("fdm-01").map(\.state)
        #expect(states[0..<60].allSatisfy { $0 == "idle" })
        #expect(states[60..<180].allSatisfy { $0 == "printing" })
        #expect(states[180..<240].allSatisfy { $0 == "error" })
    }

    @Test func theAnomalyOverheatsBeforeTheErrorJams() throws {
        let run = try Run(configuration(dmls: 0, fdm: 1), samples: 300)
        let nozzle = run.channel("fdm-01", "nozzle_temp_c")
        let flow = run.channel("fdm-01", "filament_flow")
        let load = run.channel("fdm-01", "extruder_load")
        let printing = nozzle[90..<120]
        #expect(abs(mean(printing) - 210.5) < 1.5)
        #expect(printing.allSatisfy { abs($0 - 210.5) < 5 })
        // Drift: the anomaly's last ten seconds run at least 15 °C hotter, rising through the state.
        #expect(mean(nozzle[170..<180]) > mean(printing) + 15)
        #expect(mean(nozzle[150..<160]) > mean(nozzle[125..<135]) + 5)
        // Error: jammed.
        #expect(flow[181..<240].allSatisfy { $0 < 1 })
        #expect(mean(load[181..<240]) > 80)
        #expect(mean(flow[90..<120]) > 5)
        // Idle: heaters off, the nozzle cools towards the room.
        #expect(nozzle[5] < 40)
        #expect(nozzle[299] > nozzle[290])   // printing again at 240–299: still hot
        #expect(run.channel("fdm-01", "bed_temp_c")[170] > 55)   // the bed heats slowly (τ 40 s)
    }

    @Test func staggeredPrintersStartAtSeededPointsOfTheirCycles() throws {
        let a = try Run(configuration(dmls: 0, fdm: 8, seed: 3, stagger: true), samples: 1)
        let b = try Run(configuration(dmls: 0, fdm: 8, seed: 3, stagger: true), samples: 1)
        let first = a.labels.map(\.jsonLine)
        #expect(first == b.labels.map(\.jsonLine))
        let initial = Set(a.labels.compactMap { event -> FDMState? in
            if case .stateChanged(_, _, nil, let to) = event { return to }
            return nil
        })
        #expect(initial.count >= 2)
    }

    @Test func stateDurationsAreConfigurable() throws {
        let run = try Run(configuration(dmls: 0, fdm: 1) { c in
            c.fdm.cycle = c.fdm.cycle.map { FDMPhase($0.state, seconds: 10) }
        }, samples: 51)
        let times = run.labels.map(\.time)
        #expect(times == [0, 10, 20, 30, 40, 50].map { at($0) })
    }
}

/// The same seed gives the same fleet, bit for bit.
struct DeterminismTests {
    func run(seed: UInt64) throws -> Run {
        try Run(configuration(dmls: 2, fdm: 2, seed: seed, stagger: true) {
            $0.randomFaultsPerHour = 60
        }, samples: 90)
    }

    @Test func aSeedReproducesEveryRecordAndLabel() throws {
        let a = try run(seed: 42), b = try run(seed: 42)
        let ra = a.steps.flatMap(\.records), rb = b.steps.flatMap(\.records)
        #expect(ra.count == 360)
        for (x, y) in zip(ra, rb) {
            #expect(x.id == y.id)
            #expect(x.frame == y.frame)   // bit-identical frames
            #expect(x.state == y.state)
            #expect(x.channels.keys.sorted() == y.channels.keys.sorted())
            for (name, value) in x.channels {
                #expect(value.bitPattern == y.channels[name]!.bitPattern, "\(x.id) \(name)")
            }
        }
        #expect(a.labels.map(\.jsonLine) == b.labels.map(\.jsonLine))
        #expect(a.labels.contains { if case .faultStarted = $0 { true } else { false } })
    }

    @Test func anotherSeedGivesOtherData() throws {
        let a = try run(seed: 42), b = try run(seed: 43)
        let fa = a.records("dmls-01").map(\.frame), fb = b.records("dmls-01").map(\.frame)
        #expect(zip(fa, fb).allSatisfy { $0 != $1 })
        #expect(a.channel("fdm-01", "nozzle_temp_c") != b.channel("fdm-01", "nozzle_temp_c"))
    }

    @Test func timestampsAreExactMultiplesOfThePeriod() throws {
        let run = try Run(configuration(dmls: 1, fdm: 1) { $0.rate = 4 }, samples: 9)
        for (k, step) in run.steps.enumerated() {
            #expect(step.time == testStart.advanced(byNanoseconds: Int64(k) * 250_000_000))
            #expect(step.records.allSatisfy { $0.timestamp == step.time })
            #expect(step.records.map(\.machineID.rawValue) == ["dmls-01", "fdm-01"])
        }
    }

    @Test func invalidConfigurationsNameTheirFlag() throws {
        func message(_ adjust: (inout SimulationConfiguration) -> Void) -> String {
            do {
                _ = try PrinterFleet(configuration: configuration(adjust))
                return "no error"
            } catch {
                return error.message
            }
        }
        #expect(message { $0.rate = 0 }.hasPrefix("--rate"))
        #expect(message { $0.dmlsCount = 0; $0.fdmCount = 0 }.hasPrefix("--dmls/--fdm"))
        #expect(message { $0.dmls.temperatureRange = 20...25 }.hasPrefix("--temperature-range"))
        #expect(message { $0.dmls.width = 3 }.hasPrefix("--frame-size"))
        #expect(message { $0.sensorResolution = -1 }.hasPrefix("--sensor-resolution"))
    }
}
