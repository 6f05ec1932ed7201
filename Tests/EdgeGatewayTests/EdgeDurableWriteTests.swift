// The edge answers an OPC UA Write Good only once the records it completed are fdatasynced.
#if canImport(Glibc)
import Glibc
#endif
import Logging
import OPCUA
import Synchronization
import Testing
@testable import EdgeGateway

@Suite(.timeLimit(.minutes(2)))
struct EdgeDurableWriteTests {
    let quiet = Logger(label: "sinter.edge.test") { _ in SwiftLogNoOpLogHandler() }

    /// A gateway serving fdm-01 on a free port, spooling into `directory` with `syncer`, while `body` runs.
    func withGateway(_ directory: String, syncer: TestSyncer,
                     _ body: @escaping @Sendable (OPCUAClient, UInt16) async throws -> Void) async throws {
        var configuration = EdgeConfiguration(spoolDirectory: directory)
        configuration.listen = "opc.tcp://127.0.0.1:0"
        configuration.printers = ["fdm-01"]
        configuration.serverURL = "http://127.0.0.1:9"   // nothing listens: records stay in the spool
        configuration.reportEvery = .zero
        configuration.spool.syncInterval = .zero          // only group commits fdatasync
        let gateway = try EdgeGateway(configuration: configuration, logger: quiet, drainTimeout: .zero, spoolSyncer: syncer.sync)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await gateway.run() }
            let port = try await within(10, "the gateway to listen") { try await gateway.opcuaPort() }
            var clientConfiguration = ClientConfiguration()
            clientConfiguration.requestTimeout = .seconds(10)
            let client = try OPCUAClient(url: "opc.tcp://127.0.0.1:\(port)", configuration: clientConfiguration, logger: quiet)
            try await client.connect()
            let ns = try #require(try await client.namespaceIndex(of: PrinterModel.namespaceUri))
            try await body(client, ns)
            await client.disconnect()
            group.cancelAll()
        }
    }

    /// Every variable of fdm-01 for sample `k`, with its SourceTimestamp: one whole record.
    static func sample(_ k: Int, ns: UInt16) -> [(NodeId, DataValue)] {
        let time = DateTime(unixNanoseconds: 1_800_000_000_000_000_000 + Int64(k) * 1_000_000_000)
        let doubles = ["NozzleTempC", "BedTempC", "FilamentFlow", "ExtruderLoad", "PrintProgress", "PowerKW"]
        return doubles.enumerated().map { index, name in
            (PrinterModel.variableId(printer: "fdm-01", channel: name, namespace: ns),
             DataValue(value: .scalar(.double(Double(k * 10 + index))), sourceTimestamp: time))
        } + [(PrinterModel.variableId(printer: "fdm-01", channel: "State", namespace: ns),
              DataValue(value: .scalar(.string("printing")), sourceTimestamp: time))]
    }

    @Test func aWriteIsAnsweredGoodOnlyAfterTheFdatasyncOfItsRecord() async throws {
        let directory = SpoolTests.SpoolDirectory()
        let syncer = TestSyncer(holdFirst: true)
        try await withGateway(directory.path, syncer: syncer) { client, ns in
            let answeredAfter = AnsweredAfter()   // fdatasyncs completed when the Write was answered
            try await withThrowingTaskGroup(of: [StatusCode].self) { group in
                group.addTask {
                    let results = try await client.write(Self.sample(0, ns: ns))
                    answeredAfter.set(syncer.completed)
                    return results
                }
                try await syncer.waitForCall(1)   // the record is in the spool; its fdatasync is held
                // A round trip on the same connection while the fdatasync is held: the Write is not answered.
                _ = try await client.readValue(PrinterModel.variableId(printer: "fdm-01", channel: "PowerKW", namespace: ns))
                #expect(answeredAfter.value == nil, "answered before its fdatasync completed")
                syncer.releaseFirst()
                let results = try #require(try await group.next())
                #expect(results == Array(repeating: .good, count: 7))
            }
            #expect((answeredAfter.value ?? 0) >= 1)
            // The next whole sample is its own record and gets its own fdatasync.
            let next = try await client.write(Self.sample(1, ns: ns))
            #expect(next == Array(repeating: .good, count: 7))
            #expect(syncer.started == 2)
        }
    }

    @Test func aFailedFdatasyncAnswersTheWriteBadAndRefusesLaterWrites() async throws {
        let directory = SpoolTests.SpoolDirectory()
        let syncer = TestSyncer(failWith: EIO)
        try await withGateway(directory.path, syncer: syncer) { client, ns in
            let first = try await client.write(Self.sample(0, ns: ns))
            #expect(first == Array(repeating: .badResourceUnavailable, count: 7))
            // The spool is stopped (fail-stop): no fdatasync is tried again, later writes are refused.
            let later = try await client.write(Self.sample(1, ns: ns))
            #expect(later.allSatisfy { $0.isBad }, "\(later)")
            #expect(syncer.started == 1)
        }
    }

    @Test func valuesThatCompleteNoRecordAreAnsweredAtOnce() async throws {
        let directory = SpoolTests.SpoolDirectory()
        let syncer = TestSyncer(holdFirst: true)
        try await withGateway(directory.path, syncer: syncer) { client, ns in
            // Two of fdm-01's seven variables: the record waits for the others (documented as
            // held in memory), so the Write does not wait for an fdatasync.
            let part = Array(Self.sample(0, ns: ns).prefix(2))
            let answer = try await client.write(part)
            #expect(answer == [.good, .good])
            #expect(syncer.started == 0)
        }
    }
}

/// The number of fdatasyncs completed when a Write was answered, once it was.
final class AnsweredAfter: Sendable {
    private let state = Mutex<Int?>(nil)
    var value: Int? { state.withLock { $0 } }
    func set(_ completed: Int) { state.withLock { $0 = completed } }
}
