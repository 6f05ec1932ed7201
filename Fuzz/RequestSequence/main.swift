// libFuzzer harness: a server connection fed a sequence of chunks (stateful).
//
// The input is everything a client sends on one connection — HEL, OPN, then MSG chunks with
// CreateSession, ActivateSession and service requests, in any order. ServerFuzzing.feed (a
// `package` entry point the lead provides) runs them through one server connection (transport,
// secure channel, session and service dispatch) over an in-memory channel, then closes it.
// A trap, an ASan report or a hang is a finding; error responses and closed connections are not.
//
// Build and run with Scripts/fuzz.sh RequestSequence. The record format is documented on ServerFuzzing.feed.
import OPCUA

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    ServerFuzzing.feed(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}
