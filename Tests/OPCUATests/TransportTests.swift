import Logging
import NIOCore
import NIOEmbedded
import Testing

@testable import OPCUA

/// UACP framing, HEL/ACK negotiation and Secure Conversation chunking (OPC 10000-6 §7.1, §6.7).
///
/// Golden bytes were built by hand from the spec tables and cross-checked against asyncua 1.1.5
/// (`uatcp_to_binary` for HEL/ACK/ERR, `MessageChunk.message_to_chunks` for MSG/OPN chunks).
struct TransportTests {
    // MARK: - Helpers

    private static func hex(_ text: String) -> [UInt8] {
        var bytes: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2)
            bytes.append(UInt8(text[index..<next], radix: 16)!)
            index = next
        }
        return bytes
    }

    private static func bytes(_ buffer: ByteBuffer) -> [UInt8] { Array(buffer.readableBytesView) }

    /// The OPCUAError `body` throws (any other error becomes status Bad), or nil.
    private static func failure(_ body: () throws -> Void) -> OPCUAError? {
        do {
            try body()
            return nil
        } catch let error as OPCUAError {
            return error
        } catch {
            return OPCUAError(.bad, "\(error)")
        }
    }

    /// The status of the OPCUAError `body` throws, or nil if it does not throw.
    private static func status(_ body: () throws -> Void) -> StatusCode? { failure(body)?.status }

    private static func encoded(_ value: some OPCUACodable) -> [UInt8] {
        var buffer = ByteBuffer()
        value.encode(to: &buffer)
        return bytes(buffer)
    }

    private static func uacp(_ type: MessageType, _ body: some OPCUACodable) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeUACPMessage(type, body)
        return buffer
    }

    /// A Secure Conversation chunk built field by field (independent of ChunkSplitter).
    private static func chunk(
        _ type: MessageType = .message, _ chunkType: ChunkType = .final, channel: UInt32 = 7, token: UInt32 = 1,
        asymmetric: AsymmetricSecurityHeader = .securityPolicyNone, sequence: UInt32, request: UInt32, body: [UInt8] = [1, 2, 3]
    ) -> ByteBuffer {
        var rest = ByteBuffer()
        rest.writeUA(channel)
        if type == .open { asymmetric.encode(to: &rest) } else { rest.writeUA(token) }
        rest.writeUA(sequence)
        rest.writeUA(request)
        rest.writeBytes(body)
        var buffer = ByteBuffer()
        ChunkHeader(messageType: type, chunkType: chunkType, messageSize: UInt32(8 + rest.readableBytes)).encode(to: &buffer)
        buffer.writeImmutableBuffer(rest)
        return buffer
    }

    private static func frame(_ buffer: ByteBuffer) throws -> UACPFrame {
        var decoder = UACPFrameDecoder()
        var copy = buffer
        return try #require(try decoder.decode(buffer: &copy))
    }

    private static func matrixBody() -> ByteBuffer {
        let values = (0..<10_000).map { Float($0) * 0.25 - 1000 }
        var body = ByteBuffer()
        NodeId(numeric: 634).encode(to: &body)  // ReadResponse_Encoding_DefaultBinary, as a stand-in
        Variant.matrix(.float(values), dimensions: [100, 100]).encode(to: &body)
        return body
    }

    private static let hello = HelloMessage(
        protocolVersion: 0, receiveBufferSize: 65536, sendBufferSize: 65536, maxMessageSize: 16 * 1024 * 1024, maxChunkCount: 4096,
        endpointUrl: "opc.tcp://localhost:4840")

    private static func serverChannel(limits: TransportLimits = TransportLimits(), helloTimeout: TimeAmount? = .seconds(60)) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try UACPTransport.addServerHandlers(to: channel.pipeline.syncOperations, limits: limits, logger: transportTestLogger,
                                            helloTimeout: helloTimeout)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 4840)).wait()
        return channel
    }

    /// A server channel that has answered `hello`; the ACK has been read.
    private static func openServer(limits: TransportLimits = TransportLimits(), hello: HelloMessage = TransportTests.hello) throws -> EmbeddedChannel {
        let channel = try serverChannel(limits: limits)
        try channel.writeInbound(uacp(.hello, hello))
        let ack = try #require(try channel.readOutbound(as: ByteBuffer.self))
        #expect(ack.getString(at: 0, length: 3) == "ACK")
        return channel
    }

    private static func outboundBytes(_ channel: EmbeddedChannel) throws -> [ByteBuffer] {
        var result: [ByteBuffer] = []
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { result.append(buffer) }
        return result
    }

    /// Reads the single ERR the server wrote and checks it has `status`, and that the channel closed.
    private static func expectError(_ channel: EmbeddedChannel, _ status: StatusCode, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let written = try outboundBytes(channel)
        let last = try #require(written.last, sourceLocation: sourceLocation)
        var copy = last
        let header = try ChunkHeader(decoding: &copy)
        #expect(header.messageType == .error, sourceLocation: sourceLocation)
        #expect(Int(header.messageSize) == last.readableBytes, sourceLocation: sourceLocation)
        let error = try ErrorMessage(decoding: &copy)
        #expect(error.error == status, "\(error.reason ?? "")", sourceLocation: sourceLocation)
        #expect(!channel.isActive, sourceLocation: sourceLocation)
    }

    /// Moves bytes between two embedded channels until both are quiet.
    private static func shuttle(_ a: EmbeddedChannel, _ b: EmbeddedChannel) throws {
        var moved = true
        while moved {
            moved = false
            while let buffer = try a.readOutbound(as: ByteBuffer.self) {
                moved = true
                try b.writeInbound(buffer)
            }
            while let buffer = try b.readOutbound(as: ByteBuffer.self) {
                moved = true
                try a.writeInbound(buffer)
            }
        }
    }

    // MARK: - Golden bytes

    @Test func helloGoldenBytes() throws {
        // OPC 10000-6 Table 73 + Table 69, field by field.
        var expected: [UInt8] = Array("HELF".utf8) + [56, 0, 0, 0]
        expected += [0, 0, 0, 0]  // ProtocolVersion 0
        expected += [0x00, 0x00, 0x01, 0x00]  // ReceiveBufferSize 65536
        expected += [0x00, 0x00, 0x01, 0x00]  // SendBufferSize 65536
        expected += [0x00, 0x00, 0x00, 0x01]  // MaxMessageSize 16 MiB
        expected += [0x00, 0x10, 0x00, 0x00]  // MaxChunkCount 4096
        expected += [24, 0, 0, 0] + Array("opc.tcp://localhost:4840".utf8)
        // asyncua 1.1.5: uatcp_to_binary(MessageType.Hello, Hello(...)).hex()
        let asyncua = Self.hex(
            "48454c46380000000000000000000100000001000000000100100000180000006f70632e7463703a2f2f6c6f63616c686f73743a34383430")
        #expect(expected == asyncua)
        #expect(Self.bytes(Self.uacp(.hello, Self.hello)) == expected)
        #expect(Self.bytes(Self.uacp(.hello, TransportLimits().hello(endpointUrl: "opc.tcp://localhost:4840"))) == expected)

        var buffer = Self.uacp(.hello, Self.hello)
        let header = try ChunkHeader(decoding: &buffer)
        #expect(header == ChunkHeader(messageType: .hello, chunkType: .final, messageSize: 56))
        #expect(try HelloMessage(decoding: &buffer) == Self.hello)
        #expect(buffer.readableBytes == 0)
    }

    @Test func acknowledgeAndErrorGoldenBytes() throws {
        let ack = AcknowledgeMessage(protocolVersion: 0, receiveBufferSize: 65536, sendBufferSize: 8192, maxMessageSize: 16_777_216, maxChunkCount: 4096)
        var expected: [UInt8] = Array("ACKF".utf8) + [28, 0, 0, 0]
        expected += [0, 0, 0, 0, 0x00, 0x00, 0x01, 0x00, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x10, 0x00, 0x00]
        #expect(expected == Self.hex("41434b461c0000000000000000000100002000000000000100100000"))  // asyncua
        #expect(Self.bytes(Self.uacp(.acknowledge, ack)) == expected)
        var buffer = ByteBuffer(bytes: expected.dropFirst(8))
        #expect(try AcknowledgeMessage(decoding: &buffer) == ack)

        let error = ErrorMessage(error: .badTcpMessageTypeInvalid, reason: "bad")
        #expect(Self.bytes(Self.uacp(.error, error)) == Self.hex("455252461300000000007e8003000000626164"))  // asyncua
    }

    @Test func errorReasonsAreLimitedTo4096Bytes() throws {
        let long = String(repeating: "é", count: 3000)  // 6000 bytes
        var buffer = ByteBuffer()
        ErrorMessage(error: .badTcpInternalError, reason: long).encode(to: &buffer)
        #expect(buffer.readableBytes == 4 + 4 + 4096)
        let back = try ErrorMessage(decoding: &buffer)
        #expect(back.reason == String(repeating: "é", count: 2048))

        // Received: an overlong reason is ignored, not an error.
        var received = ByteBuffer()
        received.writeUA(StatusCode.badTcpInternalError.rawValue)
        received.writeUA(Int32(5000))
        received.writeBytes([UInt8](repeating: 0x41, count: 5000))
        let decoded = try ErrorMessage(decoding: &received)
        #expect(decoded.error == .badTcpInternalError)
        #expect(decoded.reason == nil)
    }

    @Test func endpointUrlIsLimitedTo4096Bytes() throws {
        var ok = Self.hello
        ok.endpointUrl = String(repeating: "a", count: 4096)
        var buffer = ByteBuffer()
        ok.encode(to: &buffer)
        #expect(try HelloMessage(decoding: &buffer).endpointUrl?.utf8.count == 4096)

        var long = Self.hello
        long.endpointUrl = String(repeating: "a", count: 4097)
        buffer.clear()
        long.encode(to: &buffer)
        #expect(Self.status { _ = try HelloMessage(decoding: &buffer) } == .badTcpEndpointUrlInvalid)
    }

    // MARK: - Negotiation

    @Test func serverNegotiationTakesTheSmallerBuffers() throws {
        let limits = TransportLimits(receiveBufferSize: 65536, sendBufferSize: 65536, maxMessageSize: 1_000_000, maxChunkCount: 100)
        let client = HelloMessage(
            protocolVersion: 0, receiveBufferSize: 16384, sendBufferSize: 2_147_483_647, maxMessageSize: 0, maxChunkCount: 0,
            endpointUrl: "opc.tcp://x:4840")
        let ack = try limits.negotiated(with: client)
        #expect(ack == AcknowledgeMessage(protocolVersion: 0, receiveBufferSize: 65536, sendBufferSize: 16384, maxMessageSize: 1_000_000, maxChunkCount: 100))
        let view = NegotiatedLimits(hello: client, acknowledge: ack)
        #expect(view.receiveBufferSize == 65536)
        #expect(view.sendBufferSize == 16384)
        #expect(view.maxReceiveMessageSize == 1_000_000)
        #expect(view.maxSendMessageSize == 0)  // the Client states no limit
        #expect(view.maxSendChunkCount == 0)

        // Our receive buffer never exceeds what the Client will send, and vice versa.
        let small = HelloMessage(protocolVersion: 0, receiveBufferSize: 8192, sendBufferSize: 9000, maxMessageSize: 0, maxChunkCount: 0, endpointUrl: nil)
        let smallAck = try limits.negotiated(with: small)
        #expect(smallAck.receiveBufferSize == 9000)
        #expect(smallAck.sendBufferSize == 8192)
    }

    @Test func serverRejectsBuffersBelow8192() {
        for (receive, send) in [(UInt32(8191), UInt32(65536)), (65536, 1024), (0, 0)] {
            let hello = HelloMessage(receiveBufferSize: receive, sendBufferSize: send, maxMessageSize: 0, maxChunkCount: 0, endpointUrl: nil)
            #expect(Self.status { _ = try TransportLimits().negotiated(with: hello) } == .badTcpNotEnoughResources)
        }
        // Configured values below the minimum are raised to it.
        #expect(TransportLimits(receiveBufferSize: 1000, sendBufferSize: 10).hello(endpointUrl: nil).receiveBufferSize == 8192)
    }

    @Test func protocolVersions() throws {
        // The Server accepts any requested version and answers the one it speaks (0).
        var future = Self.hello
        future.protocolVersion = 7
        #expect(try TransportLimits().negotiated(with: future).protocolVersion == 0)
        // The Client rejects an Acknowledge with a version above its request.
        let hello = TransportLimits().hello(endpointUrl: "opc.tcp://x")
        let ack = AcknowledgeMessage(protocolVersion: 1, receiveBufferSize: 65536, sendBufferSize: 65536, maxMessageSize: 0, maxChunkCount: 0)
        #expect(Self.status { _ = try TransportLimits().applying(ack, to: hello) } == .badProtocolVersionUnsupported)
    }

    @Test func clientAppliesTheAcknowledge() throws {
        let limits = TransportLimits(receiveBufferSize: 65536, sendBufferSize: 65536, maxMessageSize: 5_000_000, maxChunkCount: 300)
        let hello = limits.hello(endpointUrl: "opc.tcp://x")
        let ack = AcknowledgeMessage(protocolVersion: 0, receiveBufferSize: 8192, sendBufferSize: 65535, maxMessageSize: 0, maxChunkCount: 0)
        let view = try limits.applying(ack, to: hello)
        #expect(view == NegotiatedLimits(
            receiveBufferSize: 65536, sendBufferSize: 8192, maxReceiveMessageSize: 5_000_000, maxReceiveChunkCount: 300,
            maxSendMessageSize: 0, maxSendChunkCount: 0))
        var tiny = ack
        tiny.sendBufferSize = 4096
        #expect(Self.status { _ = try limits.applying(tiny, to: hello) } == .badTcpNotEnoughResources)
    }

    // MARK: - Framing

    @Test func framesSplitAtEveryByteBoundaryStillDecode() throws {
        var stream = Self.uacp(.hello, Self.hello)
        var first = Self.chunk(.message, .intermediate, sequence: 1, request: 9, body: Array(0..<100))
        var second = Self.chunk(.message, .final, sequence: 2, request: 9, body: [0xFF])
        stream.writeBuffer(&first)
        stream.writeBuffer(&second)
        let all = Self.bytes(stream)

        func decodeAll(in pieces: [ArraySlice<UInt8>]) throws -> [UACPFrame] {
            var decoder = UACPFrameDecoder()
            var pending = ByteBuffer()
            var frames: [UACPFrame] = []
            for piece in pieces {
                pending.writeBytes(piece)
                while let frame = try decoder.decode(buffer: &pending) { frames.append(frame) }
            }
            #expect(pending.readableBytes == 0)
            return frames
        }
        let whole = try decodeAll(in: [all[...]])
        #expect(whole.map(\.header.messageType) == [.hello, .message, .message])
        #expect(whole.map(\.header.chunkType) == [.final, .intermediate, .final])
        #expect(whole[1].body.readableBytes == 4 + 4 + 8 + 100)
        for split in 1..<all.count {
            #expect(try decodeAll(in: [all[..<split], all[split...]]) == whole, "split at \(split)")
        }
        #expect(try decodeAll(in: all.indices.map { all[$0...$0] }) == whole)
    }

    @Test func frameHeaderValidation() {
        func decodeError(_ bytes: [UInt8], maxFrameSize: Int = 65536) -> OPCUAError? {
            var decoder = UACPFrameDecoder(maxFrameSize: maxFrameSize)
            var buffer = ByteBuffer(bytes: bytes)
            do {
                _ = try decoder.decode(buffer: &buffer)
                return nil
            } catch {
                return error
            }
        }
        #expect(decodeError(Array("XYZF".utf8) + [8, 0, 0, 0])?.status == .badTcpMessageTypeInvalid)
        #expect(decodeError(Array("MSGX".utf8) + [24, 0, 0, 0])?.status == .badTcpMessageTypeInvalid)
        #expect(decodeError(Array("HELF".utf8) + [7, 0, 0, 0])?.status == .badDecodingError)
        #expect(decodeError(Array("MSGF".utf8) + [0, 0, 0, 0])?.status == .badDecodingError)
        #expect(decodeError(Array("MSGF".utf8) + [0x01, 0x20, 0, 0], maxFrameSize: 8192)?.status == .badTcpMessageTooLarge)
        #expect(decodeError(Array("MSGF".utf8) + [0xFF, 0xFF, 0xFF, 0xFF])?.status == .badTcpMessageTooLarge)
        // The reserved byte of the UACP types is ignored.
        #expect(decodeError(Array("HELX".utf8) + [8, 0, 0, 0]) == nil)
        // Exactly the limit passes the header check (the decoder then waits for the body).
        #expect(decodeError(Array("MSGF".utf8) + [0x00, 0x20, 0, 0], maxFrameSize: 8192) == nil)
    }

    @Test func frameLimitIsSharedAndSettable() throws {
        let limit = UACPFrameLimit(maxFrameSize: 8192)
        var decoder = UACPFrameDecoder(limit: limit)
        var big = Self.chunk(sequence: 1, request: 1, body: [UInt8](repeating: 7, count: 9000))
        #expect(throws: OPCUAError.self) { _ = try decoder.decode(buffer: &big) }
        limit.maxFrameSize = 16384
        big.moveReaderIndex(to: 0)
        let frame = try #require(try decoder.decode(buffer: &big))
        #expect(frame.body.readableBytes == 16 + 9000)
    }

    // MARK: - Sequence numbers

    @Test func sequenceNumberGeneratorWrapsToZero() {
        var generator = SequenceNumberGenerator(startingAt: UInt32.max - 1)
        #expect([generator.next(), generator.next(), generator.next()] == [UInt32.max - 1, UInt32.max, 0])
        #expect(SequenceNumberGenerator().nextValue == 1)
        #expect(SequenceNumberGenerator.isValidSuccessor(6, of: 5))
        #expect(!SequenceNumberGenerator.isValidSuccessor(7, of: 5))
        #expect(!SequenceNumberGenerator.isValidSuccessor(5, of: 5))
        #expect(SequenceNumberGenerator.isValidSuccessor(0, of: UInt32.max))
        #expect(SequenceNumberGenerator.isValidSuccessor(1023, of: 4_294_966_272))
        #expect(!SequenceNumberGenerator.isValidSuccessor(1024, of: 4_294_966_272))
        #expect(!SequenceNumberGenerator.isValidSuccessor(3, of: 4_294_966_271))  // too early to wrap
    }

    @Test func assemblerChecksSequenceNumbers() throws {
        var assembler = ChunkAssembler(maxMessageSize: 0, maxChunkCount: 0, secureChannelId: 7)
        // The first number is free, then exactly +1.
        #expect(try assembler.feed(Self.frame(Self.chunk(sequence: 500, request: 1))) != .incomplete)
        #expect(try assembler.feed(Self.frame(Self.chunk(sequence: 501, request: 2))) != .incomplete)
        #expect(Self.status { _ = try assembler.feed(Self.frame(Self.chunk(sequence: 503, request: 3))) } == .badSequenceNumberInvalid)

        // Wrap-around per §6.7.2.4: from above UInt32.max − 1024 to below 1024.
        var wrapping = ChunkAssembler(maxMessageSize: 0, maxChunkCount: 0, secureChannelId: 7)
        _ = try wrapping.feed(Self.frame(Self.chunk(sequence: 4_294_967_000, request: 1)))
        _ = try wrapping.feed(Self.frame(Self.chunk(sequence: 5, request: 2)))
        _ = try wrapping.feed(Self.frame(Self.chunk(sequence: 6, request: 3)))
        #expect(wrapping.lastSequenceNumber == 6)
        var standard = ChunkAssembler(maxMessageSize: 0, maxChunkCount: 0, secureChannelId: 7)
        _ = try standard.feed(Self.frame(Self.chunk(sequence: UInt32.max, request: 1)))
        _ = try standard.feed(Self.frame(Self.chunk(sequence: 0, request: 2)))
        // A "wrap" from a low number is a gap.
        var early = ChunkAssembler(maxMessageSize: 0, maxChunkCount: 0, secureChannelId: 7)
        _ = try early.feed(Self.frame(Self.chunk(sequence: 4_000_000_000, request: 1)))
        #expect(throws: OPCUAError.self) { _ = try early.feed(Self.frame(Self.chunk(sequence: 1, request: 2))) }
    }

    // MARK: - Assembly

    @Test func assemblerReassemblesAndLearnsTheChannelId() throws {
        var assembler = ChunkAssembler(maxMessageSize: 0, maxChunkCount: 0, tooLargeStatus: .badResponseTooLarge)
        // MSG before any OPN: no channel yet.
        #expect(Self.status { _ = try assembler.feed(Self.frame(Self.chunk(sequence: 1, request: 1))) } == .badTcpSecureChannelUnknown)
        var client = ChunkAssembler(maxMessageSize: 0, maxChunkCount: 0, tooLargeStatus: .badResponseTooLarge)
        let open = try client.feed(Self.frame(Self.chunk(.open, channel: 42, sequence: 10, request: 1, body: [9, 9])))
        #expect(open == .complete(SecureMessage(kind: .open(.securityPolicyNone), secureChannelId: 42, requestId: 1, body: ByteBuffer(bytes: [9, 9]))))
        #expect(client.secureChannelId == 42)

        #expect(try client.feed(Self.frame(Self.chunk(.message, .intermediate, channel: 42, token: 3, sequence: 11, request: 2, body: [1, 2]))) == .incomplete)
        #expect(client.hasPartialMessage)
        #expect(try client.feed(Self.frame(Self.chunk(.message, .intermediate, channel: 42, token: 3, sequence: 12, request: 2, body: [3]))) == .incomplete)
        let done = try client.feed(Self.frame(Self.chunk(.message, .final, channel: 42, token: 3, sequence: 13, request: 2, body: [4, 5])))
        #expect(done == .complete(SecureMessage(kind: .message(tokenId: 3), secureChannelId: 42, requestId: 2, body: ByteBuffer(bytes: [1, 2, 3, 4, 5]))))
        #expect(!client.hasPartialMessage)

        // Another channel id is rejected.
        #expect(Self.status { _ = try client.feed(Self.frame(Self.chunk(.close, channel: 43, sequence: 14, request: 3))) } == .badTcpSecureChannelUnknown)
    }

    @Test func chunksOfOneMessageMustBeContiguous() throws {
        var assembler = ChunkAssembler(maxMessageSize: 0, maxChunkCount: 0, secureChannelId: 7)
        _ = try assembler.feed(Self.frame(Self.chunk(.message, .intermediate, sequence: 1, request: 1)))
        #expect(Self.status { _ = try assembler.feed(Self.frame(Self.chunk(.message, .final, sequence: 2, request: 2))) } == .badSecurityChecksFailed)
        var mixed = ChunkAssembler(maxMessageSize: 0, maxChunkCount: 0, secureChannelId: 7)
        _ = try mixed.feed(Self.frame(Self.chunk(.message, .intermediate, sequence: 1, request: 1)))
        #expect(throws: OPCUAError.self) { _ = try mixed.feed(Self.frame(Self.chunk(.close, .final, sequence: 2, request: 1))) }
    }

    @Test func abortChunkDiscardsThePartialMessage() throws {
        var assembler = ChunkAssembler(maxMessageSize: 0, maxChunkCount: 0, secureChannelId: 7)
        #expect(try assembler.feed(Self.frame(Self.chunk(.message, .intermediate, sequence: 1, request: 5, body: [1, 1, 1]))) == .incomplete)
        #expect(try assembler.feed(Self.frame(Self.chunk(.message, .intermediate, sequence: 2, request: 5, body: [2, 2, 2]))) == .incomplete)
        let abortBody = Self.encoded(ErrorMessage(error: .badResponseTooLarge, reason: "too big"))
        let aborted = try assembler.feed(Self.frame(Self.chunk(.message, .abort, sequence: 3, request: 5, body: abortBody)))
        #expect(aborted == .aborted(requestId: 5, status: .badResponseTooLarge, reason: "too big"))
        #expect(!assembler.hasPartialMessage)
        // The channel goes on; the next message contains none of the aborted bytes.
        let next = try assembler.feed(Self.frame(Self.chunk(.message, .final, sequence: 4, request: 6, body: [3])))
        #expect(next == .complete(SecureMessage(kind: .message(tokenId: 1), secureChannelId: 7, requestId: 6, body: ByteBuffer(bytes: [3]))))
        // An abort without earlier chunks (the message was refused before any was sent).
        let lone = try assembler.feed(Self.frame(Self.chunk(.message, .abort, sequence: 5, request: 7, body: abortBody)))
        #expect(lone == .aborted(requestId: 7, status: .badResponseTooLarge, reason: "too big"))
    }

    @Test func assemblerEnforcesChunkCountAndMessageSize() throws {
        var counted = ChunkAssembler(maxMessageSize: 0, maxChunkCount: 3, tooLargeStatus: .badRequestTooLarge, secureChannelId: 7)
        for sequence in UInt32(1)...3 {
            let type: ChunkType = sequence == 3 ? .final : .intermediate
            _ = try counted.feed(Self.frame(Self.chunk(.message, type, sequence: sequence, request: 1)))
        }
        for sequence in UInt32(4)...5 { _ = try counted.feed(Self.frame(Self.chunk(.message, .intermediate, sequence: sequence, request: 2))) }
        _ = try counted.feed(Self.frame(Self.chunk(.message, .intermediate, sequence: 6, request: 2)))
        #expect(Self.status { _ = try counted.feed(Self.frame(Self.chunk(.message, .final, sequence: 7, request: 2))) } == .badRequestTooLarge)

        var sized = ChunkAssembler(maxMessageSize: 10, maxChunkCount: 0, tooLargeStatus: .badResponseTooLarge, secureChannelId: 7)
        _ = try sized.feed(Self.frame(Self.chunk(.message, .final, sequence: 1, request: 1, body: Array(0..<10))))
        _ = try sized.feed(Self.frame(Self.chunk(.message, .intermediate, sequence: 2, request: 2, body: Array(0..<6))))
        #expect(Self.status { _ = try sized.feed(Self.frame(Self.chunk(.message, .final, sequence: 3, request: 2, body: Array(0..<5)))) } == .badResponseTooLarge)
    }

    @Test func truncatedAndHostileSecurityHeadersThrow() throws {
        func feedError(_ buffer: ByteBuffer) -> OPCUAError? {
            var assembler = ChunkAssembler(maxMessageSize: 0, maxChunkCount: 0, secureChannelId: 7)
            do {
                _ = try assembler.feed(try Self.frame(buffer))
                return nil
            } catch let error as OPCUAError {
                return error
            } catch {
                return OPCUAError(.bad, "\(error)")
            }
        }
        func raw(_ type: String, _ rest: [UInt8]) -> ByteBuffer {
            var buffer = ByteBuffer(bytes: Array(type.utf8))
            buffer.writeUA(UInt32(8 + rest.count))
            buffer.writeBytes(rest)
            return buffer
        }
        #expect(feedError(raw("MSGF", [7, 0]))?.status == .badDecodingError)  // channel id cut
        #expect(feedError(raw("MSGF", [7, 0, 0, 0, 1, 0]))?.status == .badDecodingError)  // token cut
        #expect(feedError(raw("MSGF", [7, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0]))?.status == .badDecodingError)  // sequence header cut
        #expect(feedError(raw("OPNF", [0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0x7F]))?.status == .badDecodingError)  // URI length 2^31-1
        #expect(feedError(raw("OPNF", [0, 0, 0, 0, 0xFE, 0xFF, 0xFF, 0xFF]))?.status == .badDecodingError)  // URI length -2
        #expect(feedError(raw("OPNF", [0, 0, 0, 0, 0x2C, 0x01, 0, 0] + [UInt8](repeating: 0x61, count: 300)))?.status == .badDecodingError)  // 300 > 255
        #expect(feedError(raw("OPNF", [0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0x10, 0, 0, 0]))?.status == .badDecodingError)  // certificate cut
        #expect(feedError(raw("OPNF", [0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 1, 0, 0, 0, 1, 0, 0, 0])) == nil)
        #expect(feedError(raw("HELF", []))?.status == .badTcpMessageTypeInvalid)
        // Abort chunk without an error code.
        #expect(feedError(raw("MSGA", [7, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0x80]))?.status == .badDecodingError)
    }

    // MARK: - Splitting

    @Test func splitterMatchesAsyncuaChunking() throws {
        let body = ByteBuffer(bytes: (0..<20000).map { UInt8($0 % 251) })
        var splitter = ChunkSplitter(sendBufferSize: 8192, maxMessageSize: 0, maxChunkCount: 0)
        let message = SecureMessage(kind: .message(tokenId: 7), secureChannelId: 5, requestId: 3, body: body)
        guard case .chunks(let chunks) = splitter.split(message) else {
            Issue.record("not split")
            return
        }
        // asyncua 1.1.5 MessageChunk.message_to_chunks(None, body, 8192, MSG, channel 5, request 3, token 7), sequence 1…3.
        #expect(chunks.map(\.readableBytes) == [8192, 8192, 3688])
        #expect(Self.bytes(chunks[0].getSlice(at: 0, length: 24)!) == Self.hex("4d5347430020000005000000070000000100000003000000"))
        #expect(Self.bytes(chunks[1].getSlice(at: 0, length: 24)!) == Self.hex("4d5347430020000005000000070000000200000003000000"))
        #expect(Self.bytes(chunks[2].getSlice(at: 0, length: 24)!) == Self.hex("4d534746680e000005000000070000000300000003000000"))
        var joined: [UInt8] = []
        for chunk in chunks { joined += Self.bytes(chunk.getSlice(at: 24, length: chunk.readableBytes - 24)!) }
        #expect(joined == Self.bytes(body))
        #expect(splitter.sequenceNumbers.nextValue == 4)

        // OPN with SecurityPolicy None, byte for byte.
        var opn = ChunkSplitter(sendBufferSize: 8192, maxMessageSize: 0, maxChunkCount: 0)
        let open = SecureMessage(kind: .open(.securityPolicyNone), secureChannelId: 0, requestId: 1, body: ByteBuffer(bytes: [0x01, 0x00, 0xBE, 0x01]))
        #expect(opn.split(open) == .chunks([ByteBuffer(bytes: Self.hex(
            "4f504e4653000000000000002f000000687474703a2f2f6f7063666f756e646174696f6e2e6f72672f55412f5365637572697479506f6c696379234e6f6e65ffffffffffffffff01000000010000000100be01"))]))
        #expect(ChunkSplitter.overhead(of: .message(tokenId: 1)) == 24)
    }

    @Test func fortyKilobyteMatrixSurvivesSplittingBitForBit() throws {
        let body = Self.matrixBody()
        #expect(body.readableBytes > 40_000)
        var splitter = ChunkSplitter(sendBufferSize: 8192, maxMessageSize: 16 * 1024 * 1024, maxChunkCount: 4096)
        let message = SecureMessage(kind: .message(tokenId: 1), secureChannelId: 7, requestId: 11, body: body)
        guard case .chunks(let chunks) = splitter.split(message) else {
            Issue.record("not split")
            return
        }
        #expect(chunks.count == (body.readableBytes + 8167) / 8168)
        #expect(chunks.allSatisfy { $0.readableBytes <= 8192 })
        var assembler = ChunkAssembler(maxMessageSize: 16 * 1024 * 1024, maxChunkCount: 4096, secureChannelId: 7)
        var outcome = ChunkAssembler.Outcome.incomplete
        for chunk in chunks { outcome = try assembler.feed(Self.frame(chunk)) }
        #expect(outcome == .complete(message))
        guard case .complete(let back) = outcome else { return }
        var decoded = back.body
        #expect(try NodeId(decoding: &decoded) == NodeId(numeric: 634))
        let variant = try Variant(decoding: &decoded)
        #expect(variant.valueRank == 2)
        #expect(decoded.readableBytes == 0)
    }

    @Test func splitterRefusesMessagesOverThePeersLimits() throws {
        var splitter = ChunkSplitter(sendBufferSize: 8192, maxMessageSize: 10_000, maxChunkCount: 0, tooLargeStatus: .badResponseTooLarge)
        let big = SecureMessage(kind: .message(tokenId: 4), secureChannelId: 7, requestId: 9, body: ByteBuffer(bytes: [UInt8](repeating: 1, count: 10_001)))
        guard case .tooLarge(let error) = splitter.split(big) else {
            Issue.record("split a too-large message")
            return
        }
        #expect(error.status == .badResponseTooLarge)
        #expect(splitter.sequenceNumbers.nextValue == 1)  // nothing numbered

        var counted = ChunkSplitter(sendBufferSize: 8192, maxMessageSize: 0, maxChunkCount: 2, tooLargeStatus: .badRequestTooLarge)
        let three = SecureMessage(kind: .message(tokenId: 4), secureChannelId: 7, requestId: 9, body: ByteBuffer(bytes: [UInt8](repeating: 1, count: 8168 * 2 + 1)))
        #expect(counted.split(three) == .tooLarge(OPCUAError(.badRequestTooLarge, "message of 16337 bytes for request 9 needs 3 chunks, the peer accepts 2")))
        var exact = three
        exact.body = ByteBuffer(bytes: [UInt8](repeating: 1, count: 8168 * 2))
        guard case .chunks(let two) = counted.split(exact) else {
            Issue.record("refused a message within the limits")
            return
        }
        #expect(two.count == 2)

        // The abort chunk: same channel, token and request, 'A', error + reason.
        let abort = splitter.abortChunk(for: big, status: .badResponseTooLarge, reason: "too big")
        var assembler = ChunkAssembler(maxMessageSize: 0, maxChunkCount: 0, secureChannelId: 7)
        #expect(try assembler.feed(Self.frame(abort)) == .aborted(requestId: 9, status: .badResponseTooLarge, reason: "too big"))
        #expect(abort.getInteger(at: 3, as: UInt8.self) == UInt8(ascii: "A"))
        #expect(abort.getInteger(at: 12, endianness: .little, as: UInt32.self) == 4)
    }

    @Test func emptyBodyIsOneChunk() throws {
        var splitter = ChunkSplitter(sendBufferSize: 8192, maxMessageSize: 0, maxChunkCount: 0)
        let close = SecureMessage(kind: .close(tokenId: 2), secureChannelId: 7, requestId: 3, body: ByteBuffer())
        guard case .chunks(let chunks) = splitter.split(close) else {
            Issue.record("not split")
            return
        }
        #expect(chunks.count == 1)
        #expect(chunks[0].readableBytes == 24)
        #expect(chunks[0].getString(at: 0, length: 4) == "CLOF")
    }

    // MARK: - Server handler

    @Test func serverAnswersHelloAndAppliesTheNegotiatedLimit() throws {
        let limits = TransportLimits(receiveBufferSize: 8192, sendBufferSize: 65536, maxMessageSize: 100_000, maxChunkCount: 50)
        let channel = try Self.serverChannel(limits: limits)
        try channel.writeInbound(Self.uacp(.hello, Self.hello))
        var ack = try #require(try channel.readOutbound(as: ByteBuffer.self))
        #expect(try ChunkHeader(decoding: &ack) == ChunkHeader(messageType: .acknowledge, chunkType: .final, messageSize: 28))
        #expect(try AcknowledgeMessage(decoding: &ack) == AcknowledgeMessage(
            protocolVersion: 0, receiveBufferSize: 8192, sendBufferSize: 65536, maxMessageSize: 100_000, maxChunkCount: 50))
        #expect(channel.isActive)

        // An OPN within limits is handed on whole.
        try channel.writeInbound(Self.chunk(.open, channel: 0, sequence: 1, request: 1, body: [1, 2, 3, 4]))
        let open = try #require(try channel.readInbound(as: SecureMessage.self))
        #expect(open == SecureMessage(kind: .open(.securityPolicyNone), secureChannelId: 0, requestId: 1, body: ByteBuffer(bytes: [1, 2, 3, 4])))

        // A chunk above the negotiated 8192 (the HEL-time limit was 64 KiB) is rejected.
        try channel.writeInbound(Self.chunk(.open, channel: 0, sequence: 2, request: 2, body: [UInt8](repeating: 0, count: 9000)))
        try Self.expectError(channel, .badTcpMessageTooLarge)
        let failure = try #require(try channel.readInbound(as: SecureMessage.self))
        guard case .error(let status, _) = failure.kind else {
            Issue.record("expected .error, got \(failure.kind)")
            return
        }
        #expect(status == .badTcpMessageTooLarge)
    }

    @Test func serverRequiresHelloFirst() throws {
        let channel = try Self.serverChannel()
        try channel.writeInbound(Self.chunk(.open, channel: 0, sequence: 1, request: 1))
        try Self.expectError(channel, .badTcpMessageTypeInvalid)
        #expect(try channel.readInbound(as: SecureMessage.self)?.kind == .error(status: .badTcpMessageTypeInvalid, reason: "expected HEL as the first message, got OPN"))
    }

    @Test func serverRejectsASecondHello() throws {
        let channel = try Self.openServer()
        try channel.writeInbound(Self.uacp(.hello, Self.hello))
        try Self.expectError(channel, .badTcpMessageTypeInvalid)
    }

    @Test func serverRejectsBadHellos() throws {
        var small = Self.hello
        small.receiveBufferSize = 4096
        let smallChannel = try Self.serverChannel()
        try smallChannel.writeInbound(Self.uacp(.hello, small))
        try Self.expectError(smallChannel, .badTcpNotEnoughResources)

        var long = Self.hello
        long.endpointUrl = "opc.tcp://" + String(repeating: "h", count: 5000)
        let longChannel = try Self.serverChannel()
        try longChannel.writeInbound(Self.uacp(.hello, long))
        try Self.expectError(longChannel, .badTcpEndpointUrlInvalid)

        // String length fields that are negative or point past the end.
        for length in [Int32(-2), Int32.min, 100, Int32.max] {
            var body = ByteBuffer()
            for _ in 0..<5 { body.writeUA(UInt32(65536)) }
            body.writeUA(length)
            body.writeBytes(Array("opc.tcp://x".utf8))
            var frame = ByteBuffer()
            ChunkHeader(messageType: .hello, messageSize: UInt32(8 + body.readableBytes)).encode(to: &frame)
            frame.writeBuffer(&body)
            let channel = try Self.serverChannel()
            try channel.writeInbound(frame)
            try Self.expectError(channel, length == Int32.max ? .badTcpEndpointUrlInvalid : .badDecodingError)
        }

        // A Hello cut short.
        let cut = try Self.serverChannel()
        try cut.writeInbound(ByteBuffer(bytes: Array("HELF".utf8) + [12, 0, 0, 0, 0, 0, 0, 0]))
        try Self.expectError(cut, .badDecodingError)
    }

    @Test func serverRejectsHostileFrames() throws {
        let cases: [([UInt8], StatusCode)] = [
            (Array("HELF".utf8) + [3, 0, 0, 0], .badDecodingError),  // size below the header
            (Array("HELF".utf8) + [0x00, 0x00, 0x10, 0x00], .badTcpMessageTooLarge),  // 1 MiB before the handshake
            (Array("GETF".utf8) + [0x20, 0x2F, 0x20, 0x48], .badTcpMessageTypeInvalid),  // HTTP, not UACP
            (Self.bytes(Self.uacp(.acknowledge, AcknowledgeMessage(receiveBufferSize: 8192, sendBufferSize: 8192, maxMessageSize: 0, maxChunkCount: 0))), .badTcpMessageTypeInvalid),
        ]
        for (bytes, status) in cases {
            let channel = try Self.serverChannel()
            try channel.writeInbound(ByteBuffer(bytes: bytes))
            try Self.expectError(channel, status)
        }
        // After the handshake: size past the negotiated receive buffer, truncated security header, unknown chunk type.
        let afterHandshake: [([UInt8], StatusCode)] = [
            (Array("MSGF".utf8) + [0x01, 0x00, 0x01, 0x00], .badTcpMessageTooLarge),
            (Array("MSGF".utf8) + [14, 0, 0, 0, 7, 0, 0, 0, 1, 0], .badDecodingError),
            (Array("MSGQ".utf8) + [24, 0, 0, 0], .badTcpMessageTypeInvalid),
        ]
        for (bytes, status) in afterHandshake {
            let channel = try Self.openServer()
            try channel.writeInbound(ByteBuffer(bytes: bytes))
            try Self.expectError(channel, status)
        }
    }

    @Test func serverClosesWithoutHelloAfterTheTimeout() throws {
        let channel = try Self.serverChannel(helloTimeout: .seconds(30))
        channel.embeddedEventLoop.advanceTime(by: .seconds(29))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        try Self.expectError(channel, .badTimeout)

        let greeted = try Self.serverChannel(helloTimeout: .seconds(30))
        try greeted.writeInbound(Self.uacp(.hello, Self.hello))
        greeted.embeddedEventLoop.advanceTime(by: .seconds(60))
        #expect(greeted.isActive)
    }

    @Test func serverEnforcesInboundChunkCountAndMessageSize() throws {
        let limits = TransportLimits(receiveBufferSize: 65536, sendBufferSize: 65536, maxMessageSize: 1000, maxChunkCount: 2)
        let counted = try Self.openServer(limits: limits)
        try counted.writeInbound(Self.chunk(.open, channel: 0, sequence: 1, request: 1))
        _ = try counted.readInbound(as: SecureMessage.self)
        try counted.writeOutbound(SecureMessage(kind: .open(.securityPolicyNone), secureChannelId: 7, requestId: 1, body: ByteBuffer(bytes: [1])))
        _ = try Self.outboundBytes(counted)
        try counted.writeInbound(Self.chunk(.message, .intermediate, sequence: 2, request: 2))
        try counted.writeInbound(Self.chunk(.message, .intermediate, sequence: 3, request: 2))
        #expect(counted.isActive)
        try counted.writeInbound(Self.chunk(.message, .final, sequence: 4, request: 2))
        try Self.expectError(counted, .badRequestTooLarge)

        let sized = try Self.openServer(limits: limits)
        try sized.writeInbound(Self.chunk(.open, channel: 0, sequence: 1, request: 1, body: [UInt8](repeating: 0, count: 1001)))
        try Self.expectError(sized, .badRequestTooLarge)
    }

    @Test func serverRejectsSequenceGapsAndWrongChannels() throws {
        let gap = try Self.openServer()
        try gap.writeInbound(Self.chunk(.open, channel: 0, sequence: 1, request: 1))
        try gap.writeInbound(Self.chunk(.open, channel: 0, sequence: 3, request: 2))
        try Self.expectError(gap, .badSequenceNumberInvalid)

        let unknown = try Self.openServer()
        try unknown.writeInbound(Self.chunk(.open, channel: 0, sequence: 1, request: 1))
        try unknown.writeOutbound(SecureMessage(kind: .open(.securityPolicyNone), secureChannelId: 7, requestId: 1, body: ByteBuffer()))
        try unknown.writeInbound(Self.chunk(.message, channel: 8, sequence: 2, request: 2))
        try Self.expectError(unknown, .badTcpSecureChannelUnknown)
    }

    @Test func serverAbortsResponsesOverTheClientsLimits() throws {
        var hello = Self.hello
        hello.maxMessageSize = 5000
        let channel = try Self.openServer(hello: hello)
        try channel.writeInbound(Self.chunk(.open, channel: 0, sequence: 1, request: 1))
        try channel.writeOutbound(SecureMessage(kind: .open(.securityPolicyNone), secureChannelId: 7, requestId: 1, body: ByteBuffer(bytes: [1])))
        _ = try Self.outboundBytes(channel)
        let big = SecureMessage(kind: .message(tokenId: 1), secureChannelId: 7, requestId: 2, body: ByteBuffer(bytes: [UInt8](repeating: 1, count: 5001)))
        let promise = channel.embeddedEventLoop.makePromise(of: Void.self)
        channel.writeAndFlush(big, promise: promise)
        #expect(Self.status { try promise.futureResult.wait() } == .badResponseTooLarge)
        let written = try Self.outboundBytes(channel)
        #expect(written.count == 1)
        var client = ChunkAssembler(maxMessageSize: 0, maxChunkCount: 0, secureChannelId: 7)
        _ = try client.feed(Self.frame(Self.chunk(.open, sequence: 1, request: 1)))  // the OPN response numbered 1
        let outcome = try client.feed(Self.frame(written[0]))
        guard case .aborted(2, .badResponseTooLarge, _) = outcome else {
            Issue.record("expected an abort of request 2, got \(outcome)")
            return
        }
        #expect(channel.isActive)
    }

    @Test func serverAbortsResponsesWithTooManyChunks() throws {
        var hello = Self.hello
        hello.maxMessageSize = 0
        hello.maxChunkCount = 1
        let channel = try Self.openServer(hello: hello)
        try channel.writeOutbound(SecureMessage(kind: .open(.securityPolicyNone), secureChannelId: 7, requestId: 1, body: ByteBuffer()))
        _ = try Self.outboundBytes(channel)
        let fits = SecureMessage(kind: .message(tokenId: 1), secureChannelId: 7, requestId: 2, body: ByteBuffer(bytes: [UInt8](repeating: 1, count: 65536 - 24)))
        try channel.writeOutbound(fits)
        #expect(try Self.outboundBytes(channel).map(\.readableBytes) == [65536])
        var twoChunks = fits
        twoChunks.requestId = 3
        twoChunks.body.writeBytes([2])
        let promise = channel.embeddedEventLoop.makePromise(of: Void.self)
        channel.writeAndFlush(twoChunks, promise: promise)
        #expect(Self.status { try promise.futureResult.wait() } == .badResponseTooLarge)
        let written = try Self.outboundBytes(channel)
        #expect(written.count == 1)
        #expect(written.first?.getString(at: 0, length: 4) == "MSGA")
        #expect(channel.isActive)
    }

    @Test func clientReceivesTheServersAbort() throws {
        let (client, handshake) = try Self.clientChannel(limits: TransportLimits(maxMessageSize: 3000))
        let server = try Self.serverChannel()
        try Self.shuttle(client, server)
        _ = try handshake.wait()
        try client.writeOutbound(SecureMessage(kind: .open(.securityPolicyNone), secureChannelId: 0, requestId: 1, body: ByteBuffer(bytes: [1])))
        try Self.shuttle(client, server)
        try server.writeOutbound(SecureMessage(kind: .open(.securityPolicyNone), secureChannelId: 12, requestId: 1, body: ByteBuffer(bytes: [2])))
        try Self.shuttle(client, server)
        #expect(try client.readInbound(as: SecureMessage.self)?.secureChannelId == 12)

        let promise = server.embeddedEventLoop.makePromise(of: Void.self)
        server.writeAndFlush(SecureMessage(kind: .message(tokenId: 1), secureChannelId: 12, requestId: 2, body: ByteBuffer(bytes: [UInt8](repeating: 0, count: 3001))), promise: promise)
        #expect(Self.status { try promise.futureResult.wait() } == .badResponseTooLarge)
        try Self.shuttle(client, server)
        let aborted = try #require(try client.readInbound(as: SecureMessage.self))
        #expect(aborted.requestId == 2)
        #expect(aborted.secureChannelId == 12)
        guard case .abort(.badResponseTooLarge, .some(let reason)) = aborted.kind else {
            Issue.record("expected .abort, got \(aborted.kind)")
            return
        }
        #expect(reason.contains("3001"))
        // Both ends stay up and the next response arrives.
        try server.writeOutbound(SecureMessage(kind: .message(tokenId: 1), secureChannelId: 12, requestId: 3, body: ByteBuffer(bytes: [3])))
        try Self.shuttle(client, server)
        #expect(try client.readInbound(as: SecureMessage.self)?.body == ByteBuffer(bytes: [3]))
        #expect(client.isActive && server.isActive)
    }

    @Test func serverWritesErrorOnRequest() throws {
        let channel = try Self.openServer()
        try channel.writeOutbound(SecureMessage.transportError(.badTcpServerTooBusy, reason: "busy"))
        try Self.expectError(channel, .badTcpServerTooBusy)
    }

    @Test func inboundAbortIsHandedOnAndTheChannelStaysOpen() throws {
        let channel = try Self.openServer()
        try channel.writeInbound(Self.chunk(.open, channel: 0, sequence: 1, request: 1))
        _ = try channel.readInbound(as: SecureMessage.self)
        try channel.writeOutbound(SecureMessage(kind: .open(.securityPolicyNone), secureChannelId: 7, requestId: 1, body: ByteBuffer()))
        try channel.writeInbound(Self.chunk(.message, .intermediate, sequence: 2, request: 4))
        try channel.writeInbound(Self.chunk(.message, .abort, sequence: 3, request: 4, body: Self.encoded(ErrorMessage(error: .badRequestTooLarge, reason: nil))))
        let message = try #require(try channel.readInbound(as: SecureMessage.self))
        #expect(message == SecureMessage(kind: .abort(status: .badRequestTooLarge, reason: nil), secureChannelId: 7, requestId: 4, body: ByteBuffer()))
        try channel.writeInbound(Self.chunk(.message, .final, sequence: 4, request: 5, body: [42]))
        #expect(try channel.readInbound(as: SecureMessage.self)?.body == ByteBuffer(bytes: [42]))
        #expect(channel.isActive)
    }

    // MARK: - Client handler and both directions

    private static func clientChannel(
        limits: TransportLimits = TransportLimits(), endpointUrl: String = "opc.tcp://localhost:4840"
    ) throws -> (EmbeddedChannel, EventLoopFuture<AcknowledgeMessage>) {
        let channel = EmbeddedChannel()
        let promise = channel.embeddedEventLoop.makePromise(of: AcknowledgeMessage.self)
        try UACPTransport.addClientHandlers(to: channel.pipeline.syncOperations, endpointUrl: endpointUrl, limits: limits,
                                            logger: transportTestLogger, handshake: promise)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 4840)).wait()
        return (channel, promise.futureResult)
    }

    @Test func clientAndServerExchangeFortyKilobytesBothWays() throws {
        let small = TransportLimits(receiveBufferSize: 8192, sendBufferSize: 8192)
        let (client, handshake) = try Self.clientChannel(limits: small)
        let server = try Self.serverChannel(limits: small)
        try Self.shuttle(client, server)
        let ack = try handshake.wait()
        #expect(ack.receiveBufferSize == 8192 && ack.sendBufferSize == 8192)

        try client.writeOutbound(SecureMessage(kind: .open(.securityPolicyNone), secureChannelId: 0, requestId: 1, body: ByteBuffer(bytes: [1, 2])))
        try Self.shuttle(client, server)
        #expect(try server.readInbound(as: SecureMessage.self) == SecureMessage(kind: .open(.securityPolicyNone), secureChannelId: 0, requestId: 1, body: ByteBuffer(bytes: [1, 2])))
        try server.writeOutbound(SecureMessage(kind: .open(.securityPolicyNone), secureChannelId: 99, requestId: 1, body: ByteBuffer(bytes: [3])))
        try Self.shuttle(client, server)
        #expect(try client.readInbound(as: SecureMessage.self)?.secureChannelId == 99)

        let request = SecureMessage(kind: .message(tokenId: 5), secureChannelId: 99, requestId: 2, body: Self.matrixBody())
        try client.writeOutbound(request)
        let wire = try Self.outboundBytes(client)
        #expect(wire.count == (request.body.readableBytes + 8167) / 8168)
        #expect(wire.allSatisfy { $0.readableBytes <= 8192 })
        for chunk in wire { try server.writeInbound(chunk) }
        #expect(try server.readInbound(as: SecureMessage.self) == request)

        var response = request
        response.body = Self.matrixBody()
        response.body.writeBytes([0xAB])
        try server.writeOutbound(response)
        try Self.shuttle(client, server)
        #expect(try client.readInbound(as: SecureMessage.self) == response)
        #expect(client.isActive && server.isActive)
    }

    @Test func clientReportsRequestsOverTheServersLimits() throws {
        let (client, handshake) = try Self.clientChannel()
        let server = try Self.serverChannel(limits: TransportLimits(maxMessageSize: 1000, maxChunkCount: 10))
        try Self.shuttle(client, server)
        #expect(try handshake.wait().maxMessageSize == 1000)
        try client.writeOutbound(SecureMessage(kind: .open(.securityPolicyNone), secureChannelId: 0, requestId: 1, body: ByteBuffer()))
        try Self.shuttle(client, server)
        #expect(try server.readInbound(as: SecureMessage.self)?.requestId == 1)
        try server.writeOutbound(SecureMessage(kind: .open(.securityPolicyNone), secureChannelId: 3, requestId: 1, body: ByteBuffer()))
        try Self.shuttle(client, server)
        _ = try client.readInbound(as: SecureMessage.self)

        let promise = client.embeddedEventLoop.makePromise(of: Void.self)
        client.writeAndFlush(SecureMessage(kind: .message(tokenId: 1), secureChannelId: 3, requestId: 8, body: ByteBuffer(bytes: [UInt8](repeating: 0, count: 1001))), promise: promise)
        #expect(throws: OPCUAError.self) { try promise.futureResult.wait() }
        #expect(try client.readOutbound(as: ByteBuffer.self) == nil)  // nothing sent
        let report = try #require(try client.readInbound(as: SecureMessage.self))
        #expect(report.requestId == 8)
        guard case .abort(.badRequestTooLarge, _) = report.kind else {
            Issue.record("expected .abort, got \(report.kind)")
            return
        }
        // The channel is still usable and sequence numbers have no gap.
        try client.writeOutbound(SecureMessage(kind: .message(tokenId: 1), secureChannelId: 3, requestId: 9, body: ByteBuffer(bytes: [5])))
        try Self.shuttle(client, server)
        #expect(try server.readInbound(as: SecureMessage.self)?.requestId == 9)
        #expect(server.isActive)
    }

    @Test func clientSendsHelloAndFailsOnError() throws {
        let (client, handshake) = try Self.clientChannel(endpointUrl: "opc.tcp://printer-7:4840")
        var hello = try #require(try client.readOutbound(as: ByteBuffer.self))
        _ = try ChunkHeader(decoding: &hello)
        #expect(try HelloMessage(decoding: &hello) == TransportLimits().hello(endpointUrl: "opc.tcp://printer-7:4840"))
        // Writing before the Acknowledge fails.
        let early = client.embeddedEventLoop.makePromise(of: Void.self)
        client.writeAndFlush(SecureMessage(kind: .close(tokenId: 1), secureChannelId: 1, requestId: 1, body: ByteBuffer()), promise: early)
        #expect(throws: OPCUAError.self) { try early.futureResult.wait() }

        try client.writeInbound(Self.uacp(.error, ErrorMessage(error: .badTcpEndpointUrlInvalid, reason: "unknown endpoint")))
        #expect(Self.failure { _ = try handshake.wait() } == OPCUAError(.badTcpEndpointUrlInvalid, "unknown endpoint"))
        #expect(!client.isActive)
        #expect(try client.readInbound(as: SecureMessage.self)?.kind == .error(status: .badTcpEndpointUrlInvalid, reason: "unknown endpoint"))
    }

    @Test func clientRejectsBadAcknowledges() throws {
        let (versioned, versionedHandshake) = try Self.clientChannel()
        try versioned.writeInbound(Self.uacp(.acknowledge, AcknowledgeMessage(protocolVersion: 1, receiveBufferSize: 65536, sendBufferSize: 65536, maxMessageSize: 0, maxChunkCount: 0)))
        #expect(Self.status { _ = try versionedHandshake.wait() } == .badProtocolVersionUnsupported)
        #expect(!versioned.isActive)

        let (other, otherHandshake) = try Self.clientChannel()
        try other.writeInbound(Self.chunk(.message, sequence: 1, request: 1))
        #expect(Self.status { _ = try otherHandshake.wait() } == .badTcpMessageTypeInvalid)

        let (closed, closedHandshake) = try Self.clientChannel()
        try closed.close().wait()
        #expect(Self.status { _ = try closedHandshake.wait() } == .badConnectionClosed)
    }

    @Test func clientHandsOnServerErrorsAfterTheHandshake() throws {
        let (client, handshake) = try Self.clientChannel()
        let server = try Self.serverChannel()
        try Self.shuttle(client, server)
        _ = try handshake.wait()
        try server.writeOutbound(SecureMessage.transportError(.badTcpServerTooBusy, reason: "later"))
        try Self.shuttle(client, server)
        #expect(!server.isActive)
        #expect(!client.isActive)
        #expect(try client.readInbound(as: SecureMessage.self)?.kind == .error(status: .badTcpServerTooBusy, reason: "later"))
    }

    // MARK: - Fuzzing entry point

    @Test func fuzzEntryPointSurvivesMutatedStreams() {
        var seed: UInt64 = 0x9E37_79B9_7F4A_7C15
        func random() -> UInt64 {
            seed ^= seed << 13
            seed ^= seed >> 7
            seed ^= seed << 17
            return seed
        }
        var valid = Self.uacp(.hello, Self.hello)
        var open = Self.chunk(.open, channel: 1, sequence: 1, request: 1, body: [1, 2, 3])
        var part = Self.chunk(.message, .intermediate, channel: 1, sequence: 2, request: 2, body: Array(0..<40))
        var last = Self.chunk(.message, .final, channel: 1, sequence: 3, request: 2, body: [9])
        var abort = Self.chunk(.message, .abort, channel: 1, sequence: 4, request: 3, body: Self.encoded(ErrorMessage(error: .bad, reason: "x")))
        valid.writeBuffer(&open)
        valid.writeBuffer(&part)
        valid.writeBuffer(&last)
        valid.writeBuffer(&abort)
        let base = Self.bytes(valid)
        for control in 0...255 { TransportFuzzing.feed([UInt8(control)] + base) }
        for _ in 0..<3000 {
            var input = [UInt8(truncatingIfNeeded: random())] + base
            for _ in 0..<(1 + Int(random() % 6)) {
                let index = Int(random() % UInt64(input.count))
                switch random() % 4 {
                case 0: input[index] = UInt8(truncatingIfNeeded: random())
                case 1: input.remove(at: index)
                case 2: input.insert(UInt8(truncatingIfNeeded: random()), at: index)
                default: input.removeLast(Int(random() % UInt64(input.count - index)))
                }
                if input.isEmpty { break }
            }
            TransportFuzzing.feed(input)
        }
        for _ in 0..<500 {
            TransportFuzzing.feed((0..<Int(random() % 200)).map { _ in UInt8(truncatingIfNeeded: random()) })
        }
        TransportFuzzing.feed([])
    }
}


/// The transport tests provoke protocol errors on purpose: their warnings stay out of the test output.
let transportTestLogger = Logger(label: "opcua.uacp", factory: { _ in SwiftLogNoOpLogHandler() })
