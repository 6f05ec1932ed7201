// The crash soak: a child process ingests the deterministic workload and is killed with SIGKILL
// at random moments; after every kill the store must open, hold every acknowledged record
// bit-identical, and report no damage. `make test` runs 20+ kills, `make soak` hundreds.
import Dispatch
import Foundation
import Logging
public import StorageEngine
import Synchronization
import SyntheticData
public import TelemetryModel

/// Runs the crash-kill-verify loop against a `sinter-store` executable.
///
/// ```swift
/// let report = try await CrashSoak(executable: "/path/to/sinter-store", directory: "/tmp/soak", kills: 20).run()
/// print(report.summary)
/// ```
public struct CrashSoak: Sendable {
    public var executable: String
    public var directory: String
    public var kills: Int
    public var seed: UInt64
    public var machines = 3
    public var frameSide = 24
    public var batch = 8
    /// Upper bound of one child's life, so a hung child fails the soak instead of stalling it.
    public var childTimeoutSeconds = 60.0
    public var durability = "durable"

    public init(executable: String, directory: String, kills: Int, seed: UInt64 = UInt64(Timestamp.now.nanoseconds & 0xFFFF_FFFF)) {
        self.executable = executable
        self.directory = directory
        self.kills = kills
        self.seed = seed
    }

    public struct Report: Sendable {
        public var kills = 0
        public var killsDuringRecovery = 0
        public var acknowledged = 0
        public var verified = 0
        /// Acknowledged records found missing or different: must be empty.
        public var failures: [String] = []
        public var summary: String {
            "\(kills) kills (\(killsDuringRecovery) before the first acknowledgement), \(acknowledged) records acknowledged, \(verified) verified, \(failures.count) failures"
        }
    }

    /// Runs the soak; `progress` is called after each kill with the report so far.
    public func run(progress: (Report) -> Void = { _ in }) async throws -> Report {
        var report = Report()
        var rng = SeededRandom(seed: seed)
        var next = 0  // first sequence the next child writes
        var acknowledgedEnd = 0  // every sequence below this was acknowledged by some child
        var verifiedEnd = 0  // every sequence below this was verified in full once
        let workload = CrashWorkload(machines: machines, frameSide: frameSide)
        for round in 0..<kills {
            let child = try ChildProcess(executable: executable, arguments: [
                "ingest", "--directory", directory, "--start", "\(next)", "--count", "1000000",
                "--machines", "\(machines)", "--frame-side", "\(frameSide)", "--batch", "\(batch)", "--durability", durability,
            ])
            // Half the rounds kill after a random number of acknowledgements, half after a random
            // delay that may fall during the child's recovery.
            if round % 2 == 0 {
                let acks = Int(rng.next() % 6) + 1
                guard child.waitForLines(prefix: "acked", count: acks, timeoutSeconds: childTimeoutSeconds) else {
                    child.kill()
                    throw SoakError("child did not acknowledge \(acks) batches within \(childTimeoutSeconds) s; stderr: \(child.standardError)")
                }
            } else {
                // Squared, so that many kills land early: during open and WAL replay.
                let u = Double(rng.next() % 1_000_000) / 1_000_000
                let micros = UInt32(u * u * 300_000)
                usleep(micros)
            }
            child.kill()
            let acked = child.lastAcknowledged()
            if acked == nil { report.killsDuringRecovery += 1 }
            if let acked {
                acknowledgedEnd = max(acknowledgedEnd, acked)
                next = acked
            }
            report.kills += 1

            // Verify: the store opens clean and holds every acknowledged record bit-identical.
            // Each round reads what was acknowledged since the last round in full and a random
            // sample of older records; every 25th round (and the last) reads everything. Memory
            // stays flat: records are compared as they stream by.
            let store = try TelemetryStore.open(at: directory, logger: Logger(label: "sinter.soak", factory: { _ in SwiftLogNoOpLogHandler() }))
            let problems = store.problems
            if !problems.isEmpty { report.failures.append("round \(round): store reported \(problems)") }
            let full = round % 25 == 24 || round == kills - 1
            var toCheck = Set(verifiedEnd..<acknowledgedEnd)
            if full {
                toCheck = Set(0..<acknowledgedEnd)
            } else if verifiedEnd > 0 {
                for _ in 0..<min(200, verifiedEnd) { toCheck.insert(Int(rng.next() % UInt64(verifiedEnd))) }
            }
            var found = Set<Int>()
            let base = workload.baseNanoseconds, spacing = workload.spacingNanoseconds
            let lowest = toCheck.min() ?? 0
            for m in 0..<machines {
                let id = try MachineID("crash-\(m)")
                try store.forEachRecord(machine: id, from: Timestamp(nanoseconds: base + Int64(lowest) * spacing), includeFrames: true) { r in
                    let sequence = Int((r.timestamp.nanoseconds - base) / spacing)
                    guard toCheck.contains(sequence) else { return true }
                    if workload.record(sequence: sequence).matchesStored(r) {
                        found.insert(sequence)
                    } else {
                        report.failures.append("round \(round): record \(sequence) differs")
                    }
                    return true
                }
            }
            for sequence in toCheck where !found.contains(sequence) {
                report.failures.append("round \(round): acknowledged record \(sequence) is missing")
            }
            report.verified += found.count
            let stored = store.machines().reduce(0) { $0 + $1.recordCount }
            if stored < acknowledgedEnd { report.failures.append("round \(round): \(stored) records stored, \(acknowledgedEnd) acknowledged") }
            verifiedEnd = acknowledgedEnd
            try await store.close()
            report.acknowledged = acknowledgedEnd
            progress(report)
            if report.failures.count > 20 { break }
        }
        return report
    }
}

public struct SoakError: Error, CustomStringConvertible {
    public var description: String
    init(_ d: String) { description = d }
}

/// A child process whose standard output is read line by line on a background thread.
final class ChildProcess: Sendable {
    private let process: Process
    private let lines = Mutex<[String]>([])
    private let errorText = Mutex<String>("")
    private let lineArrived = DispatchSemaphore(value: 0)
    private let readerDone = DispatchSemaphore(value: 0)

    init(executable: String, arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        self.process = process
        try process.run()
        Thread.detachNewThread { [self] in
            var pending = Data()
            let handle = out.fileHandleForReading
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                pending.append(chunk)
                while let nl = pending.firstIndex(of: 10) {
                    let line = String(decoding: pending[pending.startIndex..<nl], as: UTF8.self)
                    pending.removeSubrange(pending.startIndex...nl)
                    lines.withLock { $0.append(line) }
                    lineArrived.signal()
                }
            }
            lineArrived.signal()
            readerDone.signal()
        }
        Thread.detachNewThread { [self] in
            let data = err.fileHandleForReading.readDataToEndOfFile()
            errorText.withLock { $0 = String(decoding: data.suffix(4000), as: UTF8.self) }
        }
    }

    /// Waits until `count` lines starting with `prefix` have arrived (true) or the time is up or the child ended (false).
    func waitForLines(prefix: String, count: Int, timeoutSeconds: Double) -> Bool {
        let deadline = DispatchTime.now() + timeoutSeconds
        while true {
            if lines.withLock({ $0.filter { $0.hasPrefix(prefix) }.count }) >= count { return true }
            if !process.isRunning && lines.withLock({ $0.filter { $0.hasPrefix(prefix) }.count }) < count { return false }
            if lineArrived.wait(timeout: deadline) == .timedOut { return false }
        }
    }

    /// The highest `acked N` the child printed, if any.
    func lastAcknowledged() -> Int? {
        lines.withLock { $0.compactMap { $0.hasPrefix("acked ") ? Int($0.dropFirst(6)) : nil }.max() }
    }

    var standardError: String { errorText.withLock { $0 } }

    func kill() {
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        // Every line the child wrote before it died is read before anyone asks for the last ack.
        _ = readerDone.wait(timeout: .now() + 10)
    }
}
