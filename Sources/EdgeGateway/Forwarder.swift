// Store-and-forward: the spool's oldest records to sinter-server, in order, until acknowledged.
import AsyncHTTPClient
import Logging
import NIOCore
import TelemetryModel

/// Posts the spool's records to sinter-server as binary batches, oldest first.
///
/// The forwarder peeks up to ``EdgeConfiguration/batchRecords`` records, posts them as one
/// `application/vnd.sinter.frames` request (with the bearer token), and acknowledges them in
/// the spool only when the server answered 2xx, so an edge killed at any moment replays from
/// the first unacknowledged record; the server stores a (machine, timestamp) it already has
/// once, which makes the replay safe. Failures (refused connection, timeout, 408, 429, 5xx)
/// are retried with exponential backoff and full jitter (a uniform delay up to 100 ms,
/// 200 ms, … capped at ``EdgeConfiguration/maximumBackoff``), honouring `Retry-After`; the
/// first failure of an outage and the recovery are logged once each. A 4xx other than
/// 408/429 means the server will never take the batch as it is: the records are posted one
/// by one, and those refused again are logged with the server's message, counted as
/// rejected and acknowledged (skipped).
struct Forwarder: Sendable {
    let spool: Spool
    let configuration: EdgeConfiguration
    let status: StatusBox
    let logger: Logger
    /// Called after each acknowledgement (the pipeline retries records the spool refused).
    let onAcknowledge: @Sendable () async -> Void

    private var endpoint: String {
        var base = configuration.serverURL
        while base.hasSuffix("/") { base.removeLast() }
        return base.hasSuffix("/api/v1/telemetry") ? base : base + "/api/v1/telemetry"
    }

    enum Outcome {
        case accepted
        case refused(status: Int, message: String)
        case retry(after: Duration?, reason: String)
    }

    /// Forwards until the task is cancelled (or `stopWhenEmpty` and the spool is empty, or
    /// `stopOnFailure` and an attempt failed: the shutdown drain gives up on a server that is down
    /// rather than backing off).
    func run(client: HTTPClient, stopWhenEmpty: Bool = false, stopOnFailure: Bool = false) async {
        var attempt = 0
        var unreachable = false
        while !Task.isCancelled {
            if stopWhenEmpty, await spool.status.pendingRecords == 0 { return }
            await spool.waitForRecords()
            if Task.isCancelled { return }
            let batch: [SpooledRecord]
            do throws(SpoolError) {
                batch = try await spool.peek(maxRecords: configuration.batchRecords)
            } catch {
                logger.error("edge.spool_read_failed", metadata: ["error": "\(error)"])
                if !(await pause(attempt: &attempt, after: nil)) { return }
                continue
            }
            guard let last = batch.last else {
                if stopWhenEmpty { return }
                continue
            }
            switch await post(batch.map(\.record), client: client) {
            case .accepted:
                if unreachable {
                    unreachable = false
                    let pending = await spool.status.pendingRecords
                    logger.notice("edge.server_reachable", metadata: ["server.url": "\(endpoint)", "spool.pending": "\(pending)"])
                }
                attempt = 0
                acknowledge(batch, forwarded: batch.count, rejected: 0)
                await commit(last.sequence)
            case .refused(let code, let message):
                attempt = 0
                var rejected = 0
                if batch.count > 1 {
                    // Find the records the server refuses; the others go through.
                    for item in batch {
                        switch await post([item.record], client: client) {
                        case .accepted: break
                        case .refused(let code, let message):
                            rejected += 1
                            logRefusal(item.record, status: code, message: message)
                        case .retry:
                            // The server went away meanwhile: start the whole batch again.
                            status.update { $0.retries += 1 }
                            if stopOnFailure { return }
                            if !(await pause(attempt: &attempt, after: nil)) { return }
                            rejected = -1
                        }
                        if rejected < 0 { break }
                    }
                    if rejected < 0 { continue }
                } else {
                    rejected = 1
                    logRefusal(batch[0].record, status: code, message: message)
                }
                acknowledge(batch, forwarded: batch.count - rejected, rejected: rejected)
                await commit(last.sequence)
            case .retry(let after, let reason):
                status.update {
                    $0.retries += 1
                    $0.serverReachable = false
                }
                if !unreachable {
                    unreachable = true
                    let pending = await spool.status.pendingRecords
                    logger.warning("edge.server_unreachable", metadata: [
                        "server.url": "\(endpoint)", "error": "\(reason)", "spool.pending": "\(pending)",
                    ])
                }
                if stopOnFailure { return }
                if !(await pause(attempt: &attempt, after: after)) { return }
            }
        }
    }

    private func acknowledge(_ batch: [SpooledRecord], forwarded: Int, rejected: Int) {
        status.update { s in
            s.forwarded += forwarded
            s.rejected += rejected
            s.serverReachable = true
        }
    }

    private func commit(_ sequence: UInt64) async {
        do throws(SpoolError) {
            try await spool.acknowledge(through: sequence)
        } catch {
            logger.error("edge.spool_acknowledge_failed", metadata: ["error": "\(error)", "spool.sequence": "\(sequence)"])
        }
        await onAcknowledge()
    }

    private func logRefusal(_ record: TelemetryRecord, status code: Int, message: String) {
        logger.error("edge.record_refused", metadata: [
            "machine.id": "\(record.machineID.rawValue)", "record.timestamp": "\(record.timestamp)",
            "http.status": "\(code)", "response": "\(message.prefix(300))",
        ])
    }

    /// Sleeps before the next attempt: a server-given delay, or full jitter over the backoff.
    /// Returns false when cancelled.
    private func pause(attempt: inout Int, after: Duration?) async -> Bool {
        let cap = Self.backoff(attempt: attempt, initial: configuration.initialBackoff, maximum: configuration.maximumBackoff)
        attempt += 1
        let delay = after ?? cap * Double.random(in: 0.1...1)
        do {
            try await Task.sleep(for: delay)
            return true
        } catch {
            return false
        }
    }

    /// The backoff cap before attempt `attempt` (0-based): initial × 2^attempt, at most `maximum`.
    static func backoff(attempt: Int, initial: Duration, maximum: Duration) -> Duration {
        var delay = initial
        for _ in 0..<min(attempt, 40) {
            delay = delay * 2
            if delay >= maximum { return maximum }
        }
        return min(delay, maximum)
    }

    private func post(_ records: [TelemetryRecord], client: HTTPClient) async -> Outcome {
        var request = HTTPClientRequest(url: endpoint)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: FrameBatch.mediaType)
        if let token = configuration.token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        request.body = .bytes(ByteBuffer(bytes: FrameBatch.encode(records)))
        let (seconds, attoseconds) = configuration.requestTimeout.components
        let timeout = TimeAmount.nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
        do {
            let response = try await client.execute(request, timeout: timeout)
            let text = String(buffer: try await response.body.collect(upTo: 1 << 20))
            let code = Int(response.status.code)
            if (200..<300).contains(code) { return .accepted }
            if code == 408 || code == 429 || code >= 500 {
                var after: Duration?
                if let value = response.headers.first(name: "Retry-After"), let s = Int(value) { after = .seconds(min(60, max(0, s))) }
                return .retry(after: after, reason: "HTTP \(code)")
            }
            return .refused(status: code, message: text)
        } catch {
            return .retry(after: nil, reason: "\(error)")
        }
    }
}
