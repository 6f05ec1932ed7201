// Server-side state kept per session, subscription and monitored item.

/// Where responses to a secure channel go: the connection's outbound queue.
///
/// Publish responses are produced later than their requests, by a subscription's timer, so
/// the server keeps the sink of the channel a session is bound to.
package final class ResponseSink: Sendable {
    package struct Outgoing: Sendable {
        package let requestId: UInt32
        package let response: any ServiceResponse
    }

    package let channelId: UInt32
    private let continuation: AsyncStream<Outgoing>.Continuation

    package init(channelId: UInt32, continuation: AsyncStream<Outgoing>.Continuation) {
        self.channelId = channelId
        self.continuation = continuation
    }

    /// Queues a response; false if the channel has gone.
    @discardableResult
    package func send(_ response: any ServiceResponse, requestId: UInt32) -> Bool {
        if case .enqueued = continuation.yield(Outgoing(requestId: requestId, response: response)) { return true }
        return false
    }

    package func finish() { continuation.finish() }
}

/// The per-request facts a service needs besides the request itself.
package struct RequestContext: Sendable {
    package let channelId: UInt32
    package let requestId: UInt32
    package let sink: ResponseSink
}

struct PendingPublish {
    let requestId: UInt32
    let requestHandle: UInt32
    let sink: ResponseSink
    let received: ContinuousClock.Instant
    let timeoutHint: UInt32
    /// Results of the SubscriptionAcknowledgements the request carried.
    let acks: [StatusCode]
}

struct Session {
    let sessionId: NodeId
    let authenticationToken: NodeId
    let name: String?
    var activated = false
    var channelId: UInt32
    var sink: ResponseSink?
    var userName: String?
    var timeout: Double
    var lastActivity: ContinuousClock.Instant
    var subscriptionIds: [UInt32] = []
    var publishQueue: [PendingPublish] = []
    /// Browse continuation points: id → references not yet returned.
    var continuationPoints: [(id: [UInt8], remaining: [ReferenceDescription], maxPerNode: Int)] = []
    var nextContinuationPoint: UInt32 = 1
}

struct MonitoredItem {
    let id: UInt32
    var clientHandle: UInt32
    let nodeId: NodeId
    let attributeId: UInt32
    var mode: MonitoringMode
    var samplingInterval: Double
    var queueSize: UInt32
    var discardOldest: Bool
    var filter: DataChangeFilter?
    var timestamps: TimestampsToReturn
    /// Values waiting for the next notification.
    var queue: [DataValue] = []
    /// The last value reported or queued (for the filter).
    var lastValue: DataValue?
    /// Sampled items (dynamic values, non-Value attributes) are read by the publishing timer.
    var sampled: Bool
    var lastSample: ContinuousClock.Instant?
}

struct Subscription {
    let id: UInt32
    let sessionToken: NodeId
    var publishingInterval: Double
    var lifetimeCount: UInt32
    var maxKeepAliveCount: UInt32
    var maxNotificationsPerPublish: UInt32
    var priority: UInt8
    var publishingEnabled: Bool
    var nextSequenceNumber: UInt32 = 1
    var keepAliveCounter: UInt32 = 0
    var lifetimeCounter: UInt32 = 0
    /// True until the first message (data or keep-alive) has gone out.
    var firstCycle = true
    var items: [UInt32: MonitoredItem] = [:]
    var retransmission: [NotificationMessage] = []
    var timer: Task<Void, Never>?

    mutating func takeSequenceNumber() -> UInt32 {
        let number = nextSequenceNumber
        nextSequenceNumber = nextSequenceNumber == UInt32.max ? 1 : nextSequenceNumber + 1
        return number
    }
}
