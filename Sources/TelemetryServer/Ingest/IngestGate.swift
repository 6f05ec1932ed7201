import Synchronization

/// The bounded ingest queue: admission control in front of the store.
///
/// An ingest request holds a ticket for its body size (or the body limit when the size is not
/// announced) from before its body is read until the store has acknowledged it. When the bytes
/// or the request slots are exhausted, new requests are refused at once with 503 and
/// `Retry-After` instead of queueing without bound, so memory stays bounded whatever clients do.
final class IngestGate: Sendable {
    struct Ticket: Sendable {
        fileprivate let bytes: Int
    }

    struct Depth: Sendable, Equatable {
        var bytes: Int
        var requests: Int
    }

    private let capacityBytes: Int
    private let capacityRequests: Int
    private let depth = Mutex(Depth(bytes: 0, requests: 0))

    init(capacityBytes: Int, capacityRequests: Int) {
        self.capacityBytes = capacityBytes
        self.capacityRequests = capacityRequests
    }

    /// A ticket for `bytes`, or nil when the queue is full.
    func tryAcquire(bytes: Int) -> Ticket? {
        depth.withLock { d in
            guard d.requests < capacityRequests, d.bytes + bytes <= capacityBytes else { return nil }
            d.bytes += bytes
            d.requests += 1
            return Ticket(bytes: bytes)
        }
    }

    func release(_ ticket: Ticket) {
        depth.withLock { d in
            d.bytes -= ticket.bytes
            d.requests -= 1
        }
    }

    var current: Depth { depth.withLock { $0 } }
}
