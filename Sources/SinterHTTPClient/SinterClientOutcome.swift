// What a request to sinter-server came to: the client's error and the classified outcome of a post.

/// A failure of a ``SinterClient`` request: a code, a message that names the request, and
/// the cause.
///
/// ```swift
/// do { _ = try await client.machines() } catch { print(error.code, error.message) }
/// ```
public struct SinterClientError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        init(_ name: String) { self.name = name }
        public var description: String { name }

        /// The base URL or a path is not usable.
        public static let invalidURL = Code("invalid_url")
        /// The server could not be reached, or the connection broke.
        public static let unreachable = Code("unreachable")
        /// The request did not complete within the request timeout.
        public static let timeout = Code("timeout")
        /// The server answered with a status the call does not accept (see ``status``, ``serverError``).
        public static let http = Code("http")
        /// The server's answer could not be read (not JSON, a field missing, an undecodable batch).
        public static let invalidResponse = Code("invalid_response")
    }

    public var code: Code
    public var message: String
    /// The HTTP status, when the server answered.
    public var status: Int?
    /// The server's `{"error": {…}}` body, when it sent one.
    public var serverError: ServerErrorBody?
    /// The underlying error (AsyncHTTPClient's, a decoder's), if any.
    public var cause: (any Error)?

    public init(_ code: Code, _ message: String, status: Int? = nil, serverError: ServerErrorBody? = nil, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.status = status
        self.serverError = serverError
        self.cause = cause
    }

    public var description: String { "\(code): \(message)" }
}

/// The error object sinter-server answers with: `{"error": {"code", "message", "field"?, "position"?}}`.
///
/// ```swift
/// if case .refused(let refusal) = outcome { print(refusal.error.code, refusal.error.field ?? "-") }
/// ```
public struct ServerErrorBody: Sendable, Hashable {
    public var code: String
    public var message: String
    public var field: String?
    public var position: Int?

    public init(code: String, message: String, field: String? = nil, position: Int? = nil) {
        self.code = code
        self.message = message
        self.field = field
        self.position = position
    }
}

/// The classified answer to a post of records (``SinterClient/postRecords(_:)``).
///
/// Only ``refused(_:)`` says something about the records themselves, and only for a
/// one-record request does it name which record: everything else (a wrong token, a wrong URL,
/// a proxy, a full server, an outage) says nothing about them, so a caller that must not lose
/// records keeps them and retries.
///
/// ```swift
/// switch await client.postRecords(batch) {
/// case .accepted(let answer): acknowledge(batch, ids: answer.ids)
/// case .refused(let refusal): deadLetter(batch, refusal)          // only if batch.count == 1
/// case .retryable(let reason): await client.pause(attempt: &attempt, retryAfter: reason.retryAfter)
/// }
/// ```
public enum PostOutcome: Sendable {
    /// 2xx: the server stored the records (duplicates once).
    case accepted(Accepted)
    /// 422, or 400 with the server's JSON error body: the server will never take these records as they are.
    case refused(Refusal)
    /// Anything else: the records may well be taken later.
    case retryable(RetryReason)

    /// What a 2xx answer said.
    public struct Accepted: Sendable, Hashable {
        /// Record ids, in request order, when the server listed them.
        public var ids: [String]
        /// Records the server already had.
        public var duplicates: Int
    }

    /// A refusal of the records as invalid.
    public struct Refusal: Sendable, Hashable {
        /// 422 or 400.
        public var status: Int
        /// The server's error body.
        public var error: ServerErrorBody
    }
}

/// Why a request should be tried again, with the HTTP status and the server's `Retry-After`.
///
/// ```swift
/// if reason.kind == .tokenRefused { logger.warning("edge.token_refused") }
/// ```
public struct RetryReason: Sendable, Hashable, CustomStringConvertible {
    /// The classes of retryable answers.
    public enum Kind: String, Sendable, Hashable {
        /// The connection could not be made or broke.
        case connectionFailed = "connection_failed"
        /// No complete answer within the request timeout.
        case timedOut = "timed_out"
        /// 401 or 403: the token is missing, wrong or not allowed to write.
        case tokenRefused = "token_refused"
        /// 404 or 405: a wrong URL, or something else (a proxy) answering.
        case notFound = "not_found"
        /// 413: the request is too large; a smaller one may pass.
        case tooLarge = "too_large"
        /// 415: the server does not take this media type (an older server, a proxy).
        case unsupportedMediaType = "unsupported_media_type"
        /// 408 or 429: the server asks to come back later.
        case busy
        /// 5xx.
        case serverError = "server_error"
        /// Any other status (a 3xx not followed, a 400 without the server's error body, 409, …).
        case unexpectedStatus = "unexpected_status"
    }

    public var kind: Kind
    /// The HTTP status, when the server answered.
    public var status: Int?
    /// The server's `Retry-After`, uncapped (the policy caps it).
    public var retryAfter: Duration?
    /// What happened, for logs and status files ("HTTP 401: {…}", "connection refused").
    public var message: String

    public init(kind: Kind, status: Int? = nil, retryAfter: Duration? = nil, message: String) {
        self.kind = kind
        self.status = status
        self.retryAfter = retryAfter
        self.message = message
    }

    /// Whether this is what an outage or an overloaded server produces (connection failure,
    /// timeout, 408, 429, 5xx), as opposed to a setting someone must change (token, URL, size).
    public var isTransient: Bool {
        switch kind {
        case .connectionFailed, .timedOut, .busy, .serverError: true
        case .tokenRefused, .notFound, .tooLarge, .unsupportedMediaType, .unexpectedStatus: false
        }
    }

    public var description: String { message }
}
