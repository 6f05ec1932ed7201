// The simulated fleet: machine ids, fresh timestamps per machine, and request bodies built from a
// pool of pre-generated (and, for JSON, pre-rendered) thermal frames.
import BenchKit
import Foundation
import Synchronization
import SyntheticData
import TelemetryModel

/// Machines `dmls-01…dmls-NN` and the records they send.
///
/// Every record gets a new timestamp from its machine's counter (10 ms apart), so no ingest
/// request ever carries a duplicate; frames come from a pool of distinct seeded frames, so building
/// a request costs a copy, not a frame generation. Record `n` of a machine has the timestamp
/// `baseMilliseconds + n * stepMilliseconds` and frame `pool[n % pool.count]`.
final class Fleet: Sendable {
    let machines: [MachineID]
    let frames: [ThermalFrame]
    /// Each pooled frame's `temperature_data` as JSON text, `[20.13,20.2,…]`, rendered once.
    let temperatureJSON: [[UInt8]]
    let baseMilliseconds: Int64 = 1_790_000_000_000  // 2026-09-21
    let stepMilliseconds: Int64 = 10
    private let next: Mutex<[Int]>

    init(machineCount: Int, poolSize: Int, seed: UInt64 = 7) {
        machines = (1...machineCount).map { try! MachineID(String(format: "dmls-%02d", $0)) }
        let generator = ThermalFieldGenerator(noiseSigma: 0.2, decimals: 2, seed: seed)
        // Frames far apart along the hot spot's path, so that they differ visibly.
        frames = (0..<poolSize).map { try! ThermalFrame(values: generator.frame(at: $0 * 37)) }
        temperatureJSON = frames.map { Self.renderTwoDecimals($0.values) }
        next = Mutex([Int](repeating: 0, count: machineCount))
    }

    /// Reserves `count` consecutive record numbers of `machine` and returns the first.
    func reserve(machine: Int, count: Int) -> Int {
        next.withLock { counters in
            let first = counters[machine]
            counters[machine] += count
            return first
        }
    }

    /// Records sent so far to `machine` (reserved numbers, whether or not they were accepted).
    func reserved(machine: Int) -> Int { next.withLock { $0[machine] } }

    func timestampMilliseconds(_ sequence: Int) -> Int64 { baseMilliseconds + Int64(sequence) * stepMilliseconds }

    /// Power in hundredths of a kW and vibration in hundredths of mm/s for record `sequence`.
    private func centi(_ sequence: Int) -> (power: Int, vibration: Int) { (200 + sequence % 300, 10 + sequence % 90) }

    /// Record `sequence` of `machine`, as the binary batch carries it.
    func record(machine: Int, sequence: Int) -> TelemetryRecord {
        let (power, vibration) = centi(sequence)
        return TelemetryRecord(
            machineID: machines[machine], timestamp: Timestamp(milliseconds: timestampMilliseconds(sequence)), kind: "dmls",
            channels: ["power_kw": Float(Double(power) / 100), "vibration_mm_s": Float(Double(vibration) / 100)],
            state: "printing", frame: frames[sequence % frames.count])
    }

    /// A binary batch (`application/vnd.sinter.frames`) of `count` new records of `machine`.
    func binaryBatch(machine: Int, count: Int) -> [UInt8] {
        let first = reserve(machine: machine, count: count)
        return FrameBatch.encode((first..<(first + count)).map { record(machine: machine, sequence: $0) })
    }

    /// Seed 000's JSON for `count` new records of `machine`: one object if `array` is false
    /// (then `count` must be 1), else an array of objects.
    func jsonBody(machine: Int, count: Int, array: Bool) -> [UInt8] {
        precondition(array || count == 1)
        let first = reserve(machine: machine, count: count)
        let id = Array(machines[machine].rawValue.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(count * (temperatureJSON[0].count + 160) + 2)
        if array { out.append(UInt8(ascii: "[")) }
        for sequence in first..<(first + count) {
            if sequence > first { out.append(UInt8(ascii: ",")) }
            let (power, vibration) = centi(sequence)
            out.append(contentsOf: #"{"machine_id":""#.utf8)
            out.append(contentsOf: id)
            out.append(contentsOf: #"","timestamp":"#.utf8)
            out.append(contentsOf: String(timestampMilliseconds(sequence)).utf8)
            out.append(contentsOf: #","temperature_data":"#.utf8)
            out.append(contentsOf: temperatureJSON[sequence % temperatureJSON.count])
            out.append(contentsOf: #","power_consumption":"#.utf8)
            Self.appendCenti(power, to: &out)
            out.append(contentsOf: #","vibration":"#.utf8)
            Self.appendCenti(vibration, to: &out)
            out.append(UInt8(ascii: "}"))
        }
        if array { out.append(UInt8(ascii: "]")) }
        return out
    }

    /// `[v0,v1,…]` with at most two decimals (`20.13`, `20.1`, `20.0`), as Python's `json.dumps` prints
    /// `round(v, 2)`.
    static func renderTwoDecimals(_ values: [Float]) -> [UInt8] {
        var out: [UInt8] = [UInt8(ascii: "[")]
        out.reserveCapacity(values.count * 6 + 2)
        for (i, v) in values.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            appendCenti(Int((Double(v) * 100).rounded()), to: &out)
        }
        out.append(UInt8(ascii: "]"))
        return out
    }

    /// `c / 100` in decimal as Python prints a float: `2.05`, `2.5`, `2.0`.
    static func appendCenti(_ c: Int, to out: inout [UInt8]) {
        var c = c
        if c < 0 {
            out.append(UInt8(ascii: "-"))
            c = -c
        }
        out.append(contentsOf: String(c / 100).utf8)
        let cents = c % 100
        out.append(UInt8(ascii: "."))
        out.append(UInt8(ascii: "0") + UInt8(cents / 10))
        if cents % 10 != 0 { out.append(UInt8(ascii: "0") + UInt8(cents % 10)) }
    }
}
