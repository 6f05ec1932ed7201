import Logging
import NIOPosix
import StorageEngine

/// What every route shares: the store, the alert store, the ingest queue, the live feed, the
/// metrics and the configuration.
final class ServerContext: Sendable {
    let configuration: ServerConfiguration
    let store: TelemetryStore
    let alerts: AlertStore
    let gate: IngestGate
    let feed: LiveFeed
    let metrics: ServerMetrics
    let logger: Logger
    let startedAt: ContinuousClock.Instant

    init(configuration: ServerConfiguration, store: TelemetryStore, alerts: AlertStore,
                 metrics: ServerMetrics, logger: Logger) {
        self.configuration = configuration
        self.store = store
        self.alerts = alerts
        self.gate = IngestGate(capacityBytes: configuration.ingestQueueBytes,
                               capacityRequests: configuration.ingestQueueRequests)
        self.feed = LiveFeed(bufferEvents: configuration.streamBufferEvents)
        self.metrics = metrics
        self.logger = logger
        self.startedAt = .now
    }

    /// Runs a blocking store read on NIO's thread pool, off the cooperative executor.
    func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await NIOThreadPool.singleton.runIfActive(body)
    }
}
