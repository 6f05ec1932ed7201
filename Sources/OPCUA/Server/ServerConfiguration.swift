// Configuration of the OPC UA server.

/// Settings of an ``OPCUAServer``: identity, endpoint, users and the limits it enforces.
///
/// The defaults describe a "Micro Embedded Device 2017" server over SecurityPolicy None with
/// anonymous access; user names are refused over None unless ``allowUserNameOverNone`` is set,
/// because the password then travels in clear text.
///
/// ```swift
/// var configuration = ServerConfiguration()
/// configuration.port = 4840
/// configuration.users = ["operator": "s3cret"]
/// configuration.allowUserNameOverNone = true
/// ```
public struct ServerConfiguration: Sendable {
    /// Address to bind (loopback by default).
    public var host = "127.0.0.1"
    /// TCP port; 0 picks a free one (read it back from ``OPCUAServer/boundPort()``).
    public var port = 4840
    /// The endpoint URL advertised by GetEndpoints; nil derives `opc.tcp://host:port`.
    public var endpointUrl: String?
    public var applicationUri = "urn:sinter:opcua:server"
    public var productUri = "urn:sinter"
    public var applicationName = "Sinter OPC UA Server"
    public var manufacturerName = "Sinter"
    public var softwareVersion = "0.5.0"
    /// Buffer sizes and message limits offered in ACK.
    public var transport = TransportLimits()
    /// Anonymous sessions allowed.
    public var allowAnonymous = true
    /// User name → password. Used only when ``allowUserNameOverNone`` is true.
    public var users: [String: String] = [:]
    /// Accept UserName identity tokens over SecurityPolicy None (clear-text passwords).
    public var allowUserNameOverNone = false
    /// Sessions at once (the Micro Embedded Device profile requires 2).
    public var maxSessions = 10
    /// Session timeout bounds in milliseconds (requested values are clamped).
    public var minSessionTimeout: Double = 10_000
    public var maxSessionTimeout: Double = 3_600_000
    /// Secure channel token lifetime bounds in milliseconds.
    public var minTokenLifetime: UInt32 = 10_000
    public var maxTokenLifetime: UInt32 = 3_600_000
    /// Subscriptions per session.
    public var maxSubscriptionsPerSession = 10
    /// Publish requests queued per session (open62541 clients send 10).
    public var maxPublishRequestsPerSession = 20
    /// Monitored items per subscription.
    public var maxMonitoredItemsPerSubscription = 1000
    /// Publishing interval bounds in milliseconds.
    public var minPublishingInterval: Double = 10
    public var maxPublishingInterval: Double = 3_600_000
    /// Fastest sampling interval for sampled (not change-driven) values, in milliseconds.
    public var minSamplingInterval: Double = 10
    /// Largest monitored-item queue.
    public var maxQueueSize: UInt32 = 1000
    /// Notification messages kept for Republish per subscription.
    public var maxRetransmissionQueue = 20
    /// Browse continuation points per session.
    public var maxBrowseContinuationPoints = 10
    /// References returned per node by Browse when the client asks for all (0).
    public var maxReferencesPerBrowse: UInt32 = 1000
    /// Write requests of one connection whose responses may wait for the host's write hook at
    /// once; past this the connection reads its next request only when one of them is answered.
    public var maxPendingWritesPerConnection = 64
    /// Operations per Read/Write/Browse/… call.
    public var maxOperationsPerRequest = 10_000

    public init() {}

    /// The endpoint URL GetEndpoints advertises.
    public func advertisedEndpointUrl(boundPort: Int) -> String {
        endpointUrl ?? "opc.tcp://\(host):\(boundPort)"
    }
}
