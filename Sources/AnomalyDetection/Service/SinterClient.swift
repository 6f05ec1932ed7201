// What sinter-detect asks of sinter-server: machines, records (binary batches), alerts, the live stream.
public import AsyncHTTPClient
import Foundation
import NIOCore
public import TelemetryModel

/// An alert as the server lists it (the fields the detector needs).
public struct ServerAlert: Sendable, Equatable {
    public var id: String
    public var machineID: String
    public var rule: String
    public var severity: String
    public var state: String
}

/// A thin client of sinter-server's HTTP API for the detector.
///
/// Records are read as binary batches (`Accept: application/vnd.sinter.frames`, frames
/// included, decoded by ``FrameBatch``): no JSON on the frame path. Alert bodies are small JSON
/// objects.
///
/// ```swift
/// let client = SinterClient(baseURL: "http://127.0.0.1:8080", http: .shared)
/// let records = try await client.records(machine: id, after: cursor, limit: 500)
/// ```
public struct SinterClient: Sendable {
    public let baseURL: String
    let http: HTTPClient
    let token: String?
    let timeout: TimeAmount

    public init(baseURL: String, http: HTTPClient, token: String? = nil, timeout: Duration = .seconds(10)) {
        var url = baseURL
        while url.hasSuffix("/") { url.removeLast() }
        self.baseURL = url
        self.http = http
        self.token = token
        self.timeout = .nanoseconds(Int64(Debouncer.nanoseconds(timeout)))
    }

    /// Machines the server knows, with their newest record time.
    public func machines() async throws(DetectionError) -> [(id: MachineID, kind: String, last: Timestamp?)] {
        let object = try await json("GET", "/api/v1/machines")
        guard let list = object["machines"] as? [[String: Any]] else {
            throw DetectionError(.server, "GET /api/v1/machines: no \"machines\" list in the answer")
        }
        return list.compactMap { m in
            guard let text = m["id"] as? String, let id = try? MachineID(text) else { return nil }
            let last = (m["last_timestamp"] as? String).flatMap { try? Timestamp(parsing: $0) }
            return (id, m["kind"] as? String ?? "", last)
        }
    }

    /// Records of `machine` after `after` (exclusive) up to `to`, oldest first, at most `limit`.
    public func records(machine: MachineID, after: Timestamp?, to: Timestamp? = nil, limit: Int) async throws(DetectionError) -> [TelemetryRecord] {
        var query = "limit=\(limit)&order=asc"
        // RFC 3339 with nanoseconds: the cursor must not lose precision (epoch numbers are milliseconds).
        if let after { query += "&from=\(after.advanced(byNanoseconds: 1).rfc3339)" }
        if let to { query += "&to=\(to.rfc3339)" }
        let path = "/api/v1/machines/\(machine.rawValue)/records?\(query)"
        let (status, body) = try await send("GET", path, accept: FrameBatch.mediaType, maximum: 512 << 20)
        if status == 404 { return [] }
        guard status == 200 else { throw DetectionError(.server, "GET \(path): HTTP \(status): \(Self.text(body))") }
        do throws(FrameBatchError) {
            return try FrameBatch.decode(body, allowReservedChannels: true)
        } catch {
            throw DetectionError(.invalidData, "GET \(path): undecodable batch: \(error)")
        }
    }

    /// Raises (or updates) the alert of (machine, rule); returns its id.
    public func raise(_ d: AlertDecision) async throws(DetectionError) -> String {
        var body: [String: Any] = [
            "machine_id": d.machineID.rawValue, "rule": d.rule, "severity": d.severity.rawValue,
            "message": String(d.message.prefix(1000)), "timestamp": d.time.rfc3339,
        ]
        var details: [String: Double] = [:]
        for (k, v) in d.details where v.isFinite { details[k] = v }
        body["details"] = details
        let object = try await json("POST", "/api/v1/alerts", body: body, expect: [200, 201])
        guard let id = object["id"] else { throw DetectionError(.server, "POST /api/v1/alerts: no id in the answer") }
        return "\(id)"
    }

    /// Resolves alert `id` (an already resolved one is fine).
    public func resolve(id: String, note: String) async throws(DetectionError) {
        _ = try await json("POST", "/api/v1/alerts/\(id)/resolve", body: ["by": "sinter-detect", "note": String(note.prefix(1000))],
                           expect: [200, 409])
    }

    /// Unresolved alerts.
    public func openAlerts() async throws(DetectionError) -> [ServerAlert] {
        let object = try await json("GET", "/api/v1/alerts?active=true")
        guard let list = object["alerts"] as? [[String: Any]] else {
            throw DetectionError(.server, "GET /api/v1/alerts: no \"alerts\" list in the answer")
        }
        return list.compactMap(Self.alert)
    }

    static func alert(_ a: [String: Any]) -> ServerAlert? {
        guard let id = a["id"], let machine = a["machine_id"] as? String, let rule = a["rule"] as? String else { return nil }
        return ServerAlert(id: "\(id)", machineID: machine, rule: rule, severity: a["severity"] as? String ?? "",
                           state: a["state"] as? String ?? "")
    }

    /// Opens the live stream; the response body yields Server-Sent Events.
    func stream() async throws -> HTTPClientResponse {
        var request = HTTPClientRequest(url: baseURL + "/api/v1/stream")
        request.headers.add(name: "Accept", value: "text/event-stream")
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        let response = try await http.execute(request, timeout: .hours(24 * 365))
        guard response.status.code == 200 else {
            throw DetectionError(.server, "GET /api/v1/stream: HTTP \(response.status.code)")
        }
        return response
    }

    // MARK: Plumbing

    private func json(_ method: String, _ path: String, body: [String: Any]? = nil, expect: Set<Int> = [200]) async throws(DetectionError) -> [String: Any] {
        var data: [UInt8]?
        if let body {
            guard let encoded = try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys]) else {
                throw DetectionError(.invalidArgument, "\(method) \(path): body not encodable as JSON")
            }
            data = Array(encoded)
        }
        let (status, bytes) = try await send(method, path, body: data, accept: "application/json", maximum: 64 << 20)
        guard expect.contains(status) else {
            throw DetectionError(.server, "\(method) \(path): HTTP \(status): \(Self.text(bytes))")
        }
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else {
            throw DetectionError(.invalidData, "\(method) \(path): the answer is not a JSON object")
        }
        return object
    }

    private func send(_ method: String, _ path: String, body: [UInt8]? = nil, accept: String, maximum: Int) async throws(DetectionError) -> (Int, [UInt8]) {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = .RAW(value: method)
        request.headers.add(name: "Accept", value: accept)
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        do {
            let response = try await http.execute(request, timeout: timeout)
            var buffer = try await response.body.collect(upTo: maximum)
            return (Int(response.status.code), buffer.readBytes(length: buffer.readableBytes) ?? [])
        } catch {
            throw DetectionError(.server, "\(method) \(baseURL)\(path): \(error)")
        }
    }

    static func text(_ bytes: [UInt8]) -> String { String(decoding: bytes.prefix(300), as: UTF8.self) }
}
