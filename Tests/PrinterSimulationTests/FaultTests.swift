import Testing
import TelemetryModel
@testable import PrinterSimulation

/// Faults act at their scheduled times, and the labels say so.
struct FaultTests {
    func run(_ specs: [String], dmls: Int = 1, fdm: Int = 1, samples: Int) throws -> Run {
        try Run(configuration(dmls: dmls, fdm: fdm) { c in
            c.faults = specs.map { try! FaultSpec(parsing: $0) }
        }, samples: samples)
    }

    func starts(_ run: Run) -> [Fault] {
        run.labels.compactMap { if case .faultStarted(let f) = $0 { f } else { nil } }
    }

    func ends(_ run: Run) -> [Fault] {
        run.labels.compactMap { if case .faultEnded(let f) = $0 { f } else { nil } }
    }

    @Test func aHotSpotAppearsWhereAndWhenScheduled() throws {
        let run = try run(["hot-spot:dmls-01@30+20,x=12,y=85,radius=3"], samples: 90)
        let frames = run.records("dmls-01").map { $0.frame! }
        let spot = frames.map { patchMean($0, x: 12, y: 85, r: 1) }
        #expect(mean(spot[20..<30]) < 36)               // before: powder near the plate temperature
        #expect(mean(spot[40..<50]) > mean(spot[20..<30]) + 12)
        // Mostly above 45 °C (a recoater pass buries it under fresh powder for a few seconds).
        #expect(spot[40..<50].filter { $0 > 45 }.count >= 7, "\(spot[40..<50])")
        #expect(mean(spot[75..<90]) < mean(spot[40..<50]) - 8)   // after: it cools again
        let start = try #require(starts(run).first)
        #expect(start.kind == .hotSpot && start.machineID.rawValue == "dmls-01")
        #expect(start.start == at(30) && start.end == at(50))
        #expect(start.parameters["x"] == 12 && start.parameters["y"] == 85 && start.parameters["radius"] == 3)
        #expect(start.parameters["delta"] != nil)   // a default filled in and labelled
        #expect(ends(run).map(\.end) == [at(50)])
        let line = LabelEvent.faultStarted(start).jsonLine
        #expect(line.contains("\"event\":\"fault_start\""))
        #expect(line.contains("\"time_ns\":\(at(30).nanoseconds)"))
        #expect(line.contains("\"end_ns\":\(at(50).nanoseconds)"))
    }

    @Test func lackOfFusionLeavesTheTrackCold() throws {
        let healthy = try run([], samples: 60)
        let faulty = try run(["lack-of-fusion:dmls-01@0+60,x=50,y=50,radius=80,power=0.2"], samples: 60)
        let hot = mean(healthy.records("dmls-01")[10..<50].map { $0.frame!.statistics()!.max })
        let cold = mean(faulty.records("dmls-01")[10..<50].map { $0.frame!.statistics()!.max })
        #expect(cold < hot - 15, "max \(cold) vs healthy \(hot)")
    }

    @Test func aRecoaterJamStallsTheLayerAndShakesTheMachine() throws {
        let run = try run(["recoater-jam:dmls-01@20+30"], fdm: 0, samples: 70)
        let records = run.records("dmls-01")
        let during = records[21..<50]
        #expect(during.allSatisfy { $0.state == "recoating" })
        #expect(during.allSatisfy { $0.channels["vibration_mm_s"]! > 5 })
        #expect(Set(during.map { $0.channels["layer"]! }).count == 1)      // no progress while jammed
        #expect(records[5..<19].allSatisfy { $0.channels["vibration_mm_s"]! < 1 })
        #expect(mean(during.map { $0.channels["power_kw"]! }) > mean(records[5..<19].map { $0.channels["power_kw"]! }) - 0.5)
        // After the jam the blade finishes, a new layer starts and the laser is back.
        #expect(records[60..<70].contains { $0.state == "printing" })
    }

    @Test func heaterRunawayHeatsThePlateAndTheNozzle() throws {
        let run = try run(["heater-runaway:dmls-01@10+60", "heater-runaway:fdm-01@90+25"], samples: 116)
        let plate = run.channel("dmls-01", "plate_temp_c")
        #expect(plate[69] > plate[9] + 6)
        #expect(run.channel("dmls-01", "power_kw")[40] > 3.5)
        let nozzle = run.channel("fdm-01", "nozzle_temp_c")
        #expect(nozzle[114] > 245)                 // 210 + 2 °C/s while printing (60–120 s: no drift state)
        #expect(nozzle[89] < 215)
    }

    @Test func thermocoupleDropoutReadsNaNOrFreezesExactlyWhileActive() throws {
        let run = try run(["thermocouple-dropout:fdm-01@70+10", "thermocouple-dropout:dmls-01@20+15,mode=stuck"], samples: 100)
        let nozzle = run.channel("fdm-01", "nozzle_temp_c")
        for (k, v) in nozzle.enumerated() {
            #expect((70..<80).contains(k) ? v.isNaN : v.isFinite, "sample \(k): \(v)")
        }
        let plate = run.channel("dmls-01", "plate_temp_c")
        #expect(plate[20..<35].allSatisfy { $0 == plate[19] })
        #expect(Set(plate[0..<19]).count > 3)
        #expect(Set(plate[35..<60]).count > 3)
    }

    @Test func aFilamentJamStopsTheFlowAndLoadsTheExtruder() throws {
        let run = try run(["filament-jam:fdm-01@70+20"], dmls: 0, samples: 110)
        let flow = run.channel("fdm-01", "filament_flow"), load = run.channel("fdm-01", "extruder_load")
        #expect(flow[70..<90].allSatisfy { $0 < 1 })
        #expect(load[70..<90].allSatisfy { $0 > 75 })
        #expect(flow[62..<70].allSatisfy { $0 > 3 })
        #expect(flow[91..<110].allSatisfy { $0 > 3 })
    }

    @Test func aPowerSpikeRaisesTheDraw() throws {
        let run = try run(["power-spike:*@30+5"], samples: 40)
        let dmls = run.channel("dmls-01", "power_kw"), fdm = run.channel("fdm-01", "power_kw")
        #expect(dmls[30..<35].allSatisfy { $0 > 7 })
        #expect(dmls[20..<30].allSatisfy { $0 < 5 })
        #expect(fdm[30..<35].allSatisfy { $0 > 0.5 })
        #expect(starts(run).map(\.machineID.rawValue).sorted() == ["dmls-01", "fdm-01"])   // `*`: every printer
    }

    @Test func randomFaultsAreSeededLabelledAndNeverOverlap() throws {
        let run = try Run(configuration(dmls: 2, fdm: 2, seed: 9) {
            $0.randomFaultsPerHour = 40
            $0.randomFaultSeconds = 30...90
        }, samples: 1800)
        let started = starts(run), ended = ends(run)
        #expect(started.count >= 20)
        #expect(started.allSatisfy { !$0.scheduled })
        #expect(ended.count >= started.count - 4)
        for fault in started {
            let printerKind: PrinterKind = fault.machineID.rawValue.hasPrefix("dmls") ? .dmls : .fdm
            #expect(fault.kind.applies(to: printerKind))
            let seconds = Double(fault.end.nanoseconds - fault.start.nanoseconds) / 1e9
            #expect((30...90).contains(seconds))
        }
        for machine in ["dmls-01", "dmls-02", "fdm-01", "fdm-02"] {
            let mine = started.filter { $0.machineID.rawValue == machine }.sorted { $0.start < $1.start }
            for (a, b) in zip(mine, mine.dropFirst()) { #expect(a.end <= b.start) }
        }
        let again = try Run(configuration(dmls: 2, fdm: 2, seed: 9) {
            $0.randomFaultsPerHour = 40
            $0.randomFaultSeconds = 30...90
        }, samples: 1800)
        #expect(starts(again) == started)
    }

    @Test func faultSpecsParseAndBadOnesNameTheFlag() throws {
        let spec = try FaultSpec(parsing: "thermocouple-dropout:fdm-02@5m+30s,mode=stuck")
        #expect(spec.kind == .thermocoupleDropout && spec.printer == "fdm-02")
        #expect(spec.startSeconds == 300 && spec.durationSeconds == 30)
        #expect(spec.parameters == ["mode": "stuck"])
        #expect(try FaultSpec(parsing: "power-spike:*@1.5h").durationSeconds == 60)
        for bad in ["melt:dmls-01@10", "hot-spot@10", "hot-spot:dmls-01", "hot-spot:dmls-01@soon", "hot-spot:dmls-01@10+0",
                    "hot-spot:dmls-01@10,mode=nan", "thermocouple-dropout:fdm-01@1,mode=hot", "hot-spot:dmls 01@10",
                    "hot-spot:dmls-01@10,x=-4", "hot-spot:dmls-01@10,x"] {
            #expect(throws: SimulationError.self) { try FaultSpec(parsing: bad) }
            do { _ = try FaultSpec(parsing: bad) } catch { #expect(error.message.hasPrefix("--fault \"\(bad)\"")) }
        }
        func fleetError(_ spec: String) -> String {
            do {
                _ = try PrinterFleet(configuration: configuration(dmls: 1, fdm: 1) { $0.faults = [try! FaultSpec(parsing: spec)] })
                return "no error"
            } catch {
                return error.message
            }
        }
        #expect(fleetError("hot-spot:dmls-07@10").contains("there is no printer dmls-07"))
        #expect(fleetError("filament-jam:dmls-01@10").contains("applies to FDM printers only"))
        #expect(fleetError("recoater-jam:fdm-01@10").contains("applies to DMLS printers only"))
        #expect(fleetError("heater-runaway:dmls-01@10,target=nozzle").contains("target=plate"))
        #expect(fleetError("heater-runaway:fdm-01@10,target=plate").contains("target=nozzle or target=bed"))
        #expect(fleetError("thermocouple-dropout:fdm-01@10,channel=plate_temp_c").contains("nozzle_temp_c and bed_temp_c"))
        #expect(fleetError("thermocouple-dropout:dmls-01@10,channel=chamber_temp_c") == "no error")
    }
}
