// Every setting of the edge gateway, with its default.
import OPCUA
import TelemetryModel

/// How an ``EdgeGateway`` runs: where it takes values in, how it processes them, where it sends them.
///
/// Every property has a default, so a configuration names only what differs:
///
/// ```swift
/// var configuration = EdgeConfiguration(spoolDirectory: "/var/lib/sinter-edge/spool")
/// configuration.printers = ["dmls-01", "fdm-01"]
/// configuration.serverURL = "http://127.0.0.1:8080"
/// configuration.average = 5
/// ```
public struct EdgeConfiguration: Sendable {
    // MARK: Intake

    /// Address of the OPC UA server for printers (`opc.tcp://host:port`); nil serves none
    /// (client mode only). Port 0 picks a free port (see ``EdgeGateway/opcuaPort()``).
    public var listen: String? = "opc.tcp://127.0.0.1:4840"
    /// Printers served, one object each; the kind comes from the prefix (`dmls-…`, `fdm-…`).
    public var printers: [String] = []
    /// Thermal camera size of DMLS printers (the `Temperature` matrix is rows × columns).
    public var frameSize: (width: Int, height: Int) = (ThermalFrame.defaultWidth, ThermalFrame.defaultHeight)
    /// Another OPC UA server to subscribe to (a real machine); nil for none.
    public var subscribeURL: String?
    /// Which of its nodes feed which record fields; nil subscribes to every printer of
    /// Sinter's printer model on that server.
    public var mapping: NodeMapping?
    /// Publishing interval of the subscription, in milliseconds.
    public var publishingInterval: Double = 100
    /// How long a record waits for the rest of its fields (see ``RecordAssembler``).
    public var settle: Duration = .milliseconds(250)

    // MARK: Processing

    /// Records held in memory between intake and the spool. When they reach this number the
    /// OPC UA server refuses writes with `BadResourceUnavailable` until the spool takes some.
    public var buffer = 1024
    /// Consecutive records of a machine averaged into one (1 forwards every record).
    public var average = 1

    // MARK: Forwarding

    /// sinter-server's base URL (`http://host:port`).
    public var serverURL = "http://127.0.0.1:8080"
    /// Bearer token for the server's writes.
    public var token: String?
    /// Most records in one HTTP request.
    public var batchRecords = 64
    /// Time allowed for one HTTP request.
    public var requestTimeout: Duration = .seconds(30)
    /// First retry delay after a failed request; doubles up to ``maximumBackoff``, with full jitter.
    public var initialBackoff: Duration = .milliseconds(100)
    /// Longest retry delay.
    public var maximumBackoff: Duration = .seconds(10)

    // MARK: Spool

    /// The spool's settings (directory, size bound, what to do when full).
    public var spool: SpoolConfiguration

    // MARK: Reporting

    /// Interval of the `edge.progress` log line (zero: none).
    public var reportEvery: Duration = .seconds(10)
    /// A file the status is written to as JSON (``EdgeStatus/json``) every second and at exit; nil for none.
    public var statusFile: String?

    /// A configuration with the spool in `spoolDirectory` and every other setting at its default.
    public init(spoolDirectory: String) {
        spool = SpoolConfiguration(directory: spoolDirectory)
    }
}
