// libFuzzer harness: the OPC UA Binary decoders of the built-in types (OPC 10000-6 §5.2).
//
// The first input byte chooses the type (modulo 6): Variant, DataValue, NodeId,
// ExpandedNodeId, ExtensionObject, DiagnosticInfo; the rest is decoded as that type.
// A decoded value is re-encoded, decoded again and re-encoded once more: the second
// decode must succeed and use every byte, and both encodings must be identical. Any
// failure other than a BadDecodingError, and any trap, is a finding.
//
// Build and run with Scripts/fuzz.sh TypeDecoder. Tests/OPCUATests/FuzzCorpusReplayTests.swift
// replays Fuzz/Corpus/TypeDecoder through the same paths; keep the two in step.
import NIOCore
import OPCUA

/// Decodes one `T` from `input`; on success checks the re-encoding round trip.
@inline(never)
func check<T: OPCUACodable>(_ type: T.Type, _ input: ByteBuffer) {
    var buffer = input
    let value: T
    do {
        value = try T(decoding: &buffer)
    } catch {
        guard error.status == .badDecodingError else { fatalError("\(T.self): unexpected status \(error)") }
        return
    }
    var first = ByteBuffer()
    value.encode(to: &first)
    var again = first
    let second: T
    do {
        second = try T(decoding: &again)
    } catch {
        fatalError("\(T.self): its own encoding does not decode: \(error)")
    }
    guard again.readableBytes == 0 else { fatalError("\(T.self): \(again.readableBytes) bytes left decoding its own encoding") }
    var secondBytes = ByteBuffer()
    second.encode(to: &secondBytes)
    guard first == secondBytes else { fatalError("\(T.self): re-encoding is not stable") }
    _ = String(describing: value) // descriptions of wire values (DateTime, NodeId, StatusCode) must not trap
    if let variant = value as? Variant {
        _ = variant.valueRank
        _ = variant.arrayDimensions
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let input = ByteBuffer(bytes: UnsafeBufferPointer(start: data + 1, count: size - 1))
    switch data[0] % 6 {
    case 0: check(Variant.self, input)
    case 1: check(DataValue.self, input)
    case 2: check(NodeId.self, input)
    case 3: check(ExpandedNodeId.self, input)
    case 4: check(ExtensionObject.self, input)
    default: check(DiagnosticInfo.self, input)
    }
    return 0
}
