// package-benchmark suite for the server's JSON telemetry parser (seed 000's body shape).
// Run: cd Benchmarks && swift package benchmark --target ServerBenchmarks
import Benchmark
import SyntheticData
import TelemetryModel
import TelemetryServer

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .throughput, .mallocCountTotal],
                                           maxDuration: .seconds(5), maxIterations: 10_000)

    let generator = ThermalFieldGenerator(noiseSigma: 0.2, decimals: 2, seed: 5)
    let frames = (0..<16).map { generator.frame(at: $0 * 37) }
    let one = seedBody(frames: [frames[0]], array: false)
    let sixteen = seedBody(frames: frames, array: true)

    Benchmark("JSON parse, one seed record (100x100 frame, 2 decimals)") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try JSONTelemetryParser.parse(one)) }
    }

    Benchmark("JSON parse, 16 seed records in an array") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try JSONTelemetryParser.parse(sixteen)) }
    }
}

/// Seed 000's JSON (`machine_id`, `timestamp`, flat `temperature_data`, `power_consumption`,
/// `vibration`), numbers with at most two decimals as Python prints them.
func seedBody(frames: [[Float]], array: Bool) -> [UInt8] {
    var out: [UInt8] = array ? Array("[".utf8) : []
    for (i, frame) in frames.enumerated() {
        if i > 0 { out += Array(",".utf8) }
        out += Array(#"{"machine_id":"dmls-01","timestamp":\#(1_790_000_000_000 + i * 10),"temperature_data":["#.utf8)
        for (k, v) in frame.enumerated() {
            if k > 0 { out.append(UInt8(ascii: ",")) }
            let c = Int((Double(v) * 100).rounded())
            out += Array("\(c / 100).\(c % 100 < 10 ? "0" : "")\(c % 100)".utf8)
        }
        out += Array(#"],"power_consumption":3.25,"vibration":0.5}"#.utf8)
    }
    if array { out += Array("]".utf8) }
    return out
}
