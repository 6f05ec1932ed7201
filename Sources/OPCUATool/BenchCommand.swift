// `sinter-opcua bench`: matrix write throughput and write-to-notification latency against a server.
import ArgumentParser
import Logging
import OPCUA
#if canImport(Glibc)
import Glibc
#endif

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure matrix writes per second and write-to-notification latency.",
        discussion: """
            (a) Throughput: --writes Write calls of a 100×100 Float matrix to <printer>.Temperature, with \
            --concurrency requests outstanding (each task awaits its response before the next write).
            (b) Latency: a subscription to <printer>.Temperature; --latency-samples times, write a matrix whose \
            first element encodes the sample number and time until its data-change notification arrives \
            (each wait bounded to 5 s; misses are counted).

            A table goes to stdout, progress to stderr, and with --json the results to a file. The whole run is \
            bounded by --max-seconds (throughput gets 60 % of it, latency the rest).

            Example (shell line continuations, so it can be pasted):
              sinter-opcua bench opc.tcp://127.0.0.1:4840 --printer dmls-01 \\
                --writes 20000 --json bench.json
            """
    )

    @ArgumentParser.Argument(help: "The server's endpoint URL (opc.tcp://HOST:PORT).") var url: String
    @Option(help: "A DMLS printer id.") var printer = "dmls-01"
    @Option(parsing: .unconditional, help: "Matrix writes in the throughput phase.") var writes = 20000
    @Option(parsing: .unconditional, help: "Writes outstanding at once.") var concurrency = 8
    @Option(parsing: .unconditional, help: "Write-to-notification samples in the latency phase.") var latencySamples = 500
    @Option(parsing: .unconditional, help: "Publishing interval of the latency subscription, in milliseconds.") var publishingInterval: Double = 10
    @Option(help: "Write the results as JSON to this file.") var json: String?
    @Option(parsing: .unconditional, help: "Upper bound on the whole run, in seconds.") var maxSeconds: Double = 120
    @Option(parsing: .unconditional, help: "Offer N-byte receive and send buffers in the Hello (at least 8192).") var bufferSize: Int = 0
    @Option(help: "User name (needs --password).") var username: String?
    @Option(help: "Password for --username.") var password: String?
    @Option(help: "Log level on stderr.") var logLevel = "warning"

    static let side = 100
    static let notificationWait = Duration.seconds(5)

    func validate() throws {
        do { _ = try EndpointURL(url) } catch { throw ValidationError("URL: \(error.message)") }
        guard writes >= 0 else { throw ValidationError("--writes \(writes): must not be negative") }
        guard (1...1024).contains(concurrency) else { throw ValidationError("--concurrency \(concurrency): must be 1…1024") }
        guard latencySamples >= 0 else { throw ValidationError("--latency-samples \(latencySamples): must not be negative") }
        guard publishingInterval.isFinite, publishingInterval >= 0 else {
            throw ValidationError("--publishing-interval \(publishingInterval): must be a non-negative number")
        }
        guard maxSeconds.isFinite, maxSeconds > 0 else { throw ValidationError("--max-seconds \(maxSeconds): must be positive") }
        if bufferSize != 0, !(8192...16_777_216).contains(bufferSize) {
            throw ValidationError("--buffer-size \(bufferSize): must be between 8192 and 16777216")
        }
        guard (username == nil) == (password == nil) else { throw ValidationError("--username and --password go together") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("--log-level \(logLevel): unknown level") }
    }

    struct Throughput: Sendable {
        var writes = 0
        var errors = 0
        var firstError: String?
        var seconds = 0.0
        var truncated = false
        var writesPerSecond: Double { seconds > 0 ? Double(writes) / seconds : 0 }
        /// Matrix payload (40 000 bytes a write) in MB/s.
        var megabytesPerSecond: Double { writesPerSecond * Double(BenchCommand.side * BenchCommand.side * 4) / 1e6 }
    }

    struct Latency: Sendable {
        var samplesMs: [Double] = []
        var missed = 0
        var truncated = false
        var revisedPublishingInterval = 0.0

        func percentile(_ q: Double) -> Double {
            guard !samplesMs.isEmpty else { return .nan }
            let sorted = samplesMs.sorted()
            let rank = Int((q * Double(sorted.count)).rounded(.up))
            return sorted[min(max(rank - 1, 0), sorted.count - 1)]
        }
    }

    func run() async throws {
        bootstrapStderrLogging(level: Logger.Level(rawValue: logLevel) ?? .warning)
        let start = ContinuousClock.now
        let throughputDeadline = start + .milliseconds(Int64(maxSeconds * 600))
        let deadline = start + .milliseconds(Int64(maxSeconds * 1000))
        var configuration = ClientConfiguration()
        configuration.sessionName = "sinter-opcua bench"
        configuration.requestTimeout = .seconds(30)
        if bufferSize > 0 {
            configuration.transport.receiveBufferSize = UInt32(bufferSize)
            configuration.transport.sendBufferSize = UInt32(bufferSize)
        }
        if let username, let password { configuration.identity = .userName(username, password: password) }
        let client = try OPCUAClient(url: url, configuration: configuration, logger: Logger(label: "sinter.opcua.bench"))
        do {
            try await client.connect()
        } catch {
            printError("bench: cannot connect to \(url): \(error)")
            throw ExitCode(1)
        }
        var found: NodeId?
        do {
            if let ns = try await client.namespaceIndex(of: PrinterModel.namespaceUri) {
                let temperature = NodeId(string: "\(printer).Temperature", namespace: ns)
                _ = try await client.readValue(temperature)
                found = temperature
            } else {
                printError("bench: the server has no \(PrinterModel.namespaceUri) namespace")
            }
        } catch {
            printError("bench: \(printer).Temperature is not readable: \(describe(error))")
        }
        guard let node = found else {
            await client.disconnect()
            throw ExitCode(1)
        }

        printError("bench: throughput, \(writes) writes with \(concurrency) outstanding")
        let throughput = await measureThroughput(client: client, node: node, deadline: throughputDeadline)
        printError("bench: latency, \(latencySamples) samples at a \(Format.fixed(publishingInterval, 1)) ms publishing interval")
        var latency = Latency()
        do {
            latency = try await measureLatency(client: client, node: node, deadline: deadline)
        } catch {
            printError("bench: latency phase failed: \(describe(error))")
            latency.truncated = true
        }
        await client.disconnect()

        report(throughput, latency)
        if let json { try writeJSON(throughput, latency, to: json) }
        if throughput.writes == 0 && writes > 0 { throw ExitCode(1) }
    }

    private func measureThroughput(client: OPCUAClient, node: NodeId, deadline: ContinuousClock.Instant) async -> Throughput {
        var values = matrixValues(seed: 1)
        values[0] = -1
        let matrix = Variant.matrix(.float(values), dimensions: [Int32(Self.side), Int32(Self.side)])
        let total = writes
        let tasks = concurrency
        let started = ContinuousClock.now
        var result = Throughput()
        await withTaskGroup(of: Throughput.self) { group in
            for task in 0..<tasks {
                let share = total / tasks + (task < total % tasks ? 1 : 0)
                group.addTask {
                    var part = Throughput()
                    for _ in 0..<share {
                        if ContinuousClock.now >= deadline {
                            part.truncated = true
                            break
                        }
                        do {
                            try await client.writeValue(node, matrix)
                            part.writes += 1
                        } catch {
                            part.errors += 1
                            if part.firstError == nil { part.firstError = describe(error) }
                            if part.errors > 100 { break }
                        }
                    }
                    return part
                }
            }
            var lastReport = ContinuousClock.now
            for await part in group {
                result.writes += part.writes
                result.errors += part.errors
                result.truncated = result.truncated || part.truncated
                if result.firstError == nil { result.firstError = part.firstError }
                if ContinuousClock.now - lastReport > .seconds(1) {
                    lastReport = .now
                    printError("bench: \(result.writes) writes done")
                }
            }
        }
        result.seconds = Format.seconds(ContinuousClock.now - started)
        if let firstError = result.firstError { printError("bench: \(result.errors) writes failed, the first with \(firstError)") }
        return result
    }

    private func measureLatency(client: OPCUAClient, node: NodeId, deadline: ContinuousClock.Instant) async throws -> Latency {
        var latency = Latency()
        guard latencySamples > 0 else { return latency }
        let subscription = try await client.subscribe([node], publishingInterval: publishingInterval, samplingInterval: 0, queueSize: 10)
        let queue = await TimedQueue.feeding(from: subscription.changes)
        latency.revisedPublishingInterval = await subscription.revisedParameters?.publishingInterval ?? publishingInterval
        // The initial notification (the current value) comes first; wait for it so it is not taken for a sample.
        _ = await queue.next(timeout: .seconds(5))
        var values = matrixValues(seed: 2)
        let dimensions = [Int32(Self.side), Int32(Self.side)]
        for sample in 0..<latencySamples {
            if ContinuousClock.now >= deadline {
                latency.truncated = true
                break
            }
            let marker = Float(1_000_000 + sample)
            values[0] = marker
            let sent = ContinuousClock.now
            try await client.writeValue(node, .matrix(.float(values), dimensions: dimensions))
            let waitEnd = min(sent + Self.notificationWait, deadline)
            var seen = false
            while ContinuousClock.now < waitEnd {
                guard let change = await queue.next(timeout: waitEnd - ContinuousClock.now) else { break }
                if case .array(.float(let floats), _)? = change.value.value, floats.first == marker {
                    latency.samplesMs.append(Format.seconds(ContinuousClock.now - sent) * 1000)
                    seen = true
                    break
                }
            }
            if !seen { latency.missed += 1 }
            if (sample + 1) % 100 == 0 { printError("bench: \(sample + 1) latency samples") }
        }
        await queue.stop()
        _ = try? await subscription.cancel()
        return latency
    }

    private var build: String {
        #if DEBUG
        "debug"
        #else
        "release"
        #endif
    }

    private func report(_ throughput: Throughput, _ latency: Latency) {
        func row(_ phase: String, _ metric: String, _ value: String) -> String {
            phase.padding(12) + metric.padding(26) + value
        }
        var lines = ["sinter-opcua bench \(url) printer \(printer) (Temperature 100×100 Float, \(build) build)"]
        lines.append(row("phase", "metric", "value"))
        lines.append(row("throughput", "writes", "\(throughput.writes)\(throughput.truncated ? " (stopped at the time limit)" : "")"))
        lines.append(row("", "errors", "\(throughput.errors)"))
        lines.append(row("", "concurrency", "\(concurrency)"))
        lines.append(row("", "seconds", Format.fixed(throughput.seconds, 2)))
        lines.append(row("", "writes/s", Format.fixed(throughput.writesPerSecond, 1)))
        lines.append(row("", "MB/s (matrix payload)", Format.fixed(throughput.megabytesPerSecond, 2)))
        lines.append(row("latency", "samples", "\(latency.samplesMs.count)\(latency.truncated ? " (stopped early)" : "")"))
        lines.append(row("", "missed (no notification)", "\(latency.missed)"))
        lines.append(row("", "publishing interval ms", Format.fixed(latency.revisedPublishingInterval, 1)))
        for (name, q) in [("p50 ms", 0.5), ("p90 ms", 0.9), ("p99 ms", 0.99)] {
            lines.append(row("", name, Format.fixed(latency.percentile(q), 2)))
        }
        lines.append(row("", "max ms", Format.fixed(latency.samplesMs.max() ?? .nan, 2)))
        for line in lines { printLine(line) }
    }

    private func writeJSON(_ throughput: Throughput, _ latency: Latency, to path: String) throws {
        let text = JSON.object([
            ("url", JSON.string(url)),
            ("printer", JSON.string(printer)),
            ("build", JSON.string(build)),
            ("throughput", JSON.object([
                ("writes", "\(throughput.writes)"), ("errors", "\(throughput.errors)"), ("concurrency", "\(concurrency)"),
                ("seconds", JSON.number(throughput.seconds)), ("writes_per_second", JSON.number(throughput.writesPerSecond, digits: 1)),
                ("megabytes_per_second", JSON.number(throughput.megabytesPerSecond)), ("truncated", throughput.truncated ? "true" : "false"),
            ])),
            ("latency", JSON.object([
                ("samples", "\(latency.samplesMs.count)"), ("missed", "\(latency.missed)"),
                ("publishing_interval_ms", JSON.number(latency.revisedPublishingInterval, digits: 1)),
                ("p50_ms", JSON.number(latency.percentile(0.5))), ("p90_ms", JSON.number(latency.percentile(0.9))),
                ("p99_ms", JSON.number(latency.percentile(0.99))), ("max_ms", JSON.number(latency.samplesMs.max() ?? .nan)),
                ("truncated", latency.truncated ? "true" : "false"),
            ])),
        ]) + "\n"
        guard let file = fopen(path, "w") else { throw ValidationError("--json \(path): cannot open for writing") }
        defer { fclose(file) }
        guard fputs(text, file) >= 0 else { throw ValidationError("--json \(path): write failed") }
    }
}

extension String {
    /// The string padded with spaces to `width` characters (never truncated).
    fileprivate func padding(_ width: Int) -> String {
        count >= width ? self + " " : self + String(repeating: " ", count: width - count)
    }
}
