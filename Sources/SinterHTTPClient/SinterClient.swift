// The one HTTP client of sinter-server's API: used by the simulator, the edge gateway and the detector.
public import AsyncHTTPClient
import Foundation
public import Logging
import NIOCore
public import TelemetryModel

/// A client of sinter-server's HTTP API: records in and out as binary batches, alerts as
/// JSON, the live stream, with one token handling, one set of timeouts and one retry policy.
///
/// Records are posted as `application/vnd.sinter.frames` (``FrameBatch``) and each post comes
/// back classified (``PostOutcome``): accepted, refused as invalid (422, or 400 with the
/// server's JSON error body), or retryable with a reason (connection error, timeout, 401,
/// 403, 404, 405, 408, 413, 415, 429, 5xx, anything unexpected). The client never retries by
/// itself: callers decide what to keep and wait ``pause(attempt:retryAfter:)`` between attempts,
/// which applies the configuration's ``RetryPolicy``. The other calls throw
/// ``SinterClientError``.
///
/// ```swift
/// let client = SinterClient(configuration: .init(baseURL: "http://127.0.0.1:8080", token: "s3cret"), logger: logger)
/// defer { Task { await client.shutdown() } }   // or await it at the end of the run
/// var attempt = 0
/// while case .retryable(let reason) = await client.postRecords(records) {
///     guard await client.pause(attempt: &attempt, retryAfter: reason.retryAfter) else { break }
/// }
/// ```
public final class SinterClient: Sendable {
    /// The settings this client was made with.
    public let configuration: SinterClientConfiguration
    /// The server's root URL (`http://host:port`, no trailing slash, no `/api/v1…`).
    public let root: String
    private let http: HTTPClient
    private let logger: Logger

    /// A client with its own connection pool (close it with ``shutdown()``).
    ///
    /// Connection establishment is not retried inside AsyncHTTPClient (that would hide an
    /// outage for the whole connect timeout); callers retry with the policy.
    public init(configuration: SinterClientConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        root = Self.root(of: configuration.baseURL)
        var clientConfiguration = HTTPClient.Configuration()
        clientConfiguration.connectionPool.retryConnectionEstablishment = false
        clientConfiguration.timeout.connect = Self.timeAmount(configuration.connectTimeout)
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)
    }

    /// Closes the connection pool. Requests after this fail.
    public func shutdown() async {
        try? await http.shutdown()
    }

    /// `http://host:port` of a base URL given as `http://host:port[/]` or with a path under
    /// `/api/v1` (`http://host:port/api/v1/telemetry`).
    public static func root(of baseURL: String) -> String {
        var url = baseURL.trimmingCharacters(in: .whitespaces)
        if let range = url.range(of: "/api/v1") { url = String(url[..<range.lowerBound]) }
        while url.hasSuffix("/") { url.removeLast() }
        return url
    }

    /// Where records are posted: `<root>/api/v1/telemetry`.
    public var telemetryURL: String { root + "/api/v1/telemetry" }

    // MARK: Records

    /// Posts `records` as one binary batch and classifies the answer.
    ///
    /// Never throws: a failure is a ``PostOutcome/retryable(_:)`` with its reason. A
    /// ``PostOutcome/refused(_:)`` of a request with several records does not say which of
    /// them is invalid (the server stores a batch all or nothing): post them one by one, or in
    /// halves, to find out.
    public func postRecords(_ records: [TelemetryRecord]) async -> PostOutcome {
        let response: Response
        do {
            response = try await send("POST", "/api/v1/telemetry", body: FrameBatch.encode(records),
                                      contentType: FrameBatch.mediaType, accept: "application/json", maximum: 1 << 20)
        } catch {
            return .retryable(RetryReason(kind: error.code == .timeout ? .timedOut : .connectionFailed, message: error.message))
        }
        return Self.classify(status: response.status, body: response.body, retryAfter: response.retryAfter)
    }

    /// The classification of a post's answer (see ``PostOutcome``).
    public static func classify(status: Int, body: [UInt8], retryAfter: String?) -> PostOutcome {
        if (200..<300).contains(status) {
            let object = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any]
            let ids = (object?["ids"] as? [Any])?.map { "\($0)" } ?? []
            return .accepted(.init(ids: ids, duplicates: object?["duplicates"] as? Int ?? 0))
        }
        let serverError = Self.serverError(body)
        if status == 422 || status == 400, let serverError {
            return .refused(.init(status: status, error: serverError))
        }
        let kind: RetryReason.Kind = switch status {
        case 401, 403: .tokenRefused
        case 404, 405: .notFound
        case 408, 429: .busy
        case 413: .tooLarge
        case 415: .unsupportedMediaType
        case 500...599: .serverError
        default: .unexpectedStatus
        }
        let detail = serverError.map { "\($0.code): \($0.message)" } ?? String(decoding: body.prefix(200), as: UTF8.self)
        return .retryable(RetryReason(kind: kind, status: status, retryAfter: retryAfter.flatMap { RetryPolicy.parseRetryAfter($0) },
                                      message: "HTTP \(status)" + (detail.isEmpty ? "" : ": \(detail)")))
    }

    /// Records of `machine` after `after` (exclusive) up to `to`, oldest first, at most
    /// `limit`, frames included; `[]` for a machine the server does not know.
    public func records(machine: MachineID, after: Timestamp?, to: Timestamp? = nil, limit: Int) async throws(SinterClientError) -> [TelemetryRecord] {
        var query = "limit=\(limit)&order=asc"
        // RFC 3339 with nanoseconds: the cursor must not lose precision (epoch numbers are milliseconds).
        if let after { query += "&from=\(after.advanced(byNanoseconds: 1).rfc3339)" }
        if let to { query += "&to=\(to.rfc3339)" }
        let path = "/api/v1/machines/\(machine.rawValue)/records?\(query)"
        let response = try await send("GET", path, accept: FrameBatch.mediaType, maximum: 512 << 20)
        if response.status == 404 { return [] }
        guard response.status == 200 else { throw Self.httpError("GET", path, response) }
        do throws(FrameBatchError) {
            return try FrameBatch.decode(response.body, allowReservedChannels: true)
        } catch {
            throw SinterClientError(.invalidResponse, "GET \(path): undecodable batch: \(error)", status: 200, cause: error)
        }
    }

    // MARK: Machines and alerts

    /// Machines the server knows, with their kind and newest record time.
    public func machines() async throws(SinterClientError) -> [ServerMachine] {
        let object = try await json("GET", "/api/v1/machines")
        guard let list = object["machines"] as? [[String: Any]] else {
            throw SinterClientError(.invalidResponse, "GET /api/v1/machines: no \"machines\" list in the answer")
        }
        return list.compactMap { m in
            guard let text = m["id"] as? String, let id = try? MachineID(text) else { return nil }
            let last = (m["last_timestamp"] as? String).flatMap { try? Timestamp(parsing: $0) }
            return ServerMachine(id: id, kind: m["kind"] as? String ?? "", lastTimestamp: last)
        }
    }

    /// Raises (or updates) the alert of (machine, rule) with `POST /api/v1/alerts`; returns its id.
    public func raiseAlert(_ alert: NewAlertBody) async throws(SinterClientError) -> String {
        var body: [String: Any] = [
            "machine_id": alert.machineID.rawValue, "rule": alert.rule, "severity": alert.severity,
            "message": String(alert.message.prefix(1000)), "timestamp": alert.time.rfc3339,
        ]
        var details: [String: Double] = [:]
        for (k, v) in alert.details where v.isFinite { details[k] = v }
        body["details"] = details
        let object = try await json("POST", "/api/v1/alerts", body: body, expect: [200, 201])
        guard let id = object["id"] else { throw SinterClientError(.invalidResponse, "POST /api/v1/alerts: no id in the answer") }
        return "\(id)"
    }

    /// Resolves alert `id` (one already resolved is fine: 409 is accepted).
    public func resolveAlert(id: String, by: String, note: String) async throws(SinterClientError) {
        _ = try await json("POST", "/api/v1/alerts/\(id)/resolve", body: ["by": by, "note": String(note.prefix(1000))], expect: [200, 409])
    }

    /// Unresolved alerts.
    public func openAlerts() async throws(SinterClientError) -> [ServerAlert] {
        let object = try await json("GET", "/api/v1/alerts?active=true")
        guard let list = object["alerts"] as? [[String: Any]] else {
            throw SinterClientError(.invalidResponse, "GET /api/v1/alerts: no \"alerts\" list in the answer")
        }
        return list.compactMap(ServerAlert.init(json:))
    }

    /// Opens the live stream (`GET /api/v1/stream`); the response body yields Server-Sent Events.
    public func stream() async throws(SinterClientError) -> HTTPClientResponse {
        var request = HTTPClientRequest(url: root + "/api/v1/stream")
        request.headers.add(name: "Accept", value: "text/event-stream")
        addToken(&request)
        let response: HTTPClientResponse
        do {
            response = try await http.execute(request, timeout: .hours(24 * 365))
        } catch {
            throw Self.transportError("GET", "/api/v1/stream", error)
        }
        guard response.status.code == 200 else {
            throw SinterClientError(.http, "GET \(root)/api/v1/stream: HTTP \(response.status.code)", status: Int(response.status.code))
        }
        return response
    }

    // MARK: Retry

    /// Waits before the next attempt as the policy says (the server's `retryAfter`, capped, or
    /// full jitter over the backoff bound of `attempt`), then counts the attempt. Returns
    /// false when the task was cancelled meanwhile.
    public func pause(attempt: inout Int, retryAfter: Duration? = nil) async -> Bool {
        let delay = configuration.retry.delay(attempt: attempt, retryAfter: retryAfter)
        attempt += 1
        do {
            try await Task.sleep(for: delay)
            return true
        } catch {
            return false
        }
    }

    // MARK: Plumbing

    /// An answer: status, `Retry-After`, body.
    public struct Response: Sendable {
        public var status: Int
        public var retryAfter: String?
        public var body: [UInt8]
    }

    /// Sends one request to `root + path` with the token, the request timeout and at most
    /// `maximum` bytes of answer. Throws only when no answer came (``SinterClientError/Code/unreachable``,
    /// ``SinterClientError/Code/timeout``, ``SinterClientError/Code/invalidURL``).
    public func send(_ method: String, _ path: String, body: [UInt8]? = nil, contentType: String = "application/json",
                     accept: String, maximum: Int) async throws(SinterClientError) -> Response {
        guard root.hasPrefix("http://") || root.hasPrefix("https://") else {
            throw SinterClientError(.invalidURL, "server URL \"\(configuration.baseURL)\" must start with http:// or https://")
        }
        var request = HTTPClientRequest(url: root + path)
        request.method = .RAW(value: method)
        request.headers.add(name: "Accept", value: accept)
        addToken(&request)
        if let body {
            request.headers.add(name: "Content-Type", value: contentType)
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        do {
            let response = try await http.execute(request, timeout: Self.timeAmount(configuration.requestTimeout))
            var buffer = try await response.body.collect(upTo: maximum)
            return Response(status: Int(response.status.code), retryAfter: response.headers.first(name: "Retry-After"),
                            body: buffer.readBytes(length: buffer.readableBytes) ?? [])
        } catch {
            logger.debug("client.request_failed", metadata: ["http.method": "\(method)", "http.path": "\(path)", "error": "\(error)"])
            throw Self.transportError(method, path, error)
        }
    }

    private func json(_ method: String, _ path: String, body: [String: Any]? = nil, expect: Set<Int> = [200]) async throws(SinterClientError) -> [String: Any] {
        var data: [UInt8]?
        if let body {
            guard let encoded = try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys]) else {
                throw SinterClientError(.invalidResponse, "\(method) \(path): body not encodable as JSON")
            }
            data = Array(encoded)
        }
        let response = try await send(method, path, body: data, accept: "application/json", maximum: 64 << 20)
        guard expect.contains(response.status) else { throw Self.httpError(method, path, response) }
        guard let object = try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any] else {
            throw SinterClientError(.invalidResponse, "\(method) \(path): the answer is not a JSON object", status: response.status)
        }
        return object
    }

    private func addToken(_ request: inout HTTPClientRequest) {
        if let token = configuration.token, !token.isEmpty { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
    }

    private static func httpError(_ method: String, _ path: String, _ response: Response) -> SinterClientError {
        let serverError = serverError(response.body)
        let detail = serverError.map { "\($0.code): \($0.message)" } ?? String(decoding: response.body.prefix(300), as: UTF8.self)
        return SinterClientError(.http, "\(method) \(path): HTTP \(response.status): \(detail)", status: response.status, serverError: serverError)
    }

    private static func transportError(_ method: String, _ path: String, _ error: any Error) -> SinterClientError {
        if let e = error as? HTTPClientError, e == .deadlineExceeded || e == .readTimeout || e == .connectTimeout || e == .writeTimeout {
            return SinterClientError(.timeout, "\(method) \(path): no answer in time (\(e))", cause: error)
        }
        return SinterClientError(.unreachable, "\(method) \(path): \(error)", cause: error)
    }

    /// The server's `{"error": {"code", "message", "field"?, "position"?}}`, if `body` is one.
    static func serverError(_ body: [UInt8]) -> ServerErrorBody? {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any],
              let error = object["error"] as? [String: Any], let code = error["code"] as? String else { return nil }
        return ServerErrorBody(code: code, message: error["message"] as? String ?? "", field: error["field"] as? String,
                               position: error["position"] as? Int)
    }

    static func timeAmount(_ duration: Duration) -> TimeAmount {
        let (seconds, attoseconds) = duration.components
        return .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}

/// A machine as the server lists it.
public struct ServerMachine: Sendable, Hashable {
    public var id: MachineID
    public var kind: String
    /// Its newest record's time, if it has records.
    public var lastTimestamp: Timestamp?
}

/// An alert as the server lists it (the fields clients need).
public struct ServerAlert: Sendable, Equatable {
    public var id: String
    public var machineID: String
    public var rule: String
    public var severity: String
    public var state: String

    /// Reads the alert object of a listing or a stream event; nil if id, machine or rule is missing.
    public init?(json a: [String: Any]) {
        guard let id = a["id"], let machine = a["machine_id"] as? String, let rule = a["rule"] as? String else { return nil }
        self.id = "\(id)"
        machineID = machine
        self.rule = rule
        severity = a["severity"] as? String ?? ""
        state = a["state"] as? String ?? ""
    }
}

/// The body of `POST /api/v1/alerts`.
public struct NewAlertBody: Sendable {
    public var machineID: MachineID
    public var rule: String
    public var severity: String
    public var message: String
    public var time: Timestamp
    public var details: [String: Double]

    public init(machineID: MachineID, rule: String, severity: String, message: String, time: Timestamp, details: [String: Double] = [:]) {
        self.machineID = machineID
        self.rule = rule
        self.severity = severity
        self.message = message
        self.time = time
        self.details = details
    }
}
