import NIOCore
import Testing

@testable import OPCUA

/// Replays the committed corpora of the transport and request-sequence fuzzers
/// (Fuzz/Corpus/ChunkDecoder, Fuzz/Corpus/RequestSequence) through the harnesses' entry points.
struct FuzzSequenceReplayTests {
    static func corpus(_ name: String) -> [(name: String, bytes: [UInt8])] {
        guard let typeDecoder = FuzzCorpusReplayTests.corpusDirectory() else { return [] }
        let directory = typeDecoder.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/") + "/" + name
        return FuzzCorpusReplayTests.files(in: directory)
    }

    @Test func chunkDecoderCorpusReplaysWithoutTrapping() {
        let files = Self.corpus("ChunkDecoder")
        #expect(files.count >= 5, "Fuzz/Corpus/ChunkDecoder went missing")
        for file in files { TransportFuzzing.feed(file.bytes) }
    }

    @Test func requestSequenceCorpusReplaysAndReachesTheServices() async {
        let files = Self.corpus("RequestSequence")
        #expect(files.count >= 5, "Fuzz/Corpus/RequestSequence went missing")
        var goodReplies = 0
        for file in files {
            let statuses = await ServerFuzzing.run(file.bytes)
            goodReplies += statuses.filter(\.isGood).count
        }
        // The seeds read, browse, translate, subscribe, write and read a matrix with a live session.
        #expect(goodReplies >= 8, "only \(goodReplies) good replies: the seeds no longer reach the services")
    }

    @Test func aSubscribeWritePublishSequenceSucceeds() async {
        var records: [UInt8] = []
        func add(_ request: some ServiceRequest) {
            var body = ByteBuffer()
            type(of: request).binaryEncodingId.encode(to: &body)
            request.encode(to: &body)
            records += [0, UInt8(body.readableBytes & 0xFF), UInt8(body.readableBytes >> 8)] + Array(body.readableBytesView)
        }
        let power = NodeId(string: "dmls-01.PowerKW", namespace: 2)
        add(CreateSubscriptionRequest(requestedPublishingInterval: 10, requestedLifetimeCount: 30, requestedMaxKeepAliveCount: 3, publishingEnabled: true))
        add(CreateMonitoredItemsRequest(subscriptionId: 1, timestampsToReturn: .both, itemsToCreate: [
            MonitoredItemCreateRequest(itemToMonitor: ReadValueId(nodeId: power, attributeId: 13), monitoringMode: .reporting),
        ]))
        add(WriteRequest(nodesToWrite: [WriteValue(nodeId: power, attributeId: 13, value: DataValue(value: .scalar(.double(2))))]))
        add(ReadRequest(nodesToRead: [ReadValueId(nodeId: power, attributeId: 13)]))
        let statuses = await ServerFuzzing.run(records)
        #expect(statuses == [.good, .good, .good, .good])
    }
}
