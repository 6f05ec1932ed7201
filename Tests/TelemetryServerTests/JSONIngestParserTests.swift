import Testing
import TelemetryModel
@testable import TelemetryServer

/// A seeded generator, so that failures reproduce.
private struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

private func parse(_ bytes: [UInt8], maximumRecords: Int = 100_000) -> Result<[TelemetryRecord], IngestError> {
    bytes.withUnsafeBytes { raw in
        Result { () throws(IngestError) in try JSONIngestParser.parse(raw, maximumRecords: maximumRecords) }
    }
}

private func records(_ body: String) throws -> [TelemetryRecord] {
    try parse(Array(body.utf8)).get()
}

private func record(_ body: String) throws -> TelemetryRecord {
    let all = try records(body)
    try #require(all.count == 1)
    return all[0]
}

private func failure(_ body: String, maximumRecords: Int = 100_000) -> IngestError? {
    if case .failure(let error) = parse(Array(body.utf8), maximumRecords: maximumRecords) { return error }
    return nil
}

/// The byte offset of the first occurrence of `marker` in `body`.
private func offset(of marker: String, in body: String) -> Int {
    let b = Array(body.utf8), m = Array(marker.utf8)
    for i in 0...(b.count - m.count) where Array(b[i..<(i + m.count)]) == m { return i }
    return -1
}

/// `count` numbers as JSON text, flat or as rows of `rowLength`.
private func frameJSON(_ values: [String], rowLength: Int? = nil) -> String {
    guard let rowLength else { return "[" + values.joined(separator: ", ") + "]" }
    var rows: [String] = []
    var i = 0
    while i < values.count {
        rows.append("[" + values[i..<min(i + rowLength, values.count)].joined(separator: ",") + "]")
        i += rowLength
    }
    return "[" + rows.joined(separator: ",\n ") + "]"
}

private func temperatures(_ count: Int = 10_000) -> [String] {
    (0..<count).map { i in String(Float(2000 + (i * 37) % 6000) / 100) }
}

private let seedTime = "2025-11-20T10:00:00Z"
private let seedNanoseconds: Int64 = 1_763_632_800_000_000_000

struct JSONIngestParserTests {
    // MARK: Shapes

    @Test func seedShapeFlat() throws {
        let values = temperatures()
        let body = #"{"machine_id": "dmls-01", "timestamp": "\#(seedTime)", "temperature_data": \#(frameJSON(values)), "power_consumption": 3.2, "vibration": 0.8}"#
        let r = try record(body)
        #expect(r.machineID.rawValue == "dmls-01")
        #expect(r.timestamp.nanoseconds == seedNanoseconds)
        #expect(r.kind == "dmls")
        #expect(r.channels == [ChannelName.powerKW: 3.2, ChannelName.vibrationMMS: 0.8])
        #expect(r.state == nil)
        let frame = try #require(r.frame)
        #expect(frame.width == 100 && frame.height == 100)
        #expect(frame.values == values.map { Float($0)! })
    }

    @Test func seedShapeNestedWithEpochMilliseconds() throws {
        let values = temperatures()
        for timestamp in ["1763632800000", "\"1763632800000\"", "1763632800000.0"] {
            let body = #"{"machine_id":"dmls-02","timestamp":\#(timestamp),"temperature_data":\#(frameJSON(values, rowLength: 100)),"power_consumption":1,"vibration":2,"temperature_stats":{"min":20,"max":80,"mean":50.5,"std":[1,{"x":null}]}}"#
            let r = try record(body)
            #expect(r.timestamp.nanoseconds == seedNanoseconds, "\(timestamp)")
            #expect(r.frame?.values == values.map { Float($0)! })
            #expect(r.frame?[3, 1] == Float(values[103]))
        }
        #expect(try record(#"{"machine_id":"m","timestamp":1763632800000.123456789}"#).timestamp.nanoseconds
            == seedNanoseconds + 123_456)
        #expect(try record(#"{"machine_id":"m","timestamp":-1.5}"#).timestamp.nanoseconds == -1_500_000)
        #expect(try record(#"{"machine_id":"m","timestamp":"2026-11-21T11:00:00.25+01:00"}"#).timestamp.nanoseconds
            == 1_795_255_200_250_000_000)
    }

    @Test func fullRecordShape() throws {
        let r = try record("""
            {"machine_id": "fdm-01", "timestamp": "2026-11-21T10:00:00.5Z", "kind": "fdm",
             "channels": {"nozzle_temp_c": 210.5, "bed_temp_c": 60, "filament_flow": -1e-3, "gone": null},
             "state": "printing"}
            """)
        #expect(r.kind == "fdm")
        #expect(r.channels == ["nozzle_temp_c": 210.5, "bed_temp_c": 60, "filament_flow": -0.001])
        #expect(r.state == "printing")
        #expect(r.frame == nil)
        #expect(r.timestamp.nanoseconds == 1_795_255_200_500_000_000)

        let small = try record(#"{"machine_id":"cam","timestamp":0,"frame":{"height":2,"width":3,"data":[1,2,3,4,5,6.5]},"state":null}"#)
        #expect(small.frame == (try ThermalFrame(width: 3, height: 2, values: [1, 2, 3, 4, 5, 6.5])))
        #expect(small.kind == "" && small.state == nil && small.channels.isEmpty)
        let nested = try record(#"{"machine_id":"cam","timestamp":0,"frame":{"width":2,"height":2,"data":[[1,2],[3,4]]}}"#)
        #expect(nested.frame?.values == [1, 2, 3, 4])

        let values = temperatures()
        let flat = try record(#"{"machine_id":"d","timestamp":0,"kind":"dmls","frame":\#(frameJSON(values))}"#)
        #expect(flat.frame?.width == 100 && flat.frame?.values == values.map { Float($0)! })
        let rows = try record(#"{"machine_id":"d","timestamp":0,"frame":\#(frameJSON(values, rowLength: 100))}"#)
        #expect(rows.frame == flat.frame)
        #expect(try record(#"{"machine_id":"d","timestamp":0,"frame":null,"temperature_data":null}"#).frame == nil)
    }

    @Test func shapesMixAndExplicitChannelsWin() throws {
        let r = try record(#"{"vibration": 0.8, "machine_id": "dmls-01", "channels": {"power_kw": 9, "x": 1}, "power_consumption": 3.2, "timestamp": 5, "kind": "custom"}"#)
        #expect(r.channels == ["power_kw": 9, "vibration_mm_s": 0.8, "x": 1])
        #expect(r.kind == "custom")
        // frame wins over temperature_data, whatever the order.
        let both = try record(#"{"frame":{"width":1,"height":1,"data":[7]},"machine_id":"m","timestamp":1,"temperature_data":null}"#)
        #expect(both.frame?.values == [7])
        // Duplicate keys: the last wins.
        let dup = try record(#"{"machine_id":"a","machine_id":"b","timestamp":1,"timestamp":2,"state":"x","state":null}"#)
        #expect(dup.machineID.rawValue == "b" && dup.timestamp.nanoseconds == 2_000_000 && dup.state == nil)
    }

    @Test func arraysOfRecords() throws {
        let rs = try records(" [ {\"machine_id\":\"a\",\"timestamp\":1} ,\n{\"machine_id\":\"b\",\"timestamp\":\"2\"}]\n ")
        #expect(rs.map(\.machineID.rawValue) == ["a", "b"])
        #expect(rs.map(\.timestamp.nanoseconds) == [1_000_000, 2_000_000])
        let many = "[" + (0..<500).map { #"{"machine_id":"m","timestamp":\#($0)}"# }.joined(separator: ",") + "]"
        #expect(try records(many).count == 500)
        let tooMany = try #require(failure(many, maximumRecords: 499))
        #expect(tooMany.kind == .invalid && tooMany.code == "too_many_records" && tooMany.field == "records")
        #expect(try parse(Array(many.utf8), maximumRecords: 500).get().count == 500)
    }

    @Test func unknownFieldsAreSkipped() throws {
        let r = try record(#"""
            {"extra": {"a": [1, -2.5e+3, true, false, null, "s\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00", {"deep": [[[]]]}]},
             "machine_id": "m", "list": [], "obj": {}, "num": -0.0E-0, "timestamp": 1, "str": "\u0000"}
            """#)
        #expect(r.machineID.rawValue == "m")
    }

    @Test func stringsDecodeEscapes() throws {
        let r = try record(#"{"machine_id":"m\u002d1","timestamp":1,"kind":"\u00e9\ud83d\ude00\"\\\/\b\f\n\r\t","state":"\u0041"}"#)
        #expect(r.machineID.rawValue == "m-1")
        #expect(r.kind == "é😀\"\\/\u{8}\u{c}\n\r\t")
        #expect(r.state == "A")
        // Escaped keys are still recognised.
        #expect(try record(#"{"machine\u005fid":"m","t\u0069mestamp":1}"#).machineID.rawValue == "m")
        #expect(try record(#"{"machine_id":"m","timestamp":1,"channels":{"\u0070ower":1}}"#).channels == ["power": 1])
    }

    // MARK: Malformed bodies (400)

    @Test(arguments: [
        (#"{"machine_id": "a" "timestamp": 1}"#, #" "timestamp""#, 1, "expected ',' or '}'"),
        ("[{\"machine_id\":\"a\",\"timestamp\":1} {}]", " {}]", 1, "expected ',' or ']'"),
        (#"{"a": tru}"#, "}", 0, "expected 'true'"),
        (#"{"a": 01}"#, "1}", 0, "expected ',' or '}'"),
        (#"{"a": 1.}"#, "}", 0, "expected a digit after '.'"),
        (#"{"a": 1e}"#, "}", 0, "expected a digit in the exponent"),
        (#"{"a": -x}"#, "x}", 0, "expected a digit after '-'"),
        (#"{"a": +1}"#, "+1", 0, "expected a JSON value"),
        (#"{"a": .5}"#, ".5", 0, "expected a JSON value"),
        (#"{"a": "x\qy"}"#, #"\q"#, 0, "invalid escape"),
        (#"{"a": "\u12G4"}"#, #"\u12"#, 0, #"invalid \u escape"#),
        (#"{"machine_id": "\ud800", "timestamp": 1}"#, #"\ud800"#, 0, "unpaired surrogate"),
        (#"{"machine_id": "\udc00x", "timestamp": 1}"#, #"\udc00"#, 0, "unpaired surrogate"),
        ("{\"a\": \"x\ny\"}", "\ny", 0, "unescaped control character"),
        (#"{"a": 1,}"#, "}", 0, "expected '\"' (an object key)"),
        (#"{"a" 1}"#, " 1}", 1, "expected ':'"),
        (#"{a: 1}"#, "a:", 0, "expected '\"' (an object key)"),
        (#"{"machine_id":"m","timestamp":1} x"#, "x", 0, "expected the end of the body"),
        (#"{"machine_id":"m","timestamp":1}{}"#, "{}", 0, "expected the end of the body"),
        (#"{"a": [1 2]}"#, " 2]", 1, "expected ',' or ']'"),
        (#"{"temperature_data": [1 2]}"#, " 2]", 1, "expected ',' or ']'"),
        (#"{"temperature_data": [1, , 2]}"#, ", 2]", 0, "expected a JSON value"),
        (#"{"channels": {"a": 1 "b": 2}}"#, #" "b""#, 1, "expected ',' or '}'"),
    ] as [(String, String, Int, String)])
    func malformedBodiesNameTheByte(body: String, marker: String, delta: Int, message: String) throws {
        let error = try #require(failure(body))
        let expectedOffset = offset(of: marker, in: body) + delta
        #expect(error.kind == .malformed)
        #expect(error.code == "malformed_json")
        #expect(error.offset == expectedOffset)
        #expect(error.message.hasPrefix(message), "\(error.message)")
        #expect(error.message.contains("at byte \(expectedOffset)"), "\(error.message)")
    }

    @Test func truncatedAndEmptyBodiesAreMalformed() throws {
        for body in ["", " ", "\n\t", "[", "{", #"{"machine_id""#, #"{"machine_id": "dmls"#, "[1,", #"{"a": [1, 2"#] {
            let error = try #require(failure(body), "\(body)")
            #expect(error.kind == .malformed, "\(body)")
            #expect(error.offset == body.utf8.count || body.isEmpty, "\(body): \(error.message)")
        }
        #expect(failure("")?.message == "empty body")
        #expect(failure("[1,")?.message == "expected a JSON value at byte 3 (end of body)")
    }

    @Test func invalidUTF8IsMalformedWhereItIsRead() throws {
        var body = Array(#"{"machine_id":"ab","timestamp":1}"#.utf8)
        body[15] = 0xFF
        guard case .failure(let error) = parse(body) else { Issue.record("accepted"); return }
        #expect(error.kind == .malformed && error.message.contains("invalid UTF-8"))
    }

    @Test func nestingIsLimitedTo64Levels() throws {
        let ok = #"{"machine_id":"m","timestamp":1,"x":"# + String(repeating: "[", count: 63) + String(repeating: "]", count: 63) + "}"
        #expect(throws: Never.self) { try records(ok) }
        let body = #"{"machine_id":"m","timestamp":1,"x":"# + String(repeating: "[", count: 64) + String(repeating: "]", count: 64) + "}"
        let error = try #require(failure(body))
        #expect(error.kind == .malformed && error.message.hasPrefix("nesting deeper than 64 levels"))
        #expect(error.offset == offset(of: "[", in: body) + 63)
        // Very deep garbage does not exhaust the stack.
        #expect(failure(String(repeating: "[", count: 100_000))?.kind == .malformed)
        #expect(failure(String(repeating: #"{"a":"#, count: 100_000))?.kind == .malformed)
    }

    @Test func syntaxErrorsWinOverInvalidRecords() throws {
        let error = try #require(failure(#"[{"machine_id":"bad id","timestamp":1}, {"x": ]"#))
        #expect(error.kind == .malformed)
        let inRecord = try #require(failure(#"{"machine_id":"bad id","timestamp":1, "x": [1 2]}"#))
        #expect(inRecord.kind == .malformed)
        let inFrame = try #require(failure(#"{"temperature_data":[1, null, 3 4],"machine_id":"m","timestamp":1}"#))
        #expect(inFrame.kind == .malformed)
        // Without the syntax error, the first invalid record is reported.
        let invalid = try #require(failure(#"[{"machine_id":"m","timestamp":1},{"machine_id":"bad id","timestamp":1},{}]"#))
        #expect(invalid.kind == .invalid && invalid.field == "records[1].machine_id")
    }

    // MARK: Invalid records (422)

    @Test(arguments: [
        (#"{"timestamp": 1}"#, "machine_id", "missing_field"),
        (#"{"machine_id": null, "timestamp": 1}"#, "machine_id", "missing_field"),
        (#"{"machine_id": "dmls 01", "timestamp": 1}"#, "machine_id", "invalid_machine_id"),
        (#"{"machine_id": "..", "timestamp": 1}"#, "machine_id", "invalid_machine_id"),
        (#"{"machine_id": 7, "timestamp": 1}"#, "machine_id", "invalid_type"),
        (#"{"machine_id": "m"}"#, "timestamp", "missing_field"),
        (#"{"machine_id": "m", "timestamp": null}"#, "timestamp", "missing_field"),
        (#"{"machine_id": "m", "timestamp": "yesterday"}"#, "timestamp", "invalid_timestamp"),
        (#"{"machine_id": "m", "timestamp": 1.7e12}"#, "timestamp", "invalid_timestamp"),
        (#"{"machine_id": "m", "timestamp": 9300000000000}"#, "timestamp", "invalid_timestamp"),
        (#"{"machine_id": "m", "timestamp": 99999999999999999999999}"#, "timestamp", "invalid_timestamp"),
        (#"{"machine_id": "m", "timestamp": true}"#, "timestamp", "invalid_type"),
        (#"{"machine_id": "m", "timestamp": 1, "kind": 5}"#, "kind", "invalid_type"),
        (#"{"machine_id": "m", "timestamp": 1, "kind": "\#(String(repeating: "k", count: 65))"}"#, "kind", "invalid_kind"),
        (#"{"machine_id": "m", "timestamp": 1, "state": ""}"#, "state", "invalid_state"),
        (#"{"machine_id": "m", "timestamp": 1, "channels": [1]}"#, "channels", "invalid_type"),
        (#"{"machine_id": "m", "timestamp": 1, "channels": {"a": "1"}}"#, "channels.a", "invalid_type"),
        (#"{"machine_id": "m", "timestamp": 1, "channels": {"power_kw": 1e400}}"#, "channels.power_kw", "non_finite_number"),
        (#"{"machine_id": "m", "timestamp": 1, "channels": {"power_kw": -1e39}}"#, "channels.power_kw", "non_finite_number"),
        (#"{"machine_id": "m", "timestamp": 1, "channels": {"frame_min": 1}}"#, "channels.frame_min", "reserved_channel"),
        (#"{"machine_id": "m", "timestamp": 1, "channels": {"bad name": 1}}"#, "channels", "invalid_channel"),
        (#"{"machine_id": "m", "timestamp": 1, "power_consumption": 1e39}"#, "power_consumption", "non_finite_number"),
        (#"{"machine_id": "m", "timestamp": 1, "vibration": "high"}"#, "vibration", "invalid_type"),
        (#"{"machine_id": "m", "timestamp": 1, "temperature_data": {}}"#, "temperature_data", "invalid_type"),
        (#"{"machine_id": "m", "timestamp": 1, "temperature_data": []}"#, "temperature_data", "invalid_frame_size"),
        (#"{"machine_id": "m", "timestamp": 1, "temperature_data": [[]]}"#, "temperature_data", "invalid_frame_size"),
        (#"{"machine_id": "m", "timestamp": 1, "temperature_data": [1, null]}"#, "temperature_data[1]", "invalid_type"),
        (#"{"machine_id": "m", "timestamp": 1, "temperature_data": [1, "2"]}"#, "temperature_data[1]", "invalid_type"),
        (#"{"machine_id": "m", "timestamp": 1, "temperature_data": [1, [2]]}"#, "temperature_data[1]", "invalid_type"),
        (#"{"machine_id": "m", "timestamp": 1, "temperature_data": [[1], 2]}"#, "temperature_data[1]", "invalid_type"),
        (#"{"machine_id": "m", "timestamp": 1, "temperature_data": [[1], [null]]}"#, "temperature_data[1][0]", "invalid_type"),
        (#"{"machine_id": "m", "timestamp": 1, "temperature_data": [[1, 2], [3]]}"#, "temperature_data", "invalid_frame_size"),
        (#"{"machine_id": "m", "timestamp": 1, "frame": {"width": 2, "height": 2, "data": [1, 2, 3]}}"#, "frame.data", "invalid_frame_size"),
        (#"{"machine_id": "m", "timestamp": 1, "frame": {"width": 2, "height": 2, "data": [[1, 2, 3], [4, 5, 6]]}}"#, "frame.data", "invalid_frame_size"),
        (#"{"machine_id": "m", "timestamp": 1, "frame": {"width": 2, "data": [1, 2]}}"#, "frame.height", "missing_field"),
        (#"{"machine_id": "m", "timestamp": 1, "frame": {"width": 2, "height": 1}}"#, "frame.data", "missing_field"),
        (#"{"machine_id": "m", "timestamp": 1, "frame": {"width": 0, "height": 1, "data": []}}"#, "frame.width", "invalid_frame_size"),
        (#"{"machine_id": "m", "timestamp": 1, "frame": {"width": 1.5, "height": 1, "data": [1]}}"#, "frame.width", "invalid_frame_size"),
        (#"{"machine_id": "m", "timestamp": 1, "frame": {"width": 4097, "height": 1, "data": [1]}}"#, "frame.width", "invalid_frame_size"),
        (#"{"machine_id": "m", "timestamp": 1, "frame": {"width": 1, "height": 1, "data": [1e39]}}"#, "frame.data[0]", "non_finite_number"),
        (#"{"machine_id": "m", "timestamp": 1, "frame": [1, 2]}"#, "frame", "invalid_frame_size"),
        (#"{"machine_id": "m", "timestamp": 1, "frame": "x"}"#, "frame", "invalid_type"),
    ] as [(String, String, String)])
    func invalidRecordsNameTheField(body: String, field: String, code: String) throws {
        let error = try #require(failure(body))
        #expect(error.kind == .invalid, "\(error)")
        #expect(error.field == field, "\(error)")
        #expect(error.code == code, "\(error)")
        // In an array, the same error is prefixed with the record's index.
        let array = try #require(failure("[" + #"{"machine_id":"ok","timestamp":1}, "# + body + "]"))
        #expect(array.field == "records[1]." + field, "\(array)")
        #expect(array.code == code)
    }

    @Test func frameSizeMessagesAreExact() throws {
        let short = #"{"machine_id":"dmls-01","timestamp":1,"temperature_data":\#(frameJSON(temperatures(9_999)))}"#
        let error = try #require(failure(short))
        #expect(error.message == "expected 10000 values (100×100), got 9999")
        #expect(error.field == "temperature_data")
        #expect(error.offset == offset(of: "[", in: short))
        let rows = #"{"machine_id":"dmls-01","timestamp":1,"temperature_data":\#(frameJSON(temperatures(9_900), rowLength: 100))}"#
        #expect(failure(rows)?.message == "expected 100 rows of 100 values, got 99 rows of 100")
        let ragged = #"{"machine_id":"m","timestamp":1,"temperature_data":[[1,2],[3,4],[5]]}"#
        #expect(failure(ragged)?.message == "row 2 has 1 values, row 0 has 2")
    }

    @Test func nonFiniteFrameValuesNameTheirIndex() throws {
        var values = temperatures()
        values[17] = "1e39"
        let flat = #"{"machine_id":"m","timestamp":1,"temperature_data":\#(frameJSON(values))}"#
        let error = try #require(failure(flat))
        #expect(error.field == "temperature_data[17]" && error.code == "non_finite_number")
        #expect(error.offset == offset(of: "1e39", in: flat))
        values[17] = "20"
        values[250] = "-1e400"
        let nested = #"{"machine_id":"m","timestamp":1,"temperature_data":\#(frameJSON(values, rowLength: 100))}"#
        #expect(failure(nested)?.field == "temperature_data[2][50]")
        // Tiny values are finite: they round to zero or a subnormal.
        values[250] = "1e-400"
        values[251] = "1e-40"
        let tiny = try record(#"{"machine_id":"m","timestamp":1,"temperature_data":\#(frameJSON(values))}"#)
        #expect(tiny.frame?.values[250] == 0 && tiny.frame?.values[251] == Float("1e-40"))
    }

    @Test func bodyLevelErrors() throws {
        let empty = try #require(failure(" [ ] "))
        #expect(empty.kind == .invalid && empty.code == "no_records" && empty.field == "records" && empty.message == "no records")
        for scalar in ["42", "\"x\"", "null", "true"] {
            let error = try #require(failure(scalar))
            #expect(error.kind == .invalid && error.code == "invalid_body", "\(scalar)")
        }
        let notObject = try #require(failure(#"[{"machine_id":"m","timestamp":1}, 5]"#))
        #expect(notObject.kind == .invalid && notObject.field == "records[1]" && notObject.code == "invalid_type")
        let missing = try #require(failure(#"[{"machine_id":"m","timestamp":1}, {"machine_id":"m"}]"#))
        #expect(missing.field == "records[1].timestamp" && missing.message.contains("required"))
        #expect(missing.offset == offset(of: #"{"machine_id":"m"}"#, in: #"[{"machine_id":"m","timestamp":1}, {"machine_id":"m"}]"#))
    }

    // MARK: Robustness

    @Test func everyTruncationThrowsAndNeverTraps() throws {
        let body = #"[{"machine_id": "dmls-01", "timestamp": "2025-11-20T10:00:00Z", "temperature_data": null, "frame": {"width": 2, "height": 2, "data": [[1.5, -2e1], [3, 4.25e-1]]}, "power_consumption": 3.2, "vibration": 0.8, "x": {"y": [true, false, null, "\u00e9\n"]}}, {"machine_id": "fdm-01", "timestamp": 1763632800000, "channels": {"a": 1}, "state": null, "frame": {"width": 1, "height": 1, "data": [0]}}]"#
        let bytes = Array(body.utf8)
        #expect(try parse(bytes).get().count == 2)
        for length in 0..<bytes.count {
            guard case .failure(let error) = parse(Array(bytes.prefix(length))) else {
                Issue.record("prefix of \(length) bytes accepted")
                continue
            }
            #expect(error.kind == .malformed, "prefix \(length): \(error)")
            #expect((error.offset ?? -1) <= length)
        }
    }

    @Test func randomMutationsNeverTrap() throws {
        let values = (0..<40).map { String(Float($0) * 1.25 - 7) }
        let body = Array(#"[{"machine_id": "dmls-01", "timestamp": "2025-11-20T10:00:00Z", "temperature_data": \#(frameJSON(values))}, {"machine_id": "a", "timestamp": 1, "channels": {"x": 1e5, "y": -0.5}, "state": "s\u00e9", "frame": {"width": 2, "height": 2, "data": [[1,2],[3,4]]}, "z": [{}, [], "q"]}]"#.utf8)
        let interesting = Array(#"{}[]",:\-+.0123456789eEnulltruefalse u"#.utf8) + [0, 0x1F, 0x7F, 0x80, 0xC3, 0xFF]
        var rng = SplitMix(state: 99)
        var outcomes = (ok: 0, malformed: 0, invalid: 0)
        for _ in 0..<20_000 {
            var mutated = body
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                let i = Int.random(in: 0..<mutated.count, using: &rng)
                switch Int.random(in: 0..<4, using: &rng) {
                case 0: mutated[i] = interesting.randomElement(using: &rng) ?? 0
                case 1: mutated.remove(at: i)
                case 2: mutated.insert(interesting.randomElement(using: &rng) ?? 0, at: i)
                default: mutated[i] = UInt8.random(in: 0...255, using: &rng)
                }
            }
            switch parse(mutated) {
            case .success(let rs):
                outcomes.ok += 1
                for r in rs { #expect(throws: Never.self) { try r.validate() } }
            case .failure(let error):
                if error.kind == .malformed { outcomes.malformed += 1 } else { outcomes.invalid += 1 }
                #expect((error.offset ?? 0) <= mutated.count)
            }
        }
        #expect(outcomes.ok > 0 && outcomes.malformed > 0 && outcomes.invalid > 0)
    }

    // MARK: Numbers

    /// Random number texts in every form the grammar allows, weighted to the hard cases.
    private static func randomNumberTexts(_ count: Int) -> [String] {
        var rng = SplitMix(state: 2025)
        func digits(_ n: Int) -> String {
            String((0..<n).map { _ in Character(String(Int.random(in: 0...9, using: &rng))) })
        }
        var texts: [String] = []
        for _ in 0..<count {
            var s = Bool.random(using: &rng) ? "-" : ""
            let intDigits = Int.random(in: 1...(Int.random(in: 0..<4, using: &rng) == 0 ? 25 : 8), using: &rng)
            var int = digits(intDigits)
            while int.count > 1 && int.hasPrefix("0") { int.removeFirst() }
            s += int
            switch Int.random(in: 0..<5, using: &rng) {
            case 0: break
            case 1: s += "." + digits(Int.random(in: 1...3, using: &rng))
            case 2: s += "." + digits(Int.random(in: 1...17, using: &rng))
            default: s += "." + digits(Int.random(in: 1...30, using: &rng))
            }
            if Int.random(in: 0..<3, using: &rng) == 0 {
                s += ["e", "E"].randomElement(using: &rng) ?? "e"
                s += ["", "+", "-"].randomElement(using: &rng) ?? ""
                s += String(Int.random(in: 0...(Bool.random(using: &rng) ? 30 : 400), using: &rng))
            }
            texts.append(s)
        }
        // Random Doubles and Floats as Swift prints them (shortest round-trip digits).
        for _ in 0..<count {
            let d = Double(bitPattern: UInt64.random(in: 0...UInt64.max, using: &rng))
            if d.isFinite { texts.append(d.description.replacingOccurrences("+", "")) }
            let f = Float(bitPattern: UInt32.random(in: 0...UInt32.max, using: &rng))
            if f.isFinite { texts.append(f.description.replacingOccurrences("+", "")) }
            texts.append(String(Double.random(in: -100...100, using: &rng)))
            texts.append(String(Float(Int.random(in: -100_000...100_000, using: &rng)) / 100))
        }
        return texts
    }

    @Test func numbersMatchTheStandardLibrary() throws {
        let edge = [
            "0", "-0", "0.0", "-0.0", "1", "23.45", "-1.5", "80", "0.1", "0.2", "0.3", "1e22", "1e23", "-1e-22",
            "9007199254740992", "9007199254740993", "9007199254740993.0", "18446744073709551615", "18446744073709551616",
            "1234567890123456789", "12345678901234567890", "0.000000000000000000000000000001", "1.7976931348623157e308",
            "1.7976931348623159e308", "4.9e-324", "2.4703282292062327e-324", "2.2250738585072014e-308", "1e400", "-1e400",
            "1e-400", "0e999999999999", "3.4028235e38", "3.4028236e38", "3.40282357e38", "1.00000005960464477539",
            "1.000000059604644775390625", "1.0000000596046447753906251", "7.038531e-26", "0.00001", "123456.7", "9.999999e-7",
            "1.1754943508222875e-38", "2.9802322387695312e-8", "100000000000000000000000", "0.1e1", "10e-1", "1E+2",
            "123456789012345.678", "0.123456789012345678", "4503599627370497.5", "8.98846567431158e307",
            String(repeating: "7", count: 300), "0." + String(repeating: "0", count: 298) + "15",
            "2." + String(repeating: "5", count: 1_000) + "e-5", "1" + String(repeating: "0", count: 400) + "e-400",
        ]
        var fastUsed = 0
        for text in edge + Self.randomNumberTexts(3_000) {
            let expected = try #require(Double(text), "\(text)")
            let scanned = JSONIngestParser.parseNumber(text)
            #expect(scanned?.bitPattern == expected.bitPattern, "\(text): \(String(describing: scanned)) != \(expected)")
            if let fast = JSONIngestParser.parseFrameValueFast(text) {
                fastUsed += 1
                #expect(fast.bitPattern == Float(expected).bitPattern, "fast \(text): \(fast) != \(Float(expected))")
            }
        }
        #expect(fastUsed > 1_000)
        for common in ["23.45", "-1.5", "80", "0.8", "3.2", "57.83459127396548", "-0.000123", "1234567.1234567",
                       "0.1234567890123456", "12.1234567890123456", "-0", "0.0"] {
            let fast = JSONIngestParser.parseFrameValueFast(common)
            #expect(fast?.bitPattern == Double(common).map { Float($0).bitPattern }, "\(common)")
        }
        // Exponents, 8+ integer digits, 17+ fraction digits, 19+ digits in all: the general scanner's.
        for declined in ["1e5", "12345678", "0.12345678901234567", "123.1234567890123456", "1.5E1"] {
            #expect(JSONIngestParser.parseFrameValueFast(declined) == nil, "\(declined)")
        }
        for notANumber in ["", "-", "01", "1.", ".5", "+1", "1e", "1e+", "--1", "1.5.5", "0x10", "NaN", "inf", "1 ", " 1"] {
            #expect(JSONIngestParser.parseNumber(notANumber) == nil, "\(notANumber)")
            #expect(JSONIngestParser.parseFrameValueFast(notANumber) == nil, "\(notANumber)")
        }
    }

    /// Texts at and next to the points halfway between two Floats, where rounding is decided by
    /// the last Double bit: the fast path must fall back to the exact computation there.
    @Test func frameValuesNearFloatMidpointsRoundLikeFloatOfDouble() throws {
        var rng = SplitMix(state: 31)
        var fast = 0
        for _ in 0..<20_000 {
            // A Float in [2^e, 2^(e+1)) has an ulp of 2^(e-23); the midpoint above it needs 24 - e
            // fraction digits, exactly: M · 2^-s = M · 5^s / 10^s. From e = 10 on, that is at most
            // 18 digits in all, which the fast path takes.
            let e = Int.random(in: 10...22, using: &rng)
            let significand = UInt64.random(in: (1 << 23)..<(1 << 24), using: &rng)
            let s = 24 - e
            let m = significand * 2 + 1
            var five: UInt64 = 1
            for _ in 0..<s { five *= 5 }
            let n = m * five
            let sign = Bool.random(using: &rng) ? "-" : ""
            for k in [0, 1, -1, 2, -2, 500, -500] as [Int64] {
                let digits = String(Int64(n) + k)
                let text = sign + String(digits.dropLast(s)) + "." + String(digits.suffix(s))
                let expected = try #require(Double(text))
                let value = try #require(JSONIngestParser.parseFrameValueFast(text), "\(text)")
                fast += 1
                #expect(value.bitPattern == Float(expected).bitPattern, "\(text)")
                #expect(JSONIngestParser.parseNumber(text)?.bitPattern == expected.bitPattern, "\(text)")
            }
        }
        #expect(fast == 140_000)
        // The exact ties: halfway cases round to even.
        #expect(JSONIngestParser.parseFrameValueFast("8388608.5") == 8_388_608)
        #expect(JSONIngestParser.parseFrameValueFast("8388609.5") == 8_388_610)
        #expect(JSONIngestParser.parseFrameValueFast("100000.00390625") == 100_000)
        #expect(JSONIngestParser.parseFrameValueFast("100000.00390626") == 100_000.0078125)
    }
}

private extension String {
    func replacingOccurrences(_ target: Character, _ replacement: String) -> String {
        var out = ""
        for c in self { if c == target { out += replacement } else { out.append(c) } }
        return out
    }
}
