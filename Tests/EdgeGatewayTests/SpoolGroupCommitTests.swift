// Durable appends of the spool: group commit and fail-stop on a failed fdatasync.
#if canImport(Glibc)
import Glibc
#endif
import DurableFiles
import Synchronization
import TelemetryModel
import Testing
@testable import EdgeGateway

/// An fdatasync for the spool that the test controls: it counts calls, can hold the first one
/// until released, and can fail with an errno.
final class TestSyncer: Sendable {
    private struct State {
        var started = 0
        var completed = 0
        var holdFirst: Bool
        var release: CheckedContinuation<Void, Never>?
        var released = false
    }
    private let state: Mutex<State>
    private let failWith: Int32
    let entered: AsyncStream<Int>
    private let enteredContinuation: AsyncStream<Int>.Continuation

    init(holdFirst: Bool = false, failWith: Int32 = 0) {
        state = Mutex(State(holdFirst: holdFirst))
        self.failWith = failWith
        (entered, enteredContinuation) = AsyncStream.makeStream()
    }

    var started: Int { state.withLock { $0.started } }
    var completed: Int { state.withLock { $0.completed } }

    var sync: Spool.Syncer {
        { file in
            let (number, hold) = self.state.withLock { state in
                state.started += 1
                return (state.started, state.started == 1 && state.holdFirst)
            }
            self.enteredContinuation.yield(number)
            if hold {
                await withCheckedContinuation { continuation in
                    let go = self.state.withLock { state in
                        if state.released { return true }
                        state.release = continuation
                        return false
                    }
                    if go { continuation.resume() }
                }
            }
            var failure: FileError? = self.failWith != 0 ? FileError(.sync, path: file.path, errno: self.failWith) : nil
            if failure == nil {
                do throws(FileError) { try file.sync() } catch { failure = error }
            }
            self.state.withLock { $0.completed += 1 }
            return failure
        }
    }

    /// Lets the held first call go on.
    func releaseFirst() {
        let continuation = state.withLock { state in
            state.released = true
            defer { state.release = nil }
            return state.release
        }
        continuation?.resume()
    }

    /// Waits (bounded) for the `n`th call to start.
    func waitForCall(_ n: Int) async throws {
        let stream = entered
        try await within(10, "fdatasync call \(n)") {
            for await number in stream where number >= n { return }
            throw SyncerStreamEnded()
        }
    }
}

struct SyncerStreamEnded: Error {}

/// Runs `body`, failing after `seconds` instead of hanging.
func within<T: Sendable>(_ seconds: Double, _ what: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: .milliseconds(Int64(seconds * 1000)))
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else {
            Issue.record("timed out after \(seconds) s waiting for \(what)")
            throw SyncerStreamEnded()
        }
        return value
    }
}

extension SpoolTests {
    func openSpool(_ dir: SpoolDirectory, syncer: TestSyncer, log: LogCapture = LogCapture()) throws(SpoolError) -> Spool {
        var configuration = SpoolConfiguration(directory: dir.path)
        configuration.syncInterval = .zero
        return try Spool(configuration: configuration, logger: log.logger, syncer: syncer.sync)
    }

    @Test func concurrentDurableAppendsShareOneFdatasync() async throws {
        let dir = SpoolDirectory()
        let syncer = TestSyncer(holdFirst: true)
        let spool = try openSpool(dir, syncer: syncer)
        let followers = 9
        // Each append reports the fdatasyncs completed when it returned.
        let returned = try await withThrowingTaskGroup(of: (Int, Int).self) { group in
            group.addTask {
                try await spool.appendDurably([spoolRecord(0)])
                return (0, syncer.completed)
            }
            try await syncer.waitForCall(1)     // the first append leads an fdatasync, held
            for i in 1...followers {
                group.addTask {
                    try await spool.appendDurably([spoolRecord(i)])
                    return (i, syncer.completed)
                }
            }
            // Every later append is in the page cache and waits for the next fdatasync.
            try await within(10, "\(followers) appends waiting for the running fdatasync") {
                for _ in 0..<10_000 {
                    if await spool.syncFollowerCount == followers { return }
                    try await Task.sleep(for: .milliseconds(1))
                }
                Issue.record("only \(await spool.syncFollowerCount) appends waited")
            }
            #expect(await spool.status.appendedRecords == followers + 1)
            #expect(syncer.completed == 0, "nothing returned while the first fdatasync is held")
            syncer.releaseFirst()
            var all: [Int: Int] = [:]
            for try await (i, completed) in group { all[i] = completed }
            return all
        }
        #expect(returned.count == followers + 1)
        #expect(syncer.started == 2, "one fdatasync for the first append, one shared by the \(followers) that came during it")
        #expect(await spool.groupSyncs == 2)
        #expect(returned[0] ?? 0 >= 1)
        for i in 1...followers {
            #expect(returned[i] ?? 0 >= 2, "append \(i) came while the first fdatasync ran: it waits for the second")
        }
        await spool.close()
        // And they are in the spool, in order.
        let reopened = try openSpool(dir)
        #expect(try await reopened.peek(maxRecords: 100).count == followers + 1)
        await reopened.close()
    }

    @Test func aDurableAppendAfterAnotherIsSyncedAgainButAnAlreadyCoveredOneIsNot() async throws {
        let dir = SpoolDirectory()
        let syncer = TestSyncer()
        let spool = try openSpool(dir, syncer: syncer)
        try await spool.appendDurably([spoolRecord(0)])
        try await spool.appendDurably([spoolRecord(1), spoolRecord(2)])
        #expect(syncer.started == 2)
        try await spool.waitUntilDurable(through: 3)   // covered already: no fdatasync
        #expect(syncer.started == 2)
        await spool.close()
    }

    @Test func aFailedFdatasyncFailsItsCallersAndEveryLaterWriteUntilReopened() async throws {
        let dir = SpoolDirectory()
        let syncer = TestSyncer(holdFirst: true, failWith: EIO)
        let log = LogCapture()
        let spool = try openSpool(dir, syncer: syncer, log: log)
        try await withThrowingTaskGroup(of: SpoolError?.self) { group in
            for i in 0..<3 {
                group.addTask {
                    do throws(SpoolError) {
                        try await spool.appendDurably([spoolRecord(i)])
                        return nil
                    } catch {
                        return error
                    }
                }
            }
            try await syncer.waitForCall(1)
            syncer.releaseFirst()
            var errors: [SpoolError] = []
            for try await error in group { if let error { errors.append(error) } }
            // The leader's fdatasync failed; the appends it covered and those that waited fail.
            #expect(!errors.isEmpty)
            for error in errors {
                #expect(error.code == .failed, "\(error)")
                #expect(error.message.contains("Input/output error"), "\(error.message)")
            }
        }
        #expect(syncer.started == 1, "a failed fdatasync is not retried as success")
        let later = await #expect(throws: SpoolError.self) { try await spool.append([spoolRecord(9)]) }
        #expect(later?.code == .failed)
        #expect(later?.message.contains("restart sinter-edge") == true, "\(later?.message ?? "")")
        let wait = await #expect(throws: SpoolError.self) { try await spool.waitUntilDurable(through: 1) }
        #expect(wait?.code == .failed)
        #expect(log.events("spool.failed").count == 1)
        // The status says so (the edge's status file carries it as spool.failed).
        let failure = await spool.status.failure
        #expect(failure?.contains("Input/output error") == true, "\(failure ?? "nil")")
        await spool.close()

        // Reopened, the spool works again (the page cache still has what was written).
        let reopened = try openSpool(dir)
        try await reopened.appendDurably([spoolRecord(10)])
        #expect(await reopened.status.pendingRecords >= 1)
        await reopened.close()
    }
}
