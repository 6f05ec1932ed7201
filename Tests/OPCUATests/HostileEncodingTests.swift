import NIOCore
import Testing

@testable import OPCUA

/// Bytes a hostile or broken peer might send: every case must throw ``OPCUAError`` with
/// ``StatusCode/badDecodingError`` — never trap, hang, or allocate what a length field claims.
struct HostileEncodingTests {
    typealias F = EncodingFixtures

    /// Expects decoding `bytes` as `T` to throw BadDecodingError; returns the message (nil if it decoded).
    @discardableResult
    private func rejects<T: OPCUACodable>(
        _ type: T.Type, _ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation
    ) -> String? {
        var buffer = ByteBuffer(bytes: bytes)
        do {
            _ = try T(decoding: &buffer)
            Issue.record("\(T.self) decoded from hostile bytes \(F.hex(Array(bytes.prefix(64))))", sourceLocation: sourceLocation)
            return nil
        } catch {
            #expect(error.status == .badDecodingError, "\(error)", sourceLocation: sourceLocation)
            #expect(!error.message.isEmpty, sourceLocation: sourceLocation)
            return error.message
        }
    }

    @discardableResult
    private func rejects<T: OPCUACodable>(
        _ type: T.Type, _ hex: String, sourceLocation: SourceLocation = #_sourceLocation
    ) -> String? {
        rejects(T.self, F.bytes(hex), sourceLocation: sourceLocation)
    }

    private func int32(_ value: Int32) -> [UInt8] { F.encode(value) }

    private func repeated(_ bytes: [UInt8], _ count: Int) -> [UInt8] {
        var result: [UInt8] = []
        result.reserveCapacity(bytes.count * count)
        for _ in 0..<count { result += bytes }
        return result
    }

    // MARK: - Lengths

    @Test func negativeLengthsOtherThanMinusOne() {
        for length: Int32 in [-2, -100, .min] {
            let prefix = int32(length)
            rejects(String?.self, prefix + [0x41, 0x41])
            rejects(String.self, prefix + [0x41, 0x41])
            rejects(ByteString.self, prefix + [1, 2, 3])
            rejects(XmlElement.self, prefix)
            rejects(Variant.self, [0x86] + prefix + [0, 0, 0, 0]) // Int32 array
            rejects(Variant.self, [0x98] + prefix + [0]) // array of Variants
            rejects(Variant.self, [0xC6] + int32(0) + prefix) // ArrayDimensions array
            rejects(NodeId.self, [0x03, 0x01, 0x00] + prefix)
            rejects(NodeId.self, [0x05, 0x01, 0x00] + prefix)
            rejects(ExtensionObject.self, [0x00, 0x00, 0x01] + prefix)
            rejects(QualifiedName.self, [0x00, 0x00] + prefix)
            rejects(LocalizedText.self, [0x02] + prefix)
            rejects(DiagnosticInfo.self, [0x10] + prefix)
        }
    }

    @Test func lengthsPastTheEndFailBeforeAllocating() {
        for length: Int32 in [5, 1000, 16 * 1024 * 1024, .max] {
            let prefix = int32(length)
            let tail: [UInt8] = [1, 2, 3, 4]
            for message in [
                rejects(String?.self, prefix + tail),
                rejects(ByteString.self, prefix + tail),
                rejects(XmlElement.self, prefix + tail),
                rejects(NodeId.self, [0x03, 0x00, 0x00] + prefix + tail),
                rejects(ExtensionObject.self, [0x00, 0x00, 0x01] + prefix + tail),
            ] {
                // Rejected by the length check itself, not by running out of bytes part-way.
                #expect(message?.contains("past the end") == true || message?.contains("exceeds the limit") == true, "\(message ?? "")")
            }
        }
    }

    @Test(arguments: BuiltinType.allCases)
    func arrayLengthPastTheEndFailsFast(_ type: BuiltinType) {
        // An array of 2^31-1 (or 1 M) elements with 4 bytes left must be refused by the length
        // check before any element is decoded or any storage reserved.
        for length: Int32 in [.max, 1_000_000, 5] {
            let bytes = [type.rawValue | 0x80] + int32(length) + [0, 0, 0, 0]
            if length == 5, type.minimumEncodedSize == 1 {
                // 5 one-byte elements in 4 bytes: fails on the fifth element instead.
                rejects(Variant.self, bytes)
                continue
            }
            let message = rejects(Variant.self, bytes)
            #expect(message?.contains("past the end") == true || message?.contains("exceeds the limit") == true, "\(message ?? "")")
        }
    }

    @Test func arrayDimensionsLengthPastTheEnd() {
        // A matrix whose ArrayDimensions count claims 2^31-1 entries.
        rejects(Variant.self, [0xC6] + int32(0) + int32(.max) + [0, 0, 0, 0])
        rejects(Variant.self, [0xC6] + int32(0) + int32(1_000_000) + [0, 0, 0, 0])
    }

    // MARK: - Truncation

    /// Values whose every strict prefix must fail to decode.
    static func complexValues() -> [(String, [UInt8], (inout ByteBuffer) throws(OPCUAError) -> Void)] {
        let matrix = Variant.matrix(.double([1, 2, 3, 4, 5, 6]), dimensions: [2, 3])
        let dataValue = DataValue(
            value: .array(.variant([matrix, .scalar(.string("héllo")), .scalar(.localizedText(LocalizedText("t", locale: "en")))]),
                          dimensions: nil),
            status: .badNodeIdUnknown, sourceTimestamp: EncodingFixtures.time1, sourcePicoseconds: 1,
            serverTimestamp: EncodingFixtures.time2, serverPicoseconds: 2)
        let object = ExtensionObject(typeId: NodeId(string: "Vendor.Blob", namespace: 3), body: .binary([1, 2, 3, 4, 5]))
        let diagnostic = DiagnosticInfo(
            symbolicId: 1, namespaceUri: 2, locale: 3, localizedText: 4, additionalInfo: "info",
            innerStatusCode: .badNodeIdUnknown,
            innerDiagnosticInfo: DiagnosticInfo(symbolicId: 5, innerDiagnosticInfo: DiagnosticInfo(additionalInfo: "in")))
        let expanded = ExpandedNodeId(NodeId(namespace: 4, .guid(EncodingFixtures.specGuid)), namespaceUri: "urn:x", serverIndex: 9)
        let nested = Variant.array(.dataValue([dataValue, DataValue(value: .scalar(.extensionObject(object)))]), dimensions: nil)
        return [
            ("DataValue", EncodingFixtures.encode(dataValue), { buffer throws(OPCUAError) in _ = try DataValue(decoding: &buffer) }),
            ("Variant matrix", EncodingFixtures.encode(matrix), { buffer throws(OPCUAError) in _ = try Variant(decoding: &buffer) }),
            ("Variant of DataValues", EncodingFixtures.encode(nested), { buffer throws(OPCUAError) in _ = try Variant(decoding: &buffer) }),
            ("ExtensionObject", EncodingFixtures.encode(object), { buffer throws(OPCUAError) in _ = try ExtensionObject(decoding: &buffer) }),
            ("XML ExtensionObject", EncodingFixtures.encode(ExtensionObject(typeId: NodeId(numeric: 9), body: .xml("<x/>"))),
             { buffer throws(OPCUAError) in _ = try ExtensionObject(decoding: &buffer) }),
            ("DiagnosticInfo", EncodingFixtures.encode(diagnostic), { buffer throws(OPCUAError) in _ = try DiagnosticInfo(decoding: &buffer) }),
            ("ExpandedNodeId", EncodingFixtures.encode(expanded), { buffer throws(OPCUAError) in _ = try ExpandedNodeId(decoding: &buffer) }),
            ("LocalizedText", EncodingFixtures.encode(LocalizedText("Hallo", locale: "de")),
             { buffer throws(OPCUAError) in _ = try LocalizedText(decoding: &buffer) }),
            ("QualifiedName", EncodingFixtures.encode(QualifiedName("q", namespaceIndex: 1)),
             { buffer throws(OPCUAError) in _ = try QualifiedName(decoding: &buffer) }),
            ("Guid", EncodingFixtures.encode(EncodingFixtures.specGuid), { buffer throws(OPCUAError) in _ = try Guid(decoding: &buffer) }),
        ]
    }

    @Test func everyPrefixOfAComplexValueThrows() throws {
        for (name, bytes, decode) in Self.complexValues() {
            // The whole value decodes and uses every byte…
            var whole = ByteBuffer(bytes: bytes)
            try decode(&whole)
            #expect(whole.readableBytes == 0, "\(name)")
            // …and every strict prefix throws BadDecodingError.
            for length in 0..<bytes.count {
                var prefix = ByteBuffer(bytes: bytes[0..<length])
                do {
                    try decode(&prefix)
                    Issue.record("\(name): prefix of \(length) of \(bytes.count) bytes decoded")
                } catch {
                    #expect(error.status == .badDecodingError, "\(name) at \(length): \(error)")
                }
            }
        }
    }

    // MARK: - Nesting

    @Test func variantNestingUpToTheLimitDecodes() throws {
        // maxNestingDepth Variants: the outermost plus maxNestingDepth - 1 arrays of one Variant.
        let levels = DecodingLimits.maxNestingDepth
        let bytes = repeated(F.bytes("98 01000000"), levels - 1) + [0x00]
        let (value, left) = try F.decode(Variant.self, bytes)
        #expect(left == 0)
        #expect(F.encode(value) == bytes)
    }

    @Test func variantNestingDeeperThanTheLimitThrows() {
        for levels in [DecodingLimits.maxNestingDepth + 1, DecodingLimits.maxNestingDepth + 2, 100_000] {
            let bytes = repeated(F.bytes("98 01000000"), levels - 1) + [0x00]
            let message = rejects(Variant.self, bytes)
            #expect(message?.contains("nested deeper") == true, "\(message ?? "")")
        }
        // Variant → DataValue → Variant → … (scalar DataValues with a value).
        rejects(Variant.self, repeated([0x17, 0x01], 50_000) + [0x00])
        rejects(DataValue.self, repeated([0x01, 0x17], 50_000) + [0x00])
        // Arrays of DataValues of arrays of Variants of …
        rejects(Variant.self, repeated(F.bytes("97 01000000 01 98 01000000"), 20_000) + [0x00])
    }

    @Test func diagnosticInfoNestingDeeperThanTheLimitThrows() throws {
        let limit = DecodingLimits.maxDiagnosticDepth
        // limit levels decode: limit - 1 masks with the InnerDiagnosticInfo bit and an empty one.
        let (ok, left) = try F.decode(DiagnosticInfo.self, Array(repeating: 0x40, count: limit - 1) + [0x00])
        #expect(left == 0)
        #expect(ok.innerDiagnosticInfo != nil)
        for levels in [limit + 1, limit + 5, 1_000_000] {
            let message = rejects(DiagnosticInfo.self, Array(repeating: 0x40, count: levels - 1) + [0x00])
            #expect(message?.contains("nested deeper") == true, "\(message ?? "")")
        }
        // The same inside a Variant and a DataValue-less array of DiagnosticInfos.
        rejects(Variant.self, [0x19] + Array(repeating: 0x40, count: limit) + [0x00])
        rejects(Variant.self, [0x99, 0x01, 0, 0, 0] + Array(repeating: 0x40, count: limit) + [0x00])
    }

    // MARK: - Strings

    @Test(arguments: [
        "FF", "C3", "C0 80", "E2 82", "ED A0 80", "F4 90 80 80", "F8 88 80 80 80", "80",
        "F0 90 80", "F0 90 80 41", "E0 A0", "61 F0 9F 8C", "EF BF",
    ])
    func invalidUTF8IsRejected(_ hex: String) {
        let body = F.bytes(hex)
        let string = int32(Int32(body.count)) + body
        rejects(String?.self, string)
        rejects(String.self, string)
        rejects(XmlElement.self, string)
        rejects(Variant.self, [0x0C] + string)
        rejects(Variant.self, [0x8C, 0x01, 0, 0, 0] + string)
        rejects(NodeId.self, [0x03, 0x00, 0x00] + string)
        rejects(QualifiedName.self, [0x00, 0x00] + string)
        rejects(LocalizedText.self, [0x02] + string)
        rejects(ExpandedNodeId.self, [0x80, 0x00] + string)
        rejects(DiagnosticInfo.self, [0x10] + string)
    }

    @Test func validUTF8EdgeCasesDecode() throws {
        // The replacement character itself, NUL, the last code point, and a 4-byte emoji.
        for hex in ["EFBFBD", "00", "F48FBFBF", "F09F8CA1", "E6B0B4"] {
            let body = F.bytes(hex)
            let (string, left) = try F.decode(String?.self, int32(Int32(body.count)) + body)
            #expect(left == 0)
            #expect(string.map { Array($0.utf8) } == body)
        }
    }

    // MARK: - ArrayDimensions

    @Test func arrayDimensionsInconsistentNegativeOrOverflowing() {
        let four = int32(4) + int32(1) + int32(2) + int32(3) + int32(4) // four Int32 elements
        let cases: [[Int32]?] = [
            [2, 3], // product 6 ≠ 4
            [4, 2], // product 8 ≠ 4
            [5], // 1-D, wrong length
            [], // no dimensions
            nil, // null dimensions
            [-2, -2], // negative (product would be 4)
            [-1, -4], // negative
            [2, 2, -1, -1], // negative pair
            [65536, 65536, 65536, 65536, 4], // product overflows Int
            [Int32.max, Int32.max, Int32.max, Int32.max], // product overflows Int
            [0, 4], // product 0 ≠ 4
        ]
        for dimensions in cases {
            var dims: [UInt8]
            if let dimensions {
                dims = int32(Int32(dimensions.count))
                for dimension in dimensions { dims += int32(dimension) }
            } else {
                dims = int32(-1)
            }
            rejects(Variant.self, [0xC6] + four + dims)
        }
        // Dimensions on a scalar.
        rejects(Variant.self, "46 01000000 01000000 01000000")
        // A zero dimension with elements present.
        rejects(Variant.self, [0xC3] + int32(2) + [7, 8] + int32(2) + int32(0) + int32(2))
    }

    // MARK: - Type ids and encoding bytes

    @Test func scalarVariantOfTypeVariantIsRejected() {
        rejects(Variant.self, "18 00")
        rejects(Variant.self, "18 06 01000000")
        rejects(Variant.self, "58 00") // with the dimensions flag but no array flag
    }

    @Test func nullVariantWithArrayFlagsIsRejected() {
        rejects(Variant.self, "80 00000000")
        rejects(Variant.self, "40")
        rejects(Variant.self, "C0 00000000 00000000")
    }

    @Test(arguments: 26...63)
    func unknownVariantTypeIdIsRejected(_ typeId: Int) {
        let id = UInt8(typeId)
        // asyncua 1.1.5 reads these as ByteStrings (VariantTypeCustom); the spec has no such types.
        rejects(Variant.self, [id] + int32(1) + [0xAB])
        rejects(Variant.self, [id | 0x80] + int32(1) + int32(1) + [0xAB])
        rejects(Variant.self, [id | 0xC0] + int32(0) + int32(1) + int32(0))
        rejects(DataValue.self, [0x01, id, 0, 0, 0, 0])
    }

    @Test(arguments: 6...63)
    func unknownNodeIdEncodingByteIsRejected(_ byte: Int) {
        let encoding = UInt8(byte)
        let body: [UInt8] = Array(repeating: 0, count: 24)
        rejects(NodeId.self, [encoding] + body)
        rejects(ExpandedNodeId.self, [encoding] + body)
        rejects(ExpandedNodeId.self, [encoding | 0xC0] + body)
        rejects(ExtensionObject.self, [encoding] + body)
        rejects(Variant.self, [0x11, encoding] + body)
    }

    @Test func extensionObjectEncodingByteOutOfRangeIsRejected() {
        for byte: UInt8 in [3, 4, 0x80, 0xFF] {
            rejects(ExtensionObject.self, [0x00, 0x00, byte] + int32(0))
            rejects(Variant.self, [0x16, 0x00, 0x00, byte] + int32(0))
        }
    }

    @Test func emptyInputThrowsForEveryType() {
        rejects(Bool.self, [])
        rejects(Int64.self, [1, 2, 3, 4, 5, 6, 7])
        rejects(Double.self, [1, 2, 3])
        rejects(DateTime.self, [1])
        rejects(StatusCode.self, [1, 2])
        rejects(Guid.self, Array(repeating: 0, count: 15))
        rejects(NodeId.self, [])
        rejects(ExpandedNodeId.self, [])
        rejects(Variant.self, [])
        rejects(DataValue.self, [])
        rejects(DiagnosticInfo.self, [])
        rejects(ExtensionObject.self, [])
        rejects(LocalizedText.self, [])
        rejects(QualifiedName.self, [0])
    }
}
