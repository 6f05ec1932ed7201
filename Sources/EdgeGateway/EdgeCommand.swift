public import ArgumentParser
import Foundation
import Logging
import OPCUA
import ServiceLifecycle

/// `sinter-edge`: the OPC UA edge gateway between printers and sinter-server; `run` (the
/// default) runs it, `dead-letter list|replay` handles the records the server refused.
///
/// ```
/// sinter-edge --printers dmls-01 --server http://127.0.0.1:8080        # = sinter-edge run …
/// sinter-edge dead-letter list --spool Storage/spool
/// ```
public struct EdgeCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "sinter-edge",
        abstract: "OPC UA edge gateway: takes printer values in, averages them, spools them on disk, forwards them to sinter-server.",
        discussion: """
            Without a subcommand, sinter-edge runs the gateway ('sinter-edge run', the default: \
            'sinter-edge help run' lists its flags). 'sinter-edge dead-letter list|replay' shows and \
            re-sends the records the server refused individually as invalid.
            """,
        subcommands: [EdgeRunCommand.self, DeadLetterCommand.self],
        defaultSubcommand: EdgeRunCommand.self
    )

    public init() {}
}

/// `sinter-edge run` (the default subcommand): the gateway itself.
struct EdgeRunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "OPC UA edge gateway: takes printer values in, averages them, spools them on disk, forwards them to sinter-server.",
        discussion: """
            As an OPC UA server (--listen) it serves one object per printer named by --printers \
            (dmls-… printers have a Temperature Float[100x100] matrix, PowerKW, VibrationMmS, \
            PlateTempC, ChamberTempC, Layer and State; fdm-… printers NozzleTempC, BedTempC, \
            FilamentFlow, ExtruderLoad, PrintProgress, PowerKW and State, in namespace \
            urn:sinter:printers, nodes ns=N;s=<printer>.<Variable>). Printers write into it: \
            sinter-sim --opcua opc.tcp://127.0.0.1:4840. Writes to other printers are refused \
            (BadNodeIdUnknown). As an OPC UA client (--subscribe) it subscribes to a machine's \
            own server, through a node mapping (--mapping FILE: lines 'machine field node', e.g. \
            'dmls-07 power_kw ns=2;s=Press7.Power'; field is frame, state or a channel name), or, \
            without one, to every printer of a Sinter printer-model server.

            The values of one printer with one SourceTimestamp make one record; --average N \
            consecutive records become one (element-wise mean of the frames, mean of the channels, \
            the last state and time). Every record goes to the spool (--spool) before it is sent; \
            an OPC UA Write is answered Good only once the records it completed are fsynced there \
            (see --average and --settle-ms for the values a crash can still lose); \
            the forwarder posts the oldest as binary batches and deletes them only when the server \
            has them, retrying with exponential backoff and jitter while the server is down. The \
            spool survives restarts and is replayed in order; the server stores a duplicate once. \
            No answer of the server about a request as a whole loses records: connection errors, \
            timeouts, 401, 403 (a wrong --token: logged as edge.token_refused, shown as \
            server_refuses_token in the status file), 404, 405, 408, 415, 429 and 5xx keep them \
            spooled and retried; 413 splits the batch. Only a record the server refuses on its own \
            as invalid (422, or 400 with an error body) leaves the spool, into the dead-letter \
            file beside it (see 'sinter-edge dead-letter --help'). \
            When the spool reaches --spool-max-mb: 'reject' refuses new OPC UA writes with \
            BadResourceUnavailable (the writer retries; nothing is lost), 'drop-oldest' deletes the \
            oldest spooled records (counted as dropped).

            Every --report-every seconds a progress line shows records in, forwarded, spooled and \
            dropped; --status-file keeps the same counters (and each printer's last frame min, max, \
            mean and std) as JSON.

            Examples:
              sinter-edge --printers dmls-01,dmls-02,fdm-01 --server http://127.0.0.1:8080
              sinter-edge --printers dmls-01 --average 5 --spool /var/lib/sinter-edge \\
                --spool-max-mb 4096
              sinter-edge --listen none --subscribe opc.tcp://10.0.0.7:4840 \\
                --mapping press7.map
            """
    )

    @Option(help: "OPC UA endpoint to serve printers on, or 'none' (client mode only). Port 0 picks a free port.")
    var listen = "opc.tcp://127.0.0.1:4840"

    @Option(help: "Printers to serve, comma-separated (dmls-01,fdm-01,…); the prefix gives the kind.")
    var printers: String?

    @Option(help: "File with printer ids, one per line (# comments), added to --printers.")
    var printersFile: String?

    @Option(help: "Thermal frame size of DMLS printers, WIDTHxHEIGHT.")
    var frameSize = "100x100"

    @Option(help: "sinter-server base URL.")
    var server = "http://127.0.0.1:8080"

    @Option(help: "Bearer token for the server's writes (default: $SINTER_TOKEN).")
    var token: String?

    @Option(parsing: .unconditional, help: "Records held in memory between OPC UA intake and the spool; when full, writes are refused with BadResourceUnavailable.")
    var buffer = 1024

    @Option(parsing: .unconditional, help: "Consecutive records of a printer averaged into one (1 forwards every record). With N > 1, a Write whose record waits in a group that is not full is answered Good with it in memory only: a crash loses up to N - 1 records per printer.")
    var average = 1

    @Option(parsing: .unconditional, help: "Most records per HTTP request.")
    var batch = 64

    @Option(help: "Spool directory (created if missing).")
    var spool = "Storage/spool"

    @Option(parsing: .unconditional, help: "Spool size bound in MiB.")
    var spoolMaxMb = 1024

    @Option(help: "When the spool is full: reject (refuse new writes) or drop-oldest.")
    var spoolWhenFull = "reject"

    @Option(help: "Another OPC UA server to subscribe to (a real machine), opc.tcp://host:port.")
    var subscribe: String?

    @Option(help: "Node mapping file for --subscribe (lines 'machine field node').")
    var mapping: String?

    @Option(parsing: .unconditional, help: "Publishing interval of the --subscribe subscription, in milliseconds.")
    var publishingInterval = 100.0

    @Option(parsing: .unconditional, help: "Milliseconds a record waits for the rest of its variables. A Write that completes no record (some of a sample's variables) is answered Good with its values in memory only: a crash before the record is complete, or settled and spooled, loses them.")
    var settleMs = 250

    @Option(parsing: .unconditional, help: "Seconds between progress lines (0: none).")
    var reportEvery = 10.0

    @Option(help: "Write the status counters as JSON to this file (every second and at exit).")
    var statusFile: String?

    @Option(parsing: .unconditional, help: "Stop after this many seconds (default: run until SIGINT/SIGTERM).")
    var duration: Double?

    @Option(parsing: .unconditional, help: "Seconds spent forwarding the spool at shutdown before exiting (the rest waits for the next run).")
    var drain = 5.0

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel = "info"

    init() {}

    func validate() throws {
        guard average >= 1 else { throw ValidationError("--average must be at least 1; got \(average)") }
        guard buffer >= 1 else { throw ValidationError("--buffer must be at least 1; got \(buffer)") }
        guard (1...10_000).contains(batch) else { throw ValidationError("--batch must be 1...10000; got \(batch)") }
        guard spoolMaxMb >= 1 else { throw ValidationError("--spool-max-mb must be at least 1; got \(spoolMaxMb)") }
        guard SpoolFullPolicy(rawValue: spoolWhenFull) != nil else {
            throw ValidationError("--spool-when-full must be reject or drop-oldest; got \(spoolWhenFull)")
        }
        guard settleMs >= 0 else { throw ValidationError("--settle-ms must be ≥ 0; got \(settleMs)") }
        guard reportEvery >= 0 else { throw ValidationError("--report-every must be ≥ 0; got \(reportEvery)") }
        guard publishingInterval >= 0 else { throw ValidationError("--publishing-interval must be ≥ 0; got \(publishingInterval)") }
        guard drain >= 0 else { throw ValidationError("--drain must be ≥ 0; got \(drain)") }
        if let duration, !(duration > 0) { throw ValidationError("--duration must be > 0; got \(duration)") }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical; got \(logLevel)")
        }
        _ = try parsedFrameSize()
        if mapping != nil, subscribe == nil { throw ValidationError("--mapping needs --subscribe") }
        if listen == "none", subscribe == nil { throw ValidationError("--listen none needs --subscribe (nothing to take in)") }
    }

    func parsedFrameSize() throws -> (width: Int, height: Int) {
        let parts = frameSize.lowercased().split(separator: "x")
        guard parts.count == 2, let w = Int(parts[0]), let h = Int(parts[1]), (1...4096).contains(w), (1...4096).contains(h) else {
            throw ValidationError("--frame-size must be WIDTHxHEIGHT with sides 1-4096, like 100x100; got \(frameSize)")
        }
        return (w, h)
    }

    /// The gateway configuration the flags describe.
    func edgeConfiguration() throws -> EdgeConfiguration {
        var c = EdgeConfiguration(spoolDirectory: spool)
        c.listen = listen == "none" ? nil : listen
        var ids = (printers ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        if let printersFile {
            guard let text = try? String(contentsOfFile: printersFile, encoding: .utf8) else {
                throw ValidationError("--printers-file: cannot read \(printersFile)")
            }
            for line in text.split(separator: "\n") {
                let id = (line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
                    .trimmingCharacters(in: .whitespaces)
                if !id.isEmpty { ids.append(id) }
            }
        }
        c.printers = ids
        c.frameSize = try parsedFrameSize()
        c.serverURL = server
        c.token = token ?? ProcessInfo.processInfo.environment["SINTER_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        c.buffer = buffer
        c.average = average
        c.batchRecords = batch
        c.spool.maximumBytes = spoolMaxMb << 20
        c.spool.segmentBytes = min(c.spool.segmentBytes, max(1 << 20, c.spool.maximumBytes / 8))
        c.spool.whenFull = SpoolFullPolicy(rawValue: spoolWhenFull) ?? .reject
        c.subscribeURL = subscribe
        if let mapping {
            guard let text = try? String(contentsOfFile: mapping, encoding: .utf8) else {
                throw ValidationError("--mapping: cannot read \(mapping)")
            }
            do { c.mapping = try NodeMapping(parsing: text) } catch { throw ValidationError("--mapping \(mapping): \(error.message)") }
        }
        c.publishingInterval = publishingInterval
        c.settle = .milliseconds(settleMs)
        c.reportEvery = .milliseconds(Int64(reportEvery * 1000))
        c.statusFile = statusFile
        return c
    }

    func run() async throws {
        var logger = Logger(label: "sinter-edge")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        let configuration = try edgeConfiguration()
        let gateway: EdgeGateway
        do {
            gateway = try EdgeGateway(configuration: configuration, logger: logger, drainTimeout: .milliseconds(Int64(drain * 1000)))
        } catch {
            throw ValidationError(error.message)
        }
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: gateway)]
        if let duration { services.append(.init(service: StopAfter(seconds: duration), successTerminationBehavior: .gracefullyShutdownGroup)) }
        let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        let announce = Task {
            var where_ = "no OPC UA server (client mode)"
            if configuration.listen != nil, let port = try? await gateway.opcuaPort(), let url = try? EndpointURL(configuration.listen ?? "") {
                where_ = "OPC UA on opc.tcp://\(url.host):\(port) for \(configuration.printers.count) printers"
            }
            let source = configuration.subscribeURL.map { ", subscribed to \($0)" } ?? ""
            print("sinter-edge: \(where_)\(source) -> \(configuration.serverURL), average \(configuration.average), spool \(configuration.spool.directory)")
            fflush(nil)
        }
        defer { announce.cancel() }
        try await group.run()
    }
}

/// Ends the service group after a fixed time (`--duration`).
struct StopAfter: Service {
    let seconds: Double
    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            try await Task.sleep(for: .milliseconds(Int64(seconds * 1000)))
        }
    }
}
