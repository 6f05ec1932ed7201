import Hummingbird
import HTTPTypes
import Logging
import TelemetryModel

/// Request ids, structured request logs, latency metrics, and one JSON error shape.
///
/// Takes the client's `X-Request-ID` when it is a safe token (else Hummingbird's own id),
/// echoes it on the response, logs one line per request (`request.completed` with
/// `request.id`, `http.method`, `http.route`, `http.status`, `http.duration_ms`: at `error` for
/// 5xx, `info` for 4xx, `debug` for the rest, so a busy server's log is its problems) and records the
/// latency histogram. Every thrown error becomes a JSON error response here, so error
/// responses carry the request id too.
struct RequestLogMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext
    let metrics: ServerMetrics
    static let requestIDHeader = HTTPField.Name("X-Request-ID")!

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        var context = context
        let requestID: String
        if let given = request.headers[Self.requestIDHeader], MachineID.isValid(given) {
            requestID = given
        } else {
            // Hummingbird's id when its logger carries one (a live server), else a fresh one.
            requestID = context.logger[metadataKey: "hb.request.id"]?.description ?? RequestID().description
        }
        context.logger[metadataKey: "request.id"] = .string(requestID)
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as any HTTPResponseError {
            response = try error.response(from: request, context: context)
            if !(error is APIError) {
                // Hummingbird's own errors (404 for unknown routes, 405, …) in our JSON shape.
                let api = APIError(error.status, code: Self.code(for: error.status),
                                   message: error.status.reasonPhrase.isEmpty ? "request failed" : error.status.reasonPhrase)
                var headers = response.headers
                headers[.contentType] = "application/json"
                headers[.contentLength] = nil
                response = Response(status: error.status, headers: headers, body: .init(byteBuffer: api.jsonBody))
            }
        } catch {
            context.logger.error("request.failed", metadata: ["error": .string(String(describing: error))])
            let api = APIError(.internalServerError, code: "internal_error", message: "internal error: \(error)")
            response = try api.response(from: request, context: context)
        }
        if response.status == .notFound, response.body.contentLength == 0 || response.body.contentLength == nil,
           context.endpointPath == nil || context.endpointPath == "NotFound" {
            // The router's own "no such route" answer, in the API's error shape.
            let api = APIError(.notFound, code: "not_found", message: "no route for \(request.method.rawValue) \(request.uri.path)")
            response = try api.response(from: request, context: context)
        }
        response.headers[Self.requestIDHeader] = requestID
        let elapsed = ContinuousClock.now - start
        let route = context.endpointPath ?? "unmatched"
        metrics.requestTimer(method: request.method.rawValue, route: route, status: response.status.code)
            .recordNanoseconds(elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
        let ms = Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1e3
        let level: Logger.Level = response.status.code >= 500 ? .error : response.status.code >= 400 ? .info : .debug
        context.logger.log(level: level, "request.completed", metadata: [
            "http.method": .string(request.method.rawValue),
            "http.path": .string(request.uri.path),
            "http.route": .string(route),
            "http.status": .stringConvertible(response.status.code),
            "http.duration_ms": .string(String(format3(ms))),
        ])
        return response
    }

    static func code(for status: HTTPResponse.Status) -> String {
        switch status.code {
        case 404: return "not_found"
        case 405: return "method_not_allowed"
        case 413: return "body_too_large"
        case 400: return "bad_request"
        default: return "http_\(status.code)"
        }
    }
}

/// `ms` with three decimals, without Foundation.
func format3(_ ms: Double) -> String {
    let micro = Int((ms * 1000).rounded())
    let frac = micro % 1000
    return "\(micro / 1000)." + (frac < 10 ? "00" : frac < 100 ? "0" : "") + "\(frac)"
}

/// Bearer-token check: every write (`POST`) needs `Authorization: Bearer <token>` when a token
/// is configured, and reads too when ``ServerConfiguration/protectReads`` is set. `/healthz`
/// and the dashboard's own files (`/`, `/dashboard/…`: no data in them) stay open. The comparison takes the same time wherever the first difference is.
struct BearerTokenMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext
    let token: [UInt8]
    let protectReads: Bool

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let isWrite = request.method != .get && request.method != .head && request.method != .options
        let path = request.uri.path
        let open = path == "/healthz" || (!isWrite && (path == "/" || path.hasPrefix("/dashboard/")))
        if (isWrite || protectReads) && !open {
            let header = request.headers[.authorization] ?? ""
            let prefix = "Bearer "
            guard header.hasPrefix(prefix), Self.constantTimeEqual(Array(header.utf8.dropFirst(prefix.utf8.count)), token) else {
                throw APIError(.unauthorized, code: "unauthorized",
                               message: header.isEmpty ? "this server needs Authorization: Bearer <token>" : "the bearer token is not valid",
                               field: "Authorization", headers: [.wwwAuthenticate: "Bearer realm=\"sinter\""])
            }
        }
        return try await next(request, context)
    }

    /// Compares every byte of the longer input, so timing does not reveal the matching prefix.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var diff = UInt8(truncatingIfNeeded: a.count ^ b.count) | (a.count == b.count ? 0 : 1)
        let n = max(a.count, b.count)
        for i in 0..<n {
            let x = i < a.count ? a[i] : 0
            let y = i < b.count ? b[i] : 0
            diff |= x ^ y
        }
        return diff == 0
    }
}
