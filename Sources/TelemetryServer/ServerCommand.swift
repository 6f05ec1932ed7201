public import ArgumentParser
import Logging
import StorageEngine

/// `sinter-server`: the HTTP ingest and query server over the embedded store.
public struct ServerCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "sinter-server",
        abstract: "Serve the Sinter store over HTTP: ingest, queries, alerts, live stream, metrics.",
        discussion: """
            With no flags, serves the store in Storage/data on http://127.0.0.1:8080. The API is \
            described at /openapi.json; /healthz and /metrics are for operations. SIGINT or SIGTERM \
            stops accepting requests, finishes those in flight, then flushes and closes the store.

            Examples:
              sinter-server
              sinter-server --data /var/lib/sinter --port 9090 --token "$(cat token)"
              SINTER_TOKEN=s3cret sinter-server --protect-reads
            """
    )

    @Option(name: .customLong("data"), help: "The store's directory (created if absent).")
    var data = "Storage/data"

    @Option(help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(parsing: .unconditional, help: "Port to listen on (0 picks a free port and prints it).")
    var port = 8080

    @Option(help: "Bearer token required on writes (default: $SINTER_TOKEN; none = open).")
    var token: String?

    @Flag(help: "Require the token on reads too (/healthz stays open).")
    var protectReads = false

    @Option(help: "Largest request body in bytes (larger requests get 413).")
    var maxBodyBytes = ServerConfiguration().maximumBodySize

    @Option(help: "Ingest queue capacity in bytes; when full, ingest gets 503 with Retry-After.")
    var queueBytes = ServerConfiguration().ingestQueueBytes

    @Option(help: "Ingest queue capacity in requests.")
    var queueRequests = ServerConfiguration().ingestQueueRequests

    @Option(help: "Durability: durable (acknowledge after fsync) or relaxed (fsync every 100 ms).")
    var durability = "durable"

    @Option(parsing: .unconditional, help: "Drop data older than this many days (default: keep everything).")
    var retentionDays: Int?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel = "info"

    public init() {}

    public func validate() throws {
        guard (0...65_535).contains(port) else { throw ValidationError("--port must be in 0...65535; got \(port)") }
        guard maxBodyBytes >= 1024 else { throw ValidationError("--max-body-bytes must be at least 1024; got \(maxBodyBytes)") }
        guard queueBytes >= maxBodyBytes else {
            throw ValidationError("--queue-bytes (\(queueBytes)) must be at least --max-body-bytes (\(maxBodyBytes))")
        }
        guard queueRequests >= 1 else { throw ValidationError("--queue-requests must be at least 1; got \(queueRequests)") }
        guard ["durable", "relaxed"].contains(durability) else {
            throw ValidationError("--durability must be durable or relaxed; got \(durability)")
        }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical; got \(logLevel)")
        }
        if let retentionDays, retentionDays < 1 { throw ValidationError("--retention-days must be at least 1; got \(retentionDays)") }
    }

    public func run() async throws {
        var logger = Logger(label: "sinter-server")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        var configuration = ServerConfiguration()
        configuration.dataDirectory = data
        configuration.host = host
        configuration.port = port
        configuration.token = token ?? environmentToken()
        configuration.protectReads = protectReads
        configuration.maximumBodySize = maxBodyBytes
        configuration.ingestQueueBytes = queueBytes
        configuration.ingestQueueRequests = queueRequests
        var storeConfiguration = StoreConfiguration()
        if durability == "relaxed" { storeConfiguration.durability = .relaxed(syncInterval: .milliseconds(100)) }
        if let retentionDays { storeConfiguration.retention = .seconds(retentionDays * 86_400) }
        let host = self.host
        let data = self.data
        try await SinterServer.run(configuration: configuration, storeConfiguration: storeConfiguration, logger: logger) { port in
            // One line on stdout that scripts can wait for.
            print("sinter-server listening on http://\(host):\(port) (data: \(data))")
            fflush(nil)
        }
    }

    private func environmentToken() -> String? {
        guard let raw = getenv("SINTER_TOKEN") else { return nil }
        let value = String(cString: raw)
        return value.isEmpty ? nil : value
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
