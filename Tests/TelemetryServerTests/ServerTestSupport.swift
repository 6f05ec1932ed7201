import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import StorageEngine
import TelemetryModel
@testable import TelemetryServer

/// A fresh directory under the system temp dir, removed when the value is released.
final class TemporaryDirectory: Sendable {
    let path: String

    init(_ label: String = #function) {
        let name = label.filter { $0.isLetter || $0.isNumber }
        path = NSTemporaryDirectory() + "sinter-srv-\(name.prefix(40))-\(UUID().uuidString.prefix(8))"
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

let quietLogger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

/// A server over a store in a temp directory, for `app.test(.router)` and `.live` tests.
struct TestServer {
    let directory: TemporaryDirectory
    let store: TelemetryStore
    let alerts: AlertStore
    let context: ServerContext

    init(_ label: String = #function, configure: (inout ServerConfiguration) -> Void = { _ in },
         configureStore: (inout StoreConfiguration) -> Void = { _ in }) throws {
        directory = TemporaryDirectory(label)
        var storeConfiguration = StoreConfiguration()
        storeConfiguration.blockSize = 16
        configureStore(&storeConfiguration)
        store = try TelemetryStore.open(at: directory.path, configuration: storeConfiguration, logger: quietLogger)
        alerts = try AlertStore.open(at: directory.path, logger: quietLogger)
        var configuration = ServerConfiguration()
        configuration.port = 0
        configure(&configuration)
        context = ServerContext(configuration: configuration, store: store, alerts: alerts, metrics: ServerMetrics(), logger: quietLogger)
    }

    var app: some ApplicationProtocol { SinterServer.makeApplication(context: context, onServerRunning: { _ in }) }

    /// Runs `body` against the in-memory router, then closes the stores.
    func withRouter(_ body: @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        do {
            try await app.test(.router, body)
        } catch {
            try? await store.close()
            alerts.close()
            throw error
        }
        try await store.close()
        alerts.close()
    }
}

func machine(_ name: String) -> MachineID { try! MachineID(name) }

let t0: Int64 = 1_800_000_000_000_000_000

/// A DMLS record with a 100×100 two-decimal frame, deterministic in (machine, index).
func dmlsRecord(_ m: String, _ i: Int) -> TelemetryRecord {
    var values = [Float](repeating: 0, count: 10_000)
    for k in 0..<10_000 { values[k] = Float(2000 + (k * 7 + i * 13) % 6000) / 100 }
    return TelemetryRecord(
        machineID: machine(m), timestamp: Timestamp(nanoseconds: t0 + Int64(i) * 100_000_000), kind: "dmls",
        channels: ["power_kw": Float(i) / 10, "vibration_mm_s": Float(i % 17) / 4],
        state: "printing", frame: try! ThermalFrame(values: values))
}

/// Seed 000's JSON for one sample: flat (or nested) 10,000 temperatures with two decimals.
func seedJSON(machine: String, timestampMs: Int64, nested: Bool = false, count: Int = 10_000,
              power: Double = 3.25, vibration: Double = 0.5) -> String {
    var temps: [String] = []
    temps.reserveCapacity(count)
    for k in 0..<count { temps.append(String(format: "%.2f", 20 + Double((k * 37) % 6000) / 100)) }
    let data: String
    if nested && count == 10_000 {
        data = "[" + (0..<100).map { row in "[" + temps[(row * 100)..<(row * 100 + 100)].joined(separator: ",") + "]" }.joined(separator: ",") + "]"
    } else {
        data = "[" + temps.joined(separator: ",") + "]"
    }
    return #"{"machine_id":"\#(machine)","timestamp":\#(timestampMs),"temperature_data":\#(data),"power_consumption":\#(power),"vibration":\#(vibration)}"#
}

extension ByteBuffer {
    var string: String { String(buffer: self) }

    /// The body as a JSON object.
    func json() throws -> [String: Any] {
        guard let object = try JSONSerialization.jsonObject(with: Data(readableBytesView)) as? [String: Any] else {
            throw TestFailure("body is not a JSON object: \(string.prefix(200))")
        }
        return object
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

extension [String: Any] {
    /// `error.field` of an error body.
    var errorField: String? { (self["error"] as? [String: Any])?["field"] as? String }
    var errorCode: String? { (self["error"] as? [String: Any])?["code"] as? String }
    var errorPosition: Int? { (self["error"] as? [String: Any])?["position"] as? Int }
}

func buffer(_ s: String) -> ByteBuffer { ByteBuffer(string: s) }
func buffer(_ bytes: [UInt8]) -> ByteBuffer { ByteBuffer(bytes: bytes) }

let jsonHeaders: HTTPFields = [.contentType: "application/json"]
let batchHeaders: HTTPFields = [.contentType: FrameBatch.mediaType]
