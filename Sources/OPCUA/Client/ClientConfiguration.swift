// Configuration of the OPC UA client.

/// Settings of an ``OPCUAClient``: who it says it is, how long it waits, the transport limits it
/// offers, the identity it activates its session with and how it reconnects.
///
/// ```swift
/// var configuration = ClientConfiguration()
/// configuration.identity = .userName("operator", password: "s3cret")
/// configuration.transport = TransportLimits(receiveBufferSize: 8192, sendBufferSize: 8192)
/// let client = OPCUAClient(url: "opc.tcp://127.0.0.1:4840", configuration: configuration)
/// ```
public struct ClientConfiguration: Sendable {
    /// The user identity ActivateSession presents.
    public enum Identity: Sendable, Hashable {
        /// An AnonymousIdentityToken.
        case anonymous
        /// A UserNameIdentityToken. Over SecurityPolicy None the password travels in clear text
        /// (UTF-8, null EncryptionAlgorithm), so it is only sent when the server's token policy
        /// asks for no encryption (its SecurityPolicyUri is empty or None).
        case userName(String, password: String)
    }

    /// How the client reconnects after losing its connection.
    public struct ReconnectPolicy: Sendable, Hashable {
        /// Whether to reconnect at all; false makes a lost connection final (state `.disconnected`).
        public var enabled: Bool
        /// The wait before the first attempt; doubled after each failure up to ``maximumDelay``.
        public var initialDelay: Duration
        /// The longest wait between two attempts.
        public var maximumDelay: Duration
        /// Attempts before giving up; nil retries forever.
        public var maxAttempts: Int?

        public init(enabled: Bool = true, initialDelay: Duration = .milliseconds(100), maximumDelay: Duration = .seconds(5), maxAttempts: Int? = nil) {
            self.enabled = enabled
            self.initialDelay = initialDelay
            self.maximumDelay = maximumDelay
            self.maxAttempts = maxAttempts
        }

        /// 100 ms doubling to 5 s, forever.
        public static let standard = ReconnectPolicy()
        /// No reconnection.
        public static let never = ReconnectPolicy(enabled: false)

        /// The wait before attempt `attempt` (1-based).
        public func delay(beforeAttempt attempt: Int) -> Duration {
            var delay = initialDelay
            var step = 1
            while step < attempt, delay < maximumDelay {
                delay *= 2
                step += 1
            }
            return min(delay, maximumDelay)
        }
    }

    /// The ApplicationUri in CreateSession's ClientDescription.
    public var applicationUri = "urn:sinter:opcua:client"
    /// The ProductUri in CreateSession's ClientDescription.
    public var productUri = "urn:sinter"
    /// The ApplicationName in CreateSession's ClientDescription.
    public var applicationName = "Sinter OPC UA Client"
    /// The SessionName sent with CreateSession.
    public var sessionName = "sinter-opcua"
    /// How long one service call may take before it fails with `BadTimeout` (also the
    /// Hello/Acknowledge and connect timeout). Default 10 s.
    public var requestTimeout: Duration = .seconds(10)
    /// The session timeout requested from the server, in milliseconds. Default 60 000.
    public var sessionTimeout: Double = 60_000
    /// The secure channel token lifetime requested, in milliseconds; the channel is renewed at
    /// 75 % of the lifetime the server grants. Default 3 600 000 (one hour).
    public var requestedTokenLifetime: UInt32 = 3_600_000
    /// Buffer sizes and message limits offered in the Hello (`receiveBufferSize` and
    /// `sendBufferSize` of 8192 make the Hello offer 8192 bytes both ways).
    public var transport = TransportLimits()
    /// The identity of the session.
    public var identity = Identity.anonymous
    /// Reconnection after a lost connection. Default: 100 ms doubling to 5 s, forever.
    public var reconnect = ReconnectPolicy.standard
    /// Publish requests kept in flight while any subscription exists; values below 2 are
    /// raised to 2. The client lowers the number (never below 1) when the server answers
    /// `BadTooManyPublishRequests`. Default 2.
    public var publishRequestsOutstanding = 2
    /// Data changes buffered per subscription stream before the oldest are dropped (a consumer
    /// that falls this far behind loses values, never memory). Default 10 000.
    public var subscriptionBufferSize = 10_000

    public init() {}

    /// ``publishRequestsOutstanding`` raised to at least 2.
    var effectivePublishRequests: Int { max(publishRequestsOutstanding, 2) }
}
