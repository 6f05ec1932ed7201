// The edge gateway's façade: OPC UA in, spool, HTTP out, as one Service.
import SinterHTTPClient
import Foundation
public import Logging
import OPCUA
public import ServiceLifecycle
import TelemetryModel

/// The OPC UA edge gateway: takes printer values in over OPC UA, averages them, keeps them in a
/// disk spool and forwards them to sinter-server until the server has them.
///
/// Two intakes feed one pipeline:
/// - an **OPC UA server** (``EdgeConfiguration/listen``) with one object per configured
///   printer, the variables of `PrinterModel` (what `sinter-sim --opcua` writes); writes to
///   other nodes are refused by the server (`BadNodeIdUnknown`), and while the gateway's
///   memory buffer is full every write is refused with `BadResourceUnavailable`;
/// - an **OPC UA client** (``EdgeConfiguration/subscribeURL``) subscribed to a machine's
///   server, through a ``NodeMapping``.
///
/// Values become records (``RecordAssembler``), N consecutive records are averaged
/// (``FrameAverager``), every record's frame statistics go to ``status()``, and records are
/// appended to the ``Spool`` before anything is sent: a forwarder posts the oldest ones as
/// binary batches and acknowledges them only on 2xx.
///
/// An OPC UA Write is answered Good once the records it completed are in the spool and
/// covered by an fdatasync (concurrent writes share one, ``Spool/appendDurably(_:)``), so a
/// crash or power cut after Good loses none of them. Values that complete no record yet are
/// answered Good while they are only in memory, and a crash loses them: the fields of a sample
/// whose other fields have not arrived (until they do, or ``EdgeConfiguration/settle``
/// passes and the partial record goes out), and with ``EdgeConfiguration/average`` N > 1 the
/// up to N − 1 records of a printer waiting for their averaging group to fill. When the
/// completed records cannot be made durable (held for spool room, or the spool failed) the
/// Write's items are answered `BadResourceUnavailable`; the values may still be forwarded later.
///
/// On graceful shutdown the gateway stops its intakes, spools partial records and partial
/// averages, forwards for up to ``drainTimeout``, and closes the spool; what is left is sent by
/// the next run.
///
/// ```swift
/// var configuration = EdgeConfiguration(spoolDirectory: "/tmp/edge-spool")
/// configuration.printers = ["dmls-01", "fdm-01"]
/// let gateway = try EdgeGateway(configuration: configuration, logger: logger)
/// try await ServiceGroup(services: [gateway], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger).run()
/// ```
public final class EdgeGateway: Service, Sendable {
    public let configuration: EdgeConfiguration
    /// Longest time spent forwarding the spool at graceful shutdown.
    public let drainTimeout: Duration
    private let logger: Logger
    private let statusBox = StatusBox()
    private let spool: Spool
    private let pipeline: EdgePipeline
    private let server: OPCUAServer?
    private let stream: AsyncStream<IntakeBatch>
    private let continuation: AsyncStream<IntakeBatch>.Continuation

    /// One Write request's values, and where to say what became of them.
    struct IntakeBatch: Sendable {
        var values: [IntakeValue]
        var reply: CheckedContinuation<EdgePipeline.Receipt, Never>
    }

    /// Checks the configuration, opens (and recovers) the spool, and builds the printers' address space.
    /// - Throws: ``EdgeError`` naming the setting that is wrong, or the spool's error.
    public convenience init(configuration: EdgeConfiguration, logger: Logger, drainTimeout: Duration = .seconds(5)) throws(EdgeError) {
        try self.init(configuration: configuration, logger: logger, drainTimeout: drainTimeout, spoolSyncer: Spool.blockingPoolSync)
    }

    /// The same, with another fdatasync for the spool's group commits (tests hold or fail it).
    init(configuration: EdgeConfiguration, logger: Logger, drainTimeout: Duration, spoolSyncer: @escaping Spool.Syncer) throws(EdgeError) {
        guard configuration.average >= 1 else { throw EdgeError(.invalidArgument, "--average must be at least 1, got \(configuration.average)") }
        guard configuration.buffer >= 1 else { throw EdgeError(.invalidArgument, "--buffer must be at least 1, got \(configuration.buffer)") }
        guard configuration.batchRecords >= 1 else { throw EdgeError(.invalidArgument, "--batch must be at least 1, got \(configuration.batchRecords)") }
        guard configuration.listen != nil || configuration.subscribeURL != nil else {
            throw EdgeError(.invalidArgument, "nothing to take in: give --listen with --printers, or --subscribe")
        }
        guard configuration.serverURL.hasPrefix("http://") || configuration.serverURL.hasPrefix("https://") else {
            throw EdgeError(.invalidArgument, "--server must be an http:// URL like http://127.0.0.1:8080, got \(configuration.serverURL)")
        }
        self.configuration = configuration
        self.logger = logger
        self.drainTimeout = drainTimeout
        // Every setting is checked before the spool directory is touched: a typo creates nothing.
        var listenURL: EndpointURL?
        if let listen = configuration.listen {
            do throws(OPCUAError) {
                listenURL = try EndpointURL(listen)
            } catch {
                throw EdgeError(.invalidArgument, "--listen must be an opc.tcp URL like opc.tcp://127.0.0.1:4840, got \(listen) (\(error.message))")
            }
        }

        var fields: [MachineID: Set<RecordField>] = [:]
        var kinds: [MachineID: String] = [:]
        var targets: [NodeId: (MachineID, RecordField)] = [:]
        var space = AddressSpace()
        for printer in configuration.printers {
            guard let kind = PrinterModel.Kind(printerId: printer), let machine = try? MachineID(printer) else {
                throw EdgeError(.invalidArgument, "--printers: \(printer) is not a printer id like dmls-01 or fdm-01 (the prefix gives the kind)")
            }
            guard let nodes = space.addPrinter(printer, frame: (configuration.frameSize.height, configuration.frameSize.width)) else {
                throw EdgeError(.invalidArgument, "--printers: \(printer) is listed twice")
            }
            for channel in PrinterModel.channels(for: kind) {
                guard let field = RecordField(parsing: channel.recordField), let node = nodes.variables[channel.name] else { continue }
                targets[node] = (machine, field)
                fields[machine, default: []].insert(field)
            }
            kinds[machine] = kind.rawValue
        }
        if configuration.listen != nil, configuration.printers.isEmpty, configuration.subscribeURL == nil {
            throw EdgeError(.invalidArgument, "--printers is empty: name the printers this gateway serves, like --printers dmls-01,fdm-01")
        }
        do throws(SpoolError) {
            spool = try Spool(configuration: configuration.spool, logger: logger, syncer: spoolSyncer)
        } catch {
            throw EdgeError(.spool, "\(error.message) (--spool \(configuration.spool.directory))")
        }
        let nodeTargets = targets
        let pipeline = EdgePipeline(configuration: configuration, fields: fields, kinds: kinds, spool: spool, status: statusBox,
                                    logger: logger, dropWhenHeldFull: configuration.listen == nil)
        self.pipeline = pipeline
        (stream, continuation) = AsyncStream.makeStream(of: IntakeBatch.self)

        if let url = listenURL {
            var serverConfiguration = OPCUA.ServerConfiguration()
            serverConfiguration.host = url.host
            serverConfiguration.port = url.port
            serverConfiguration.applicationUri = "urn:sinter:edge"
            serverConfiguration.applicationName = "Sinter Edge Gateway"
            let gate = pipeline.gate
            let continuation = self.continuation
            let statusBox = self.statusBox
            let spool = self.spool
            server = OPCUAServer(
                configuration: serverConfiguration, addressSpace: space, logger: logger,
                onWrite: { writes in
                    let arrival = Timestamp(nanoseconds: DateTime.now.unixNanoseconds)
                    var values: [IntakeValue] = []
                    values.reserveCapacity(writes.count)
                    for write in writes {
                        guard let (machine, field) = nodeTargets[write.nodeId], let variant = write.value.value else { continue }
                        values.append(IntakeValue(machine: machine, field: field, value: variant,
                                                  timestamp: IntakeValue.time(of: write.value, arrival: arrival)))
                    }
                    guard !values.isEmpty else { return .good }
                    let receipt = await withCheckedContinuation { reply in
                        gate.enqueued()
                        if case .terminated = continuation.yield(IntakeBatch(values: values, reply: reply)) {
                            gate.dequeued()
                            reply.resume(returning: .notSpooled)
                        }
                    }
                    return await Self.answer(receipt, spool: spool, logger: logger)
                },
                admitWrites: {
                    if gate.accepting { return .good }
                    statusBox.update { $0.writesRefused += 1 }
                    return .badResourceUnavailable
                }
            )
        } else {
            server = nil
        }
    }

    /// The status a Write gets: Good once the records it completed are durable.
    private static func answer(_ receipt: EdgePipeline.Receipt, spool: Spool, logger: Logger) async -> StatusCode {
        switch receipt {
        case .inMemory:
            return .good
        case .notSpooled:
            return .badResourceUnavailable
        case .spooled(let sequence):
            do throws(SpoolError) {
                try await spool.waitUntilDurable(through: sequence)
                return .good
            } catch {
                logger.error("edge.write_not_durable", metadata: ["spool.sequence": "\(sequence)", "error": "\(error)"])
                return .badResourceUnavailable
            }
        }
    }

    /// The OPC UA server's port once it listens (useful with port 0); throws without `--listen`.
    public func opcuaPort() async throws -> Int {
        guard let server else { throw EdgeError(.invalidArgument, "this gateway serves no printers (no --listen)") }
        return try await server.listeningPort()
    }

    /// The counters so far, with the spool's.
    public func status() async -> EdgeStatus {
        var status = statusBox.value
        status.spool = await spool.status
        status.dropped += status.spool.droppedRecords
        return status
    }

    /// Runs until graceful shutdown (or cancellation), then drains and closes the spool.
    public func run() async throws {
        let client = SinterClient(configuration: Forwarder.clientConfiguration(configuration), logger: logger)
        let pipeline = self.pipeline
        let forwarder = Forwarder(spool: spool, configuration: configuration, status: statusBox, logger: logger, client: client,
                                  onAcknowledge: { await pipeline.retryHeld() })
        let recovered = await spool.status.recoveredRecords
        logger.notice("edge.started", metadata: [
            "opcua.listen": "\(configuration.listen ?? "-")", "printers": "\(configuration.printers.joined(separator: ","))",
            "opcua.subscribe": "\(configuration.subscribeURL ?? "-")", "server.url": "\(configuration.serverURL)",
            "edge.average": "\(configuration.average)", "spool.directory": "\(configuration.spool.directory)",
            "spool.recovered": "\(recovered)",
        ])

        let stream = self.stream
        let gate = pipeline.gate
        let consumer = Task {
            for await batch in stream {
                gate.dequeued()
                batch.reply.resume(returning: await pipeline.ingest(batch.values))
            }
        }
        let tickInterval = min(configuration.settle / 2, .milliseconds(100))
        let ticker = Task {
            while !Task.isCancelled {
                do { try await Task.sleep(for: tickInterval) } catch { return }
                await pipeline.tick()
            }
        }
        let forwarding = Task { await forwarder.run() }
        let reporter = Task { await self.report() }
        let statusWriter = Task {
            while !Task.isCancelled {
                await self.writeStatusFile()
                do { try await Task.sleep(for: .seconds(1)) } catch { return }
            }
        }
        let source: Task<Void, Never>? = configuration.subscribeURL.map { url in
            let source = SubscriptionSource(url: url, mapping: configuration.mapping, publishingInterval: configuration.publishingInterval,
                                            frameSize: configuration.frameSize, logger: logger)
            let statusBox = self.statusBox
            return Task { await source.run(pipeline: pipeline, status: statusBox) }
        }

        // Intake runs in this task, so graceful shutdown and cancellation reach it.
        var failure: (any Error)?
        if let server {
            do { try await server.run() } catch { failure = error }
        } else {
            try? await gracefulShutdown()
        }

        // Stop taking in, spool what is pending, forward for a while, close. Every Write the
        // server took was ingested before it stopped (its handler waits for the pipeline).
        logger.info("edge.stopping", metadata: ["intake.queued": "\(gate.queuedBatches)"])
        source?.cancel()
        await source?.value
        continuation.finish()
        await consumer.value
        ticker.cancel()
        await pipeline.finish()
        // The running forwarder may be sleeping in a backoff from an outage that is already over:
        // stop it and drain with a fresh one that tries at once, ends when the spool is empty or
        // an attempt fails, and is cut off at `drainTimeout`.
        forwarding.cancel()
        await forwarding.value
        if !Task.isCancelled, drainTimeout > .zero, await spool.status.pendingRecords > 0 {
            let drainer = Task { await forwarder.run(stopWhenEmpty: true, stopOnFailure: true) }
            let drainTimeout = self.drainTimeout
            let timer = Task {
                try? await Task.sleep(for: drainTimeout)
                drainer.cancel()
            }
            await drainer.value
            timer.cancel()
        }
        reporter.cancel()
        statusWriter.cancel()
        await spool.close()
        await forwarder.deadLetters.close()
        await client.shutdown()
        let status = await self.status()
        logger.notice("edge.stopped", metadata: [
            "records.in": "\(status.recordsIn)", "records.forwarded": "\(status.forwarded)",
            "spool.pending": "\(status.spool.pendingRecords)", "records.dropped": "\(status.dropped)",
        ])
        await writeStatusFile()
        if let failure { throw failure }
    }

    /// Writes ``status()`` to ``EdgeConfiguration/statusFile`` (temporary file, then rename).
    private func writeStatusFile() async {
        guard let path = configuration.statusFile else { return }
        let json = await status().json + "\n"
        do {
            try Data(json.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            logger.warning("edge.status_file_failed", metadata: ["file": "\(path)", "error": "\(error)"])
        }
    }

    /// Logs `edge.progress` every ``EdgeConfiguration/reportEvery``.
    private func report() async {
        guard configuration.reportEvery > .zero else { return }
        var last = statusBox.value
        var lastTime = ContinuousClock.now
        while !Task.isCancelled {
            do { try await Task.sleep(for: configuration.reportEvery) } catch { return }
            let now = ContinuousClock.now
            let status = await self.status()
            let seconds = Double((now - lastTime).components.seconds) + Double((now - lastTime).components.attoseconds) / 1e18
            let rate = seconds > 0 ? Double(status.forwarded - last.forwarded) / seconds : 0
            logger.info("edge.progress", metadata: [
                "records.in": "\(status.recordsIn)", "records.out": "\(status.recordsOut)", "records.forwarded": "\(status.forwarded)",
                "records.per_second": "\(Int(rate.rounded()))", "spool.pending": "\(status.spool.pendingRecords)",
                "records.dropped": "\(status.dropped)", "records.rejected": "\(status.rejected)",
                "writes.refused": "\(status.writesRefused)", "server.reachable": "\(status.serverReachable)",
            ])
            last = status
            lastTime = now
        }
    }
}
