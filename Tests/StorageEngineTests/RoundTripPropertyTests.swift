import Testing
@testable import StorageEngine
import StoreTool
import SyntheticData
import TelemetryModel

/// Random records through the whole store — WAL, head, sealed blocks, reopen — come back bit-identical.
struct RoundTripPropertyTests {
    static let specials: [Float] = [
        .nan, -.nan, Float(bitPattern: 0x7FC0_1234), Float(bitPattern: 0x7F80_0001), Float(bitPattern: 0xFFC0_0042),
        .infinity, -.infinity, 0, -0.0, .leastNonzeroMagnitude, -.leastNonzeroMagnitude, Float(bitPattern: 0x0000_1234),
        .greatestFiniteMagnitude, -.greatestFiniteMagnitude, .leastNormalMagnitude,
    ]

    typealias Generator = SeededRandom

    static func randomValue(_ g: inout Generator) -> Float {
        switch Int.random(in: 0..<10, using: &g) {
        case 0: return specials.randomElement(using: &g)!
        case 1: return Float(bitPattern: UInt32.random(in: 0...UInt32.max, using: &g))
        default:
            let decimals = Float([1, 10, 100, 1000][Int.random(in: 0..<4, using: &g)])
            return (Float.random(in: 15...85, using: &g) * decimals).rounded() / decimals
        }
    }

    static func randomRecord(_ g: inout Generator, machine: String, timestamp: Int64) -> TelemetryRecord {
        var channels: [String: Float] = [:]
        for _ in 0..<Int.random(in: 0...6, using: &g) {
            channels["ch_\(Int.random(in: 0..<10, using: &g))"] = randomValue(&g)
        }
        var frame: ThermalFrame?
        if Bool.random(using: &g) {
            let w = Int.random(in: 1...40, using: &g), h = Int.random(in: 1...40, using: &g)
            let specialRate = [0, 0, 1, 5, 50][Int.random(in: 0..<5, using: &g)]
            let base = Float.random(in: 20...60, using: &g)
            let values = (0..<(w * h)).map { i -> Float in
                if specialRate > 0 && Int.random(in: 0..<100, using: &g) < specialRate { return randomValue(&g) }
                return ((base + Float(i % w) * 0.1 + Float.random(in: -0.3...0.3, using: &g)) * 100).rounded() / 100
            }
            frame = try! ThermalFrame(width: w, height: h, values: values)
        }
        let states: [String?] = [nil, "idle", "printing", "anomaly", "error", "custom state ✓"]
        return TelemetryRecord(machineID: try! MachineID(machine), timestamp: Timestamp(nanoseconds: timestamp),
                               kind: ["dmls", "fdm", "", "lab rig"][Int.random(in: 0..<4, using: &g)],
                               channels: channels, state: states.randomElement(using: &g)!, frame: frame)
    }

    @Test(arguments: [1, 2, 3, 4])
    func randomRecordsRoundTripBitIdentical(seed: UInt64) async throws {
        var g = Generator(seed: seed)
        let dir = TemporaryDirectory()
        var expected: [RecordID: TelemetryRecord] = [:]
        var store = try openStore(dir) { $0.blockSize = Int.random(in: 1...40, using: &g) }
        for round in 0..<3 {
            var batch: [TelemetryRecord] = []
            for _ in 0..<Int.random(in: 20...80, using: &g) {
                let machine = "m\(Int.random(in: 0..<3, using: &g))"
                // Random timestamps: out of order, sometimes negative, sometimes repeated (a duplicate).
                let r = Self.randomRecord(&g, machine: machine, timestamp: Int64.random(in: -1_000...100_000, using: &g) * 1_000)
                if expected[r.id] == nil { expected[r.id] = r }
                batch.append(r)
            }
            for chunk in stride(from: 0, to: batch.count, by: 7) {
                try await store.append(Array(batch[chunk..<min(chunk + 7, batch.count)]))
            }
            if round == 1 {
                try await store.close()
                store = try openStore(dir) { $0.blockSize = 16 }
            }
        }
        for (id, original) in expected {
            let stored = try #require(try store.record(id: id))
            #expect(original.matchesStored(stored), "record \(id) differs")
            if let frame = original.frame {
                #expect(stored.frameStatistics == frame.statistics())
            }
        }
        #expect(store.machines().reduce(0) { $0 + $1.recordCount } == expected.count)
        try await store.close()
    }
}
