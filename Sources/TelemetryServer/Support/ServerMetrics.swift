import Metrics
import Prometheus
import StorageEngine

/// The server's metrics, exposed at `/metrics` in Prometheus text format.
///
/// Metrics are created through swift-metrics with this server's own Prometheus factory (not the
/// process-global `MetricsSystem`), so several servers in one process (tests) keep separate
/// registries. Store-level figures (size, records, compression, WAL syncs) are read from the
/// store's statistics when the endpoint is scraped.
final class ServerMetrics: Sendable {
    let registry: PrometheusCollectorRegistry
    private let factory: PrometheusMetricsFactory

    let ingestRecords: Metrics.Counter
    let ingestDuplicates: Metrics.Counter
    let ingestBytes: Metrics.Counter
    let ingestRejected: Metrics.Counter
    let queueBytes: Metrics.Gauge
    let queueRequests: Metrics.Gauge
    let walFsync: Metrics.Timer
    let streamClients: Metrics.Gauge
    private let storeBytes: Metrics.Gauge
    private let walBytes: Metrics.Gauge
    private let storeRecords: Metrics.Gauge
    private let storeMachines: Metrics.Gauge
    private let compressionRatio: Metrics.Gauge
    private let storeProblems: Metrics.Gauge
    /// 1 while the store or the alert store is stopped after an I/O failure (fail-stop), else 0.
    private let storeFailed: Metrics.Gauge

    init() {
        registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        let latencyBuckets: [Duration] = [
            .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2),
            .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
            .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(10),
        ]
        factory.defaultDurationHistogramBuckets = latencyBuckets
        self.factory = factory
        ingestRecords = Metrics.Counter(label: "sinter_ingest_records_total", factory: factory)
        ingestDuplicates = Metrics.Counter(label: "sinter_ingest_duplicates_total", factory: factory)
        ingestBytes = Metrics.Counter(label: "sinter_ingest_bytes_total", factory: factory)
        ingestRejected = Metrics.Counter(label: "sinter_ingest_rejected_total", dimensions: [("reason", "overload")], factory: factory)
        queueBytes = Metrics.Gauge(label: "sinter_ingest_queue_bytes", factory: factory)
        queueRequests = Metrics.Gauge(label: "sinter_ingest_queue_requests", factory: factory)
        walFsync = Metrics.Timer(label: "sinter_wal_fsync_duration_seconds", factory: factory)
        streamClients = Metrics.Gauge(label: "sinter_stream_clients", factory: factory)
        storeBytes = Metrics.Gauge(label: "sinter_store_segment_bytes", factory: factory)
        walBytes = Metrics.Gauge(label: "sinter_store_wal_bytes", factory: factory)
        storeRecords = Metrics.Gauge(label: "sinter_store_records", factory: factory)
        storeMachines = Metrics.Gauge(label: "sinter_store_machines", factory: factory)
        compressionRatio = Metrics.Gauge(label: "sinter_store_frame_compression_ratio", factory: factory)
        storeProblems = Metrics.Gauge(label: "sinter_store_problems", factory: factory)
        storeFailed = Metrics.Gauge(label: "sinter_store_failed", factory: factory)
    }

    /// The request-latency histogram for one route, method and status.
    func requestTimer(method: String, route: String, status: Int) -> Metrics.Timer {
        Metrics.Timer(label: "sinter_http_request_duration_seconds",
                      dimensions: [("method", method), ("route", route), ("status", String(status))],
                      factory: factory)
    }

    /// Refreshes the store gauges from `statistics` (called on each scrape).
    func updateStore(_ s: TelemetryStore.Statistics, problems: Int, failed: Bool) {
        storeFailed.record(failed ? 1 : 0)
        storeBytes.record(Double(s.segmentBytes))
        walBytes.record(Double(s.walBytes))
        storeRecords.record(Double(s.records))
        storeMachines.record(Double(s.machines))
        let c = s.counters
        if c.sealedBlockBytes > 0 {
            compressionRatio.record(Double(c.sealedFrameRawBytes) / Double(c.sealedBlockBytes))
        }
        storeProblems.record(Double(problems))
    }

    /// The Prometheus text exposition.
    func exposition() -> [UInt8] { registry.emitToBuffer() }
}
