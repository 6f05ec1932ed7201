// The load: C concurrent ingest connections bounded by request count and time, sequential range
// queries, and the server's own view afterwards (/api/v1/machines, /metrics).
import BenchKit
import AsyncHTTPClient
import Foundation
import NIOCore
import Synchronization
import SyntheticData
import TelemetryModel

/// How an ingest scenario builds its requests.
enum IngestFormat: String, Codable, Sendable {
    /// `application/vnd.sinter.frames`, `framesPerRequest` records per batch.
    case binary
    /// Seed 000's JSON, an array of `framesPerRequest` objects.
    case jsonArray
    /// Seed 000's JSON, one object per request.
    case jsonSingle
}

struct IngestScenario: Sendable {
    var key: String
    var title: String
    var format: IngestFormat
    var framesPerRequest: Int
}

/// What a set of requests did, merged over the connections.
struct IngestStats: Sendable {
    var requests = 0
    var framesSent = 0
    /// Records the server reported as accepted and new (`accepted - duplicates` of 201 answers).
    var newRecords = 0
    var duplicates = 0
    var failedRequests = 0
    var failures: [String] = []
    var latenciesMs: [Double] = []
    /// Time spent building request bodies (timestamps patched, batch encoded, copied to a buffer).
    var encodeNanoseconds: UInt64 = 0
    var bodyBytes = 0
    var seconds = 0.0

    mutating func merge(_ o: IngestStats) {
        requests += o.requests
        framesSent += o.framesSent
        newRecords += o.newRecords
        duplicates += o.duplicates
        failedRequests += o.failedRequests
        failures += o.failures.prefix(max(0, 10 - failures.count))
        latenciesMs += o.latenciesMs
        encodeNanoseconds += o.encodeNanoseconds
        bodyBytes += o.bodyBytes
    }

    mutating func fail(_ message: String) {
        failedRequests += 1
        if failures.count < 10 { failures.append(message) }
    }
}

/// Counters shared by the connections of one phase: tickets bound the request count, the rest
/// feed the progress line.
final class PhaseCounters: Sendable {
    let tickets = Atomic<Int>(0)
    let completed = Atomic<Int>(0)
    let frames = Atomic<Int>(0)
}

struct LoadClient {
    let client: HTTPClient
    let baseURL: String
    let fleet: Fleet

    static let requestTimeout: TimeAmount = .seconds(60)

    // MARK: Ingest

    /// Runs `scenario` on `connections` concurrent connections until `maxRequests` requests have
    /// been sent or `seconds` have passed, whichever comes first. Each connection sends to its own
    /// machines in turn (connection k of C: machines m with m mod C == k), so a machine's records
    /// arrive in timestamp order.
    func ingest(_ scenario: IngestScenario, connections: Int, maxRequests: Int, seconds: Double,
                label: String) async -> IngestStats {
        let counters = PhaseCounters()
        let started = nowNanoseconds()
        let deadline = started + UInt64(seconds * 1e9)
        let machineCount = fleet.machines.count
        let reporter = Task {
            var lastFrames = 0
            var last = started
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(2))
                if Task.isCancelled { break }
                let now = nowNanoseconds()
                let frames = counters.frames.load(ordering: .relaxed)
                let rate = Double(frames - lastFrames) / (Double(now - last) / 1e9)
                progress("  \(label): \(counters.completed.load(ordering: .relaxed)) requests, \(frames) frames, "
                         + "\(Int(rate)) frames/s now, \(String(format: "%.0f", Double(now - started) / 1e9)) s")
                lastFrames = frames
                last = now
            }
        }
        var total = IngestStats()
        await withTaskGroup(of: IngestStats.self) { group in
            for k in 0..<connections {
                let own = connections <= machineCount
                    ? Array(stride(from: k, to: machineCount, by: connections)) : [k % machineCount]
                group.addTask {
                    var stats = IngestStats()
                    var turn = 0
                    while true {
                        let ticket = counters.tickets.wrappingAdd(1, ordering: .relaxed).oldValue
                        guard ticket < maxRequests, nowNanoseconds() < deadline else { break }
                        let machine = own[turn % own.count]
                        turn += 1
                        await send(scenario, machine: machine, into: &stats)
                        counters.completed.wrappingAdd(1, ordering: .relaxed)
                        counters.frames.wrappingAdd(scenario.framesPerRequest, ordering: .relaxed)
                    }
                    return stats
                }
            }
            for await s in group { total.merge(s) }
        }
        total.seconds = Double(nowNanoseconds() - started) / 1e9
        reporter.cancel()
        return total
    }

    /// One ingest request with new records of `machine`; checks the 201 and its counts.
    func send(_ scenario: IngestScenario, machine: Int, into stats: inout IngestStats) async {
        let n = scenario.framesPerRequest
        let t0 = nowNanoseconds()
        let bytes: [UInt8]
        let contentType: String
        switch scenario.format {
        case .binary:
            bytes = fleet.binaryBatch(machine: machine, count: n)
            contentType = FrameBatch.mediaType
        case .jsonArray:
            bytes = fleet.jsonBody(machine: machine, count: n, array: true)
            contentType = "application/json"
        case .jsonSingle:
            bytes = fleet.jsonBody(machine: machine, count: 1, array: false)
            contentType = "application/json"
        }
        var request = HTTPClientRequest(url: baseURL + "/api/v1/telemetry")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: contentType)
        request.body = .bytes(ByteBuffer(bytes: bytes))
        let t1 = nowNanoseconds()
        stats.encodeNanoseconds += t1 - t0
        stats.requests += 1
        stats.framesSent += n
        stats.bodyBytes += bytes.count
        do {
            let response = try await client.execute(request, timeout: Self.requestTimeout)
            let body = try await response.body.collect(upTo: 4 << 20)
            stats.latenciesMs.append(Double(nowNanoseconds() - t1) / 1e6)
            guard response.status.code == 201 else {
                stats.fail("HTTP \(response.status.code): \(String(buffer: body).prefix(300))")
                return
            }
            guard let answer = try? JSONDecoder().decode(IngestAnswer.self, from: Data(body.readableBytesView)) else {
                stats.fail("201 without {accepted, duplicates}: \(String(buffer: body).prefix(300))")
                return
            }
            stats.newRecords += answer.accepted - answer.duplicates
            stats.duplicates += answer.duplicates
            if answer.accepted != n || answer.duplicates != 0 {
                stats.fail("201 accepted \(answer.accepted) with \(answer.duplicates) duplicates for \(n) new records")
            }
        } catch {
            stats.latenciesMs.append(Double(nowNanoseconds() - t1) / 1e6)
            stats.fail("request error: \(error)")
        }
    }

    struct IngestAnswer: Decodable {
        var accepted: Int
        var duplicates: Int
    }

    // MARK: Queries

    struct QueryStats: Sendable {
        var latenciesMs: [Double] = []
        var bytes = 0
        var failures: [String] = []
        var failed = 0
        var seconds = 0.0
    }

    /// `count` sequential 100-record range queries on `machine` (which holds `loaded` records
    /// numbered from 0), at seeded random offsets, stopping early after `seconds`. Binary asks for
    /// `Accept: application/vnd.sinter.frames`, JSON for `include=frame`. Each answer is checked
    /// (status, 100 records, the first one's timestamp) after its time is taken.
    func rangeQueries(machine: Int, loaded: Int, limit: Int, count: Int, seconds: Double, binary: Bool,
                      seed: UInt64, label: String) async -> QueryStats {
        var stats = QueryStats()
        var random = SeededRandom(seed: seed)
        let id = fleet.machines[machine].rawValue
        let started = nowNanoseconds()
        let deadline = started + UInt64(seconds * 1e9)
        var lastReport = started
        for q in 0..<count {
            guard nowNanoseconds() < deadline else { break }
            let offset = Int.random(in: 0..<(loaded - limit), using: &random)
            let fromMs = fleet.timestampMilliseconds(offset)
            var request = HTTPClientRequest(url: baseURL + "/api/v1/machines/\(id)/records?from=\(fromMs)&limit=\(limit)"
                                            + (binary ? "" : "&include=frame"))
            if binary { request.headers.add(name: "Accept", value: FrameBatch.mediaType) }
            let t0 = nowNanoseconds()
            do {
                let response = try await client.execute(request, timeout: Self.requestTimeout)
                // Time to the last byte: chunks are kept as they arrive and joined after the clock
                // stops, so the client's own copying is not counted against the server.
                var chunks: [ByteBuffer] = []
                for try await chunk in response.body { chunks.append(chunk) }
                stats.latenciesMs.append(Double(nowNanoseconds() - t0) / 1e6)
                var body = ByteBuffer()
                body.reserveCapacity(chunks.reduce(0) { $0 + $1.readableBytes })
                for var chunk in chunks { body.writeBuffer(&chunk) }
                stats.bytes += body.readableBytes
                let expected = Timestamp(milliseconds: fromMs).nanoseconds
                if let problem = binary
                    ? Self.checkBatch(body, records: limit, firstTimestamp: expected)
                    : Self.checkJSON(body, records: limit, firstID: "\(id)@\(expected)", fullParse: q == 0) {
                    stats.failed += 1
                    if stats.failures.count < 10 { stats.failures.append("HTTP \(response.status.code): \(problem)") }
                } else if response.status.code != 200 {
                    stats.failed += 1
                    if stats.failures.count < 10 { stats.failures.append("HTTP \(response.status.code)") }
                }
            } catch {
                stats.failed += 1
                if stats.failures.count < 10 { stats.failures.append("request error: \(error)") }
            }
            if nowNanoseconds() - lastReport > 2_000_000_000 {
                lastReport = nowNanoseconds()
                progress("  \(label): \(q + 1)/\(count) queries")
            }
        }
        stats.seconds = Double(nowNanoseconds() - started) / 1e9
        return stats
    }

    /// Checks a binary batch answer by walking its records' length fields (so it does not depend on
    /// the header's record count, which a streamed answer may not know in advance).
    static func checkBatch(_ body: ByteBuffer, records: Int, firstTimestamp: Int64) -> String? {
        let bytes = Array(body.readableBytesView)
        guard bytes.count >= FrameBatch.headerSize, Array(bytes[0..<4]) == FrameBatch.magic else {
            return "not a frame batch: \(String(decoding: bytes.prefix(200), as: UTF8.self))"
        }
        func u32(_ at: Int) -> Int { Int(bytes[at]) | Int(bytes[at + 1]) << 8 | Int(bytes[at + 2]) << 16 | Int(bytes[at + 3]) << 24 }
        func i64(_ at: Int) -> Int64 { (0..<8).reduce(Int64(0)) { $0 | Int64(bytes[at + $1]) << (8 * $1) } }
        var pos = FrameBatch.headerSize
        var n = 0
        var first: Int64?
        while pos + 4 <= bytes.count {
            let length = u32(pos)
            guard pos + 4 + length <= bytes.count, length >= 8 else { return "record \(n) overruns the body" }
            if first == nil { first = i64(pos + 4) }
            if length < 40_000 { return "record \(n) has no 100×100 frame (\(length) bytes)" }
            pos += 4 + length
            n += 1
        }
        if pos != bytes.count { return "\(bytes.count - pos) trailing bytes" }
        if n != records { return "\(n) records, expected \(records)" }
        if first != firstTimestamp { return "first timestamp \(first ?? -1), expected \(firstTimestamp)" }
        return nil
    }

    /// Checks a JSON answer: `"count":N` in its tail and the first record's id near its start;
    /// with `fullParse`, also parses it and checks every record's 10,000-value frame.
    static func checkJSON(_ body: ByteBuffer, records: Int, firstID: String, fullParse: Bool) -> String? {
        let view = body.readableBytesView
        let tail = String(decoding: view.suffix(400), as: UTF8.self)
        guard tail.contains("\"count\":\(records)") else { return "no \"count\":\(records) in the tail: …\(tail.suffix(200))" }
        let head = String(decoding: view.prefix(1000), as: UTF8.self)
        guard head.contains("\"id\":\"\(firstID)\"") else { return "first record is not \(firstID): \(head.prefix(300))" }
        if fullParse {
            guard let object = try? JSONSerialization.jsonObject(with: Data(view)) as? [String: Any],
                  let list = object["records"] as? [[String: Any]] else { return "body is not a JSON object with records" }
            guard list.count == records else { return "\(list.count) records parsed, expected \(records)" }
            for (i, r) in list.enumerated() {
                guard let frame = r["frame"] as? [String: Any], let data = frame["data"] as? [Any], data.count == 10_000 else {
                    return "record \(i) has no 10,000-value frame"
                }
            }
        }
        return nil
    }

    // MARK: The server's view

    /// `GET /api/v1/machines`: record count per machine id.
    func recordCounts() async throws -> [String: Int] {
        let body = try await get("/api/v1/machines")
        guard let object = try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any],
              let list = object["machines"] as? [[String: Any]] else {
            throw ServerProcess.Failure("GET /api/v1/machines: unexpected body \(String(buffer: body).prefix(300))")
        }
        var counts: [String: Int] = [:]
        for m in list {
            guard let id = (m["id"] ?? m["machine_id"]) as? String, let n = m["record_count"] as? Int else {
                throw ServerProcess.Failure("GET /api/v1/machines: entry without id/record_count: \(m)")
            }
            counts[id] = n
        }
        return counts
    }

    /// `GET /metrics`: count and sum of `sinter_wal_fsync_duration_seconds` (all label sets).
    func fsyncMetrics() async throws -> (count: Int, sumSeconds: Double)? {
        let text = String(buffer: try await get("/metrics"))
        var count: Double?, sum: Double?
        for line in text.split(separator: "\n") where line.hasPrefix("sinter_wal_fsync_duration_seconds_") {
            let name = line.prefix { $0 != " " && $0 != "{" }
            guard let value = line.split(separator: " ").last.flatMap({ Double($0) }) else { continue }
            if name.hasSuffix("_count") { count = (count ?? 0) + value }
            if name.hasSuffix("_sum") { sum = (sum ?? 0) + value }
        }
        guard let count, let sum else { return nil }
        return (Int(count), sum)
    }

    func get(_ path: String) async throws -> ByteBuffer {
        let response = try await client.execute(HTTPClientRequest(url: baseURL + path), timeout: Self.requestTimeout)
        let body = try await response.body.collect(upTo: 64 << 20)
        guard response.status.code == 200 else {
            throw ServerProcess.Failure("GET \(path): HTTP \(response.status.code) \(String(buffer: body).prefix(300))")
        }
        return body
    }
}
