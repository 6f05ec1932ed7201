public import Logging
public import ServiceLifecycle
import TelemetryModel

/// How fast simulated time runs.
public enum SimulationSpeed: Sendable, Hashable, CustomStringConvertible {
    /// Simulated seconds per wall second (1 = real time).
    case factor(Double)
    /// As fast as the machine can simulate (and the output can take: it waits rather than drops).
    case unlimited

    public var description: String {
        switch self {
        case .factor(let x): "x\(format2(x))"
        case .unlimited: "max"
        }
    }
}

/// When a run stops, what it produced and what its output delivered.
public struct SimulationSummary: Sendable {
    public var samples: Int64 = 0
    public var records = 0
    public var frames = 0
    public var labels = 0
    /// Simulated seconds covered (first to last sample).
    public var simulatedSeconds = 0.0
    /// Wall time of the run, measured by the runner's clock.
    public var wall: Duration = .zero
    public var output: OutputReport?

    public init() {}

    /// One line for people and scripts.
    public var line: String {
        let wallSeconds = Double(wall.components.seconds) + Double(wall.components.attoseconds) / 1e18
        var s = "sinter-sim done: \(samples) samples per printer, \(records) records (\(frames) frames), "
        s += "\(String(format2(simulatedSeconds))) s simulated in \(format2(wallSeconds)) s wall"
        if wallSeconds > 0 { s += " (x\(format2(simulatedSeconds / wallSeconds)))" }
        if let o = output {
            s += "; sent \(o.recordsSent) records in \(o.requests) requests, \(o.retries) retries, "
            s += "\(o.recordsDropped) dropped, \(o.recordsRejected) rejected"
        }
        if labels > 0 { s += "; \(labels) labels" }
        return s
    }
}

func format2(_ v: Double) -> String {
    let r = (v * 100).rounded() / 100
    return r == r.rounded() ? String(Int64(r)) : "\(r)"
}

/// Runs a fleet against a clock: samples when simulated time says so, writes labels, updates
/// the status board, hands records to the output, reports progress, and stops after a wall-time
/// or simulated-time limit, or on graceful shutdown (then it drains the output for up to
/// ``Configuration/drainLimit``).
///
/// The clock is injected: tests pass a manual clock and drive wall time by hand; the command
/// passes `ContinuousClock`. Sample `k` is due at `origin + k / rate / speed` on that clock.
///
/// ```swift
/// let runner = SimulationRunner(fleet: fleet, output: output, labels: labels, status: board,
///                               configuration: .init(speed: .factor(60)), clock: ContinuousClock(), logger: logger)
/// let summary = try await runner.runSimulation()
/// print(summary.line)
/// ```
public struct SimulationRunner<C: Clock>: Service where C.Duration == Duration {
    /// Limits and pacing of a run.
    public struct Configuration: Sendable {
        /// How fast simulated time runs.
        public var speed: SimulationSpeed = .factor(1)
        /// Stop after this much wall time (`--duration`); nil = until stopped.
        public var wallLimit: Duration?
        /// Stop after this many simulated seconds (`--sim-seconds`); nil = until stopped.
        public var simulatedLimit: Double?
        /// Wall time between two progress lines.
        public var reportInterval: Duration = .seconds(5)
        /// Longest wait for the output to send its backlog at the end.
        public var drainLimit: Duration = .seconds(10)

        public init(speed: SimulationSpeed = .factor(1)) { self.speed = speed }
    }

    let fleet: PrinterFleet
    let output: (any TelemetryOutput)?
    let labels: LabelWriter?
    let status: StatusBoard?
    let configuration: Configuration
    let clock: C
    let logger: Logger
    let onFinish: @Sendable (SimulationSummary) -> Void

    public init(fleet: PrinterFleet, output: (any TelemetryOutput)?, labels: LabelWriter?, status: StatusBoard?,
                configuration: Configuration, clock: C, logger: Logger,
                onFinish: @escaping @Sendable (SimulationSummary) -> Void = { _ in }) {
        self.fleet = fleet
        self.output = output
        self.labels = labels
        self.status = status
        self.configuration = configuration
        self.clock = clock
        self.logger = logger
        self.onFinish = onFinish
    }

    /// Runs until a limit or graceful shutdown; ``onFinish`` gets the summary.
    public func run() async throws {
        let summary = try await runSimulation()
        onFinish(summary)
    }

    /// Runs until a limit, cancellation or graceful shutdown, drains the output, and returns the summary.
    public func runSimulation() async throws -> SimulationSummary {
        let origin = clock.now
        let box = LoopState(fleet: fleet)
        await cancelWhenGracefulShutdown {
            do {
                try await loop(origin: origin, state: box)
            } catch is CancellationError {
            } catch {
                box.failure = error
            }
        }
        var summary = box.summary
        summary.wall = origin.duration(to: clock.now)
        if let output { summary.output = await output.finish(within: configuration.drainLimit) }
        if let failure = box.failure { throw failure }
        return summary
    }

    final class LoopState: @unchecked Sendable {   // used by one task at a time
        var fleet: PrinterFleet
        var summary = SimulationSummary()
        var failure: (any Error)?
        init(fleet: PrinterFleet) { self.fleet = fleet }
    }

    private func loop(origin: C.Instant, state: LoopState) async throws {
        let start = state.fleet.configuration.start
        let period = state.fleet.configuration.periodNanoseconds
        let maxSamples = configuration.simulatedLimit.map { Int64(($0 * 1e9 / Double(period)).rounded(.down)) + 1 }
        var lastReport = origin
        while !Task.isCancelled {
            if let maxSamples, state.fleet.samplesTaken >= maxSamples { break }
            let simulated = Duration.nanoseconds(state.fleet.nextSampleTime.nanoseconds - start.nanoseconds)
            switch configuration.speed {
            case .factor(let x):
                let due = origin.advanced(by: simulated / x)
                if let limit = configuration.wallLimit, origin.duration(to: due) > limit { return }
                try await clock.sleep(until: due, tolerance: nil)
            case .unlimited:
                if let limit = configuration.wallLimit, origin.duration(to: clock.now) >= limit { return }
            }
            let step = state.fleet.step()
            if let labels { try labels.write(step.labels) }
            status?.update(step)
            if let output { await output.send(step.records) }
            state.summary.samples += 1
            state.summary.records += step.records.count
            state.summary.frames += step.records.reduce(0) { $0 + ($1.frame == nil ? 0 : 1) }
            state.summary.labels += step.labels.count
            state.summary.simulatedSeconds = Double(step.time.nanoseconds - start.nanoseconds) / 1e9
            let now = clock.now
            if lastReport.duration(to: now) >= configuration.reportInterval {
                lastReport = now
                await reportProgress(state.summary, time: step.time)
            }
        }
    }

    private func reportProgress(_ summary: SimulationSummary, time: Timestamp) async {
        var metadata: Logger.Metadata = [
            "sim.time": "\(time.rfc3339)",
            "sim.seconds": "\(format2(summary.simulatedSeconds))",
            "records": "\(summary.records)",
            "labels": "\(summary.labels)",
        ]
        if let output {
            let r = await output.report()
            metadata["output.sent"] = "\(r.recordsSent)"
            metadata["output.backlog"] = "\(r.backlog)"
            metadata["output.retries"] = "\(r.retries)"
            metadata["output.dropped"] = "\(r.recordsDropped)"
            metadata["output.rejected"] = "\(r.recordsRejected)"
        }
        logger.info("simulation.progress", metadata: metadata)
    }
}
