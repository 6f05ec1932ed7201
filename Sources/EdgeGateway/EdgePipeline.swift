// Values in, records to the spool: assembly, averaging, statistics, and the in-memory buffer.
import Logging
import Synchronization
import TelemetryModel

/// The processing stage between intake and the spool, as an actor.
///
/// Values become records (``RecordAssembler``), records are averaged (``FrameAverager``),
/// each record's frame statistics go to the status, and the records are appended to the
/// spool. Records the spool refuses (full, `reject` policy) are held in memory and appended
/// again after each acknowledgement; while any are held, or intake is ``EdgeConfiguration/buffer``
/// batches behind, ``accepting`` is false and the OPC UA server refuses writes.
///
/// ``ingest(_:)`` says what became of a batch (a ``Receipt``), so that an OPC UA Write can be
/// answered Good only once the records it completed are durable in the spool.
actor EdgePipeline {
    enum State: Sendable { case running, finished }

    /// What became of one batch of values.
    enum Receipt: Sendable, Equatable {
        /// The values completed no outgoing record: they wait in memory, in a record that is
        /// missing fields (until they come or ``EdgeConfiguration/settle`` passes) or in an
        /// averaging group that is not full (``EdgeConfiguration/average``).
        case inMemory
        /// The records the batch completed are in the spool (page cache), through this sequence.
        case spooled(UInt64)
        /// The records the batch completed are not in the spool: held in memory for room, or
        /// the spool failed, or the pipeline has finished.
        case notSpooled
    }

    private var state = State.running
    private var assembler: RecordAssembler
    private var averager: FrameAverager
    private let spool: Spool
    private let status: StatusBox
    private let logger: Logger
    private let buffer: Int
    /// Whether writes that cannot be refused (client mode) may drop records when the spool is full.
    private let dropWhenHeldFull: Bool
    private var held: [TelemetryRecord] = []
    private var heldDropped = 0
    /// The sequence of the newest record the spool took.
    private var lastSequence: UInt64 = 0
    /// Read by the OPC UA server's admission check without awaiting.
    let gate: Gate

    /// A lock-free view of "may the server accept writes" and "how many batches are queued".
    final class Gate: Sendable {
        private let queued = Atomic<Int>(0)
        private let blocked = Atomic<Bool>(false)
        let limit: Int
        init(limit: Int) { self.limit = limit }
        var accepting: Bool { !blocked.load(ordering: .relaxed) && queued.load(ordering: .relaxed) < limit }
        func enqueued() { queued.add(1, ordering: .relaxed) }
        func dequeued() { queued.subtract(1, ordering: .relaxed) }
        func setBlocked(_ on: Bool) { blocked.store(on, ordering: .relaxed) }
        var queuedBatches: Int { queued.load(ordering: .relaxed) }
    }

    init(configuration: EdgeConfiguration, fields: [MachineID: Set<RecordField>], kinds: [MachineID: String],
         spool: Spool, status: StatusBox, logger: Logger, dropWhenHeldFull: Bool) {
        assembler = RecordAssembler(fields: fields, kinds: kinds, frameSize: configuration.frameSize, settle: configuration.settle)
        averager = FrameAverager(window: max(1, configuration.average))
        self.spool = spool
        self.status = status
        self.logger = logger
        self.buffer = max(1, configuration.buffer)
        self.dropWhenHeldFull = dropWhenHeldFull
        gate = Gate(limit: max(1, configuration.buffer))
    }

    /// Adds machines discovered after start (client mode browsing a printer-model server).
    func register(fields: [MachineID: Set<RecordField>], kinds: [MachineID: String]) {
        for (machine, set) in fields { assembler.register(machine, fields: set, kind: kinds[machine] ?? "") }
    }

    /// Takes one batch of values (one Write request, or one notification) and says what
    /// became of it.
    @discardableResult
    func ingest(_ values: [IntakeValue]) async -> Receipt {
        guard state == .running else { return .notSpooled }
        let before = assembler.unusable
        let records = assembler.add(values, now: .now)
        let unusable = assembler.unusable - before
        status.update {
            $0.valuesIn += values.count
            $0.valuesUnusable += unusable
        }
        let out = await process(records)
        if out == 0 { return .inMemory }
        return held.isEmpty ? .spooled(lastSequence) : .notSpooled
    }

    /// Emits records whose settle time passed and retries held records; called periodically.
    func tick() async {
        guard state == .running else { return }
        await process(assembler.flush(now: .now))
        await retryHeld()
    }

    /// Called after the forwarder freed spool space.
    func retryHeld() async {
        guard !held.isEmpty else { return }
        let records = held
        held = []
        await append(records)
    }

    /// Flushes partial records and partial averaging groups into the spool (graceful shutdown).
    func finish() async {
        guard state == .running else { return }
        let pending = assembler.flush(now: .now, everything: true)
        await process(pending)
        let partial = averager.flush()
        record(partial)
        await append(partial)
        state = .finished
        if !held.isEmpty {
            logger.warning("edge.unspooled_at_exit", metadata: ["records": "\(held.count)"])
            status.update { $0.dropped += held.count }
            held = []
        }
    }

    /// Averages and appends `records`; returns how many records went out to the spool.
    @discardableResult
    private func process(_ records: [TelemetryRecord]) async -> Int {
        guard !records.isEmpty else { return 0 }
        status.update { $0.recordsIn += records.count }
        var out: [TelemetryRecord] = []
        for record in records { out += averager.add(record) }
        record(out)
        await append(out)
        return out.count
    }

    /// Statistics of each outgoing record, into the status.
    private func record(_ records: [TelemetryRecord]) {
        guard !records.isEmpty else { return }
        let stats = records.map { $0.frame?.statistics() }
        status.update { s in
            s.recordsOut += records.count
            for (record, stat) in zip(records, stats) {
                var m = s.machines[record.machineID.rawValue] ?? EdgeStatus.MachineStatus()
                m.recordsOut += 1
                m.lastTimestamp = record.timestamp
                if let stat { m.lastFrame = stat }
                if let state = record.state { m.lastState = state }
                s.machines[record.machineID.rawValue] = m
            }
        }
    }

    private func append(_ records: [TelemetryRecord]) async {
        guard !records.isEmpty else { return }
        if !held.isEmpty {   // keep the order: nothing overtakes held records
            held += records
            trimHeld()
            return
        }
        do throws(SpoolError) {
            lastSequence = try await spool.append(records)
            gate.setBlocked(false)
        } catch {
            if error.code == .full {
                held = records
                gate.setBlocked(true)
                trimHeld()
            } else if error.code == .invalidRecord {
                // A record the spool could not read back after a restart: keep the others.
                await appendEach(records)
            } else {
                logger.error("edge.spool_write_failed", metadata: ["error": "\(error)", "records": "\(records.count)"])
                held = records
                gate.setBlocked(true)
            }
        }
        let heldCount = held.count
        status.update { $0.held = heldCount }
    }

    /// Appends one record at a time, dropping (and counting as rejected) those the spool refuses as invalid.
    private func appendEach(_ records: [TelemetryRecord]) async {
        for (index, record) in records.enumerated() {
            do throws(SpoolError) {
                lastSequence = try await spool.append([record])
            } catch {
                if error.code == .invalidRecord {
                    status.update { $0.rejected += 1 }
                    logger.error("edge.record_invalid", metadata: [
                        "machine.id": "\(record.machineID.rawValue)", "record.timestamp": "\(record.timestamp)", "error": "\(error.message)",
                    ])
                } else {
                    held = Array(records[index...])
                    gate.setBlocked(true)
                    return
                }
            }
        }
    }

    /// Client mode cannot refuse values: past the buffer, the oldest held records are dropped.
    private func trimHeld() {
        guard dropWhenHeldFull, held.count > buffer else { return }
        let n = held.count - buffer
        held.removeFirst(n)
        heldDropped += n
        status.update { $0.dropped += n }
        logger.warning("edge.buffer_full_dropping", metadata: ["records.dropped": "\(n)", "records.dropped_total": "\(heldDropped)"])
    }
}
