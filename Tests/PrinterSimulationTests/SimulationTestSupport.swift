import Foundation
import Synchronization
import TelemetryModel
@testable import PrinterSimulation

/// 2026-11-21T10:00:00Z: every test starts its fleet here.
let testStart = Timestamp(milliseconds: 1_795_255_200_000)

func configuration(dmls: Int = 1, fdm: Int = 1, seed: UInt64 = 1, stagger: Bool = false,
                   _ adjust: (inout SimulationConfiguration) -> Void = { _ in }) -> SimulationConfiguration {
    var c = SimulationConfiguration()
    c.dmlsCount = dmls
    c.fdmCount = fdm
    c.seed = seed
    c.start = testStart
    c.fdm.stagger = stagger
    adjust(&c)
    return c
}

/// Runs a fleet for `samples` steps and keeps everything it produced.
struct Run {
    var steps: [FleetStep] = []
    var fleet: PrinterFleet

    init(_ configuration: SimulationConfiguration, samples: Int, observe: (PrinterFleet, FleetStep) -> Void = { _, _ in }) throws {
        fleet = try PrinterFleet(configuration: configuration)
        for _ in 0..<samples {
            let step = fleet.step()
            observe(fleet, step)
            steps.append(step)
        }
    }

    /// The records of one printer, one per sample.
    func records(_ machine: String) -> [TelemetryRecord] {
        steps.compactMap { step in step.records.first { $0.machineID.rawValue == machine } }
    }

    /// Channel `name` of `machine`, one value per sample (sample k is at start + k s at 1 Hz).
    func channel(_ machine: String, _ name: String) -> [Float] {
        records(machine).map { $0.channels[name] ?? .nan }
    }

    var labels: [LabelEvent] { steps.flatMap(\.labels) }
}

func mean(_ values: some Collection<Float>) -> Float {
    values.isEmpty ? .nan : values.reduce(0, +) / Float(values.count)
}

/// Mean of the `(2r+1)²` cells around (x, y).
func patchMean(_ frame: ThermalFrame, x: Int, y: Int, r: Int = 2) -> Float {
    var sum: Float = 0, n: Float = 0
    for yy in max(0, y - r)...min(frame.height - 1, y + r) {
        for xx in max(0, x - r)...min(frame.width - 1, x + r) {
            sum += frame[xx, yy]
            n += 1
        }
    }
    return sum / n
}

/// Seconds after the test start.
func at(_ seconds: Double) -> Timestamp { testStart.advanced(byNanoseconds: Int64(seconds * 1e9)) }

/// A clock whose time moves only when the test says so.
///
/// `sleep(until:)` suspends until ``advance(by:)`` moves `now` past the deadline.
/// ``waitForSleeper()`` returns once some task sleeps towards a deadline still in the future:
/// for a runner, that means it has done all the work that was due.
final class ManualClock: Clock, @unchecked Sendable {
    struct Instant: InstantProtocol {
        var offset: Duration
        func advanced(by duration: Duration) -> Instant { Instant(offset: offset + duration) }
        func duration(to other: Instant) -> Duration { other.offset - offset }
        static func < (a: Instant, b: Instant) -> Bool { a.offset < b.offset }
    }

    private struct State {
        var now = Instant(offset: .zero)
        var sleepers: [(deadline: Instant, continuation: CheckedContinuation<Void, any Error>)] = []
        var idleWaiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    var now: Instant { state.withLock { $0.now } }
    var minimumResolution: Duration { .nanoseconds(1) }

    func sleep(until deadline: Instant, tolerance: Duration?) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let (resumeNow, idle) = state.withLock { s -> (Bool, [CheckedContinuation<Void, Never>]) in
                if deadline <= s.now { return (true, []) }
                s.sleepers.append((deadline, continuation))
                let waiters = s.idleWaiters
                s.idleWaiters = []
                return (false, waiters)
            }
            for waiter in idle { waiter.resume() }
            if resumeNow { continuation.resume() }
        }
    }

    /// Moves time forward and wakes every sleeper whose deadline has come.
    func advance(by duration: Duration) {
        let due = state.withLock { s -> [CheckedContinuation<Void, any Error>] in
            s.now = s.now.advanced(by: duration)
            let now = s.now
            let ready = s.sleepers.filter { $0.deadline <= now }.map(\.continuation)
            s.sleepers.removeAll { $0.deadline <= now }
            return ready
        }
        for c in due { c.resume() }
    }

    /// Returns when some task sleeps towards a deadline after `now`.
    func waitForSleeper() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ready = state.withLock { s -> Bool in
                if s.sleepers.contains(where: { $0.deadline > s.now }) { return true }
                s.idleWaiters.append(continuation)
                return false
            }
            if ready { continuation.resume() }
        }
    }
}

/// An output that keeps what it is sent.
actor CollectingOutput: TelemetryOutput {
    private(set) var records: [TelemetryRecord] = []
    private(set) var finished = false

    func send(_ records: [TelemetryRecord]) async { self.records.append(contentsOf: records) }

    func report() async -> OutputReport {
        var r = OutputReport()
        r.recordsSent = records.count
        return r
    }

    func finish(within limit: Duration) async -> OutputReport {
        finished = true
        return await report()
    }
}

/// A fresh directory under the system temp dir, removed when the value is released.
final class TemporaryDirectory: Sendable {
    let path: String

    init(_ label: String = #function) {
        let name = label.filter { $0.isLetter || $0.isNumber }
        path = NSTemporaryDirectory() + "sinter-sim-\(name.prefix(40))-\(UUID().uuidString.prefix(8))"
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}
