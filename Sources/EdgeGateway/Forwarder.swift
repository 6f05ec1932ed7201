// Store-and-forward: the spool's oldest records to sinter-server, in order, until acknowledged.
import Foundation
import Logging
import SinterHTTPClient
import TelemetryModel

/// Posts the spool's records to sinter-server as binary batches, oldest first, and never
/// discards a record because of how the server answered a request as a whole.
///
/// The forwarder peeks up to ``EdgeConfiguration/batchRecords`` records, posts them with the
/// ``SinterClient`` and acknowledges them in the spool only when the server took them, so an
/// edge killed at any moment replays from the first unacknowledged record (the server stores
/// a duplicate once). What the answer means for the records:
///
/// * connection error, timeout, 401, 403, 404, 405, 408, 415, 429, 5xx, any other unexpected
///   status: the records stay in the spool and the request is retried with the client's
///   policy (full-jitter exponential backoff, `Retry-After` honoured up to its cap). 401/403
///   log `edge.token_refused` at most once a minute and set `server_refuses_token` in the
///   status; every failure sets `last_http_error`.
/// * 413: the batch is split in halves, which are posted in order, down to one record; a
///   single record still answered 413 stays and is retried with backoff (`edge.record_too_large`).
/// * 422, or 400 with the server's JSON error body: a batch is split in halves to find the
///   records refused individually; each one is appended to the dead-letter file (fsynced)
///   before the cursor moves past it (`edge.record_dead_lettered`). The others are stored.
///
/// The first failure of an episode (`edge.server_unreachable` without an answer,
/// `edge.server_not_accepting` with one) and the recovery (`edge.server_reachable`) are logged
/// once each.
struct Forwarder: Sendable {
    let spool: Spool
    let configuration: EdgeConfiguration
    let status: StatusBox
    let logger: Logger
    let client: SinterClient
    let deadLetters: DeadLetterFile
    /// Called after each acknowledgement (the pipeline retries records the spool refused).
    let onAcknowledge: @Sendable () async -> Void

    init(spool: Spool, configuration: EdgeConfiguration, status: StatusBox, logger: Logger, client: SinterClient,
         onAcknowledge: @escaping @Sendable () async -> Void) {
        self.spool = spool
        self.configuration = configuration
        self.status = status
        self.logger = logger
        self.client = client
        self.deadLetters = DeadLetterFile(directory: configuration.spool.directory, logger: logger)
        self.onAcknowledge = onAcknowledge
    }

    /// The client settings an edge configuration describes.
    static func clientConfiguration(_ configuration: EdgeConfiguration) -> SinterClientConfiguration {
        var c = SinterClientConfiguration(baseURL: configuration.serverURL, token: configuration.token)
        c.requestTimeout = configuration.requestTimeout
        c.retry.initialBackoff = configuration.initialBackoff
        c.retry.maximumBackoff = configuration.maximumBackoff
        return c
    }

    /// Mutable state of one `run`.
    private struct Progress {
        var attempt = 0
        var unreachable = false
        var lastTokenWarning: ContinuousClock.Instant?
    }

    /// What delivering a batch came to: how many of its first records are done (stored or
    /// dead-lettered), and why it stopped early, if it did.
    private struct Delivery {
        var done = 0
        var forwarded = 0
        var deadLettered = 0
        var stopped: RetryReason?
    }

    /// Forwards until the task is cancelled (or `stopWhenEmpty` and the spool is empty, or
    /// `stopOnFailure` and an attempt failed: the shutdown drain gives up on a server that is down
    /// rather than backing off).
    func run(stopWhenEmpty: Bool = false, stopOnFailure: Bool = false) async {
        var progress = Progress()
        do throws(SpoolError) {
            try await deadLetters.open()
            let count = await deadLetters.count
            let corrupt = await deadLetters.corruptEntries
            status.update {
                $0.deadLetters = count
                $0.deadLetterCorruptEntries = corrupt
            }
        } catch {
            logger.error("edge.dead_letter_open_failed", metadata: ["file": "\(deadLetters.path)", "error": "\(error.message)"])
        }
        while !Task.isCancelled {
            if stopWhenEmpty, await spool.status.pendingRecords == 0 { return }
            await spool.waitForRecords()
            if Task.isCancelled { return }
            let batch: [SpooledRecord]
            do throws(SpoolError) {
                batch = try await spool.peek(maxRecords: configuration.batchRecords)
            } catch {
                logger.error("edge.spool_read_failed", metadata: ["error": "\(error)"])
                if !(await client.pause(attempt: &progress.attempt)) { return }
                continue
            }
            if batch.isEmpty {
                if stopWhenEmpty { return }
                continue
            }
            let delivery = await deliver(batch[...], progress: &progress)
            if delivery.done > 0 {
                status.update { s in
                    s.forwarded += delivery.forwarded
                    s.rejected += delivery.deadLettered
                    s.deadLetters += delivery.deadLettered
                }
                await commit(batch[delivery.done - 1].sequence)
            }
            guard let reason = delivery.stopped else {
                progress.attempt = 0
                continue
            }
            if Task.isCancelled { return }
            failed(reason, progress: &progress)
            if stopOnFailure { return }
            if !(await client.pause(attempt: &progress.attempt, retryAfter: reason.retryAfter)) { return }
        }
    }

    /// Posts `records`, splitting on 413 and on refusals, in order; stops at the first answer
    /// that says to retry. The records done are always a prefix of `records`.
    private func deliver(_ records: ArraySlice<SpooledRecord>, progress: inout Progress) async -> Delivery {
        if Task.isCancelled { return Delivery(stopped: RetryReason(kind: .connectionFailed, message: "cancelled")) }
        switch await client.postRecords(records.map(\.record)) {
        case .accepted:
            reachable(&progress)
            return Delivery(done: records.count, forwarded: records.count)
        case .refused(let refusal):
            reachable(&progress)
            if records.count == 1 { return await deadLetter(records[records.startIndex], refusal) }
            return await split(records, progress: &progress)
        case .retryable(let reason):
            if reason.kind == .tooLarge {
                if records.count > 1 { return await split(records, progress: &progress) }
                let record = records[records.startIndex].record
                logger.warning("edge.record_too_large", metadata: [
                    "machine.id": "\(record.machineID.rawValue)", "record.timestamp": "\(record.timestamp)",
                    "spool.sequence": "\(records[records.startIndex].sequence)", "error": "\(reason.message)",
                ])
            }
            return Delivery(stopped: reason)
        }
    }

    private func split(_ records: ArraySlice<SpooledRecord>, progress: inout Progress) async -> Delivery {
        let middle = records.startIndex + records.count / 2
        var first = await deliver(records[records.startIndex..<middle], progress: &progress)
        if first.stopped != nil { return first }
        let second = await deliver(records[middle...], progress: &progress)
        first.done += second.done
        first.forwarded += second.forwarded
        first.deadLettered += second.deadLettered
        first.stopped = second.stopped
        return first
    }

    /// Moves a record the server refused individually to the dead-letter file (fsynced).
    private func deadLetter(_ item: SpooledRecord, _ refusal: PostOutcome.Refusal) async -> Delivery {
        let letter = DeadLetter(refusedAt: Timestamp(nanoseconds: Int64(Self.wallClockNanoseconds())), status: refusal.status,
                                sequence: item.sequence, error: refusal.error, record: item.record)
        let metadata: Logger.Metadata = [
            "machine.id": "\(item.record.machineID.rawValue)", "record.timestamp": "\(item.record.timestamp)",
            "spool.sequence": "\(item.sequence)", "http.status": "\(refusal.status)", "error.code": "\(refusal.error.code)",
            "error.field": "\(refusal.error.field ?? "-")", "error.message": "\(refusal.error.message.prefix(300))",
        ]
        do throws(SpoolError) {
            try await deadLetters.append(letter)
        } catch {
            var m = metadata
            m["error"] = "\(error.message)"
            logger.error("edge.dead_letter_failed", metadata: m)
            return Delivery(stopped: RetryReason(kind: .unexpectedStatus, status: refusal.status,
                                                 message: "dead-letter file not writable: \(error.message)"))
        }
        logger.error("edge.record_dead_lettered", metadata: metadata)
        return Delivery(done: 1, deadLettered: 1)
    }

    private func reachable(_ progress: inout Progress) {
        status.update {
            $0.serverReachable = true
            $0.serverRefusesToken = false
        }
        if progress.unreachable {
            progress.unreachable = false
            logger.notice("edge.server_reachable", metadata: ["server.url": "\(client.telemetryURL)"])
        }
    }

    private func failed(_ reason: RetryReason, progress: inout Progress) {
        let tokenRefused = reason.kind == .tokenRefused
        status.update {
            $0.retries += 1
            $0.serverReachable = reason.status != nil
            $0.serverRefusesToken = tokenRefused
            $0.lastHTTPError = reason.message
        }
        if tokenRefused {
            let now = ContinuousClock.now
            if progress.lastTokenWarning.map({ now - $0 >= .seconds(60) }) ?? true {
                progress.lastTokenWarning = now
                logger.warning("edge.token_refused", metadata: [
                    "server.url": "\(client.telemetryURL)", "http.status": "\(reason.status ?? 0)", "error": "\(reason.message)",
                    "token.set": "\(configuration.token?.isEmpty == false)",
                ])
            }
        }
        if !progress.unreachable {
            progress.unreachable = true
            // Once per episode: the server cannot be reached, or answers without taking the records.
            logger.warning(reason.status == nil ? "edge.server_unreachable" : "edge.server_not_accepting", metadata: [
                "server.url": "\(client.telemetryURL)", "error": "\(reason.message)", "retry.kind": "\(reason.kind.rawValue)",
            ])
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

    /// Nanoseconds since 1970 (UTC), for the dead-letter entry's refusal time.
    static func wallClockNanoseconds() -> UInt64 {
        UInt64(max(0, Date().timeIntervalSince1970 * 1e9))
    }
}
