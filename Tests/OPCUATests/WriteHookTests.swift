// The async write hook: a Write is answered with the host's verdict, and while the host is
// still deciding, the connection and the other connections go on.
import Synchronization
import Testing
@testable import OPCUA

/// A write hook the test holds: each call reports that it was entered and waits until the
/// test releases it with a verdict.
final class HeldHook: Sendable {
    private let state = Mutex<(waiting: [CheckedContinuation<StatusCode, Never>], released: [StatusCode])>(([], []))
    let entered: AsyncStream<[NodeWrite]>
    private let enteredContinuation: AsyncStream<[NodeWrite]>.Continuation

    init() {
        (entered, enteredContinuation) = AsyncStream.makeStream()
    }

    var hook: @Sendable ([NodeWrite]) async -> StatusCode {
        { writes in
            await withCheckedContinuation { continuation in
                let ready: StatusCode? = self.state.withLock { state in
                    if !state.released.isEmpty { return state.released.removeFirst() }
                    state.waiting.append(continuation)
                    return nil
                }
                // Reported once queued, so that releases reach the calls in the order seen.
                self.enteredContinuation.yield(writes)
                if let ready { continuation.resume(returning: ready) }
            }
        }
    }

    /// Lets the oldest waiting (or the next) hook call return `status`.
    func release(_ status: StatusCode) {
        let waiter: CheckedContinuation<StatusCode, Never>? = state.withLock { state in
            if state.waiting.isEmpty {
                state.released.append(status)
                return nil
            }
            return state.waiting.removeFirst()
        }
        waiter?.resume(returning: status)
    }

    /// Waits (bounded) for the next hook call.
    func nextEntered(_ what: String) async throws -> [NodeWrite] {
        let stream = entered
        return try await within(10, what) {
            for await writes in stream { return writes }
            throw StreamEnded(what: what)
        }
    }
}

@Suite(.timeLimit(.minutes(2)))
struct WriteHookTests {
    @Test func theHooksVerdictAnswersTheStoredItemsOnly() async throws {
        let held = HeldHook()
        let server = try await TestServer.start(onWrite: held.hook)
        let client = try makeClient(server.url)
        try await client.connect()
        let power = server.node("PowerKW")
        let values: [(NodeId, DataValue)] = [
            (power, DataValue(value: .scalar(.double(3.5)))),
            (NS0.Server_NamespaceArray, DataValue(value: .array(.string(["x"]), dimensions: nil))),
        ]
        async let refused = client.write(values)
        let seen = try await held.nextEntered("the hook to be called")
        #expect(seen.map(\.nodeId) == [power], "only stored values reach the hook")
        held.release(.badResourceUnavailable)
        #expect(try await refused == [.badResourceUnavailable, .badNotWritable])

        async let accepted = client.write([(power, DataValue(value: .scalar(.double(4.5))))])
        _ = try await held.nextEntered("the second hook call")
        held.release(.good)
        #expect(try await accepted == [.good])
        await client.disconnect()
        try await server.stop()
    }

    @Test func aWaitingWriteHoldsUpNeitherItsConnectionNorOthers() async throws {
        let held = HeldHook()
        let server = try await TestServer.start(onWrite: held.hook)
        let client = try makeClient(server.url)
        let other = try makeClient(server.url)
        try await client.connect()
        try await other.connect()
        let power = server.node("PowerKW")

        async let first = client.write([(power, DataValue(value: .scalar(.double(7))))])
        _ = try await held.nextEntered("the first write's hook call")
        // The write is applied before the host answers: a Read on the same connection sees it
        // and is answered while the write still waits.
        let sameConnection = try await within(10, "a read on the waiting connection") { try await client.readValue(power) }
        #expect(sameConnection == .scalar(.double(7)))
        let otherConnection = try await within(10, "a read on another connection") { try await other.readValue(power) }
        #expect(otherConnection == .scalar(.double(7)))
        // A second write on the same connection reaches the hook while the first still waits.
        async let second = client.write([(power, DataValue(value: .scalar(.double(8))))])
        let secondSeen = try await held.nextEntered("the second write's hook call")
        #expect(secondSeen.first?.value.value == .scalar(.double(8)))
        held.release(.good)
        held.release(.badOutOfService)
        // Each response matches its own request (the first call was released with Good).
        #expect(try await first == [.good])
        #expect(try await second == [.badOutOfService])
        await client.disconnect()
        await other.disconnect()
        try await server.stop()
    }
}
