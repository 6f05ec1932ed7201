// Each rule on crafted series: it fires after its pending period, does not flap, and resolves.
@testable import AnomalyDetection
import Foundation
import Testing
import TelemetryModel

/// A crafted series for one printer, one record per second.
struct Series {
    let machine: MachineID
    let kind: String
    var detector: Detector
    var second = 0
    var decisions: [(second: Int, decision: AlertDecision)] = []

    init(_ machine: String, kind: String, configuration: DetectorConfiguration = DetectorConfiguration()) {
        self.machine = try! MachineID(machine)
        self.kind = kind
        var c = configuration
        c.disabledRules.insert(RuleName.isolationForest)   // the model has its own tests
        detector = Detector(configuration: c)
    }

    static let start: Int64 = 1_800_000_000_000_000_000

    mutating func feed(_ n: Int, state: String? = "printing", frame: ((Int) -> ThermalFrame)? = nil, _ channels: (Int) -> [String: Float]) {
        for _ in 0..<n {
            let record = TelemetryRecord(machineID: machine, timestamp: Timestamp(nanoseconds: Self.start + Int64(second) * 1_000_000_000),
                                         kind: kind, channels: channels(second), state: state, frame: frame?(second))
            for d in detector.process(record) { decisions.append((second, d)) }
            second += 1
        }
    }

    func events(_ rule: String) -> [(Int, AlertDecision.Action, AlertSeverity)] {
        decisions.filter { $0.decision.rule == rule }.map { ($0.second, $0.decision.action, $0.decision.severity) }
    }
}

/// Deterministic noise in [-1, 1].
func noise(_ i: Int, _ salt: Int = 0) -> Float {
    var x = UInt64(truncatingIfNeeded: i &* 2_654_435_761 &+ salt &* 97_531)
    x ^= x >> 13; x &*= 0x5bd1e995; x ^= x >> 15
    return Float(x % 2001) / 1000 - 1
}

struct DebouncerTests {
    let t0 = Timestamp(nanoseconds: 0)
    func at(_ s: Double) -> Timestamp { Timestamp(nanoseconds: Int64(s * 1e9)) }

    @Test func raisesOnlyAfterThePendingPeriod() {
        var d = Debouncer(pending: .seconds(3), clearAfter: .seconds(5))
        #expect(d.update(.holds(.warning), at: at(0)) == nil)
        #expect(d.update(.holds(.warning), at: at(2)) == nil)
        #expect(d.update(.holds(.warning), at: at(3)) == .raised(.warning))
        #expect(d.isOpen)
    }

    @Test func aShortBlipNeverRaises() {
        var d = Debouncer(pending: .seconds(3), clearAfter: .seconds(5))
        #expect(d.update(.holds(.critical), at: at(0)) == nil)
        #expect(d.update(.clear, at: at(1)) == nil)
        #expect(d.update(.holds(.critical), at: at(2)) == nil)
        #expect(d.update(.holds(.critical), at: at(4)) == nil)   // pending restarted at 2
        #expect(d.update(.holds(.critical), at: at(5)) == .raised(.critical))
    }

    @Test func resolvesOnlyAfterStayingClear() {
        var d = Debouncer(pending: .zero, clearAfter: .seconds(5))
        #expect(d.update(.holds(.warning), at: at(0)) == .raised(.warning))
        #expect(d.update(.clear, at: at(1)) == nil)
        #expect(d.update(.holds(.warning), at: at(3)) == nil)     // back: the clearing restarts
        #expect(d.update(.clear, at: at(4)) == nil)
        #expect(d.update(.clear, at: at(8)) == nil)
        #expect(d.update(.clear, at: at(9)) == .resolved)
        #expect(!d.isOpen)
    }

    @Test func escalatesAtOnceAndStepsBackSlowly() {
        var d = Debouncer(pending: .zero, clearAfter: .seconds(5))
        #expect(d.update(.holds(.warning), at: at(0)) == .raised(.warning))
        #expect(d.update(.holds(.critical), at: at(1)) == .changed(.critical))
        #expect(d.update(.holds(.warning), at: at(2)) == nil)
        #expect(d.update(.holds(.warning), at: at(7)) == .changed(.warning))
    }

    @Test func unknownReadingsChangeNothing() {
        var d = Debouncer(pending: .seconds(2), clearAfter: .seconds(2))
        #expect(d.update(.holds(.warning), at: at(0)) == nil)
        #expect(d.update(.unknown, at: at(1)) == nil)
        #expect(d.update(.holds(.warning), at: at(2)) == .raised(.warning))
        #expect(d.update(.unknown, at: at(10)) == nil)
        #expect(d.isOpen)
    }

    @Test func thresholdHysteresis() {
        let t = Threshold(warning: 4.5, critical: 7.1, hysteresis: 0.5)
        #expect(t.reading(4.4, open: nil) == .clear)
        #expect(t.reading(4.5, open: nil) == .holds(.warning))
        #expect(t.reading(4.2, open: .warning) == .holds(.warning))   // inside the band
        #expect(t.reading(3.9, open: .warning) == .clear)
        #expect(t.reading(6.8, open: .critical) == .holds(.critical))
        #expect(t.reading(6.8, open: .warning) == .holds(.warning))
        #expect(t.reading(.nan, open: .warning) == .unknown)
        #expect(t.reading(nil, open: nil) == .unknown)
        let low = Threshold(warning: -6, critical: -12, hysteresis: 2, direction: .below)
        #expect(low.reading(-7, open: nil) == .holds(.warning))
        #expect(low.reading(-13, open: nil) == .holds(.critical))
        #expect(low.reading(-5, open: .warning) == .holds(.warning))
        #expect(low.reading(-3, open: .warning) == .clear)
    }
}

struct RuleTests {
    @Test func hardFailureFollowsTheErrorState() {
        var s = Series("fdm-01", kind: "fdm")
        s.feed(10, state: "printing") { _ in ["nozzle_temp_c": 210] }
        s.feed(20, state: "error") { _ in ["nozzle_temp_c": 210] }
        s.feed(20, state: "printing") { _ in ["nozzle_temp_c": 210] }
        let e = s.events(RuleName.hardFailure)
        #expect(e.count == 2)
        #expect(e.first.map { $0.0 == 10 && $0.1 == .raise && $0.2 == .critical } == true)
        #expect(e.last.map { $0.0 == 35 && $0.1 == .resolve } == true)   // 5 s clear after 30
        // The resolve carries the severity the alert had (alerts.log said RESOLVE WARNING for critical ones).
        #expect(e.last?.2 == .critical)
    }

    @Test func filamentJamNeedsLowFlowUnderLoadWhileExtruding() {
        var s = Series("fdm-01", kind: "fdm")
        s.feed(20) { i in ["filament_flow": 7.5 + noise(i), "extruder_load": 35] }
        s.feed(10, state: "idle") { _ in ["filament_flow": 0, "extruder_load": 2] }   // idle: no jam
        s.feed(20) { i in ["filament_flow": 0.4 + 0.2 * noise(i), "extruder_load": 90 + 3 * noise(i, 1)] }
        s.feed(20) { i in ["filament_flow": 7.5 + noise(i), "extruder_load": 35] }
        let e = s.events(RuleName.filamentJam)
        #expect(e.map(\.1) == [.raise, .resolve])
        #expect(e.first?.0 == 33)   // jam from 30, pending 3 s
        #expect(e.last?.0 == 55)    // clear from 50, 5 s
    }

    @Test func overheatingHasHysteresisAndDoesNotFlap() {
        var s = Series("fdm-01", kind: "fdm")
        s.feed(30) { i in ["nozzle_temp_c": 210 + noise(i)] }
        // Hovering around the 225 °C warning limit: 224–226.
        s.feed(60) { i in ["nozzle_temp_c": 225 + noise(i)] }
        s.feed(10) { i in ["nozzle_temp_c": 241 + noise(i)] }
        s.feed(40) { i in ["nozzle_temp_c": 210 + noise(i)] }
        let e = s.events(RuleName.overheating)
        #expect(e.map(\.1) == [.raise, .update, .resolve], "\(e)")
        #expect(e.count == 3 && e[1].2 == .critical)
    }

    @Test func vibrationZonesAndPending() {
        var s = Series("dmls-01", kind: "dmls")
        // Recoater passes: 2 s bursts of 3 mm/s every 10 s never alert.
        s.feed(60) { i in ["vibration_mm_s": i % 10 < 2 ? 3 : 0.4] }
        // A 2-second 9 mm/s knock: shorter than the 3 s pending period.
        s.feed(2) { _ in ["vibration_mm_s": 9] }
        s.feed(10) { _ in ["vibration_mm_s": 0.4] }
        // A jam: 12 s at 5–6 mm/s, then 8 s at 9 mm/s.
        s.feed(12) { i in ["vibration_mm_s": 5.5 + 0.5 * noise(i)] }
        s.feed(8) { _ in ["vibration_mm_s": 9] }
        s.feed(20) { _ in ["vibration_mm_s": 0.4] }
        let e = s.events(RuleName.vibration)
        #expect(e.map(\.1) == [.raise, .update, .resolve], "\(e)")
        #expect(e.first?.0 == 75)    // from 72, pending 3 s
        #expect(e.count == 3 && e[1].2 == .critical && e[1].0 == 84)
        #expect(e.last?.0 == 102)    // clear from 92, 10 s
        #expect(e.last?.2 == .critical)   // resolved at the severity it had when it cleared
    }

    @Test func powerSpikeIsJudgedAgainstTheRecentNormal() {
        var s = Series("dmls-01", kind: "dmls")
        s.feed(120) { i in ["power_kw": 3.5 + (i % 20 < 10 ? 1.3 : 0) + 0.05 * noise(i)] }
        s.feed(15) { i in ["power_kw": 11 + 0.5 * noise(i)] }
        s.feed(30) { i in ["power_kw": 3.5 + (i % 20 < 10 ? 1.3 : 0) + 0.05 * noise(i)] }
        let e = s.events(RuleName.powerSpike)
        #expect(e.map(\.1) == [.raise, .resolve], "\(e)")
        #expect(e.first.map { $0.0 == 122 && $0.2 == .critical } == true, "\(e)")
    }

    @Test func sensorDropoutOnNaNAndFrozenValues() {
        var s = Series("fdm-01", kind: "fdm")
        s.feed(30) { i in ["bed_temp_c": 60 + 0.3 * noise(i)] }
        s.feed(10) { _ in ["bed_temp_c": .nan] }
        s.feed(30) { i in ["bed_temp_c": 60 + 0.3 * noise(i)] }
        s.feed(40) { _ in ["bed_temp_c": 60.12] }   // stuck
        s.feed(30) { i in ["bed_temp_c": 60 + 0.3 * noise(i)] }
        let e = s.events(RuleName.sensorDropout)
        #expect(e.map(\.1) == [.raise, .resolve, .raise, .resolve], "\(e)")
        #expect(e.first?.0 == 35)
        #expect(e.count == 4 && e[2].0 == 70 + 19 + 5)   // frozen for 20 samples at 89, pending 5 s
    }

    @Test func predictiveOverheatWarnsBeforeTheLimitButNotOnWarmUp() {
        var s = Series("fdm-01", kind: "fdm")
        // Heating from cold: an exponential approach to 210 °C (decelerating): no warning.
        s.feed(60) { i in ["nozzle_temp_c": 25 + 185 * (1 - Float(Foundation.exp(-Double(i) / 8))) + 0.5 * noise(i)] }
        s.feed(60) { i in ["nozzle_temp_c": 210 + 0.5 * noise(i)] }
        // A steady drift of 0.5 °C/s.
        s.feed(60) { i in ["nozzle_temp_c": 210 + 0.5 * Float(i - 120) + 0.5 * noise(i)] }
        let predicted = s.events(RuleName.predictiveOverheat)
        let overheated = s.events(RuleName.overheating)
        #expect(predicted.first?.1 == .raise)
        #expect(predicted.allSatisfy { $0.0 >= 120 }, "\(predicted)")
        let p = predicted.first?.0 ?? .max, o = overheated.first?.0 ?? .max
        #expect(p < o - 10, "predictive at \(p), overheating at \(o)")
    }
}
