// Sinter in process and over loopback HTTP.
import AsyncHTTPClient
import BenchKit
import Foundation
import Logging
import NIOCore
import StorageEngine
import TelemetryModel

/// Sinter's `TelemetryStore` in this process, default (durable) configuration: every append
/// returns after its WAL write is fsynced.
final class SinterEmbedded: ComparedStore {
    let store: TelemetryStore
    let path: String
    let writers: Int

    init(path: String, writers: Int, logger: Logger) throws {
        try? FileManager.default.removeItem(atPath: path)
        self.path = path
        self.writers = writers
        store = try TelemetryStore.open(at: path, logger: logger)
    }

    func append(_ records: [TelemetryRecord], writer: Int) async throws {
        _ = try await store.append(records)
    }

    func diskUsage() async throws -> DiskUsage {
        // Seals partial blocks (not needed for durability) so that every record is in a segment.
        try await store.flush()
        return DiskUsage(bytes: directoryBytes(path), what: "every file in the store's directory after flush (segments, index, manifest, WAL)")
    }

    func latest(machine: MachineID) async throws -> Int {
        guard let r = try store.latest(machine: machine, includeFrame: true), let f = r.frame else { throw BenchFailure("sinter: no latest record of \(machine)") }
        return f.values.count
    }

    func range(machine: MachineID, from: Timestamp, limit: Int) async throws -> [Timestamp] {
        let records = try store.records(machine: machine, from: from, to: .max, limit: limit, includeFrames: true)
        guard records.allSatisfy({ $0.frame?.values.count == 10_000 }) else { throw BenchFailure("sinter: a record without its frame") }
        return records.map(\.timestamp)
    }

    func statistics(machine: MachineID, from: Timestamp, to: Timestamp) async throws -> Aggregate? {
        let step = Duration.nanoseconds(to.nanoseconds - from.nanoseconds)
        let last = Timestamp(nanoseconds: to.nanoseconds - 1)
        let power = try store.series(machine: machine, channel: "power_kw", from: from, to: last, step: step)
        let means = try store.series(machine: machine, channel: ChannelName.frameMean, from: from, to: last, step: step)
        return Aggregate(buckets: power, frameMeans: means)
    }

    func series(machine: MachineID, from: Timestamp, to: Timestamp, stepSeconds: Int) async throws -> [Bucket]? {
        let buckets = try store.series(machine: machine, channel: "power_kw", from: from, to: Timestamp(nanoseconds: to.nanoseconds - 1),
                                       step: .seconds(stepSeconds))
        return buckets.map { Bucket(offsetSeconds: ($0.start.nanoseconds - from.nanoseconds) / 1_000_000_000, count: $0.count, min: $0.min, max: $0.max, mean: $0.mean) }
    }

    func close() async throws {
        try await store.close()
        try? FileManager.default.removeItem(atPath: path)
    }
}

extension Aggregate {
    /// From one bucket (or none) of power and of frame means.
    init(buckets power: [TelemetryStore.SeriesBucket], frameMeans: [TelemetryStore.SeriesBucket]) {
        let n = power.reduce(0) { $0 + $1.count }
        let m = frameMeans.reduce(0) { $0 + $1.count }
        self.init(count: n, powerMin: power.map(\.min).min() ?? .nan, powerMax: power.map(\.max).max() ?? .nan,
                  powerMean: power.reduce(0.0) { $0 + $1.mean * Double($1.count) } / Double(max(1, n)),
                  frameMeanMean: frameMeans.reduce(0.0) { $0 + $1.mean * Double($1.count) } / Double(max(1, m)))
    }
}

/// A release `sinter-server` child process on a fresh data directory, loaded over loopback:
/// binary batches in (`application/vnd.sinter.frames`, durable mode: 201 after fsync), binary
/// batches out for records, JSON for series.
final class SinterHTTP: ComparedStore, @unchecked Sendable {  // the ServerProcess is touched only by start and close
    let server: ServerProcess
    let client: HTTPClient
    let path: String
    let writers: Int

    private init(server: ServerProcess, client: HTTPClient, path: String, writers: Int) {
        self.server = server
        self.client = client
        self.path = path
        self.writers = writers
    }

    static func start(binary: String, path: String, writers: Int) async throws -> SinterHTTP {
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw BenchFailure("--server-bin \(binary) is not an executable (build it: swift build -c release --product sinter-server)")
        }
        try? FileManager.default.removeItem(atPath: path)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let server = try await ServerProcess.start(binary: binary, dataDirectory: path + "/data", logFile: path + "/server.log",
                                                   extraArguments: ["--host", "127.0.0.1"], timeout: 60)
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = max(1, writers)
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        return SinterHTTP(server: server, client: client, path: path, writers: writers)
    }

    static let timeout: TimeAmount = .seconds(120)

    func append(_ records: [TelemetryRecord], writer: Int) async throws {
        var request = HTTPClientRequest(url: server.baseURL + "/api/v1/telemetry")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: FrameBatch.mediaType)
        request.body = .bytes(ByteBuffer(bytes: FrameBatch.encode(records)))
        let response = try await client.execute(request, timeout: Self.timeout)
        let body = try await response.body.collect(upTo: 1 << 20)
        guard response.status.code == 201 else {
            throw BenchFailure("sinter-http: POST /api/v1/telemetry answered \(response.status.code): \(String(buffer: body).prefix(300))")
        }
    }

    func get(_ path: String, binary: Bool) async throws -> ByteBuffer {
        var request = HTTPClientRequest(url: server.baseURL + path)
        if binary { request.headers.add(name: "Accept", value: FrameBatch.mediaType) }
        let response = try await client.execute(request, timeout: Self.timeout)
        let body = try await response.body.collect(upTo: 256 << 20)
        guard response.status.code == 200 else {
            throw BenchFailure("sinter-http: GET \(path) answered \(response.status.code): \(String(buffer: body).prefix(300))")
        }
        return body
    }

    func decodeRecords(_ body: ByteBuffer) throws -> [TelemetryRecord] {
        let result = body.withUnsafeReadableBytes { raw in
            Result { () throws(FrameBatchError) in try FrameBatch.decode(raw, allowReservedChannels: true) }
        }
        switch result {
        case .success(let records): return records
        case .failure(let error): throw BenchFailure("sinter-http: bad frame batch: \(error)")
        }
    }

    func diskUsage() async throws -> DiskUsage {
        DiskUsage(bytes: directoryBytes(path + "/data"),
                  what: "every file in the server's data directory, as the server left it (WAL included; no flush over HTTP)")
    }

    func latest(machine: MachineID) async throws -> Int {
        // The binary form of /latest: newest first, one record.
        let records = try decodeRecords(try await get("/api/v1/machines/\(machine.rawValue)/records?order=desc&limit=1", binary: true))
        guard let f = records.first?.frame else { throw BenchFailure("sinter-http: no latest record of \(machine)") }
        return f.values.count
    }

    func range(machine: MachineID, from: Timestamp, limit: Int) async throws -> [Timestamp] {
        let records = try decodeRecords(try await get("/api/v1/machines/\(machine.rawValue)/records?from=\(from.milliseconds)&limit=\(limit)", binary: true))
        guard records.allSatisfy({ $0.frame?.values.count == 10_000 }) else { throw BenchFailure("sinter-http: a record without its frame") }
        return records.map(\.timestamp)
    }

    func seriesJSON(machine: MachineID, channel: String, from: Timestamp, to: Timestamp, stepMs: Int64) async throws -> [Bucket] {
        let body = try await get("/api/v1/machines/\(machine.rawValue)/series?channel=\(channel)&from=\(from.milliseconds)&to=\(to.milliseconds - 1)&step=\(stepMs)",
                                 binary: false)
        guard let object = try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any],
              let buckets = object["buckets"] as? [[String: Any]] else { throw BenchFailure("sinter-http: series answer without buckets") }
        return try buckets.map { b in
            guard let count = (b["count"] as? NSNumber)?.intValue, let min = (b["min"] as? NSNumber)?.floatValue, let max = (b["max"] as? NSNumber)?.floatValue,
                  let mean = (b["mean"] as? NSNumber)?.doubleValue, let start = b["start"] as? String else {
                throw BenchFailure("sinter-http: bad series bucket \(b)")
            }
            let t = try Timestamp(parsing: start)
            return Bucket(offsetSeconds: (t.nanoseconds - from.nanoseconds) / 1_000_000_000, count: count, min: min, max: max, mean: mean)
        }
    }

    func statistics(machine: MachineID, from: Timestamp, to: Timestamp) async throws -> Aggregate? {
        let step = to.milliseconds - from.milliseconds
        let power = try await seriesJSON(machine: machine, channel: "power_kw", from: from, to: to, stepMs: step)
        let means = try await seriesJSON(machine: machine, channel: ChannelName.frameMean, from: from, to: to, stepMs: step)
        let n = power.reduce(0) { $0 + $1.count }, m = means.reduce(0) { $0 + $1.count }
        return Aggregate(count: n, powerMin: power.map(\.min).min() ?? .nan, powerMax: power.map(\.max).max() ?? .nan,
                         powerMean: power.reduce(0.0) { $0 + $1.mean * Double($1.count) } / Double(max(1, n)),
                         frameMeanMean: means.reduce(0.0) { $0 + $1.mean * Double($1.count) } / Double(max(1, m)))
    }

    func series(machine: MachineID, from: Timestamp, to: Timestamp, stepSeconds: Int) async throws -> [Bucket]? {
        try await seriesJSON(machine: machine, channel: "power_kw", from: from, to: to, stepMs: Int64(stepSeconds) * 1000)
    }

    func close() async throws {
        try? await client.shutdown()
        do {
            try await server.stop()
        } catch {
            server.kill9()
            throw error
        }
        try? FileManager.default.removeItem(atPath: path)
    }
}
