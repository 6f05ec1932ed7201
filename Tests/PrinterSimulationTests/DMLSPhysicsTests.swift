import Testing
import TelemetryModel
@testable import PrinterSimulation

/// The powder-bed model behaves like a bed under a scanning laser.
struct DMLSPhysicsTests {
    @Test func framesStayInRangeWithTheSensorsResolution() throws {
        let run = try Run(configuration(dmls: 2, fdm: 0), samples: 150)
        var hottest: Float = 0, coldest: Float = 100
        for record in run.steps.flatMap(\.records) {
            let frame = try #require(record.frame)
            #expect(frame.width == 100 && frame.height == 100)
            for v in frame.values {
                #expect(v >= 20 && v <= 80)
                // Two decimals, as the camera reports them: v is the Float nearest to k / 100.
                let k = (Double(v) * 100).rounded()
                #expect(Float(k / 100) == v)
                hottest = max(hottest, v)
                coldest = min(coldest, v)
            }
        }
        // The melt track is hot, the powder around it is not.
        #expect(hottest > 60)
        #expect(coldest < 32)
    }

    @Test func theCameraRangeAndResolutionAreConfigurable() throws {
        let run = try Run(configuration(dmls: 1, fdm: 0) {
            $0.dmls.temperatureRange = 150...400
            $0.dmls.plateSetpoint = 180
            $0.dmls.chamberTemperature = 160
            $0.sensorResolution = 0.5
        }, samples: 20)
        for record in run.records("dmls-01") {
            for v in record.frame!.values {
                #expect(v >= 150 && v <= 400)
                #expect((v * 2).rounded() == v * 2)
            }
        }
    }

    @Test func theHottestPixelFollowsTheLaser() throws {
        var checked = 0, near = 0
        var positions: [(Double, Double)] = []
        _ = try Run(configuration(dmls: 1, fdm: 0), samples: 200) { fleet, step in
            guard let laser = fleet.laserPosition(of: step.records[0].machineID) else { return }
            let frame = step.records[0].frame!
            let hottest = frame.values.indices.max { frame.values[$0] < frame.values[$1] }!
            let (x, y) = (Double(hottest % 100), Double(hottest / 100))
            checked += 1
            positions.append(laser)
            if abs(x - laser.x) <= 3, abs(y - laser.y) <= 3 { near += 1 }
        }
        #expect(checked > 150)
        #expect(Double(near) >= 0.9 * Double(checked), "hottest pixel near the laser in \(near) of \(checked) frames")
        // The laser moves: it visits many distinct places.
        let distinct = Set(positions.map { "\(Int($0.0 / 5)),\(Int($0.1 / 5))" })
        #expect(distinct.count > 30)
    }

    @Test func theTrackCoolsAfterTheLaserPasses() throws {
        var run = try Run(configuration(dmls: 1, fdm: 0), samples: 0)
        var under: [(step: Int, x: Int, y: Int)] = []
        var frames: [ThermalFrame] = []
        for k in 0..<180 {
            let step = run.fleet.step()
            frames.append(step.records[0].frame!)
            if let laser = run.fleet.laserPosition(of: step.records[0].machineID) {
                under.append((k, Int(laser.x.rounded()), Int(laser.y.rounded())))
            }
        }
        var cooled = 0, cases = 0
        for (k, x, y) in under where k + 8 < frames.count {
            cases += 1
            let hot = patchMean(frames[k], x: x, y: y, r: 1)
            let later = patchMean(frames[k + 8], x: x, y: y, r: 1)
            if later < hot - 8 { cooled += 1 }
        }
        #expect(cases > 100)
        #expect(Double(cooled) >= 0.85 * Double(cases), "cooled by 8 °C within 8 s in \(cooled) of \(cases) cases")
    }

    @Test func layersEndWithARecoaterPassThatShakesAndCoversTheHeat() throws {
        let run = try Run(configuration(dmls: 1, fdm: 0), samples: 240)
        let records = run.records("dmls-01")
        let recoating = records.filter { $0.state == "recoating" }
        let scanning = records.filter { $0.state == "printing" }
        #expect(recoating.count >= 15)
        #expect(scanning.count >= 150)
        let recoatVibration = mean(recoating.map { $0.channels["vibration_mm_s"]! })
        let scanVibration = mean(scanning.map { $0.channels["vibration_mm_s"]! })
        #expect(recoatVibration > 1.5)
        #expect(scanVibration < 1)
        // The laser draws power: scanning needs more than recoating.
        #expect(mean(scanning.map { $0.channels["power_kw"]! }) > mean(recoating.map { $0.channels["power_kw"]! }) + 0.6)
        // Fresh powder hides the melt track: the hottest pixel during a recoat is far below a scan's.
        #expect(mean(recoating.map { $0.frame!.statistics()!.max }) < mean(scanning.map { $0.frame!.statistics()!.max }) - 10)
        // Layer numbers only grow, by one after each recoat.
        let layers = records.map { Int($0.channels["layer"]!) }
        #expect(layers == layers.sorted())
        #expect(layers.last! >= 3)
        for (a, b) in zip(records, records.dropFirst()) where b.channels["layer"]! > a.channels["layer"]! {
            #expect(a.state == "recoating")
            #expect(b.channels["layer"]! == a.channels["layer"]! + 1)
        }
    }

    @Test func chamberPlateAndPowerChannelsArePlausible() throws {
        let run = try Run(configuration(dmls: 1, fdm: 0), samples: 120)
        for record in run.records("dmls-01") {
            let c = record.channels
            #expect((28...36).contains(c["plate_temp_c"]!))
            #expect((20...30).contains(c["chamber_temp_c"]!))
            #expect((1.5...5).contains(c["power_kw"]!))
            #expect((0...5).contains(c["vibration_mm_s"]!))
            #expect(record.kind == "dmls")
        }
    }
}
