import NIOCore
import Synchronization
import TelemetryModel

/// One event of the live stream.
enum LiveEvent: Sendable {
    /// A newly stored record (with its frame, when it had one).
    case record(TelemetryRecord)
    /// An alert raised or changed, already encoded as JSON, for `machine`.
    case alert(machine: MachineID, json: ByteBuffer)
}

/// Fans new records and alert changes out to live-stream (SSE) clients.
///
/// Each subscriber gets its own bounded buffer (`bufferingNewest`): a client that reads too
/// slowly loses its oldest events (counted in ``droppedEvents``) and never makes ingest wait or
/// memory grow. Publishing with no subscribers costs one lock.
final class LiveFeed: Sendable {
    private struct Subscriber {
        var machine: MachineID?
        var continuation: AsyncStream<LiveEvent>.Continuation
    }

    private struct State {
        var nextID: UInt64 = 0
        var subscribers: [UInt64: Subscriber] = [:]
        var dropped = 0
    }

    private let state = Mutex(State())
    private let bufferEvents: Int

    init(bufferEvents: Int) {
        self.bufferEvents = bufferEvents
    }

    /// A stream of events for `machine` (all machines when nil). The subscription ends when
    /// the stream is dropped or ``finish(_:)`` is called.
    func subscribe(machine: MachineID?) -> (id: UInt64, events: AsyncStream<LiveEvent>) {
        let (stream, continuation) = AsyncStream<LiveEvent>.makeStream(bufferingPolicy: .bufferingNewest(bufferEvents))
        let id = state.withLock { s in
            s.nextID += 1
            s.subscribers[s.nextID] = Subscriber(machine: machine, continuation: continuation)
            return s.nextID
        }
        continuation.onTermination = { [weak self] _ in
            self?.state.withLock { _ = $0.subscribers.removeValue(forKey: id) }
        }
        return (id, stream)
    }

    /// Ends one subscription (its stream finishes after the buffered events).
    func finish(_ id: UInt64) {
        let c = state.withLock { $0.subscribers.removeValue(forKey: id)?.continuation }
        c?.finish()
    }

    /// Ends every subscription (shutdown).
    func finishAll() {
        let all = state.withLock { s in
            defer { s.subscribers.removeAll() }
            return s.subscribers.values.map(\.continuation)
        }
        for c in all { c.finish() }
    }

    var subscriberCount: Int { state.withLock { $0.subscribers.count } }
    var droppedEvents: Int { state.withLock { $0.dropped } }

    func publish(records: [TelemetryRecord]) {
        state.withLock { s in
            guard !s.subscribers.isEmpty else { return }
            for r in records {
                for sub in s.subscribers.values where sub.machine == nil || sub.machine == r.machineID {
                    if case .dropped = sub.continuation.yield(.record(r)) { s.dropped += 1 }
                }
            }
        }
    }

    func publish(alertFor machine: MachineID, json: ByteBuffer) {
        state.withLock { s in
            for sub in s.subscribers.values where sub.machine == nil || sub.machine == machine {
                if case .dropped = sub.continuation.yield(.alert(machine: machine, json: json)) { s.dropped += 1 }
            }
        }
    }
}
