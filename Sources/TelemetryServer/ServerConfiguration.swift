/// How a Sinter server runs: where it listens, what it accepts, and how it protects itself.
///
/// Every limit has a default suited to one plant's fleet on one machine; all are documented
/// where they are declared. The `sinter-server` command fills this from its flags.
///
/// ```swift
/// var configuration = ServerConfiguration()
/// configuration.port = 0            // any free port (tests)
/// configuration.token = "s3cret"    // writes need `Authorization: Bearer s3cret`
/// ```
public struct ServerConfiguration: Sendable {
    /// The store's directory. Default `Storage/data`.
    public var dataDirectory: String = "Storage/data"
    /// Address to listen on. Default `127.0.0.1` (loopback only).
    public var host: String = "127.0.0.1"
    /// Port to listen on; 0 picks a free one. Default 8080.
    public var port: Int = 8080
    /// When set, writes (every `POST`) need `Authorization: Bearer <token>`. Default: none.
    public var token: String? = nil
    /// When true (and a token is set), reads need the token too. `/healthz` stays open.
    /// Default false: reads are open, as on a loopback-only server.
    public var protectReads: Bool = false
    /// Largest request body accepted, in bytes; larger requests get 413. Default 32 MiB
    /// (about 800 frames in the binary batch, 150 in JSON).
    public var maximumBodySize: Int = 32 << 20
    /// Most records in one ingest request. Default 10,000.
    public var maximumRecordsPerRequest: Int = 10_000
    /// The ingest queue's capacity in body bytes: requests being read, parsed or written hold
    /// their body size here, and a request that does not fit gets 503 with `Retry-After`.
    /// This bounds ingest memory whatever clients do. Default 128 MiB.
    public var ingestQueueBytes: Int = 128 << 20
    /// The ingest queue's capacity in requests. Default 64.
    public var ingestQueueRequests: Int = 64
    /// Seconds a client is told to wait (`Retry-After`) when the queue is full. Default 1.
    public var retryAfterSeconds: Int = 1
    /// Largest `limit` a range query accepts. Default 1,000,000 (responses stream).
    public var maximumQueryLimit: Int = 1_000_000
    /// Most buckets one series query may produce. Default 100,000.
    public var maximumSeriesBuckets: Int = 100_000
    /// Events buffered per live-stream client; a slower client loses the oldest. Default 1,024.
    public var streamBufferEvents: Int = 1_024
    /// How often an idle live stream sends a keep-alive comment. Default 15 s.
    public var streamKeepAlive: Duration = .seconds(15)

    public init() {}
}
