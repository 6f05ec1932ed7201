// `swift package benchmark --target SimulationBenchmarks` (or `make bench-sim`): the cost of one
// simulated second of a fleet at 1 Hz. Sinter's bar: 100 printers at 1 Hz on one core, i.e. one
// iteration of the 100-printer benchmarks well under a second of one core's time.
import Benchmark
import PrinterSimulation
import TelemetryModel

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .cpuTotal, .mallocCountTotal, .throughput],
        timeUnits: .milliseconds,
        maxDuration: .seconds(10),
        maxIterations: 200
    )

    func fleet(dmls: Int, fdm: Int) -> PrinterFleet {
        var configuration = SimulationConfiguration()
        configuration.dmlsCount = dmls
        configuration.fdmCount = fdm
        configuration.seed = 1
        configuration.randomFaultsPerHour = 2
        return try! PrinterFleet(configuration: configuration)
    }

    for (dmls, fdm) in [(100, 0), (0, 100), (100, 100)] {
        Benchmark("Fleet step (1 simulated second at 1 Hz): \(dmls) DMLS + \(fdm) FDM printers") { benchmark in
            var f = fleet(dmls: dmls, fdm: fdm)
            for _ in 0..<5 { _ = f.step() }   // warm: past the first sample
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                blackHole(f.step())
            }
        }
    }

    Benchmark("One DMLS printer, 10 Hz for 1 simulated second (10 frames)") { benchmark in
        var configuration = SimulationConfiguration()
        configuration.dmlsCount = 1
        configuration.fdmCount = 0
        configuration.rate = 10
        var f = try! PrinterFleet(configuration: configuration)
        for _ in 0..<5 { _ = f.step() }
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            for _ in 0..<10 { blackHole(f.step()) }
        }
    }
}
