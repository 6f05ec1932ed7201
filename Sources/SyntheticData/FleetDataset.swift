// A simulated DMLS fleet for benchmarks and the size gate: the same records, in the same batches.
public import TelemetryModel
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Deterministic records: record `g` (global index) belongs to machine `g % machines` and is
/// that machine's record number `g / machines`, `intervalSeconds` after the one before.
///
/// Frames come from a pool of 256 distinct seeded 100 × 100 thermal fields (σ 0.2 noise,
/// two decimals, as the sensor reports them), taken far apart along the hot spot's path; power
/// and vibration follow slow, seeded waves with two decimals.
public struct FleetDataset: Sendable {
    /// The size gate's bound for 1,024 of these frames in an embedded store (flushed, every file
    /// counted): 8,558 bytes per frame measured on 2026-11-22, plus about 2 %. Checked by
    /// `make test` (StorageEngineTests) and by `sinter-bench check`.
    public static let sizeGateBytesPerFrame = 8_750

    public let machines: [MachineID]
    public let intervalSeconds: Int
    public let frames: [ThermalFrame]
    /// 2026-11-01T00:00:00Z.
    public static let baseSeconds: Int64 = 1_793_491_200

    public init(machines: Int, intervalSeconds: Int, poolSize: Int = 256, seed: UInt64 = 11) {
        self.machines = (1...machines).map { try! MachineID($0 < 10 ? "dmls-0\($0)" : "dmls-\($0)") }
        self.intervalSeconds = intervalSeconds
        let generator = ThermalFieldGenerator(noiseSigma: 0.2, decimals: 2, seed: seed)
        frames = (0..<poolSize).map { try! ThermalFrame(values: generator.frame(at: $0 * 37)) }
    }

    /// The timestamp of a machine's record number `sequence`.
    public func timestamp(_ sequence: Int) -> Timestamp {
        Timestamp(nanoseconds: (Self.baseSeconds + Int64(sequence) * Int64(intervalSeconds)) * 1_000_000_000)
    }

    /// Record number `sequence` of machine `machine`.
    public func record(machine: Int, sequence: Int) -> TelemetryRecord {
        let phase = Double(sequence) / 40 + Double(machine)
        let power = ((3.2 + 1.1 * sin(phase) + 0.2 * sin(phase * 7.3)) * 100).rounded() / 100
        let vibration = ((0.8 + 0.3 * sin(phase * 1.7)) * 100).rounded() / 100
        return TelemetryRecord(machineID: machines[machine], timestamp: timestamp(sequence), kind: "dmls",
                               channels: ["power_kw": Float(power), "vibration_mm_s": Float(vibration)],
                               state: "printing", frame: frames[(sequence * 7 + machine * 13) % frames.count])
    }

    /// Records of global indexes `range` that belong to writer `writer` of `writers`, in batches
    /// of at most `batch` (machines `m` with `m % writers == writer`; each machine's records in order).
    public func batches(_ range: Range<Int>, writer: Int, writers: Int, batch: Int) -> [[(machine: Int, sequence: Int)]] {
        var out: [[(machine: Int, sequence: Int)]] = []
        var current: [(machine: Int, sequence: Int)] = []
        for g in range {
            let m = g % machines.count
            guard m % writers == writer else { continue }
            current.append((m, g / machines.count))
            if current.count == batch {
                out.append(current)
                current = []
            }
        }
        if !current.isEmpty { out.append(current) }
        return out
    }

    /// Records machine `machine` holds once `total` records have been written.
    public func count(machine: Int, total: Int) -> Int {
        total / machines.count + (machine < total % machines.count ? 1 : 0)
    }
}
