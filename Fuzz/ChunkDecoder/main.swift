// libFuzzer harness: the UACP transport (OPC 10000-6 §7.1) — message framing, chunk headers,
// HEL/ACK/ERR/RHE messages and the secure-channel chunk decoder.
//
// The input is the byte stream a peer sends; TransportFuzzing.feed (a `package` entry point in
// Sources/OPCUA/Transport, written by the transport helper) pushes it through the decoding
// pipeline and discards what comes out. A trap, an ASan report or a hang is a finding; errors
// the decoder reports are the expected outcome for most inputs.
//
// Build and run with Scripts/fuzz.sh ChunkDecoder (skipped until Sources/OPCUA has TransportFuzzing).
import OPCUA

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    TransportFuzzing.feed(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}
