// `server-report`: an HTTP load client for sinter-server. Starts the release server on a fresh
// data directory per scenario, drives it with concurrent ingest (binary batches, batched and
// single JSON) and sequential range queries, checks every answer and the server's record counts,
// and prints a table with the bars the server must meet, plus the same numbers as JSON.
import BenchKit
import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import SyntheticData
import TelemetryModel

@main
struct ServerReport: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "server-report",
        abstract: "Load-test sinter-server over HTTP (ingest and range queries) and print a table with pass/fail bars, plus JSON.",
        discussion: """
            Every scenario starts the server binary as a child process on a fresh temporary data \
            directory (`--data DIR --port 0`), waits for its `listening on` line, runs a warm-up, then \
            the measured load, checks the result through the API, and stops the server with SIGTERM \
            (it must exit with status 0). The server's log goes to server.log in that directory, whose \
            tail is shown if something fails; the directory is deleted afterwards unless the \
            scenario failed a check (a missed bar alone does not keep it).

            Scenarios (--scenarios, comma-separated keys):
              binary-16    binary batches (application/vnd.sinter.frames),
                           16 frames per request: frames/s, bar >= 10,000
              binary-64    binary batches, 64 frames per request: frames/s,
                           bar >= 10,000
              json-batch   seed 000's JSON, arrays of 16 records with
                           10,000-value frames: frames/s, bar >= 3,000
              json-single  seed 000's JSON, one record per request: requests/s
              query        100-record range queries at random offsets after
                           loading --query-frames frames; one connection,
                           sequential; binary (Accept: application/vnd.sinter
                           .frames) and JSON (include=frame): p50/p99/max ms,
                           bar: binary p99 <= 10 ms

            Ingest runs on --connections concurrent connections to machines dmls-01...dmls-NN (each \
            connection sends to its own machines in turn) and stops after --requests requests or \
            --seconds seconds, whichever comes first. Every record is new (fresh timestamps, frames \
            from a pool of distinct seeded frames), every answer must be 201 with all records \
            accepted, and afterwards GET /api/v1/machines must count exactly the records sent. The \
            WAL fsync count and time come from the server's /metrics.

            Progress goes to stderr; the report (markdown) to stdout and to --results-dir. Exits 1 if \
            any scenario misses its bar or fails a check.

            Example (from Benchmarks/, after `swift build -c release --product sinter-server` in the repo root):
              swift run -c release server-report --connections 8 --scenarios binary-64,query
            """)

    @Option(help: "The sinter-server binary (release build; relative paths from the current directory).")
    var serverBin = "../.build/release/sinter-server"

    @Option(name: [.customShort("c"), .long], help: "Concurrent connections for the ingest scenarios.")
    var connections = 4

    @Option(help: "Machines the ingest load is spread over (dmls-01...).")
    var machines = 8

    @Option(help: "Most requests per measured ingest scenario.")
    var requests = 3000

    @Option(help: "Most seconds per measured ingest scenario, and per query series.")
    var seconds = 20.0

    @Option(help: "Warm-up requests before each measured ingest scenario (at most 5 s).")
    var warmupRequests = 40

    @Option(help: "Frames loaded (binary, 64 per request) before the range queries.")
    var queryFrames = 5000

    @Option(help: "Range queries of each kind (binary, JSON), after 20 untimed ones.")
    var queries = 300

    @Option(help: "Records per range query.")
    var queryLimit = 100

    @Option(help: "Distinct frames in the pool request bodies are built from.")
    var framePool = 32

    @Option(help: "Scenarios to run, comma-separated: binary-16, binary-64, json-batch, json-single, query.")
    var scenarios = "binary-16,binary-64,json-batch,json-single,query"

    @Option(help: "The server's --durability: durable (acknowledge after fsync) or relaxed.")
    var durability = "durable"

    @Option(help: "The server's --log-level.")
    var serverLogLevel = "info"

    @Option(help: "Seconds to wait for the server's listening line.")
    var startupTimeout = 30.0

    @Option(help: "Where the temporary data directories are made.")
    var scratch = NSTemporaryDirectory()

    @Option(help: "Directory for server-report.md and server-report.json (empty: write neither).")
    var resultsDir = "Results"

    static let allScenarios = ["binary-16", "binary-64", "json-batch", "json-single", "query"]

    var selected: [String] { scenarios.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }

    func validate() throws {
        guard connections >= 1 else { throw ValidationError("--connections must be at least 1; got \(connections)") }
        guard (1...99).contains(machines) else { throw ValidationError("--machines must be in 1...99; got \(machines)") }
        guard requests >= 1, seconds > 0 else { throw ValidationError("--requests and --seconds must be positive") }
        guard warmupRequests >= 0 else { throw ValidationError("--warmup-requests must not be negative") }
        guard queryLimit >= 1, queryFrames >= queryLimit + 1 else {
            throw ValidationError("--query-frames (\(queryFrames)) must exceed --query-limit (\(queryLimit))")
        }
        guard queries >= 1, framePool >= 1 else { throw ValidationError("--queries and --frame-pool must be at least 1") }
        guard ["durable", "relaxed"].contains(durability) else {
            throw ValidationError("--durability must be durable or relaxed; got \(durability)")
        }
        for s in selected where !Self.allScenarios.contains(s) {
            throw ValidationError("unknown scenario \(s); known: \(Self.allScenarios.joined(separator: ", "))")
        }
    }

    mutating func run() async throws {
        let binary = URL(fileURLWithPath: serverBin).standardizedFileURL.path
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw ValidationError("""
                no server binary at \(binary); build it in the repository root with \
                `swift build -c release --product sinter-server` (or run `make bench-server`), or pass --server-bin
                """)
        }
        let cores = ProcessInfo.processInfo.activeProcessorCount
        var report = Report(date: ISO8601DateFormatter().string(from: Date()), cores: cores, connections: connections,
                            machines: machines, durability: durability, serverBinary: binary)
        report.loadAverageAtStart = loadAverage()

        progress("server-report: \(binary), \(cores) cores, \(connections) connections, durability \(durability)")
        report.clientEncoding = measureClientEncoding()
        progress(String(format: "  client body building on one core: binary %.0f frames/s, JSON %.0f frames/s",
                        report.clientEncoding.binaryFramesPerSecond, report.clientEncoding.jsonFramesPerSecond))

        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: connections)
        configuration.timeout = .init(connect: .seconds(10))
        configuration.httpVersion = .http1Only
        // The scenarios catch their own errors (they become failures in the table), so the client
        // is always shut down here.
        let client = HTTPClient(configuration: configuration)
        let ingestScenarios = [
            IngestScenario(key: "binary-16", title: "binary batch ingest, 16 frames/request", format: .binary, framesPerRequest: 16),
            IngestScenario(key: "binary-64", title: "binary batch ingest, 64 frames/request", format: .binary, framesPerRequest: 64),
            IngestScenario(key: "json-batch", title: "batched JSON ingest, 16 records/request", format: .jsonArray, framesPerRequest: 16),
            IngestScenario(key: "json-single", title: "single-record JSON ingest", format: .jsonSingle, framesPerRequest: 1),
        ]
        for scenario in ingestScenarios where selected.contains(scenario.key) {
            report.ingest.append(await runIngest(scenario, client: client, binary: binary))
        }
        if selected.contains("query") {
            report.queries = await runQueries(client: client, binary: binary)
        }
        try await client.shutdown()

        report.makeRows()
        let markdown = report.markdown(self)
        print(markdown, terminator: "")
        if !resultsDir.isEmpty {
            try FileManager.default.createDirectory(atPath: resultsDir, withIntermediateDirectories: true)
            let md = resultsDir + "/server-report.md", json = resultsDir + "/server-report.json"
            try markdown.write(toFile: md, atomically: true, encoding: .utf8)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(report).write(to: URL(fileURLWithPath: json))
            progress("written \(md) and \(json)")
        }
        if report.rows.contains(where: { $0.result != "pass" && $0.result != "ok" }) {
            progress("server-report: some scenarios failed (see the table)")
            throw ExitCode(1)
        }
    }

    // MARK: Scenarios

    /// A fresh directory with `data/` for the store and `server.log`.
    func scratchDirectory(_ key: String) throws -> String {
        var template = Array((scratch.hasSuffix("/") ? scratch : scratch + "/").utf8CString.dropLast())
            + Array("sinter-server-report-\(key)-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw ServerProcess.Failure("cannot make a directory in \(scratch)") }
        return String(cString: made)
    }

    func startServer(_ key: String, binary: String, directory: String) async throws -> ServerProcess {
        let server = try await ServerProcess.start(
            binary: binary, dataDirectory: directory + "/data", logFile: directory + "/server.log",
            extraArguments: ["--durability", durability, "--log-level", serverLogLevel], timeout: startupTimeout)
        progress("  \(key): server on \(server.baseURL), data in \(directory)/data")
        return server
    }

    /// Deletes a scenario's directory, or keeps it (data and server.log) when the scenario failed
    /// and returns a line saying where it is.
    func cleanUp(_ directory: String?, failed: Bool) -> [String] {
        guard let directory else { return [] }
        if failed { return ["data and server.log kept in \(directory)"] }
        try? FileManager.default.removeItem(atPath: directory)
        return []
    }

    func runIngest(_ scenario: IngestScenario, client: HTTPClient, binary: String) async -> IngestResult {
        var result = IngestResult(scenario: scenario, connections: connections)
        progress("\(scenario.key): \(scenario.title)")
        var directory: String?
        var server: ServerProcess?
        do {
            directory = try scratchDirectory(scenario.key)
            let s = try await startServer(scenario.key, binary: binary, directory: directory!)
            server = s
            let fleet = Fleet(machineCount: machines, poolSize: framePool)
            let load = LoadClient(client: client, baseURL: s.baseURL, fleet: fleet)
            let warm = await load.ingest(scenario, connections: connections, maxRequests: warmupRequests, seconds: 5,
                                         label: "\(scenario.key) warm-up")
            result.loadAverageBefore = loadAverage()
            let (serverCPU0, clientCPU0) = (s.cpuSeconds(), ownCPUSeconds())
            let measured = await load.ingest(scenario, connections: connections, maxRequests: requests, seconds: seconds,
                                             label: scenario.key)
            if let a = serverCPU0, let b = s.cpuSeconds() { result.serverCores = (b - a) / measured.seconds }
            result.clientCores = (ownCPUSeconds() - clientCPU0) / measured.seconds
            result.record(warm: warm, measured: measured)

            let counts = try await load.recordCounts()
            let expected = fleet.machines.map(\.rawValue)
            result.expectedRecords = warm.framesSent + measured.framesSent
            result.serverRecords = expected.reduce(0) { $0 + (counts[$1] ?? 0) }
            for (i, id) in expected.enumerated() {
                let sent = fleet.reserved(machine: i)
                if (counts[id] ?? 0) != sent { result.failures.append("\(id): record_count \(counts[id] ?? 0), sent \(sent)") }
            }
            for id in counts.keys where !expected.contains(id) {
                result.failures.append("unexpected machine \(id) with \(counts[id] ?? 0) records")
            }
            result.serverResidentMB = s.residentMB()
            if let fsync = try await load.fsyncMetrics() {
                result.walFsyncs = fsync.count
                result.walFsyncSeconds = fsync.sumSeconds
            } else {
                result.failures.append("/metrics has no sinter_wal_fsync_duration_seconds_count/_sum")
            }
            server = nil
            try await s.stop()
        } catch {
            result.failures.append(String(describing: error))
        }
        server?.kill9()
        result.failures += cleanUp(directory, failed: !result.failures.isEmpty)
        progress("  \(scenario.key): \(grouped(result.value)) \(result.unit), \(result.failures.count) failures")
        return result
    }

    func runQueries(client: HTTPClient, binary: String) async -> [QueryResult] {
        progress("query: \(queryLimit)-record range queries after loading \(queryFrames) frames")
        var results = [
            QueryResult(key: "query-binary", title: "\(queryLimit)-frame range query, binary", loadedFrames: 0),
            QueryResult(key: "query-json", title: "\(queryLimit)-frame range query, JSON include=frame", loadedFrames: 0),
        ]
        var failures: [String] = []
        var directory: String?
        var server: ServerProcess?
        do {
            directory = try scratchDirectory("query")
            let s = try await startServer("query", binary: binary, directory: directory!)
            server = s
            let fleet = Fleet(machineCount: 1, poolSize: framePool)
            let load = LoadClient(client: client, baseURL: s.baseURL, fleet: fleet)
            let loader = IngestScenario(key: "load", title: "load", format: .binary, framesPerRequest: 64)
            let loaded = await load.ingest(loader, connections: 1, maxRequests: (queryFrames + 63) / 64, seconds: 600,
                                           label: "query load")
            failures += loaded.failures
            let counts = try await load.recordCounts()
            let stored = counts[fleet.machines[0].rawValue] ?? 0
            if stored != loaded.framesSent { failures.append("record_count \(stored) after loading \(loaded.framesSent) frames") }
            progress(String(format: "  loaded %d frames in %.1f s", stored, loaded.seconds))
            guard loaded.framesSent > queryLimit else { throw ServerProcess.Failure("too few frames loaded to query") }
            for (i, binaryAnswer) in [true, false].enumerated() {
                let label = binaryAnswer ? "binary queries" : "JSON queries"
                _ = await load.rangeQueries(machine: 0, loaded: loaded.framesSent, limit: queryLimit, count: 20, seconds: seconds,
                                            binary: binaryAnswer, seed: 1, label: label + " warm-up")
                let stats = await load.rangeQueries(machine: 0, loaded: loaded.framesSent, limit: queryLimit, count: queries,
                                                    seconds: seconds, binary: binaryAnswer, seed: 2, label: label)
                results[i].record(stats, loaded: loaded.framesSent)
            }
            server = nil
            try await s.stop()
        } catch {
            failures.append(String(describing: error))
        }
        server?.kill9()
        let failed = !failures.isEmpty || results.contains { !$0.failures.isEmpty }
        failures += cleanUp(directory, failed: failed)
        for i in results.indices {
            results[i].failures = failures + results[i].failures
            progress("  \(results[i].key): p50 \(String(format: "%.2f", results[i].p50Ms)) ms, "
                     + "p99 \(String(format: "%.2f", results[i].p99Ms)) ms, \(results[i].failures.count) failures")
        }
        return results
    }

    /// Single-threaded cost of building request bodies, to show the client is not the bottleneck.
    func measureClientEncoding() -> ClientEncoding {
        let fleet = Fleet(machineCount: 1, poolSize: framePool)
        func rate(frames: Int, _ body: () -> [UInt8]) -> Double {
            _ = body()
            let t0 = nowNanoseconds()
            var n = 0
            var bytes = 0
            while nowNanoseconds() - t0 < 500_000_000 {
                let b = body()
                bytes += ByteBuffer(bytes: b).readableBytes  // the copy every request makes too
                n += frames
            }
            return Double(n) / (Double(nowNanoseconds() - t0) / 1e9)
        }
        return ClientEncoding(
            binaryFramesPerSecond: rate(frames: 64) { fleet.binaryBatch(machine: 0, count: 64) },
            jsonFramesPerSecond: rate(frames: 16) { fleet.jsonBody(machine: 0, count: 16, array: true) })
    }
}

// MARK: Results

struct ClientEncoding: Codable {
    var binaryFramesPerSecond = 0.0
    var jsonFramesPerSecond = 0.0
}

struct IngestResult: Codable {
    var key: String
    var title: String
    var format: IngestFormat
    var framesPerRequest: Int
    var connections: Int
    var warmupRequests = 0
    var requests = 0
    var frames = 0
    var newRecords = 0
    var seconds = 0.0
    var framesPerSecond = 0.0
    var requestsPerSecond = 0.0
    var requestMegabytesPerSecond = 0.0
    var latencyP50Ms = 0.0
    var latencyP99Ms = 0.0
    var latencyMaxMs = 0.0
    var clientEncodeMicrosPerRequest = 0.0
    /// Share of the connections' busy time spent building bodies.
    var clientEncodeShare = 0.0
    var expectedRecords = 0
    var serverRecords = 0
    var walFsyncs: Int?
    var walFsyncSeconds: Double?
    /// CPU the server and this client used during the measured run, in cores (CPU seconds / second).
    var serverCores: Double?
    var clientCores: Double?
    /// The server's resident memory at the end of the scenario.
    var serverResidentMB: Int?
    /// The machine's one-minute load average before the measured run (other work on the machine).
    var loadAverageBefore: Double?
    var failures: [String] = []

    init(scenario: IngestScenario, connections: Int) {
        key = scenario.key
        title = scenario.title
        format = scenario.format
        framesPerRequest = scenario.framesPerRequest
        self.connections = connections
    }

    var value: Double { format == .jsonSingle ? requestsPerSecond : framesPerSecond }
    var unit: String { format == .jsonSingle ? "requests/s" : "frames/s" }

    mutating func record(warm: IngestStats, measured: IngestStats) {
        warmupRequests = warm.requests
        requests = measured.requests
        frames = measured.framesSent
        newRecords = measured.newRecords
        seconds = measured.seconds
        framesPerSecond = Double(measured.newRecords) / measured.seconds
        requestsPerSecond = Double(measured.requests - measured.failedRequests) / measured.seconds
        requestMegabytesPerSecond = Double(measured.bodyBytes) / measured.seconds / 1e6
        let l = Latencies(measured.latenciesMs)
        (latencyP50Ms, latencyP99Ms, latencyMaxMs) = (l.p50, l.p99, l.max)
        clientEncodeMicrosPerRequest = Double(measured.encodeNanoseconds) / 1e3 / Double(max(1, measured.requests))
        let busy = measured.latenciesMs.reduce(0, +) * 1e6 + Double(measured.encodeNanoseconds)
        clientEncodeShare = busy > 0 ? Double(measured.encodeNanoseconds) / busy : 0
        failures += warm.failures.map { "warm-up: \($0)" } + measured.failures
        if warm.failedRequests + measured.failedRequests > failures.count {
            failures.append("\(warm.failedRequests + measured.failedRequests) failed requests in all")
        }
    }
}

struct QueryResult: Codable {
    var key: String
    var title: String
    var loadedFrames: Int
    var queries = 0
    var p50Ms = 0.0
    var p99Ms = 0.0
    var maxMs = 0.0
    var meanResponseBytes = 0
    var failures: [String] = []

    mutating func record(_ s: LoadClient.QueryStats, loaded: Int) {
        loadedFrames = loaded
        queries = s.latenciesMs.count
        let l = Latencies(s.latenciesMs)
        (p50Ms, p99Ms, maxMs) = (l.p50, l.p99, l.max)
        meanResponseBytes = s.bytes / max(1, queries)
        failures += s.failures
        if s.failed > s.failures.count { failures.append("\(s.failed) failed queries in all") }
    }
}

struct Row: Codable {
    var scenario: String
    var value: Double
    var unit: String
    var bar: String
    var result: String
    var details: String
}

struct Report: Codable {
    var date: String
    var cores: Int
    var connections: Int
    var machines: Int
    var durability: String
    var serverBinary: String
    var loadAverageAtStart: Double?
    var clientEncoding = ClientEncoding()
    var ingest: [IngestResult] = []
    var queries: [QueryResult] = []
    var rows: [Row] = []

    init(date: String, cores: Int, connections: Int, machines: Int, durability: String, serverBinary: String) {
        self.date = date
        self.cores = cores
        self.connections = connections
        self.machines = machines
        self.durability = durability
        self.serverBinary = serverBinary
    }

    /// The bars: (minimum or maximum, value).
    static func bar(for key: String) -> (atLeast: Bool, value: Double)? {
        switch key {
        case "binary-16", "binary-64": (true, 10_000)
        case "json-batch": (true, 3_000)
        case "query-binary": (false, 10)
        default: nil
        }
    }

    static func judge(_ key: String, _ value: Double, failures: [String]) -> (bar: String, result: String) {
        let bar = Self.bar(for: key)
        let barText = bar.map { ($0.atLeast ? "≥ " : "p99 ≤ ") + grouped($0.value) } ?? "—"
        if !failures.isEmpty { return (barText, "FAIL (\(failures.count) error\(failures.count == 1 ? "" : "s"))") }
        guard let bar else { return (barText, "ok") }
        let met = bar.atLeast ? value >= bar.value : value <= bar.value
        return (barText, met ? "pass" : "FAIL")
    }

    mutating func makeRows() {
        rows = []
        for r in ingest {
            let (bar, result) = Self.judge(r.key, r.value, failures: r.failures)
            var details = String(format: "%d req × %d in %.1f s; request p50 %.1f / p99 %.1f ms; %.0f MB/s in; client build %.0f µs/req (%.1f%%)",
                                 r.requests, r.framesPerRequest, r.seconds, r.latencyP50Ms, r.latencyP99Ms,
                                 r.requestMegabytesPerSecond, r.clientEncodeMicrosPerRequest, r.clientEncodeShare * 100)
            if let n = r.walFsyncs, let s = r.walFsyncSeconds {
                details += String(format: "; WAL fsyncs %d (sum %.2f s, %.2f ms mean, %.2f per request)", n, s,
                                  n > 0 ? s / Double(n) * 1e3 : 0, Double(n) / Double(max(1, r.requests + r.warmupRequests)))
            }
            if let server = r.serverCores, let client = r.clientCores {
                details += String(format: "; CPU: server %.2f cores (%.0f µs/frame), client %.2f", server,
                                  r.framesPerSecond > 0 ? server / r.framesPerSecond * 1e6 : 0, client)
            }
            if let rss = r.serverResidentMB { details += "; server RSS \(rss) MB" }
            if let l = r.loadAverageBefore { details += String(format: "; load avg before %.1f", l) }
            details += "; server count \(r.serverRecords)/\(r.expectedRecords)"
            rows.append(Row(scenario: r.title, value: r.value, unit: r.unit, bar: bar, result: result, details: details))
        }
        for q in queries {
            let (bar, result) = Self.judge(q.key, q.p99Ms, failures: q.failures)
            rows.append(Row(scenario: q.title + " p99", value: q.p99Ms, unit: "ms", bar: bar, result: result,
                            details: String(format: "p50 %.2f ms, max %.2f ms over %d queries; %d frames loaded; %.1f MB/answer",
                                            q.p50Ms, q.maxMs, q.queries, q.loadedFrames, Double(q.meanResponseBytes) / 1e6)))
        }
    }

    func markdown(_ options: ServerReport) -> String {
        var out = "# Sinter server report (\(cores) cores, release build)\n\n"
        out += "\(date); server \(serverBinary), durability \(durability); client and server share the machine"
        out += loadAverageAtStart.map { String(format: " (load average %.1f at the start)", $0) } ?? ""
        out += ". "
        out += "Ingest: \(connections) connections over \(machines) machines, each scenario after \(options.warmupRequests) warm-up "
        out += "requests, bounded by \(options.requests) requests or \(grouped(options.seconds)) s, fresh data directory per scenario. "
        out += "Queries: one connection, sequential, \(options.queries) of each kind after 20 warm-up queries.\n\n"
        out += "| scenario | value | unit | bar | result | details |\n|---|---|---|---|---|---|\n"
        for r in rows {
            let value = r.unit == "ms" ? String(format: "%.2f", r.value) : grouped(r.value)
            out += "| \(r.scenario) | **\(value)** | \(r.unit) | \(r.bar) | \(r.result) | \(r.details) |\n"
        }
        out += "\nClient body building on one core: binary \(grouped(clientEncoding.binaryFramesPerSecond)) frames/s, "
            + "JSON \(grouped(clientEncoding.jsonFramesPerSecond)) frames/s.\n"
        let failing = ingest.map { ($0.title, $0.failures) } + queries.map { ($0.title, $0.failures) }
        for (title, failures) in failing where !failures.isEmpty {
            out += "\nFailures in \(title):\n" + failures.map { "- " + $0.replacingOccurrences(of: "\n", with: "\n  ") + "\n" }.joined()
        }
        return out
    }
}

struct Latencies {
    var p50 = 0.0, p99 = 0.0, max = 0.0
    init(_ values: [Double]) {
        guard !values.isEmpty else { return }
        let s = values.sorted()
        p50 = s[s.count / 2]
        p99 = s[Swift.min(s.count - 1, Int(Double(s.count) * 0.99))]
        max = s[s.count - 1]
    }
}

/// 12345.6 → "12,346".
func grouped(_ v: Double) -> String {
    let n = Int(v.rounded())
    let digits = String(abs(n))
    var out = ""
    for (i, c) in digits.enumerated() {
        if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
        out.append(c)
    }
    return (n < 0 ? "-" : "") + out
}
