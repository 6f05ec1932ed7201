import NIOCore
import Testing

@testable import OPCUA

/// Smoke tests of the built-in encodings; the exhaustive golden vectors are in EncodingGoldenTests.
struct BuiltinEncodingTests {
    private func bytes(_ value: some OPCUACodable) -> [UInt8] {
        var buffer = ByteBuffer()
        value.encode(to: &buffer)
        return Array(buffer.readableBytesView)
    }

    @Test func nodeIdPicksTheShortestForm() {
        #expect(bytes(NodeId(numeric: 85)) == [0x00, 0x55])
        #expect(bytes(NodeId(numeric: 2255)) == [0x01, 0x00, 0xCF, 0x08])
        #expect(bytes(NodeId(numeric: 70000, namespace: 2)) == [0x02, 0x02, 0x00, 0x70, 0x11, 0x01, 0x00])
    }

    @Test func matrixRoundTripsWithDimensions() throws {
        let values = (0..<10_000).map { Float($0) / 100 }
        let variant = Variant.matrix(.float(values), dimensions: [100, 100])
        var buffer = ByteBuffer()
        variant.encode(to: &buffer)
        #expect(buffer.readableBytes == 1 + 4 + 40_000 + 4 + 8)
        let mask: UInt8 = try #require(buffer.getInteger(at: buffer.readerIndex, as: UInt8.self))
        #expect(mask == 0xCA, "array, dimensions, Float")
        let back = try Variant(decoding: &buffer)
        #expect(back == variant)
        #expect(back.valueRank == 2)
        #expect(buffer.readableBytes == 0)
    }
}
