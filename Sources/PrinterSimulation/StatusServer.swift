public import Hummingbird
public import Logging
import NIOCore
import Synchronization
import TelemetryModel

/// The latest readings of every printer, shared between the simulation loop (writer) and the
/// status endpoint (readers).
public final class StatusBoard: Sendable {
    struct Entry: Sendable {
        var machineID: MachineID
        var kind: String
        var time: Timestamp
        var state: String?
        var channels: [String: Float]
    }

    private let state = Mutex<(fdm: [FDMStatus], all: [Entry])>(([], []))
    /// The fleet's FDM printers, known before the first sample.
    let fdmPrinters: [String]

    /// A board for a fleet of `printers` (its FDM printers are named in answers before the first sample).
    public init(printers: [PrinterInfo] = []) {
        fdmPrinters = printers.filter { $0.kind == .fdm }.map(\.machineID.rawValue)
    }

    /// Records what `step` produced.
    public func update(_ step: FleetStep) {
        let entries = step.records.map { record in
            var channels = record.channels
            if let statistics = record.frame?.statistics() {
                for (name, value) in statistics.channels { channels[name] = value }
            }
            return Entry(machineID: record.machineID, kind: record.kind, time: record.timestamp, state: record.state, channels: channels)
        }
        state.withLock { $0 = (step.fdmStatus, entries) }
    }

    /// Seed 001's status of each FDM printer.
    public var fdmStatus: [FDMStatus] { state.withLock { $0.fdm } }

    var entries: [Entry] { state.withLock { $0.all } }
}

/// Seed 001's HTTP status endpoint, for every simulated FDM printer, and a fleet overview.
///
/// - `GET /api/v1/printer/status` — seed 001's shape for `fdm-01` (or `?printer=fdm-03`):
///   `printer_status` (`idle`, `printing`, `error`), `nozzle_temp`, `bed_temp`,
///   `print_progress`, `filament_status` (`ok`, `jammed`), `timestamp`; plus `printer_id`,
///   `filament_flow`, `extruder_load`, `power_kw`.
/// - `GET /api/v1/printers` — every printer's latest state and channels (DMLS frames as their
///   statistics).
/// - `GET /health` — `{"status": "healthy", "timestamp": …}` as the seed's.
///
/// Errors are JSON `{"error": {"code", "message", "field"}}`: 404 for an unknown printer.
public enum StatusServer {
    /// The router, for tests (`app.test(.router)`) and ``makeApplication(board:host:port:logger:onServerRunning:)``.
    public static func makeRouter(board: StatusBoard) -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.get("/api/v1/printer/status") { request, _ -> Response in
            let statuses = board.fdmStatus
            let wanted = request.uri.queryParameters.get("printer")
            if statuses.isEmpty, !board.fdmPrinters.isEmpty, wanted.map({ board.fdmPrinters.contains($0) }) ?? true {
                var response = json(.serviceUnavailable, error("no_sample_yet", "the printers have not taken their first sample yet", field: "printer"))
                response.headers[.retryAfter] = "1"
                return response
            }
            guard let status = wanted.map({ name in statuses.first { $0.machineID.rawValue == name } }) ?? statuses.first else {
                let message = wanted.map { "no FDM printer named \($0) (this simulator runs \(statuses.count) FDM printers, fdm-01…)" }
                    ?? "this simulator runs no FDM printer (start it with --fdm N)"
                return json(.notFound, error("not_found", message, field: "printer"))
            }
            return json(.ok, seedShape(status))
        }
        router.get("/api/v1/printers") { _, _ -> Response in
            let items = board.entries.map { e -> String in
                let channels = e.channels.sorted { $0.key < $1.key }.map { "\"\($0.key)\":\(number($0.value))" }.joined(separator: ",")
                return "{\"machine_id\":\"\(e.machineID.rawValue)\",\"kind\":\"\(e.kind)\",\"timestamp\":\"\(e.time.rfc3339)\","
                    + "\"state\":\(e.state.map { "\"\($0)\"" } ?? "null"),\"channels\":{\(channels)}}"
            }
            return json(.ok, "{\"printers\":[\(items.joined(separator: ","))]}")
        }
        router.get("/health") { _, _ -> Response in
            let now = board.entries.first?.time.rfc3339 ?? ""
            return json(.ok, "{\"status\":\"healthy\",\"timestamp\":\"\(now)\"}")
        }
        return router
    }

    /// The status server on `host:port` (port 0 picks one; `onServerRunning` gets it).
    public static func makeApplication(board: StatusBoard, host: String, port: Int, logger: Logger,
                                       onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
        Application(router: makeRouter(board: board),
                    configuration: .init(address: .hostname(host, port: port), serverName: "sinter-sim"),
                    onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? 0) },
                    logger: logger)
    }

    /// Seed 001's JSON for one printer.
    static func seedShape(_ s: FDMStatus) -> String {
        "{\"printer_status\":\"\(s.printerStatus)\",\"nozzle_temp\":\(number(s.nozzleTemp)),\"bed_temp\":\(number(s.bedTemp)),"
            + "\"print_progress\":\(number(s.printProgress)),\"filament_status\":\"\(s.filamentStatus)\","
            + "\"timestamp\":\"\(s.time.rfc3339)\",\"printer_id\":\"\(s.machineID.rawValue)\","
            + "\"filament_flow\":\(number(s.filamentFlow)),\"extruder_load\":\(number(s.extruderLoad)),\"power_kw\":\(number(s.powerKW))}"
    }

    static func number(_ v: Float) -> String { v.isFinite ? "\(v)" : "null" }

    static func error(_ code: String, _ message: String, field: String) -> String {
        "{\"error\":{\"code\":\"\(code)\",\"message\":\"\(LabelEvent.escaped(message))\",\"field\":\"\(field)\"}}"
    }

    static func json(_ status: HTTPResponse.Status, _ body: String) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}
