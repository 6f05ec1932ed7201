// A deterministic workload for crash testing: record k of machine m is always the same bytes,
// so a parent process can check, after killing the writer, that every acknowledged record is
// present and bit-identical.
import SyntheticData
public import TelemetryModel

/// Deterministic records for crash tests and soaks.
///
/// ```swift
/// let workload = CrashWorkload(machines: 3, frameSide: 32)
/// let r = workload.record(sequence: 42)   // always the same record
/// ```
public struct CrashWorkload: Sendable {
    public var machines: Int
    /// Frames are `frameSide × frameSide`; every third record has no frame.
    public var frameSide: Int
    /// Timestamp of sequence 0 (2026-01-01T00:00:00Z) and the spacing between sequences.
    public var baseNanoseconds: Int64 = 1_767_225_600_000_000_000
    public var spacingNanoseconds: Int64 = 10_000_000

    public init(machines: Int, frameSide: Int) {
        self.machines = machines
        self.frameSide = frameSide
    }

    /// The record with global sequence number `sequence` (machines take turns).
    public func record(sequence: Int) -> TelemetryRecord {
        let m = sequence % machines
        let machine = try! MachineID("crash-\(m)")
        var rng = SeededRandom(seed: UInt64(sequence) &* 0x9E37_79B9_7F4A_7C15 &+ 1)
        var channels: [String: Float] = ["power_kw": Float(Int(rng.next() % 5000)) / 100]
        if sequence % 2 == 0 { channels["vibration_mm_s"] = Float(Int(rng.next() % 900)) / 100 }
        var frame: ThermalFrame?
        if sequence % 3 != 0 {
            let n = frameSide * frameSide
            var values = [Float](repeating: 0, count: n)
            let center = Double(rng.next() % UInt64(frameSide))
            for i in 0..<n {
                let x = Double(i % frameSide), y = Double(i / frameSide)
                let d = ((x - center) * (x - center) + (y - center) * (y - center)) / 40
                let noise = Double(Int64(rng.next() % 41) - 20) / 100
                values[i] = Float(((25 + 40 / (1 + d) + noise) * 100).rounded() / 100)
            }
            if sequence % 7 == 1 { values[0] = Float(bitPattern: 0x7FC0_1234) }  // a NaN payload must survive
            frame = try! ThermalFrame(width: frameSide, height: frameSide, values: values)
        }
        let states = ["idle", "printing", "printing", "anomaly"]
        return TelemetryRecord(machineID: machine, timestamp: Timestamp(nanoseconds: baseNanoseconds + Int64(sequence) * spacingNanoseconds),
                               kind: "dmls", channels: channels, state: states[sequence % 4], frame: frame)
    }
}

extension TelemetryRecord {
    /// Equality as the store promises it: everything bit-identical, frame statistics channels
    /// (which the store adds) ignored on the `stored` side.
    public func matchesStored(_ stored: TelemetryRecord) -> Bool {
        var channels = stored.channels
        for name in ChannelName.frameStatistics { channels[name] = nil }
        guard machineID == stored.machineID, timestamp == stored.timestamp, kind == stored.kind, state == stored.state,
              channels.count == self.channels.count else { return false }
        for (name, value) in self.channels where channels[name]?.bitPattern != value.bitPattern { return false }
        return frame == stored.frame
    }
}
