import Testing
import TelemetryModel

struct ModelTests {
    @Test(arguments: ["dmls-01", "fdm.2", "A_b-9", String(repeating: "x", count: 64)])
    func validMachineIDs(_ id: String) throws {
        #expect(try MachineID(id).rawValue == id)
    }

    @Test(arguments: ["", ".", "..", "a/b", "dmls 01", "ü", "../etc", String(repeating: "x", count: 65)])
    func invalidMachineIDsNameTheField(_ id: String) {
        let error = #expect(throws: ModelError.self) { try MachineID(id) }
        #expect(error?.field == "machine_id")
        #expect(error?.code == "invalid_machine_id")
    }

    @Test func timestampsParseRFC3339AndMilliseconds() throws {
        #expect(try Timestamp(parsing: "1970-01-01T00:00:00Z").nanoseconds == 0)
        #expect(try Timestamp(parsing: "2026-11-21T10:00:00.25Z").nanoseconds == 1_795_255_200_250_000_000)
        #expect(try Timestamp(parsing: "2026-11-21T11:00:00.25+01:00").nanoseconds == 1_795_255_200_250_000_000)
        #expect(try Timestamp(parsing: "2026-11-21T10:00:00.123456789Z").nanoseconds % 1_000_000_000 == 123_456_789)
        #expect(try Timestamp(parsing: "1795255200250").nanoseconds == 1_795_255_200_250_000_000)
        #expect(try Timestamp(parsing: "1969-12-31T23:59:59Z").nanoseconds == -1_000_000_000)
        // Digits past nanoseconds are dropped, never a trap (found by the server's probes).
        #expect(try Timestamp(parsing: "2026-11-21T10:00:00.1234567891234Z").nanoseconds % 1_000_000_000 == 123_456_789)
        for bad in ["", "yesterday", "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z", "2026-11-21T10:00:00", "2026-11-21T10:00:00.Z"] {
            let error = #expect(throws: ModelError.self) { try Timestamp(parsing: bad) }
            #expect(error?.field == "timestamp")
        }
    }

    @Test func timestampsFormatAndRoundTrip() throws {
        for ns: Int64 in [0, 1, -1, 1_795_255_200_250_000_000, 951_782_400_000_000_000, -86_400_000_000_001] {
            let t = Timestamp(nanoseconds: ns)
            #expect(try Timestamp(parsing: t.rfc3339) == t)
        }
        #expect(Timestamp(nanoseconds: 1_795_255_200_250_000_000).rfc3339 == "2026-11-21T10:00:00.25Z")
        #expect(Timestamp(seconds: 1.5).nanoseconds == 1_500_000_000)
        #expect(Timestamp(seconds: 1e30) == .max)
        #expect(Timestamp(seconds: -.infinity) == .min)
        #expect(Timestamp(seconds: .nan).nanoseconds == 0)
    }

    @Test func recordIDsRoundTripAndRejectGarbage() throws {
        let id = RecordID(machineID: try MachineID("dmls-01"), timestamp: Timestamp(nanoseconds: -5))
        #expect(try RecordID(parsing: id.description) == id)
        for bad in ["", "dmls-01", "@5", "dmls 01@5", "dmls-01@x"] {
            #expect(throws: ModelError.self) { try RecordID(parsing: bad) }
        }
    }

    @Test func frameStatisticsSkipNonFiniteValues() throws {
        let s = try #require(FrameStatistics([1, 3, .nan, .infinity, 2, -.infinity]))
        #expect(s.min == 1)
        #expect(s.max == 3)
        #expect(s.mean == 2)
        #expect(abs(s.std - 0.8164966) < 1e-6)
        #expect(FrameStatistics([.nan]) == nil)
    }

    @Test func framesCompareBitForBit() throws {
        let a = try ThermalFrame(width: 2, height: 1, values: [0, .nan])
        let b = try ThermalFrame(width: 2, height: 1, values: [-0.0, .nan])
        #expect(a == a)
        #expect(a != b)
        #expect(throws: ModelError.self) { try ThermalFrame(width: 3, height: 3, values: [1]) }
    }

    @Test func frameStatisticsMatchAPlainScalarComputation() throws {
        var g = SystemRandomNumberGenerator()
        let specials: [Float] = [.nan, .infinity, -.infinity, Float(bitPattern: 0x7FC0_1234), -0.0]
        for _ in 0..<200 {
            let n = Int.random(in: 1...300, using: &g)
            let values = (0..<n).map { _ -> Float in
                Int.random(in: 0..<20, using: &g) == 0 ? specials.randomElement(using: &g)! : Float.random(in: -50...120, using: &g)
            }
            let finite = values.filter(\.isFinite)
            let s = FrameStatistics(values)
            guard !finite.isEmpty else {
                #expect(s == nil)
                continue
            }
            let stats = try #require(s)
            let mean = finite.reduce(0.0) { $0 + Double($1) } / Double(finite.count)
            let variance = finite.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(finite.count)
            #expect(stats.min == finite.min())
            #expect(stats.max == finite.max())
            #expect(abs(Double(stats.mean) - mean) <= 1e-4 * max(1, abs(mean)))
            #expect(abs(Double(stats.std) - variance.squareRoot()) <= 1e-3 * max(1, variance.squareRoot()))
        }
    }
}
