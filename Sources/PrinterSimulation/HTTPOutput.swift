public import Logging
import SinterHTTPClient
public import TelemetryModel

/// Where the simulator's records go.
public protocol TelemetryOutput: Sendable {
    /// Hands over one step's records. May suspend while the output's backlog is full (when it is
    /// configured to wait rather than drop).
    func send(_ records: [TelemetryRecord]) async
    /// What has been sent so far.
    func report() async -> OutputReport
    /// Sends what is still queued, for at most `limit`, then stops and reports.
    func finish(within limit: Duration) async -> OutputReport
}

/// Counters of an output, printed in the simulator's progress lines and summary.
public struct OutputReport: Sendable, Hashable {
    /// Records the target acknowledged (duplicates of earlier records included).
    public var recordsSent = 0
    /// Of them, records with a thermal frame.
    public var framesSent = 0
    /// Requests the target acknowledged.
    public var requests = 0
    /// Attempts that failed and were retried (connection refused, timeouts, 429/503/5xx).
    public var retries = 0
    /// Records dropped because the backlog was full or the target never came back before the end.
    public var recordsDropped = 0
    /// Records the target refused (422/400), or answered with a status only a person can fix
    /// (401, 403, 404, 405, 413, 415): the simulator keeps no disk backlog, so they are counted here.
    public var recordsRejected = 0
    /// Records waiting to be sent.
    public var backlog = 0

    public init() {}
}

/// Posts records to sinter-server as binary batches (`application/vnd.sinter.frames`).
///
/// Records queue in a bounded backlog (``Configuration/maximumBacklogBytes``) and one sender
/// posts them in order, up to ``Configuration/batchRecords`` per request, with Sinter's
/// ``SinterClient``. When the server goes away or is busy (connection error, timeout, 408,
/// 429, 5xx) the sender retries with the client's policy (full-jitter backoff bounded by 100 ms
/// doubling to 5 s, `Retry-After` honoured up to 30 s), and logs once when the server becomes
/// unreachable and once when it is back. A full backlog drops its oldest records (what a real
/// device does) or makes ``send(_:)`` wait (for a simulation running faster than real time,
/// which must lose nothing). The simulator keeps nothing on disk: an answer that only a person
/// can fix (401/403 wrong token, 404/405 wrong URL, 413, 415) or a refusal of the records
/// (422/400) is logged with the server's message and the batch is counted rejected.
///
/// ```swift
/// let output = HTTPOutput(url: "http://127.0.0.1:8080", logger: logger)
/// await output.send(step.records)
/// let report = await output.finish(within: .seconds(10))
/// ```
public actor HTTPOutput: TelemetryOutput {
    /// Tuning of an ``HTTPOutput``.
    public struct Configuration: Sendable {
        /// Most records in one request.
        public var batchRecords = 64
        /// Backlog bound, in encoded bytes (about 40 KB per 100×100 frame).
        public var maximumBacklogBytes = 256 << 20
        /// When the backlog is full: drop the oldest records (false) or make `send` wait (true).
        public var waitWhenFull = false
        /// Time allowed for one request.
        public var requestTimeout: Duration = .seconds(30)
        /// Bearer token for the server's writes.
        public var token: String?

        public init() {}
    }

    private let endpoint: String
    private let configuration: Configuration
    private let logger: Logger
    private let client: SinterClient
    private var queue: [TelemetryRecord] = []
    private var queueHead = 0
    /// Records taken by the sender and not yet acknowledged.
    private var inFlight = 0
    private var backlogBytes = 0
    private var counters = OutputReport()
    private var sender: Task<Void, Never>?
    private var wakeSender: CheckedContinuation<Void, Never>?
    private var spaceWaiters: [CheckedContinuation<Void, Never>] = []
    private var finishing = false
    private var deadline: ContinuousClock.Instant?
    private var unreachable = false

    /// An output to the server at `url` (`http://host:port`; `/api/v1/telemetry` is added
    /// unless the URL already ends with it).
    public init(url: String, configuration: Configuration = Configuration(), logger: Logger) {
        var clientConfiguration = SinterClientConfiguration(baseURL: url, token: configuration.token)
        clientConfiguration.requestTimeout = configuration.requestTimeout
        clientConfiguration.retry.initialBackoff = .milliseconds(100)
        clientConfiguration.retry.maximumBackoff = .seconds(5)
        clientConfiguration.retry.maximumRetryAfter = .seconds(30)
        client = SinterClient(configuration: clientConfiguration, logger: logger)
        endpoint = client.telemetryURL
        self.configuration = configuration
        self.logger = logger
    }

    /// The URL records are posted to.
    public nonisolated var url: String { endpoint }

    static func estimatedSize(_ record: TelemetryRecord) -> Int {
        64 + record.channels.count * 24 + (record.frame.map { $0.values.count * 4 + 8 } ?? 0)
    }

    public func send(_ records: [TelemetryRecord]) async {
        guard !records.isEmpty else { return }
        if configuration.waitWhenFull {
            while backlogBytes > 0, backlogBytes + records.reduce(0, { $0 + Self.estimatedSize($1) }) > configuration.maximumBacklogBytes {
                await withCheckedContinuation { spaceWaiters.append($0) }
            }
        }
        queue.append(contentsOf: records)
        backlogBytes += records.reduce(0) { $0 + Self.estimatedSize($1) }
        if !configuration.waitWhenFull {
            var dropped = 0
            while backlogBytes > configuration.maximumBacklogBytes, queueHead < queue.count - records.count {
                backlogBytes -= Self.estimatedSize(queue[queueHead])
                queueHead += 1
                dropped += 1
            }
            if dropped > 0 {
                counters.recordsDropped += dropped
                logger.warning("output.backlog_full", metadata: ["records.dropped": "\(dropped)", "output.url": "\(endpoint)"])
            }
        }
        startSenderIfNeeded()
        wakeSender?.resume()
        wakeSender = nil
    }

    public func report() -> OutputReport {
        var r = counters
        r.backlog = queue.count - queueHead + inFlight
        return r
    }

    public func finish(within limit: Duration) async -> OutputReport {
        finishing = true
        deadline = ContinuousClock.now.advanced(by: limit)
        wakeSender?.resume()
        wakeSender = nil
        if let sender { await sender.value }
        await client.shutdown()
        var r = counters
        r.backlog = queue.count - queueHead
        if r.backlog > 0 {
            counters.recordsDropped += r.backlog
            r.recordsDropped += r.backlog
            logger.warning("output.unsent_at_exit", metadata: ["records.dropped": "\(r.backlog)", "output.url": "\(endpoint)"])
        }
        return r
    }

    private func startSenderIfNeeded() {
        guard sender == nil else { return }
        sender = Task { await self.sendLoop() }
    }

    private func sendLoop() async {
        while true {
            if queueHead == queue.count {
                if finishing { return }
                await withCheckedContinuation { wakeSender = $0 }
                continue
            }
            // Take the batch out of the queue first, so that dropping the oldest queued records
            // while it is in flight can never skip records that were not sent.
            let end = min(queue.count, queueHead + configuration.batchRecords)
            let batch = Array(queue[queueHead..<end])
            queueHead = end
            if queueHead > 4096, queueHead * 2 > queue.count {
                queue.removeFirst(queueHead)
                queueHead = 0
            }
            inFlight = batch.count
            let delivered = await deliver(batch)
            // The batch is done (sent, rejected or abandoned): release its space.
            inFlight = 0
            for record in batch { backlogBytes -= Self.estimatedSize(record) }
            let n = batch.count
            if !delivered {   // the finish deadline passed: finish() counts what is left
                counters.recordsDropped += n
                return
            }
            let waiters = spaceWaiters
            spaceWaiters = []
            for waiter in waiters { waiter.resume() }
        }
    }

    /// Posts one batch until the server takes it, refuses it, or the finish deadline passes.
    /// Returns false only when it gave up at the deadline.
    private func deliver(_ batch: [TelemetryRecord]) async -> Bool {
        var attempt = 0
        while true {
            var retryAfter: Duration?
            switch await client.postRecords(batch) {
            case .accepted:
                if unreachable {
                    unreachable = false
                    logger.notice("output.reconnected", metadata: ["output.url": "\(endpoint)"])
                }
                counters.recordsSent += batch.count
                counters.framesSent += batch.reduce(0) { $0 + ($1.frame == nil ? 0 : 1) }
                counters.requests += 1
                return true
            case .refused(let refusal):
                reject(batch, status: refusal.status, message: "\(refusal.error.code): \(refusal.error.message)")
                return true
            case .retryable(let reason) where !reason.isTransient:
                reject(batch, status: reason.status ?? 0, message: reason.message)
                return true
            case .retryable(let reason):
                retryAfter = reason.retryAfter
                if reason.status == nil {
                    if !unreachable {
                        unreachable = true
                        logger.warning("output.unreachable", metadata: ["output.url": "\(endpoint)", "error": "\(reason.message)"])
                    }
                } else {
                    logger.debug("output.busy", metadata: ["http.status": "\(reason.status ?? 0)"])
                }
            }
            counters.retries += 1
            if finishing, let deadline, ContinuousClock.now >= deadline { return false }
            let wait = client.configuration.retry.delay(attempt: attempt, retryAfter: retryAfter)
            attempt += 1
            if finishing, let deadline {
                try? await Task.sleep(until: min(deadline, ContinuousClock.now.advanced(by: wait)), clock: .continuous)
            } else {
                try? await Task.sleep(for: wait)
            }
        }
    }

    private func reject(_ batch: [TelemetryRecord], status: Int, message: String) {
        counters.recordsRejected += batch.count
        logger.error("output.rejected", metadata: [
            "http.status": "\(status)", "records": "\(batch.count)", "response": "\(message.prefix(300))",
        ])
    }
}
