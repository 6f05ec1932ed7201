// What sinter-detect asks of sinter-server, through Sinter's one HTTP client (SinterHTTPClient).
import AsyncHTTPClient
import SinterHTTPClient
import TelemetryModel

/// The detector's calls to sinter-server: machines, records (binary batches, frames
/// included), alerts, the live stream. A thin layer over ``SinterClient`` that turns alert
/// decisions into alert bodies and the client's errors into ``DetectionError``.
///
/// ```swift
/// let api = DetectorAPI(client: SinterClient(configuration: .init(baseURL: "http://127.0.0.1:8080"), logger: logger))
/// let records = try await api.records(machine: id, after: cursor, limit: 500)
/// ```
struct DetectorAPI: Sendable {
    let client: SinterClient

    /// Machines the server knows, with their newest record time.
    func machines() async throws(DetectionError) -> [(id: MachineID, kind: String, last: Timestamp?)] {
        do throws(SinterClientError) {
            return try await client.machines().map { ($0.id, $0.kind, $0.lastTimestamp) }
        } catch { throw Self.map(error) }
    }

    /// Records of `machine` after `after` (exclusive) up to `to`, oldest first, at most `limit`.
    func records(machine: MachineID, after: Timestamp?, to: Timestamp? = nil, limit: Int) async throws(DetectionError) -> [TelemetryRecord] {
        do throws(SinterClientError) {
            return try await client.records(machine: machine, after: after, to: to, limit: limit)
        } catch { throw Self.map(error) }
    }

    /// Raises (or updates) the alert of (machine, rule); returns its id.
    func raise(_ d: AlertDecision) async throws(DetectionError) -> String {
        let body = NewAlertBody(machineID: d.machineID, rule: d.rule, severity: d.severity.rawValue, message: d.message,
                                time: d.time, details: d.details)
        do throws(SinterClientError) {
            return try await client.raiseAlert(body)
        } catch { throw Self.map(error) }
    }

    /// Resolves alert `id` (an already resolved one is fine).
    func resolve(id: String, note: String) async throws(DetectionError) {
        do throws(SinterClientError) {
            try await client.resolveAlert(id: id, by: "sinter-detect", note: note)
        } catch { throw Self.map(error) }
    }

    /// Unresolved alerts.
    func openAlerts() async throws(DetectionError) -> [ServerAlert] {
        do throws(SinterClientError) {
            return try await client.openAlerts()
        } catch { throw Self.map(error) }
    }

    /// Opens the live stream; the response body yields Server-Sent Events.
    func stream() async throws(DetectionError) -> HTTPClientResponse {
        do throws(SinterClientError) {
            return try await client.stream()
        } catch { throw Self.map(error) }
    }

    static func map(_ error: SinterClientError) -> DetectionError {
        DetectionError(error.code == .invalidResponse ? .invalidData : .server, error.message)
    }
}
