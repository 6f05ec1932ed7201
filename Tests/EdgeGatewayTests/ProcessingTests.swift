import OPCUA
import SinterHTTPClient
import Testing
import TelemetryModel
@testable import EdgeGateway

/// Record assembly, averaging, node mappings and backoff: the gateway's pure parts.
struct ProcessingTests {
    let dmls = try! MachineID("dmls-01")
    let fdm = try! MachineID("fdm-01")
    let t0 = Timestamp(milliseconds: 1_795_255_200_000)
    let origin = ContinuousClock.now

    func value(_ machine: MachineID, _ field: RecordField, _ variant: Variant, at t: Timestamp) -> IntakeValue {
        IntakeValue(machine: machine, field: field, value: variant, timestamp: t)
    }

    func frame(_ base: Float, width: Int = 4, height: Int = 3) -> ThermalFrame {
        try! ThermalFrame(width: width, height: height, values: (0..<(width * height)).map { base + Float($0) * 0.25 })
    }

    func matrix(_ frame: ThermalFrame) -> Variant {
        .matrix(.float(frame.values), dimensions: [Int32(frame.height), Int32(frame.width)])
    }

    @Test func aRecordLeavesAsSoonAsAllItsFieldsAreSet() {
        var assembler = RecordAssembler(fields: [dmls: [.frame, .channel("power_kw"), .state]], kinds: [dmls: "dmls"], frameSize: (4, 3))
        let f = frame(20)
        var out = assembler.add([value(dmls, .frame, matrix(f), at: t0), value(dmls, .channel("power_kw"), .scalar(.double(3.5)), at: t0)], now: origin)
        #expect(out.isEmpty)
        #expect(assembler.pendingCount == 1)
        out = assembler.add([value(dmls, .state, .scalar(.string("printing")), at: t0)], now: origin)
        let record = try! #require(out.first)
        #expect(out.count == 1)
        #expect(record.machineID == dmls && record.timestamp == t0 && record.kind == "dmls")
        #expect(record.channels == ["power_kw": 3.5] && record.state == "printing")
        #expect(record.frame?.width == 4 && record.frame?.height == 3)
        #expect(record.frame?.values.map(\.bitPattern) == f.values.map(\.bitPattern))
        #expect(assembler.pendingCount == 0)
    }

    @Test func interleavedSamplesAreReassembledInTimeOrderAndScalarsAreHeldButFramesAreNot() {
        var assembler = RecordAssembler(fields: [dmls: [.frame, .channel("power_kw"), .channel("vibration_mm_s")]], frameSize: (4, 3))
        let t1 = t0.advanced(byNanoseconds: 1_000_000_000), t2 = t0.advanced(byNanoseconds: 2_000_000_000)
        // A subscription delivers item by item: both frames, then both powers, then one vibration.
        var out = assembler.add([
            value(dmls, .frame, matrix(frame(20)), at: t0), value(dmls, .frame, matrix(frame(21)), at: t1),
            value(dmls, .channel("power_kw"), .scalar(.float(2)), at: t0), value(dmls, .channel("power_kw"), .scalar(.float(3)), at: t1),
        ], now: origin)
        #expect(out.isEmpty && assembler.pendingCount == 2)
        // t1 completes: t0 leaves first, incomplete, then t1.
        out = assembler.add([value(dmls, .channel("vibration_mm_s"), .scalar(.int32(7)), at: t1)], now: origin)
        #expect(out.map(\.timestamp) == [t0, t1])
        #expect(out.first?.channels == ["power_kw": 2] && out.first?.frame?.values.first == 20)
        #expect(out.last?.channels == ["power_kw": 3, "vibration_mm_s": 7] && out.last?.frame?.values.first == 21)
        // A sample with only a power value leaves after the settle time, with the held vibration and no frame.
        out = assembler.add([value(dmls, .channel("power_kw"), .scalar(.double(4)), at: t2)], now: origin)
        #expect(out.isEmpty)
        #expect(assembler.flush(now: origin.advanced(by: .milliseconds(100))).isEmpty)
        out = assembler.flush(now: origin.advanced(by: .milliseconds(250)))
        #expect(out.count == 1)
        #expect(out.first?.timestamp == t2 && out.first?.channels == ["power_kw": 4, "vibration_mm_s": 7])
        #expect(out.first?.frame == nil)
    }

    @Test func tooManyPendingSamplesLeaveOldestFirst() {
        var assembler = RecordAssembler(fields: [dmls: [.frame, .channel("power_kw")]], frameSize: (4, 3))
        assembler.maximumPending = 2
        let out = assembler.add((0..<3).map { k in
            value(dmls, .channel("power_kw"), .scalar(.double(Double(k))), at: t0.advanced(byNanoseconds: Int64(k) * 1_000_000))
        }, now: origin)
        #expect(out.map(\.timestamp) == [t0])
        #expect(assembler.pendingCount == 2)
    }

    @Test func valuesThatCannotBeUsedAreCountedNotStored() {
        var assembler = RecordAssembler(fields: [dmls: [.frame, .state, .channel("power_kw")]], frameSize: (4, 3))
        let out = assembler.add([
            value(fdm, .channel("power_kw"), .scalar(.double(1)), at: t0),                       // unknown machine
            value(dmls, .channel("power_kw"), .scalar(.string("high")), at: t0),                 // not a number
            value(dmls, .frame, .array(.float([1, 2, 3]), dimensions: nil), at: t0),             // flat, wrong size
            value(dmls, .frame, .array(.float([1, 2, 3]), dimensions: [2, 2]), at: t0),          // dimensions disagree
            value(dmls, .state, .scalar(.string(String(repeating: "x", count: 65))), at: t0),   // too long
        ], now: origin)
        #expect(out.isEmpty)
        #expect(assembler.unusable == 5)
        #expect(assembler.pendingCount == 0)
        #expect(assembler.flush(now: origin, everything: true).isEmpty)
    }

    @Test func aFlatArrayOfTheConfiguredSizeIsAFrame() {
        var assembler = RecordAssembler(fields: [dmls: [.frame]], frameSize: (4, 3))
        let f = frame(30)
        let out = assembler.add([value(dmls, .frame, .array(.double(f.values.map(Double.init)), dimensions: nil), at: t0)], now: origin)
        #expect(out.first?.frame?.values == f.values)
        #expect(out.first?.frame?.width == 4)
    }

    func record(_ machine: MachineID, second: Int, frame: ThermalFrame?, power: Float, state: String) -> TelemetryRecord {
        TelemetryRecord(machineID: machine, timestamp: t0.advanced(byNanoseconds: Int64(second) * 1_000_000_000), kind: "dmls",
                        channels: ["power_kw": power], state: state, frame: frame)
    }

    @Test func windowOnePassesRecordsThroughBitForBit() {
        var averager = FrameAverager(window: 1)
        let values: [Float] = [.nan, -0.0, .infinity, .leastNonzeroMagnitude, 20, 21, 22, 23, 24, 25, 26, 27]
        let r = record(dmls, second: 0, frame: try! ThermalFrame(width: 4, height: 3, values: values), power: 3, state: "idle")
        let out = averager.add(r)
        #expect(out.count == 1)
        #expect(out.first?.frame?.values.map(\.bitPattern) == values.map(\.bitPattern))
        #expect(averager.pendingRecords == 0)
    }

    @Test func groupsOfNBecomeTheirElementWiseMeanWithTheLastTimeAndState() {
        var averager = FrameAverager(window: 3)
        let frames = [frame(20), frame(23), frame(29)]
        var out: [TelemetryRecord] = []
        for i in 0..<3 {
            out += averager.add(record(dmls, second: i, frame: frames[i], power: Float(i + 1), state: i == 2 ? "printing" : "idle"))
            out += averager.add(record(fdm, second: i, frame: nil, power: 10, state: "idle"))
        }
        #expect(out.count == 2)
        let averaged = try! #require(out.first { $0.machineID == dmls })
        #expect(averaged.timestamp == t0.advanced(byNanoseconds: 2_000_000_000))
        #expect(averaged.state == "printing")
        #expect(averaged.channels["power_kw"] == 2)
        let expected = (0..<12).map { i in Float((Double(frames[0].values[i]) + Double(frames[1].values[i]) + Double(frames[2].values[i])) / 3) }
        #expect(averaged.frame?.values == expected)
        let stats = try! #require(averaged.frame?.statistics())
        #expect(abs(stats.mean - (24 + 1.375)) < 1e-5)   // means 20, 23, 29 → 24, plus the mean ramp 11 × 0.25 / 2
        #expect(out.first { $0.machineID == fdm }?.frame == nil)
    }

    @Test func aNaNChannelStaysVisibleAndPartialGroupsFlush() {
        var averager = FrameAverager(window: 4)
        _ = averager.add(record(dmls, second: 0, frame: frame(20), power: .nan, state: "idle"))
        _ = averager.add(record(dmls, second: 1, frame: frame(22), power: 4, state: "idle"))
        #expect(averager.pendingRecords == 2)
        let out = averager.flush()
        #expect(out.count == 1)
        #expect(out.first?.channels["power_kw"]?.isNaN == true)
        #expect(out.first?.frame?.values.first == 21)
        #expect(out.first?.timestamp == t0.advanced(byNanoseconds: 1_000_000_000))
        #expect(averager.flush().isEmpty)
    }

    @Test func aFrameOfAnotherSizeClosesTheGroup() {
        var averager = FrameAverager(window: 4)
        _ = averager.add(record(dmls, second: 0, frame: frame(20), power: 1, state: "idle"))
        let out = averager.add(record(dmls, second: 1, frame: frame(20, width: 2, height: 2), power: 1, state: "idle"))
        #expect(out.count == 1 && out.first?.frame?.width == 4)
        #expect(averager.pendingRecords == 1)
    }

    @Test func mappingsParseAndBadLinesAreNamed() throws {
        let mapping = try NodeMapping(parsing: """
            # machine field node
            dmls-07   frame     nsu=urn:acme:press;s=Press7.Thermal
            dmls-07   power_kw  ns=2;s=Press7.Power   # kW

            dmls-07   state     ns=2;i=5012
            """)
        #expect(mapping.entries.map(\.field) == [.frame, .channel("power_kw"), .state])
        #expect(mapping.entries.map(\.line) == [2, 3, 5])
        #expect(mapping.entries[0].node == "nsu=urn:acme:press;s=Press7.Thermal")

        func message(_ text: String) -> String {
            do { _ = try NodeMapping(parsing: text) } catch { return error.message }
            return "no error"
        }
        #expect(message("dmls-07 frame") .contains("line 1: expected `machine field node`"))
        #expect(message("dmls/07 frame ns=2;i=1").contains("line 1: dmls/07 is not a machine id"))
        #expect(message("dmls-07 frame_mean ns=2;i=1").contains("frame_mean is not a record field"))
        #expect(message("a frame ns=2;i=1\na frame ns=2;i=2").contains("line 2: a frame is mapped already on line 1"))
        #expect(message("# nothing").contains("names no nodes"))
    }

    @Test func backoffDoublesUpToItsCap() {
        var policy = RetryPolicy()
        policy.initialBackoff = .milliseconds(100)
        policy.maximumBackoff = .seconds(5)
        let delays = (0..<8).map { policy.bound(attempt: $0) }
        #expect(delays == [.milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800),
                           .milliseconds(1600), .milliseconds(3200), .seconds(5), .seconds(5)])
        #expect(policy.bound(attempt: 1000) == .seconds(5))
    }

    @Test func statusJSONNamesEveryCounter() {
        var status = EdgeStatus()
        status.forwarded = 7
        status.machines["dmls-01"] = EdgeStatus.MachineStatus(recordsOut: 7, lastTimestamp: t0,
                                                              lastFrame: FrameStatistics(min: 20, max: 80, mean: 30, std: .nan),
                                                              lastState: "print\"ing")
        let json = status.json
        #expect(json.contains("\"forwarded\":7"))
        #expect(json.contains("\"dmls-01\":{\"records_out\":7"))
        #expect(json.contains("\"std\":null"))
        #expect(json.contains("\"last_state\":\"print\\\"ing\""))
        #expect(json.contains("\"server_refuses_token\":false,\"last_http_error\":null"))
        #expect(json.contains("\"full\":false,\"failed\":null}"))
        status.spool.failure = "fdatasync failed for 00.spool: \"EIO\""
        #expect(status.json.contains("\"failed\":\"fdatasync failed for 00.spool: \\\"EIO\\\"\"}"))
        status.serverRefusesToken = true
        status.lastHTTPError = "HTTP 401: unauthorized: \"wrong\" token"
        status.deadLetters = 2
        #expect(status.json.contains("\"server_refuses_token\":true,\"last_http_error\":\"HTTP 401: unauthorized: \\\"wrong\\\" token\""))
        #expect(status.json.contains("\"dead_letter\":{\"entries\":2,\"corrupt_entries\":0}"))
    }
}
