// A stateful entry point for the request-sequence fuzzer (Fuzz/RequestSequence).
import Dispatch
import Logging
import NIOCore

/// Feeds arbitrary bytes to a server connection as a sequence of requests, after a valid
/// OpenSecureChannel, CreateSession and ActivateSession, so the fuzzer reaches every service
/// with a live session. Never traps; used by libFuzzer and by the corpus replay test.
package enum ServerFuzzing {
    /// Input layout: repeated records of `[kind: UInt8][length: UInt16 LE][body: length bytes]`;
    /// kind 0 sends the body as a MSG whose request gets the session's authentication token,
    /// kind 1 as a raw MSG, kind 2 as an OPN, kind 3 as a CLO; other kinds are skipped.
    package static func feed(_ data: [UInt8]) {
        let done = DispatchSemaphore(value: 0)
        let input = data
        Task {
            await run(input)
            done.signal()
        }
        done.wait()
    }

    /// Runs the records and returns the service result of each immediate reply to them (in
    /// order; transport errors as their status), so replay tests can see how far a sequence got.
    @discardableResult
    package static func run(_ data: [UInt8]) async -> [StatusCode] {
        var statuses: [StatusCode] = []
        func record(_ replies: [SecureMessage]) {
            for reply in replies {
                switch reply.kind {
                case .error(let status, _), .abort(let status, _):
                    statuses.append(status)
                default:
                    var body = reply.body
                    if let id = try? ExpandedNodeId(decoding: &body).nodeId,
                       let response = try? ServiceRegistry.decodeResponse(encodingId: id, from: &body) {
                        statuses.append(response.responseHeader.serviceResult)
                    }
                }
            }
        }
        var configuration = ServerConfiguration()
        configuration.maxSessions = 4
        var space = AddressSpace()
        space.addPrinter("dmls-01", frame: (4, 4))
        space.addPrinter("fdm-01")
        let logger = Logger(label: "opcua.fuzz", factory: { _ in SwiftLogNoOpLogHandler() })
        let core = ServerCore(configuration: configuration, addressSpace: space, endpointUrl: "opc.tcp://127.0.0.1:4840", logger: logger, onWrite: nil)
        let (stream, continuation) = AsyncStream<ResponseSink.Outgoing>.makeStream()
        let sink = ResponseSink(channelId: 1, continuation: continuation)
        var connection = ServerConnection(channelId: 1, core: core, sink: sink, configuration: configuration, logger: logger)
        var requestId: UInt32 = 1
        func message(_ request: some ServiceRequest) -> SecureMessage {
            defer { requestId += 1 }
            return SecureMessage(kind: .message(tokenId: 1), secureChannelId: 1, requestId: requestId, body: request.messageBody())
        }
        // Open the channel and a session.
        let open = OpenSecureChannelRequest(requestType: .issue, securityMode: .none, requestedLifetime: 600_000).messageBody()
        _ = await connection.receive(SecureMessage(kind: .open(.securityPolicyNone), secureChannelId: 0, requestId: 0, body: open))
        var token = NodeId.null
        if let reply = await connection.receive(message(CreateSessionRequest(requestedSessionTimeout: 60_000))).first {
            var body = reply.body
            if (try? NodeId(decoding: &body)) != nil, let response = try? CreateSessionResponse(decoding: &body) {
                token = response.authenticationToken
            }
        }
        var activate = ActivateSessionRequest()
        activate.requestHeader.authenticationToken = token
        _ = await connection.receive(message(activate))

        var index = 0
        while index + 3 <= data.count, !connection.isClosed {
            let kind = data[index]
            let length = Int(data[index + 1]) | Int(data[index + 2]) << 8
            index += 3
            let end = min(index + length, data.count)
            var body = ByteBuffer(bytes: data[index..<end])
            index = end
            switch kind {
            case 0:
                // Re-encode a decodable request with the live token, else send as is.
                var copy = body
                if let id = try? ExpandedNodeId(decoding: &copy).nodeId,
                   var request = try? ServiceRegistry.decodeRequest(encodingId: id, from: &copy) {
                    request.requestHeader.authenticationToken = token
                    body = request.messageBody()
                }
                record(await connection.receive(SecureMessage(kind: .message(tokenId: 1), secureChannelId: 1, requestId: requestId, body: body)))
            case 1:
                record(await connection.receive(SecureMessage(kind: .message(tokenId: 1), secureChannelId: 1, requestId: requestId, body: body)))
            case 2:
                record(await connection.receive(SecureMessage(kind: .open(.securityPolicyNone), secureChannelId: 1, requestId: requestId, body: body)))
            case 3:
                record(await connection.receive(SecureMessage(kind: .close(tokenId: 1), secureChannelId: 1, requestId: requestId, body: body)))
            default:
                continue
            }
            requestId &+= 1
        }
        await core.shutdown()
        sink.finish()
        for await _ in stream {}
        return statuses
    }
}
