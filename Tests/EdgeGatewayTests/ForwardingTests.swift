// The edge forwarder's policy against a fake sinter-server (Hummingbird on 127.0.0.1, port 0):
// nothing leaves the spool because of how a request as a whole was answered; only records
// refused individually go, into the dead-letter file; `dead-letter list|replay`.
import Foundation
import Hummingbird
import Logging
import SinterHTTPClient
import Synchronization
import TelemetryModel
import Testing
@testable import EdgeGateway

/// A fake sinter-server: `POST /api/v1/telemetry` decodes the batch and answers what `answer`
/// says for it; 201 stores the records.
final class FakeServer: Sendable {
    struct Answer: Sendable {
        var status: Int
        var body: String = #"{"error":{"code":"fake","message":"fake answer"}}"#
        var retryAfter: String?
        /// How long the server takes to answer (a slow server, for timeouts).
        var delay: Duration?
        static let created = Answer(status: 201, body: "")
    }

    private let answer: Mutex<@Sendable ([TelemetryRecord]) -> Answer>
    private let storedRecords = Mutex<[TelemetryRecord]>([])
    private let requestSizes = Mutex<[Int]>([])
    private let task: Mutex<Task<Void, Never>?> = Mutex(nil)
    private let boundPort = Mutex(0)

    init(_ answer: @escaping @Sendable ([TelemetryRecord]) -> Answer) {
        self.answer = Mutex(answer)
    }

    var url: String { "http://127.0.0.1:\(boundPort.withLock { $0 })" }
    var stored: [TelemetryRecord] { storedRecords.withLock { $0 } }
    /// Records per request, in arrival order.
    var requests: [Int] { requestSizes.withLock { $0 } }

    func answer(with body: @escaping @Sendable ([TelemetryRecord]) -> Answer) { answer.withLock { $0 = body } }

    func start() async {
        let router = Router()
        router.post("/api/v1/telemetry") { [self] request, _ -> Response in
            let body = try await request.body.collect(upTo: 64 << 20)
            let records = (try? FrameBatch.decode(Array(body.readableBytesView), allowReservedChannels: true)) ?? []
            requestSizes.withLock { $0.append(records.count) }
            let reply = answer.withLock { $0 }(records)
            if let delay = reply.delay { try? await Task.sleep(for: delay) }
            if (200..<300).contains(reply.status) {
                storedRecords.withLock { $0 += records }
                let ids = records.map { "\"\($0.machineID.rawValue)@\($0.timestamp.nanoseconds)\"" }.joined(separator: ",")
                return Response(status: .init(code: reply.status), headers: [.contentType: "application/json"],
                                body: .init(byteBuffer: ByteBuffer(string: #"{"accepted":\#(records.count),"duplicates":0,"ids":[\#(ids)]}"#)))
            }
            var headers: HTTPFields = [.contentType: "application/json"]
            if let retryAfter = reply.retryAfter { headers[.retryAfter] = retryAfter }
            return Response(status: .init(code: reply.status), headers: headers, body: .init(byteBuffer: ByteBuffer(string: reply.body)))
        }
        var logger = Logger(label: "fake-server")
        logger.logLevel = .critical
        let (ready, readyContinuation) = AsyncStream.makeStream(of: Int.self)
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                              onServerRunning: { channel in
                                  readyContinuation.yield(channel.localAddress?.port ?? 0)
                                  readyContinuation.finish()
                              }, logger: logger)
        task.withLock { $0 = Task { _ = try? await app.runService() } }
        for await port in ready { boundPort.withLock { $0 = port } }
    }

    func stop() async {
        let running = task.withLock { t in defer { t = nil }; return t }
        running?.cancel()
        await running?.value
    }
}

@Suite(.serialized)
struct ForwardingTests {
    typealias Directory = SpoolTests.SpoolDirectory
    typealias LogCapture = SpoolTests.LogCapture

    func record(_ i: Int, machine: String = "dmls-01") -> TelemetryRecord {
        TelemetryRecord(machineID: try! MachineID(machine), timestamp: Timestamp(nanoseconds: 1_800_000_000_000_000_000 + Int64(i) * 1_000_000),
                        kind: "dmls", channels: ["power_kw": Float(i)], state: "printing",
                        frame: try! ThermalFrame(width: 4, height: 2, values: (0..<8).map { Float($0 + i) }))
    }

    func encoded(_ records: [TelemetryRecord]) -> [[UInt8]] { records.map { FrameBatch.encode([$0]) } }

    /// A spool in `dir` holding `records`, a forwarder on it towards `server`, started.
    struct Running {
        let spool: Spool
        let forwarder: Forwarder
        let status: StatusBox
        let task: Task<Void, Never>

        func stop() async {
            task.cancel()
            await task.value
            await forwarder.deadLetters.close()
            await forwarder.client.shutdown()
            await spool.close()
        }
    }

    func start(_ dir: Directory, server: String, records: [TelemetryRecord], batch: Int = 16, token: String? = nil,
               log: LogCapture = LogCapture()) async throws -> Running {
        var configuration = EdgeConfiguration(spoolDirectory: dir.path)
        configuration.serverURL = server
        configuration.token = token
        configuration.batchRecords = batch
        configuration.initialBackoff = .milliseconds(5)
        configuration.maximumBackoff = .milliseconds(40)
        configuration.spool.syncInterval = .zero
        let spool = try Spool(configuration: configuration.spool, logger: log.logger)
        if !records.isEmpty { try await spool.append(records) }
        let status = StatusBox()
        var clientConfiguration = Forwarder.clientConfiguration(configuration)
        clientConfiguration.retry.random = .seeded(1)
        clientConfiguration.retry.maximumRetryAfter = .milliseconds(50)
        let client = SinterClient(configuration: clientConfiguration, logger: log.logger)
        let forwarder = Forwarder(spool: spool, configuration: configuration, status: status, logger: log.logger, client: client,
                                  onAcknowledge: {})
        return Running(spool: spool, forwarder: forwarder, status: status, task: Task { await forwarder.run() })
    }

    /// Polls `condition` every 10 ms for at most 30 s; false if it never held.
    func eventually(_ condition: () async -> Bool) async -> Bool {
        for _ in 0..<3000 {
            if await condition() { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return false
    }

    // MARK: Answers about the request as a whole keep every record

    @Test(arguments: [401, 403, 404, 405, 408, 415, 429, 500, 503, 409])
    func anAnswerAboutTheRequestKeepsEveryRecordAndRetriesUntilTheServerTakesThem(status: Int) async throws {
        let dir = Directory()
        let server = FakeServer { _ in FakeServer.Answer(status: status, retryAfter: status == 429 ? "0" : nil) }
        await server.start()
        let records = (0..<20).map { record($0) }
        let log = LogCapture()
        let running = try await start(dir, server: server.url, records: records, batch: 8, log: log)
        #expect(await eventually { server.requests.count >= 4 }, "the forwarder keeps retrying")
        #expect(await running.spool.status.pendingRecords == 20)
        #expect(server.stored.isEmpty)
        let failing = running.status.value
        #expect(failing.forwarded == 0 && failing.rejected == 0 && failing.retries >= 3)
        #expect(failing.lastHTTPError?.hasPrefix("HTTP \(status)") == true)
        #expect(failing.serverRefusesToken == (status == 401 || status == 403))
        if status == 401 || status == 403 {
            // Logged once a minute, not once per attempt.
            #expect(log.events("edge.token_refused").count == 1)
        }
        // The server is fixed: everything arrives, once, in order; the spool empties.
        server.answer { _ in .created }
        #expect(await eventually { await running.spool.status.pendingRecords == 0 })
        #expect(encoded(server.stored) == encoded(records))
        #expect(running.status.value.forwarded == 20 && !running.status.value.serverRefusesToken)
        await running.stop()
        await server.stop()
        #expect(DeadLetterStore.readOrEmpty(dir.path).isEmpty)
    }

    @Test func aServerThatIsDownKeepsEveryRecord() async throws {
        let dir = Directory()
        let server = FakeServer { _ in .created }
        await server.start()
        let url = server.url
        await server.stop()   // nobody listens on that port now
        let records = (0..<5).map { record($0) }
        let running = try await start(dir, server: url, records: records)
        #expect(await eventually { running.status.value.retries >= 3 })
        #expect(await running.spool.status.pendingRecords == 5)
        #expect(running.status.value.serverReachable == false && running.status.value.lastHTTPError != nil)
        await running.stop()
    }

    @Test func aServerThatAnswersTooLateIsATimeoutAndTheRecordsStay() async throws {
        let server = FakeServer { _ in FakeServer.Answer(status: 201, body: "", delay: .seconds(2)) }
        await server.start()
        var configuration = SinterClientConfiguration(baseURL: server.url)
        configuration.requestTimeout = .milliseconds(100)
        let client = SinterClient(configuration: configuration, logger: LogCapture().logger)
        let outcome = await client.postRecords([record(0)])
        guard case .retryable(let reason) = outcome else {
            Issue.record("a timeout is retryable, got \(outcome)")
            return
        }
        #expect(reason.kind == .timedOut && reason.status == nil && reason.isTransient)
        await client.shutdown()
        await server.stop()
    }

    @Test func a413SplitsTheBatchUntilThePiecesFit() async throws {
        let dir = Directory()
        let server = FakeServer { records in records.count > 3 ? FakeServer.Answer(status: 413) : .created }
        await server.start()
        let records = (0..<16).map { record($0) }
        let running = try await start(dir, server: server.url, records: records, batch: 16)
        #expect(await eventually { await running.spool.status.pendingRecords == 0 })
        #expect(encoded(server.stored) == encoded(records))
        #expect(server.requests.prefix(3) == [16, 8, 4])
        #expect(server.requests.filter { $0 <= 3 }.reduce(0, +) == 16)
        await running.stop()
        await server.stop()
    }

    @Test func aSingleRecordStillTooLargeStaysAndIsRetried() async throws {
        let dir = Directory()
        let big = record(1, machine: "dmls-big")
        let server = FakeServer { records in
            records.contains { $0.machineID.rawValue == "dmls-big" } ? FakeServer.Answer(status: 413) : .created
        }
        await server.start()
        let records = [record(0), big, record(2)]
        let log = LogCapture()
        let running = try await start(dir, server: server.url, records: records, log: log)
        #expect(await eventually { server.requests.filter { $0 == 1 }.count >= 4 })
        // The record before it is stored; it and the one after it stay, in order.
        #expect(encoded(server.stored) == encoded([record(0)]))
        #expect(await running.spool.status.pendingRecords == 2)
        #expect(!log.events("edge.record_too_large").isEmpty)
        #expect(running.status.value.rejected == 0)
        await running.stop()
        await server.stop()
    }

    // MARK: Records refused individually go to the dead-letter file

    @Test func aBatchWithOneInvalidRecordStoresTheOthersAndDeadLettersExactlyThatOne() async throws {
        let dir = Directory()
        let invalid = #"{"error":{"code":"invalid_channel","message":"channel power_kw is out of range","field":"channels.power_kw","position":40}}"#
        let server = FakeServer { records in
            records.contains { $0.machineID.rawValue == "dmls-bad" } ? FakeServer.Answer(status: 422, body: invalid) : .created
        }
        await server.start()
        let bad = record(5, machine: "dmls-bad")
        let records = (0..<5).map { record($0) } + [bad] + (6..<12).map { record($0) }
        let log = LogCapture()
        let running = try await start(dir, server: server.url, records: records, batch: 12, log: log)
        #expect(await eventually { await running.spool.status.pendingRecords == 0 })
        let good = records.filter { $0.machineID.rawValue != "dmls-bad" }
        #expect(encoded(server.stored) == encoded(good))
        let status = running.status.value
        #expect(status.forwarded == 11 && status.rejected == 1 && status.deadLetters == 1)
        #expect(log.events("edge.record_dead_lettered").count == 1)
        await running.stop()

        // The dead-letter file holds exactly that record, with the server's error.
        let (_, scan) = try DeadLetterStore.read(directory: dir.path)
        #expect(scan.problems.isEmpty && scan.tornTail == nil)
        let letter = try #require(scan.entries.first?.letter)
        #expect(scan.entries.count == 1)
        #expect(encoded([letter.record]) == encoded([bad]))
        #expect(letter.status == 422 && letter.sequence == 6)
        #expect(letter.error == ServerErrorBody(code: "invalid_channel", message: "channel power_kw is out of range",
                                                field: "channels.power_kw", position: 40))

        // list --json shows it.
        let listed = try runList(dir.path)
        #expect(listed.contains(#""machine_id":"dmls-bad""#) && listed.contains(#""code":"invalid_channel""#) && listed.contains(#""status":422"#))

        // Replay while the server still refuses: it stays; the spool's lock is free.
        var replay = try DeadLetterCommand.Replay.parse(["--spool", dir.path, "--server", server.url])
        await #expect { try await replay.run() } throws: { String(describing: type(of: $0)) == "ExitCode" }
        #expect(try DeadLetterStore.read(directory: dir.path).scan.entries.count == 1)

        // The server is fixed: replay empties the file and the record is stored.
        server.answer { _ in .created }
        replay = try DeadLetterCommand.Replay.parse(["--spool", dir.path, "--server", server.url])
        try await replay.run()
        #expect(try DeadLetterStore.read(directory: dir.path).scan.entries.isEmpty)
        #expect(encoded(server.stored) == encoded(good + [bad]))
        await server.stop()
    }

    @Test func aRefusedRecordStaysInTheSpoolWhileTheDeadLetterFileCannotBeWritten() async throws {
        let dir = Directory()
        // A directory where the dead-letter file should be: opening it for writing fails (EISDIR).
        try FileManager.default.createDirectory(atPath: dir.file("dead-letters"), withIntermediateDirectories: false)
        let invalid = #"{"error":{"code":"invalid_value","message":"no"}}"#
        let server = FakeServer { records in
            records.contains { $0.machineID.rawValue == "dmls-bad" } ? FakeServer.Answer(status: 422, body: invalid) : .created
        }
        await server.start()
        let records = [record(0), record(1, machine: "dmls-bad"), record(2)]
        let log = LogCapture()
        let running = try await start(dir, server: server.url, records: records, log: log)
        #expect(await eventually { log.events("edge.dead_letter_failed").count >= 2 })
        // The record before it is stored; it and everything after it stay spooled, in order.
        #expect(encoded(server.stored) == encoded([record(0)]))
        #expect(await running.spool.status.pendingRecords == 2)
        #expect(running.status.value.rejected == 0 && running.status.value.deadLetters == 0)
        #expect(running.status.value.lastHTTPError?.contains("dead-letter file not writable") == true)
        await running.stop()
        await server.stop()
    }

    @Test func aBadRequestWithoutTheServersErrorBodyIsNotARefusal() async throws {
        let dir = Directory()
        let server = FakeServer { _ in FakeServer.Answer(status: 400, body: "<html>proxy says no</html>") }
        await server.start()
        let running = try await start(dir, server: server.url, records: [record(0)])
        #expect(await eventually { server.requests.count >= 3 })
        #expect(await running.spool.status.pendingRecords == 1)
        #expect(running.status.value.deadLetters == 0)
        await running.stop()
        await server.stop()
    }

    @Test func replayRefusesWhileTheGatewayHoldsTheSpool() async throws {
        let dir = Directory()
        let spool = try Spool(configuration: SpoolConfiguration(directory: dir.path), logger: LogCapture().logger)
        let replay = try DeadLetterCommand.Replay.parse(["--spool", dir.path, "--server", "http://127.0.0.1:9"])
        await #expect { try await replay.run() } throws: { "\($0)".contains("in use") }
        await spool.close()
    }

    func runList(_ spool: String) throws -> String {
        try DeadLetterCommand.List.parse(["--spool", spool, "--json"]).render().output
    }
}

extension DeadLetterStore {
    static func readOrEmpty(_ directory: String) -> [DeadLetter] {
        ((try? read(directory: directory))?.scan.entries ?? []).map(\.letter)
    }
}
