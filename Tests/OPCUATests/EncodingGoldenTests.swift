import NIOCore
import Testing

@testable import OPCUA

/// Hex and buffer helpers shared by the encoding suites (golden, property, hostile, corpus replay).
enum EncodingFixtures {
    /// Bytes from hex text; spaces are ignored ("0A 0B" or "0A0B").
    static func bytes(_ hex: String) -> [UInt8] {
        let digits = Array(hex.utf8.filter { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\n") })
        precondition(digits.count % 2 == 0, "odd number of hex digits in test vector")
        return stride(from: 0, to: digits.count, by: 2).map { index in
            UInt8(String(decoding: digits[index..<index + 2], as: UTF8.self), radix: 16)!
        }
    }

    /// Upper-case hex without separators, for readable failure messages.
    static func hex(_ bytes: [UInt8]) -> String {
        bytes.map { byte in
            let digits = String(byte, radix: 16, uppercase: true)
            return byte < 16 ? "0" + digits : digits
        }.joined()
    }

    static func encode(_ value: some OPCUACodable) -> [UInt8] {
        var buffer = ByteBuffer()
        value.encode(to: &buffer)
        return Array(buffer.readableBytesView)
    }

    /// Decodes one value and reports how many bytes were left over.
    static func decode<T: OPCUACodable>(_ type: T.Type, _ bytes: [UInt8]) throws(OPCUAError) -> (value: T, left: Int) {
        var buffer = ByteBuffer(bytes: bytes)
        let value = try T(decoding: &buffer)
        return (value, buffer.readableBytes)
    }

    /// The Part 6 §5.1.3 / §5.2.2.7 example Guid.
    static let specGuid = Guid("72962B91-FA75-4AE6-8D28-B404DC7DAF63")!
    /// 2024-01-02T03:04:05.123456Z (asyncua's datetime_to_win_epoch gives these ticks).
    static let time1 = DateTime(ticks: 133_486_382_451_234_560)
    /// 2024-01-02T03:04:06Z.
    static let time2 = DateTime(ticks: 133_486_382_460_000_000)
}

/// Golden byte vectors for every built-in type (OPC 10000-6 §5.2.2).
///
/// Unless a test says otherwise, asyncua 1.1.5 (`asyncua.ua.ua_binary`) produces the same bytes
/// for the same values; where asyncua deviates from the spec the vector is the spec's, and a
/// tolerance test checks that asyncua's bytes still decode.
struct EncodingGoldenTests {
    typealias F = EncodingFixtures

    /// Encodes `value`, compares with `hex`, decodes `hex` back and expects `value` with no bytes left.
    private func golden<T: OPCUACodable & Equatable>(
        _ value: T, _ hex: String, sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let expected = F.bytes(hex)
        #expect(F.hex(F.encode(value)) == F.hex(expected), sourceLocation: sourceLocation)
        let (back, left) = try F.decode(T.self, expected)
        #expect(back == value, sourceLocation: sourceLocation)
        #expect(left == 0, sourceLocation: sourceLocation)
    }

    /// Decodes `hex` as `T` (no bytes left) without comparing a re-encoding.
    private func decodes<T: OPCUACodable>(_ type: T.Type, _ hex: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> T {
        let (value, left) = try F.decode(T.self, F.bytes(hex))
        #expect(left == 0, sourceLocation: sourceLocation)
        return value
    }

    // MARK: - Primitives

    @Test func booleanAndIntegers() throws {
        // asyncua 1.1.5 produces the same bytes (Primitives.<Type>.pack).
        try golden(true, "01")
        try golden(false, "00")
        try golden(Int8(-128), "80")
        try golden(Int8(127), "7F")
        try golden(UInt8(255), "FF")
        try golden(Int16(-2), "FEFF")
        try golden(Int16(0x1234), "3412")
        try golden(UInt16(0xBEEF), "EFBE")
        try golden(Int32(-1_000_000), "C0BDF0FF")
        try golden(Int32.min, "00000080")
        try golden(UInt32(0xDEAD_BEEF), "EFBEADDE")
        try golden(Int64(-2), "FEFFFFFFFFFFFFFF")
        try golden(Int64.min, "0000000000000080")
        try golden(UInt64(0x0102_0304_0506_0708), "0807060504030201")
    }

    @Test func booleanDecodesAnyNonZeroByteAsTrue() throws {
        // OPC 10000-6 §5.2.2.1: a non-zero value is true; the encoder writes 1.
        #expect(try decodes(Bool.self, "02") == true)
        #expect(try decodes(Bool.self, "FF") == true)
    }

    @Test func floatsIncludingNaNSignedZeroAndInfinity() throws {
        // asyncua 1.1.5 produces the same bytes (Primitives.Float.pack / Primitives.Double.pack).
        try golden(Float(1.5), "0000C03F")
        try golden(Float(3.14159), "D00F4940")
        try golden(Float.infinity, "0000807F")
        try golden(-Float.infinity, "000080FF")
        try golden(Double(1.5), "000000000000F83F")
        try golden(Double(3.14159), "6E861BF0F9210940")
        try golden(Double.infinity, "000000000000F07F")
        try golden(-Double.infinity, "000000000000F0FF")
        // -0 equals +0 in Swift, so compare bit patterns.
        #expect(F.encode(Float(-0.0)) == F.bytes("00000080"))
        #expect(try decodes(Float.self, "00000080").bitPattern == 0x8000_0000)
        #expect(F.encode(Double(-0.0)) == F.bytes("0000000000000080"))
        #expect(try decodes(Double.self, "0000000000000080").bitPattern == 0x8000_0000_0000_0000)
        // NaN: the quiet NaN Python and Swift both produce; any NaN payload survives decoding.
        #expect(F.encode(Float.nan) == F.bytes("0000C07F"))
        #expect(F.encode(Double.nan) == F.bytes("000000000000F87F"))
        #expect(try decodes(Float.self, "0000C07F").isNaN)
        #expect(try decodes(Double.self, "000000000000F87F").isNaN)
        #expect(try decodes(Float.self, "0100807F").bitPattern == 0x7F80_0001) // signalling NaN kept bit-exact
        #expect(F.encode(try decodes(Double.self, "010000000000F0FF")) == F.bytes("010000000000F0FF"))
    }

    @Test func strings() throws {
        // asyncua 1.1.5 produces the same bytes (Primitives.String.pack).
        try golden(String?.none, "FFFFFFFF")
        try golden(String?.some(""), "00000000")
        try golden(String?.some("水Boy"), "06000000 E6B0B4 426F79") // the Part 6 §5.2.2.4 example
        try golden(String?.some("Grüße 🌡"), "0C000000 4772C3BCC39F6520F09F8CA1")
        // A non-optional Swift String reads the null String as "".
        #expect(try decodes(String.self, "FFFFFFFF") == "")
        #expect(F.encode("") == F.bytes("00000000"))
    }

    @Test func dateTime() throws {
        // asyncua 1.1.5 produces the same bytes (Primitives.DateTime.pack).
        try golden(F.time1, "00975B58283DDA01")
        try golden(DateTime.null, "0000000000000000") // asyncua: datetime(1601, 1, 1)
        try golden(DateTime(unixNanoseconds: 0), "00803ED5DEB19D01") // 1970-01-01
        #expect(DateTime(unixNanoseconds: 1_704_164_645_123_456_000) == F.time1)
        #expect(F.time1.unixNanoseconds == 1_704_164_645_123_456_000)
        try golden(DateTime(ticks: .max), "FFFFFFFFFFFFFF7F")
    }

    @Test func dateTimeOfAnyWireValueHasADescription() throws {
        // Any Int64 is a legal DateTime on the wire; converting it must clamp, not trap.
        for hex in ["0000000000000080", "0100000000000080", "FFFFFFFFFFFFFF7F", "FFFFFFFFFFFFFFFF"] {
            let time = try decodes(DateTime.self, hex)
            #expect(!time.description.isEmpty)
        }
        #expect(DateTime(ticks: .min).unixNanoseconds == .min)
        #expect(DateTime(ticks: .max).unixNanoseconds == .max)
    }

    @Test func guidIsTheSpecExample() throws {
        // OPC 10000-6 §5.2.2.7: Data1..Data3 little-endian, Data4 in order.
        // asyncua 1.1.5 produces the same bytes (Primitives.Guid.pack(uuid.UUID(...))).
        try golden(F.specGuid, "912B9672 75FA E64A 8D28B404DC7DAF63")
        #expect(F.specGuid.description == "72962B91-FA75-4AE6-8D28-B404DC7DAF63")
    }

    @Test func byteStringAndXmlElement() throws {
        // asyncua 1.1.5 produces the same bytes (Primitives.ByteString.pack).
        try golden(ByteString.null, "FFFFFFFF")
        try golden(ByteString([]), "00000000")
        try golden(ByteString([1, 2, 3]), "03000000 010203")
        #expect(ByteString.null != ByteString([]))
        // XmlElement is a String on the wire (asyncua 1.1.5: same bytes inside a Variant, see below).
        try golden(XmlElement("<a>b</a>"), "08000000 3C613E623C2F613E")
        try golden(XmlElement(nil), "FFFFFFFF")
    }

    @Test func statusCode() throws {
        // asyncua 1.1.5 produces the same bytes (Primitives.UInt32.pack(StatusCodes.BadNodeIdUnknown)).
        try golden(StatusCode.badNodeIdUnknown, "00003480")
        try golden(StatusCode.good, "00000000")
    }

    // MARK: - NodeId, ExpandedNodeId

    @Test func nodeIdEveryFormEncodesAndDecodes() throws {
        // asyncua 1.1.5 produces the same bytes (nodeid_to_binary).
        try golden(NodeId(numeric: 85), "00 55") // two-byte
        try golden(NodeId(numeric: 1025, namespace: 5), "01 05 0104") // four-byte
        try golden(NodeId(numeric: 70000, namespace: 2), "02 0200 70110100") // numeric
        try golden(NodeId(numeric: 5, namespace: 300), "02 2C01 05000000") // numeric: namespace > 255
        try golden(NodeId(string: "Hot水", namespace: 1), "03 0100 06000000 486F74E6B0B4") // string
        try golden(NodeId(namespace: 4, .guid(F.specGuid)), "04 0400 912B967275FAE64A8D28B404DC7DAF63") // guid
        try golden(NodeId(namespace: 7, .opaque([0xDE, 0xAD, 0xBE, 0xEF])), "05 0700 04000000 DEADBEEF") // opaque
    }

    @Test func nodeIdEncodePicksTheShortestForm() throws {
        // Boundaries of each form (OPC 10000-6 §5.2.2.9).
        try golden(NodeId(numeric: 0), "00 00")
        try golden(NodeId(numeric: 255), "00 FF")
        try golden(NodeId(numeric: 256), "01 00 0001")
        try golden(NodeId(numeric: 65535, namespace: 255), "01 FF FFFF")
        try golden(NodeId(numeric: 1, namespace: 255), "01 FF 0100")
        try golden(NodeId(numeric: 65536), "02 0000 00000100")
        try golden(NodeId(numeric: 1, namespace: 256), "02 0001 01000000")
        try golden(NodeId(numeric: .max, namespace: .max), "02 FFFF FFFFFFFF")
        // Longer forms of the same id decode to the same NodeId and re-encode in the shortest form.
        for longer in ["02 0000 05000000", "01 00 0500"] {
            let id = try decodes(NodeId.self, longer)
            #expect(id == NodeId(numeric: 5))
            #expect(F.encode(id) == F.bytes("0005"))
        }
    }

    @Test func nodeIdFromAsyncuaNonShortestFormsDecodes() throws {
        // asyncua 1.1.5 deviates: it uses the two-byte form only for i < 255 and the four-byte
        // form only for ns < 255, so i=255 and ns=255 come as longer (still valid) forms.
        #expect(try decodes(NodeId.self, "0100FF00") == NodeId(numeric: 255)) // asyncua NodeId(255)
        #expect(try decodes(NodeId.self, "02FF0001000000") == NodeId(numeric: 1, namespace: 255)) // asyncua NodeId(1, 255)
    }

    @Test func nodeIdNullStringAndNullOpaqueDecode() throws {
        // A null String / ByteString identifier is read as the empty one.
        #expect(try decodes(NodeId.self, "03 0100 FFFFFFFF") == NodeId(string: "", namespace: 1))
        #expect(try decodes(NodeId.self, "05 0100 FFFFFFFF") == NodeId(namespace: 1, .opaque([])))
    }

    @Test func expandedNodeIdFlags() throws {
        // asyncua 1.1.5 produces the same bytes (nodeid_to_binary(ExpandedNodeId(...))).
        try golden(ExpandedNodeId(NodeId(numeric: 1025, namespace: 5), namespaceUri: "urn:sinter"),
                   "81 05 0104 0A000000 75726E3A73696E746572")
        try golden(ExpandedNodeId(NodeId(numeric: 85), serverIndex: 3), "40 55 03000000")
        try golden(ExpandedNodeId(NodeId(string: "x", namespace: 2), namespaceUri: "urn:a", serverIndex: 0x0102_0304),
                   "C3 0200 01000000 78 05000000 75726E3A61 04030201")
        try golden(ExpandedNodeId(NodeId(numeric: 85)), "00 55")
        // Every NodeId form carries the flags.
        try golden(ExpandedNodeId(NodeId(namespace: 4, .guid(F.specGuid)), serverIndex: 1),
                   "44 0400 912B967275FAE64A8D28B404DC7DAF63 01000000")
        try golden(ExpandedNodeId(NodeId(namespace: 7, .opaque([1])), namespaceUri: ""), "85 0700 01000000 01 00000000")
    }

    @Test func nodeIdRejectsExpandedFlags() {
        #expect(throws: OPCUAError.self) { try decodes(NodeId.self, "8055 00000000") }
        #expect(throws: OPCUAError.self) { try decodes(NodeId.self, "4055 00000000") }
    }

    // MARK: - QualifiedName, LocalizedText

    @Test func qualifiedName() throws {
        // asyncua 1.1.5 produces the same bytes (struct_to_binary(QualifiedName(...))).
        try golden(QualifiedName("Temperature", namespaceIndex: 2), "0200 0B000000 54656D7065726174757265")
        try golden(QualifiedName.null, "0000 FFFFFFFF")
    }

    @Test func localizedTextAllFourMasks() throws {
        // asyncua 1.1.5 produces the same bytes (struct_to_binary(LocalizedText(...))).
        try golden(LocalizedText(nil), "00")
        try golden(LocalizedText(nil, locale: "de-DE"), "01 05000000 64652D4445")
        try golden(LocalizedText("Hallo"), "02 05000000 48616C6C6F")
        try golden(LocalizedText("Hallo", locale: "de-DE"), "03 05000000 64652D4445 05000000 48616C6C6F")
    }

    // MARK: - ExtensionObject

    @Test func extensionObjectBodies() throws {
        // asyncua 1.1.5 produces the same bytes for the first three (extensionobject_to_binary).
        try golden(ExtensionObject.null, "00 00 00")
        try golden(ExtensionObject(typeId: NodeId(numeric: 5001, namespace: 2), body: .none), "01 02 8913 00")
        try golden(ExtensionObject(typeId: NodeId(numeric: 5001, namespace: 2), body: .binary([0x0A, 0x0B, 0x0C])),
                   "01 02 8913 01 03000000 0A0B0C")
        // XML body (encoding byte 2). asyncua 1.1.5 cannot write one, and its decoder skips only
        // binary bodies, so the XML bytes are the spec's (OPC 10000-6 §5.2.2.15).
        try golden(ExtensionObject(typeId: NodeId(numeric: 5001, namespace: 2), body: .xml("<a>b</a>")),
                   "01 02 8913 02 08000000 3C613E623C2F613E")
        try golden(ExtensionObject(typeId: NodeId(numeric: 5001, namespace: 2), body: .xml(nil)), "01 02 8913 02 FFFFFFFF")
    }

    @Test func extensionObjectOfAnUnknownTypeStaysOpaqueAndReencodesIdentically() throws {
        // asyncua 1.1.5: extensionobject_to_binary(AnonymousIdentityToken(PolicyId="anonymous")),
        // plus a vendor type with a string NodeId and a body that is not a valid structure.
        for hex in [
            "01 0041 01 01 0D000000 09000000 616E6F6E796D6F7573",
            "03 0300 0B000000 56656E646F722E426C6F62 01 06000000 FF00FF00FFFF",
            "05 0900 02000000 ABCD 02 03000000 3C612F",
        ] {
            let bytes = F.bytes(hex)
            let (object, left) = try F.decode(ExtensionObject.self, bytes)
            #expect(left == 0)
            #expect(F.hex(F.encode(object)) == F.hex(bytes))
        }
        let (token, _) = try F.decode(ExtensionObject.self, F.bytes("01004101010D00000009000000616E6F6E796D6F7573"))
        #expect(token.typeId == NodeId(numeric: 321))
        #expect(token.body == .binary(F.bytes("09000000616E6F6E796D6F7573")))
    }

    // MARK: - DataValue

    /// asyncua 1.1.5's encoding of the DataValue with mask m (index m), from struct_to_binary(DataValue(
    /// Variant(1.5, Double) if m & 1, StatusCode(BadNodeIdUnknown) if m & 2, SourceTimestamp=time1 if m & 4,
    /// ServerTimestamp=time2 if m & 8, SourcePicoseconds=1234 if m & 16, ServerPicoseconds=5678 if m & 32)).
    ///
    /// asyncua deviates from the spec twice: a DataValue without a value still gets an empty Variant
    /// (mask bit 0x01 and byte 00), and it writes ServerTimestamp before SourcePicoseconds.
    static let asyncuaDataValues: [String] = [
        "0100", "010B000000000000F83F", "030000003480", "030B000000000000F83F00003480",
        "050000975B58283DDA01", "050B000000000000F83F00975B58283DDA01", "07000000348000975B58283DDA01",
        "070B000000000000F83F0000348000975B58283DDA01", "09000057E158283DDA01", "090B000000000000F83F0057E158283DDA01",
        "0B00000034800057E158283DDA01", "0B0B000000000000F83F000034800057E158283DDA01",
        "0D0000975B58283DDA010057E158283DDA01", "0D0B000000000000F83F00975B58283DDA010057E158283DDA01",
        "0F000000348000975B58283DDA010057E158283DDA01", "0F0B000000000000F83F0000348000975B58283DDA010057E158283DDA01",
        "1100D204", "110B000000000000F83FD204", "130000003480D204", "130B000000000000F83F00003480D204",
        "150000975B58283DDA01D204", "150B000000000000F83F00975B58283DDA01D204", "17000000348000975B58283DDA01D204",
        "170B000000000000F83F0000348000975B58283DDA01D204", "19000057E158283DDA01D204",
        "190B000000000000F83F0057E158283DDA01D204", "1B00000034800057E158283DDA01D204",
        "1B0B000000000000F83F000034800057E158283DDA01D204", "1D0000975B58283DDA010057E158283DDA01D204",
        "1D0B000000000000F83F00975B58283DDA010057E158283DDA01D204", "1F000000348000975B58283DDA010057E158283DDA01D204",
        "1F0B000000000000F83F0000348000975B58283DDA010057E158283DDA01D204",
        "21002E16", "210B000000000000F83F2E16", "2300000034802E16", "230B000000000000F83F000034802E16",
        "250000975B58283DDA012E16", "250B000000000000F83F00975B58283DDA012E16", "27000000348000975B58283DDA012E16",
        "270B000000000000F83F0000348000975B58283DDA012E16", "29000057E158283DDA012E16",
        "290B000000000000F83F0057E158283DDA012E16", "2B00000034800057E158283DDA012E16",
        "2B0B000000000000F83F000034800057E158283DDA012E16", "2D0000975B58283DDA010057E158283DDA012E16",
        "2D0B000000000000F83F00975B58283DDA010057E158283DDA012E16", "2F000000348000975B58283DDA010057E158283DDA012E16",
        "2F0B000000000000F83F0000348000975B58283DDA010057E158283DDA012E16",
        "3100D2042E16", "310B000000000000F83FD2042E16", "330000003480D2042E16", "330B000000000000F83F00003480D2042E16",
        "350000975B58283DDA01D2042E16", "350B000000000000F83F00975B58283DDA01D2042E16",
        "37000000348000975B58283DDA01D2042E16", "370B000000000000F83F0000348000975B58283DDA01D2042E16",
        "39000057E158283DDA01D2042E16", "390B000000000000F83F0057E158283DDA01D2042E16",
        "3B00000034800057E158283DDA01D2042E16", "3B0B000000000000F83F000034800057E158283DDA01D2042E16",
        "3D0000975B58283DDA010057E158283DDA01D2042E16", "3D0B000000000000F83F00975B58283DDA010057E158283DDA01D2042E16",
        "3F000000348000975B58283DDA010057E158283DDA01D2042E16",
        "3F0B000000000000F83F0000348000975B58283DDA010057E158283DDA01D2042E16",
    ]

    static func dataValue(mask: UInt8, value: Variant = .scalar(.double(1.5))) -> DataValue {
        DataValue(
            value: mask & 0x01 != 0 ? value : nil,
            status: mask & 0x02 != 0 ? .badNodeIdUnknown : nil,
            sourceTimestamp: mask & 0x04 != 0 ? F.time1 : nil,
            sourcePicoseconds: mask & 0x10 != 0 ? 1234 : nil,
            serverTimestamp: mask & 0x08 != 0 ? F.time2 : nil,
            serverPicoseconds: mask & 0x20 != 0 ? 5678 : nil)
    }

    @Test(arguments: 0..<64)
    func dataValueEveryMask(_ maskValue: Int) throws {
        let mask = UInt8(maskValue)
        let value = Self.dataValue(mask: mask)
        #expect(value.mask == mask)
        // The spec's field order (OPC 10000-6 Table 27): Value, Status, SourceTimestamp,
        // SourcePicoseconds, ServerTimestamp, ServerPicoseconds.
        var expected: [UInt8] = [mask]
        if mask & 0x01 != 0 { expected += F.bytes("0B 000000000000F83F") }
        if mask & 0x02 != 0 { expected += F.bytes("00003480") }
        if mask & 0x04 != 0 { expected += F.bytes("00975B58283DDA01") }
        if mask & 0x10 != 0 { expected += F.bytes("D204") }
        if mask & 0x08 != 0 { expected += F.bytes("0057E158283DDA01") }
        if mask & 0x20 != 0 { expected += F.bytes("2E16") }
        let encoded = F.encode(value)
        #expect(F.hex(encoded) == F.hex(expected))
        let (back, left) = try F.decode(DataValue.self, encoded)
        #expect(back == value)
        #expect(left == 0)

        // Cross-check with asyncua 1.1.5 (see asyncuaDataValues for its two deviations).
        let asyncua = F.bytes(Self.asyncuaDataValues[maskValue])
        let (fromAsyncua, asyncuaLeft) = try F.decode(DataValue.self, asyncua)
        #expect(asyncuaLeft == 0)
        if mask & 0x18 != 0x18 {
            // Same bytes once the empty Variant asyncua adds for a missing value is accounted for.
            let normalized = mask & 0x01 != 0 ? expected : [mask | 0x01, 0x00] + expected.dropFirst()
            #expect(F.hex(asyncua) == F.hex(normalized))
            var withValue = value
            if withValue.value == nil { withValue.value = .empty }
            #expect(fromAsyncua == withValue)
        } else {
            // Tolerate the peer: asyncua puts ServerTimestamp before SourcePicoseconds. The bytes
            // still decode (same total length), but the 10 bytes are split differently.
            #expect(asyncua.count == expected.count + (mask & 0x01 != 0 ? 0 : 1))
            #expect(fromAsyncua.sourcePicoseconds != nil && fromAsyncua.serverTimestamp != nil)
        }
    }

    @Test func dataValueWithNestedVariants() throws {
        try golden(DataValue(value: .scalar(.byte(7))), "01 03 07") // asyncua 1.1.5 produces the same bytes
        try golden(DataValue(value: .empty), "01 00") // asyncua 1.1.5: DataValue(None, StatusCode_=None)
        try golden(DataValue(value: .array(.int32([1]), dimensions: nil), status: .good), "03 86 01000000 01000000 00000000")
    }

    // MARK: - Variant

    @Test func variantEmpty() throws {
        try golden(Variant.empty, "00") // asyncua 1.1.5 produces the same bytes
    }

    /// One scalar Variant per built-in type (Variant itself cannot be a scalar), with asyncua 1.1.5's bytes
    /// from variant_to_binary(Variant(value, VariantType.<Type>)).
    static let scalarVariants: [(Variant, String)] = [
        (.scalar(.boolean(true)), "01 01"),
        (.scalar(.sbyte(-5)), "02 FB"),
        (.scalar(.byte(200)), "03 C8"),
        (.scalar(.int16(-300)), "04 D4FE"),
        (.scalar(.uint16(60000)), "05 60EA"),
        (.scalar(.int32(-70000)), "06 90EEFEFF"),
        (.scalar(.uint32(4_000_000_000)), "07 00286BEE"),
        (.scalar(.int64(-5_000_000_000)), "08 000EFAD5FEFFFFFF"),
        (.scalar(.uint64(10_000_000_000_000_000_000)), "09 0000E8890423C78A"),
        (.scalar(.float(1.5)), "0A 0000C03F"),
        (.scalar(.double(-2.25)), "0B 00000000000002C0"),
        (.scalar(.string("hé")), "0C 03000000 68C3A9"),
        (.scalar(.string(nil)), "0C FFFFFFFF"),
        (.scalar(.dateTime(F.time1)), "0D 00975B58283DDA01"),
        (.scalar(.guid(F.specGuid)), "0E 912B967275FAE64A8D28B404DC7DAF63"),
        (.scalar(.byteString([1, 2])), "0F 02000000 0102"),
        (.scalar(.xmlElement(XmlElement("<a>b</a>"))), "10 08000000 3C613E623C2F613E"),
        (.scalar(.nodeId(NodeId(string: "n", namespace: 2))), "11 03 0200 01000000 6E"),
        (.scalar(.expandedNodeId(ExpandedNodeId(NodeId(numeric: 85), namespaceUri: "urn:x"))), "12 80 55 05000000 75726E3A78"),
        (.scalar(.statusCode(.badNodeIdUnknown)), "13 00003480"),
        (.scalar(.qualifiedName(QualifiedName("q", namespaceIndex: 1))), "14 0100 01000000 71"),
        (.scalar(.localizedText(LocalizedText("t", locale: "en"))), "15 03 02000000 656E 01000000 74"),
        (.scalar(.extensionObject(ExtensionObject(typeId: NodeId(numeric: 5001, namespace: 2), body: .binary([0x0A])))),
         "16 01028913 01 01000000 0A"),
        (.scalar(.dataValue(DataValue(value: .scalar(.byte(7))))), "17 01 03 07"),
        (.scalar(.diagnosticInfo(DiagnosticInfo(symbolicId: 3))), "19 01 03000000"),
    ]

    @Test func variantEveryScalarType() throws {
        var covered = Set<BuiltinType>()
        for (variant, hex) in Self.scalarVariants {
            try golden(variant, hex)
            if let type = variant.type { covered.insert(type) }
        }
        #expect(covered == Set(BuiltinType.allCases).subtracting([.variant]))
    }

    /// A one-dimensional array per built-in type, with asyncua 1.1.5's bytes from
    /// variant_to_binary(Variant([...], VariantType.<Type>, is_array=True)); no ArrayDimensions.
    static let arrayVariants: [(Variant, String)] = [
        (.array(.boolean([true, false]), dimensions: nil), "81 02000000 0100"),
        (.array(.sbyte([-1, 2]), dimensions: nil), "82 02000000 FF02"),
        (.array(.byte([1, 2]), dimensions: nil), "83 02000000 0102"),
        (.array(.int16([-1, 2]), dimensions: nil), "84 02000000 FFFF0200"),
        (.array(.uint16([1, 2]), dimensions: nil), "85 02000000 01000200"),
        (.array(.int32([-1, 2]), dimensions: nil), "86 02000000 FFFFFFFF02000000"),
        (.array(.uint32([1, 2]), dimensions: nil), "87 02000000 0100000002000000"),
        (.array(.int64([-1, 2]), dimensions: nil), "88 02000000 FFFFFFFFFFFFFFFF0200000000000000"),
        (.array(.uint64([1, 2]), dimensions: nil), "89 02000000 01000000000000000200000000000000"),
        (.array(.float([1.5, -0.0]), dimensions: nil), "8A 02000000 0000C03F00000080"),
        (.array(.double([1.5, -0.0]), dimensions: nil), "8B 02000000 000000000000F83F0000000000000080"),
        (.array(.string(["a", nil, ""]), dimensions: nil), "8C 03000000 0100000061 FFFFFFFF 00000000"),
        (.array(.dateTime([F.time1, F.time2]), dimensions: nil), "8D 02000000 00975B58283DDA01 0057E158283DDA01"),
        (.array(.guid([F.specGuid]), dimensions: nil), "8E 01000000 912B967275FAE64A8D28B404DC7DAF63"),
        (.array(.byteString([[1], .null, []]), dimensions: nil), "8F 03000000 0100000001 FFFFFFFF 00000000"),
        (.array(.xmlElement([XmlElement("<a/>"), XmlElement(nil)]), dimensions: nil), "90 02000000 040000003C612F3E FFFFFFFF"),
        (.array(.nodeId([NodeId(numeric: 85), NodeId(string: "s", namespace: 3)]), dimensions: nil),
         "91 02000000 0055 03 0300 01000000 73"),
        (.array(.expandedNodeId([ExpandedNodeId(NodeId(numeric: 85), serverIndex: 2)]), dimensions: nil),
         "92 01000000 40 55 02000000"),
        (.array(.statusCode([.good, .badNodeIdUnknown]), dimensions: nil), "93 02000000 00000000 00003480"),
        (.array(.qualifiedName([QualifiedName("q", namespaceIndex: 1), QualifiedName("r")]), dimensions: nil),
         "94 02000000 0100 01000000 71 0000 01000000 72"),
        (.array(.localizedText([LocalizedText("t"), LocalizedText(nil, locale: "en")]), dimensions: nil),
         "95 02000000 02 01000000 74 01 02000000 656E"),
        (.array(.extensionObject([ExtensionObject(typeId: NodeId(numeric: 5001, namespace: 2), body: .binary([0x0A])), .null]),
                dimensions: nil),
         "96 02000000 01028913 01 01000000 0A 000000"),
        (.array(.dataValue([DataValue(value: .scalar(.byte(7))), DataValue(value: .empty)]), dimensions: nil),
         "97 02000000 01 03 07 01 00"),
        (.array(.variant([.scalar(.int32(1)), .scalar(.string("x")), .empty]), dimensions: nil),
         "98 03000000 06 01000000 0C 01000000 78 00"),
        (.array(.diagnosticInfo([DiagnosticInfo(symbolicId: 3), .empty]), dimensions: nil), "99 02000000 01 03000000 00"),
    ]

    @Test func variantOneDimensionalArrayOfEveryType() throws {
        var covered = Set<BuiltinType>()
        for (variant, hex) in Self.arrayVariants {
            try golden(variant, hex)
            if let type = variant.type { covered.insert(type) }
            #expect(variant.valueRank == 1)
        }
        #expect(covered == Set(BuiltinType.allCases))
    }

    @Test func variantNullArrayIsNotTheEmptyArray() throws {
        // asyncua 1.1.5: Variant(None, Int32, is_array=True) and Variant([], Int32, is_array=True).
        try golden(Variant.nullArray(.int32), "86 FFFFFFFF")
        try golden(Variant.array(.int32([]), dimensions: nil), "86 00000000")
        #expect(Variant.nullArray(.int32) != Variant.array(.int32([]), dimensions: nil))
        for type in BuiltinType.allCases {
            try golden(Variant.nullArray(type), F.hex([type.rawValue | 0x80]) + "FFFFFFFF")
            try golden(Variant.array(ArrayValues.empty(type), dimensions: nil), F.hex([type.rawValue | 0x80]) + "00000000")
        }
    }

    @Test func variantOneDimensionalArrayWithExplicitDimensionsDecodes() throws {
        // A peer may send ArrayDimensions [n] for a 1-D array; it decodes, and re-encodes without them.
        let variant = try decodes(Variant.self, "C6 02000000 01000000 02000000 01000000 02000000")
        #expect(variant == .array(.int32([1, 2]), dimensions: nil))
        #expect(F.encode(variant) == F.bytes("86 02000000 01000000 02000000"))
    }

    @Test func variantFloatMatrix100x100() throws {
        // asyncua 1.1.5 produces the same 40 017 bytes for Variant([[ (r*100+c)/4 ...]], Float):
        // head CA 10270000 00000000 0000803E …, tail 02000000 64000000 64000000.
        let values = (0..<10_000).map { Float($0) / 4 }
        let variant = Variant.matrix(.float(values), dimensions: [100, 100])
        var expected = F.bytes("CA 10270000")
        for value in values { expected += withUnsafeBytes(of: value.bitPattern.littleEndian, Array.init) }
        expected += F.bytes("02000000 64000000 64000000")
        let encoded = F.encode(variant)
        #expect(encoded.count == 40_017)
        #expect(F.hex(Array(encoded.prefix(13))) == "CA10270000000000000000803E")
        #expect(F.hex(Array(encoded.suffix(12))) == "020000006400000064000000")
        #expect(encoded == expected)
        let (back, left) = try F.decode(Variant.self, encoded)
        #expect(back == variant)
        #expect(left == 0)
        #expect(back.valueRank == 2)
        #expect(back.arrayDimensions == [100, 100])
    }

    @Test func variantThreeDimensionalArray() throws {
        // asyncua 1.1.5 produces the same bytes for Variant([[[i*12+j*4+k ...]]], Int32) (2×3×4).
        var hex = "C6 18000000"
        for index in 0..<24 { hex += F.hex([UInt8(index), 0, 0, 0]) }
        hex += "03000000 02000000 03000000 04000000"
        try golden(Variant.matrix(.int32(Array(0..<24)), dimensions: [2, 3, 4]), hex)
        #expect(Variant.matrix(.int32(Array(0..<24)), dimensions: [2, 3, 4]).valueRank == 3)
        // A matrix with a zero dimension is an empty matrix.
        try golden(Variant.matrix(.double([]), dimensions: [0, 5]), "CB 00000000 02000000 00000000 05000000")
    }

    @Test func variantArrayOfVariantsNests() throws {
        let inner = Variant.array(.variant([.scalar(.boolean(true)), .nullArray(.string)]), dimensions: nil)
        try golden(Variant.array(.variant([inner, .matrix(.byte([1, 2, 3, 4]), dimensions: [2, 2])]), dimensions: nil),
                   "98 02000000 98 02000000 01 01 8C FFFFFFFF C3 04000000 01020304 02000000 02000000 02000000")
    }

    // MARK: - DiagnosticInfo

    @Test func diagnosticInfoEachFieldAlone() throws {
        // Spec bits (OPC 10000-6 Table 22): 0x04 LocalizedText, 0x08 Locale.
        try golden(DiagnosticInfo.empty, "00") // asyncua 1.1.5 produces the same bytes
        try golden(DiagnosticInfo(symbolicId: 1), "01 01000000") // asyncua 1.1.5 produces the same bytes
        try golden(DiagnosticInfo(namespaceUri: 2), "02 02000000") // asyncua 1.1.5 produces the same bytes
        try golden(DiagnosticInfo(localizedText: 4), "04 04000000") // asyncua 1.1.5: 08 04000000 (swapped bit)
        try golden(DiagnosticInfo(locale: 3), "08 03000000") // asyncua 1.1.5: 04 03000000 (swapped bit)
        try golden(DiagnosticInfo(additionalInfo: "info"), "10 04000000 696E666F") // asyncua 1.1.5 produces the same bytes
        try golden(DiagnosticInfo(innerStatusCode: .badNodeIdUnknown), "20 00003480") // asyncua 1.1.5 produces the same bytes
        // asyncua 1.1.5 cannot encode an inner DiagnosticInfo (KeyError); spec bytes.
        try golden(DiagnosticInfo(innerDiagnosticInfo: .empty), "40 00")
    }

    @Test func diagnosticInfoFieldOrder() throws {
        // Fields follow SymbolicId, NamespaceUri, Locale, LocalizedText, AdditionalInfo,
        // InnerStatusCode, InnerDiagnosticInfo. With both Locale and LocalizedText set the
        // bytes equal asyncua's (both bits are set; the order is the same).
        try golden(DiagnosticInfo(locale: 3, localizedText: 4), "0C 03000000 04000000")
        let all = DiagnosticInfo(
            symbolicId: 1, namespaceUri: 2, locale: 3, localizedText: 4, additionalInfo: "info",
            innerStatusCode: .badNodeIdUnknown,
            innerDiagnosticInfo: DiagnosticInfo(symbolicId: 5, innerDiagnosticInfo: DiagnosticInfo(additionalInfo: "in")))
        try golden(all, """
            7F 01000000 02000000 03000000 04000000 04000000 696E666F 00003480
            41 05000000
            10 02000000 696E
            """)
        #expect(all.innerDiagnosticInfo?.innerDiagnosticInfo?.additionalInfo == "in")
    }

    @Test func diagnosticInfoFromAsyncuaDecodesWithSwappedIndexes() throws {
        // Tolerate the peer: asyncua 1.1.5 numbers the optional fields in declaration order, so it
        // sends Locale with bit 0x04 and LocalizedText with bit 0x08 (the spec has them the other
        // way round). Both are Int32 string-table indexes in the same position, so its bytes decode
        // without error; a lone Locale arrives as a LocalizedText index and vice versa.
        let locale = try decodes(DiagnosticInfo.self, "0403000000") // asyncua DiagnosticInfo(Locale=3)
        #expect(locale.localizedText == 3 && locale.locale == nil)
        let text = try decodes(DiagnosticInfo.self, "0804000000") // asyncua DiagnosticInfo(LocalizedText=4)
        #expect(text.locale == 4 && text.localizedText == nil)
        // asyncua DiagnosticInfo(SymbolicId=1, NamespaceURI=2, Locale=3, LocalizedText=4, AdditionalInfo="info",
        // InnerStatusCode=BadNodeIdUnknown): identical field order, so the whole value matches.
        let all = try decodes(DiagnosticInfo.self, "3F0100000002000000030000000400000004000000696E666F00003480")
        #expect(all == DiagnosticInfo(symbolicId: 1, namespaceUri: 2, locale: 3, localizedText: 4,
                                      additionalInfo: "info", innerStatusCode: .badNodeIdUnknown))
    }

    @Test func diagnosticInfoNestsToTheLimit() throws {
        // maxDiagnosticDepth levels decode (the outermost plus maxDiagnosticDepth - 1 inner ones).
        var info = DiagnosticInfo(symbolicId: 0)
        for level in 1..<DecodingLimits.maxDiagnosticDepth {
            info = DiagnosticInfo(symbolicId: Int32(level), innerDiagnosticInfo: info)
        }
        let (back, left) = try F.decode(DiagnosticInfo.self, F.encode(info))
        #expect(back == info)
        #expect(left == 0)
    }
}
