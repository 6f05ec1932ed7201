public import Hummingbird
public import HTTPTypes
import NIOCore
import StorageEngine
import TelemetryModel

/// An error answered to an HTTP client as `{"error": {"code", "message", "field"}}`.
///
/// Every failure the API reports goes through this type, so clients see one error shape: a
/// stable machine-readable `code`, a `message` a human can act on, and the `field` (body field,
/// query parameter or header) that was wrong, when one was.
///
/// ```swift
/// throw APIError(.unprocessableContent, code: "invalid_field", message: "expected 10000 values", field: "temperature_data")
/// ```
public struct APIError: HTTPResponseError, Sendable, CustomStringConvertible {
    /// The HTTP status.
    public var status: HTTPResponse.Status
    /// A stable, machine-readable code such as `malformed_body` or `invalid_field`.
    public var code: String
    /// What went wrong, for a human.
    public var message: String
    /// The body field, query parameter or header at fault, if any.
    public var field: String?
    /// The byte offset in the request body, for malformed bodies.
    public var position: Int?
    /// Extra response headers (`Retry-After`, `WWW-Authenticate`).
    public var headers: HTTPFields

    /// An error with the given status and text.
    public init(_ status: HTTPResponse.Status, code: String, message: String, field: String? = nil,
                position: Int? = nil, headers: HTTPFields = [:]) {
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.position = position
        self.headers = headers
    }

    public var description: String { "\(status.code) \(code): \(message)" + (field.map { " [\($0)]" } ?? "") }

    /// The JSON error body.
    var jsonBody: ByteBuffer {
        var w = JSONWriter(capacity: 128 + message.utf8.count)
        w.beginObject()
        w.key("error")
        w.beginObject()
        w.field("code", code)
        w.field("message", message)
        if let field { w.field("field", field) }
        if let position { w.field("position", position) }
        w.endObject()
        w.endObject()
        return w.buffer
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers = self.headers
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: jsonBody))
    }

    // MARK: Common errors

    static func badQuery(_ field: String, _ message: String) -> APIError {
        APIError(.badRequest, code: "invalid_parameter", message: message, field: field)
    }

    static func notFound(_ what: String, field: String? = nil) -> APIError {
        APIError(.notFound, code: "not_found", message: what, field: field)
    }

    /// Maps a model validation error to 422 (body) naming its field.
    static func invalid(_ error: ModelError, prefix: String = "") -> APIError {
        APIError(.unprocessableContent, code: error.code, message: error.message, field: prefix + error.field)
    }

    /// Maps a store failure to a response: invalid arguments are the client's fault (422), a
    /// closed store is 503, a stopped store (`store_failed`, after a failed fsync) is 503 naming
    /// the file and the cause until the server is restarted, a full disk (`no_space`) is 503 with
    /// `Retry-After` (nothing was stored; retry once space is freed), anything else is a 500 that
    /// names the store's own error code.
    static func storage(_ error: StorageError) -> APIError {
        switch error.code {
        case .invalidArgument:
            return APIError(.unprocessableContent, code: "invalid_argument", message: error.message)
        case .closed:
            return APIError(.serviceUnavailable, code: "store_closed", message: "the store is shutting down; retry later",
                            headers: [.retryAfter: "5"])
        case .storeFailed:
            return APIError(.serviceUnavailable, code: "store_failed", message: error.message, field: error.file)
        case .noSpace:
            return APIError(.serviceUnavailable, code: "no_space",
                            message: "\(error.message); nothing of this request was stored; retry once disk space is freed",
                            field: error.file, headers: [.retryAfter: "30"])
        case .notFound:
            return APIError(.notFound, code: "not_found", message: error.message)
        case .conflict:
            return APIError(.conflict, code: "conflict", message: error.message)
        default:
            return APIError(.internalServerError, code: "storage_error", message: error.description)
        }
    }
}

/// Runs a typed-throwing model call and maps its error to an ``APIError``.
///
/// (A `do`/`catch` that binds a typed error inside an async function crashes Swift 6.3's
/// SILGen; going through `Result` avoids it.)
func mapping<T, E: Error>(_ body: () throws(E) -> T, _ transform: (E) -> APIError) throws(APIError) -> T {
    switch Result(catching: body) {
    case .success(let value): return value
    case .failure(let error): throw transform(error)
    }
}
