// Settings of the one HTTP client of Sinter's API, and its one retry policy.
public import Foundation
import Synchronization

/// How a ``SinterClient`` talks to sinter-server.
///
/// Every property has a default, so a configuration names only what differs. The same
/// settings serve the simulator, the edge gateway and the detector.
///
/// ```swift
/// var configuration = SinterClientConfiguration(baseURL: "http://127.0.0.1:8080")
/// configuration.token = ProcessInfo.processInfo.environment["SINTER_TOKEN"]
/// configuration.retry.maximumBackoff = .seconds(5)
/// let client = SinterClient(configuration: configuration, logger: logger)
/// ```
public struct SinterClientConfiguration: Sendable {
    /// The server: `http://host:port`, optionally with a path under it such as
    /// `http://host:port/api/v1/telemetry` (the API paths are then taken from `/api/v1`).
    public var baseURL: String = "http://127.0.0.1:8080"
    /// Bearer token sent with every request (`Authorization: Bearer …`); nil or empty sends none.
    public var token: String?
    /// Time allowed for one request, from sending it to the end of the answer.
    public var requestTimeout: Duration = .seconds(30)
    /// Time allowed to establish a connection.
    public var connectTimeout: Duration = .seconds(2)
    /// The retry policy every caller uses between attempts.
    public var retry = RetryPolicy()

    /// A configuration for the server at `baseURL`, every other setting at its default.
    public init(baseURL: String = "http://127.0.0.1:8080", token: String? = nil) {
        self.baseURL = baseURL
        self.token = token
    }
}

/// Sinter's one retry policy: exponential backoff with full jitter, `Retry-After` honoured up
/// to one cap.
///
/// Before retry `n` (0-based) the caller waits a uniform random time in
/// `[0, min(maximumBackoff, initialBackoff · 2^n)]` ("full jitter", so that many clients
/// coming back after an outage spread out). When the server said how long to wait
/// (`Retry-After`, in seconds or as an HTTP-date) that time is used instead, but never more than
/// ``maximumRetryAfter``. The random numbers come from ``random``, which tests seed.
///
/// ```swift
/// var policy = RetryPolicy()
/// policy.random = .seeded(42)
/// let wait = policy.delay(attempt: 3, retryAfter: nil)   // somewhere in [0, 800 ms]
/// ```
public struct RetryPolicy: Sendable {
    /// The backoff bound before the first retry; it doubles with every further retry.
    public var initialBackoff: Duration = .milliseconds(100)
    /// The largest backoff bound.
    public var maximumBackoff: Duration = .seconds(10)
    /// The longest server-requested wait (`Retry-After`) that is honoured; longer ones are cut to it.
    public var maximumRetryAfter: Duration = .seconds(60)
    /// Where the jitter comes from.
    public var random: RandomSource = .system

    public init() {}

    /// The upper bound of the wait before retry `attempt` (0-based): `initialBackoff · 2^attempt`,
    /// at most `maximumBackoff`.
    public func bound(attempt: Int) -> Duration {
        var delay = initialBackoff
        for _ in 0..<min(max(attempt, 0), 62) {
            delay = delay * 2
            if delay >= maximumBackoff { return maximumBackoff }
        }
        return min(delay, maximumBackoff)
    }

    /// The wait before retry `attempt`: the server's `retryAfter` (capped at
    /// ``maximumRetryAfter``) if it gave one, else a uniform draw in `[0, bound(attempt:)]`.
    public func delay(attempt: Int, retryAfter: Duration? = nil) -> Duration {
        if let retryAfter { return min(max(retryAfter, .zero), maximumRetryAfter) }
        let bound = bound(attempt: attempt)
        let nanoseconds = Double(bound.components.seconds) * 1e9 + Double(bound.components.attoseconds) / 1e9
        return .nanoseconds(Int64((nanoseconds * random.nextUnit()).rounded(.down)))
    }

    /// Parses a `Retry-After` header: delta-seconds (`"120"`) or an HTTP-date
    /// (`"Wed, 21 Oct 2026 07:28:00 GMT"`, also the RFC 850 and asctime forms), relative to `now`.
    ///
    /// Returns nil for anything else (the caller then backs off as usual); a date in the past
    /// is zero. The result is not capped: ``delay(attempt:retryAfter:)`` caps it.
    ///
    /// ```swift
    /// RetryPolicy.parseRetryAfter("3")          // .seconds(3)
    /// RetryPolicy.parseRetryAfter("soon")       // nil
    /// ```
    public static func parseRetryAfter(_ value: String, now: Date = Date()) -> Duration? {
        let text = value.trimmingCharacters(in: .whitespaces)
        guard !text.isEmpty else { return nil }
        if text.allSatisfy({ $0.isASCII && $0.isNumber }) {
            // More than 12 digits (over 31 000 years) is "very long"; the policy caps it anyway.
            return .seconds(Int64(text.count > 12 ? "999999999999" : text) ?? 0)
        }
        for format in ["EEE, dd MMM yyyy HH:mm:ss zzz", "EEEE, dd-MMM-yy HH:mm:ss zzz", "EEE MMM d HH:mm:ss yyyy"] {
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = TimeZone(identifier: "GMT")
            formatter.dateFormat = format
            if let date = formatter.date(from: text) {
                let seconds = date.timeIntervalSince(now)
                return seconds <= 0 ? .zero : .milliseconds(Int64((seconds * 1000).rounded(.up)))
            }
        }
        return nil
    }
}

/// A source of uniform random numbers for the retry jitter: the system's, or a seeded
/// sequence (SplitMix64) that makes delays reproducible in tests.
///
/// ```swift
/// var policy = RetryPolicy()
/// policy.random = .seeded(7)
/// ```
public struct RandomSource: Sendable {
    private let next: @Sendable () -> UInt64

    /// The system's generator.
    public static let system = RandomSource { UInt64.random(in: .min ... .max) }

    /// A SplitMix64 sequence starting at `seed`: the same seed gives the same delays.
    public static func seeded(_ seed: UInt64) -> RandomSource {
        let state = Mutex(seed)
        return RandomSource {
            state.withLock { s in
                s &+= 0x9E37_79B9_7F4A_7C15
                var z = s
                z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
                z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
                return z ^ (z >> 31)
            }
        }
    }

    /// A source returning `next()` for each draw.
    public init(_ next: @escaping @Sendable () -> UInt64) { self.next = next }

    /// A uniform draw in `[0, 1]`.
    public func nextUnit() -> Double { Double(next() >> 11) / Double((1 << 53) - 1) }
}
