// A libFuzzer-friendly entry point for the inbound transport path (no sockets, no NIO channels).
import NIOCore

/// Pushes arbitrary bytes through ``UACPFrameDecoder`` and ``ChunkAssembler`` the way the
/// handlers do, decoding HEL/ACK/ERR bodies as well. It must never trap, whatever the input;
/// errors are the expected outcome for most inputs and end the run like a closed connection.
package enum TransportFuzzing {
    /// Feeds `data` as a byte stream.
    ///
    /// The first byte picks the conditions, so the fuzzer can reach the limit checks with small
    /// inputs: bits 0–1 the maximum chunk count (0 = none, 1, 2, 8), bits 2–3 the maximum
    /// message size (0 = none, 16, 256, 64 KiB), bits 4–5 the maximum frame size (64 KiB,
    /// 8192, 64, 24), bit 6 whether the SecureChannelId is known up front (1) or must be learned
    /// from an OPN, bit 7 whether the rest arrives in one read or in reads of 1…7 bytes (sizes
    /// taken from the data itself, so frames are split at arbitrary boundaries).
    package static func feed(_ data: [UInt8]) {
        guard let control = data.first else { return }
        let chunkCounts = [0, 1, 2, 8]
        let messageSizes = [0, 16, 256, 65536]
        let frameSizes = [TransportLimits.handshakeFrameSize, 8192, 64, 24]
        var decoder = UACPFrameDecoder(maxFrameSize: frameSizes[Int(control >> 4) & 3])
        var assembler = ChunkAssembler(
            maxMessageSize: UInt32(messageSizes[Int(control >> 2) & 3]), maxChunkCount: UInt32(chunkCounts[Int(control) & 3]),
            secureChannelId: control & 0x40 != 0 ? 1 : nil)
        let stream = data.dropFirst()
        var pending = ByteBuffer()
        var offset = stream.startIndex
        while offset < stream.endIndex {
            let step = control & 0x80 != 0 ? Int(stream[offset] & 7) + 1 : stream.count
            let end = min(offset + step, stream.endIndex)
            pending.writeBytes(stream[offset..<end])
            offset = end
            do throws(OPCUAError) {
                while let frame = try decoder.decode(buffer: &pending) {
                    try consume(frame, assembler: &assembler)
                }
            } catch {
                _ = error.status.isBad
                return
            }
        }
        do throws(OPCUAError) {
            while let frame = try decoder.decodeLast(buffer: &pending, seenEOF: true) {
                try consume(frame, assembler: &assembler)
            }
        } catch {
            return
        }
    }

    private static func consume(_ frame: UACPFrame, assembler: inout ChunkAssembler) throws(OPCUAError) {
        var body = frame.body
        switch frame.header.messageType {
        case .hello:
            let hello = try HelloMessage(decoding: &body)
            _ = try? TransportLimits().negotiated(with: hello)
        case .acknowledge:
            let acknowledge = try AcknowledgeMessage(decoding: &body)
            _ = try? TransportLimits().applying(acknowledge, to: TransportLimits().hello(endpointUrl: nil))
        case .error:
            _ = try ErrorMessage(decoding: &body)
        case .reverseHello:
            break
        case .open, .message, .close:
            if case .complete(let message) = try assembler.feed(frame) {
                // Re-split what was assembled: exercises the outbound path with peer-chosen sizes.
                var splitter = ChunkSplitter(sendBufferSize: 8192, maxMessageSize: 0, maxChunkCount: 0)
                _ = splitter.split(message)
            }
        }
    }
}
