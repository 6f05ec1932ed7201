// The `sinter-store` command: maintenance and test tooling for a store directory.
public import ArgumentParser
import Foundation
import Logging
import StorageEngine
import TelemetryModel

/// `sinter-store`: inspect, verify and crash-test a Sinter store directory.
public struct StoreCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "sinter-store",
        abstract: "Inspect, verify and crash-test a Sinter store directory.",
        discussion: """
            The store is normally served by sinter-server; this tool opens a directory directly \
            (it takes the store's lock, so stop the server first).

            Examples:
              sinter-store info --directory Storage/data
              sinter-store verify --directory Storage/data
              sinter-store crash-soak --kills 300 --directory /tmp/sinter-soak
            """,
        subcommands: [Info.self, Verify.self, Ingest.self, CrashSoakCommand.self, Demo.self])

    public init() {}
}

struct StoreOptions: ParsableArguments {
    @Option(name: .long, help: "The store directory.")
    var directory: String = "Storage/data"

    func open(durability: StoreConfiguration.Durability = .durable, quiet: Bool = true) throws -> TelemetryStore {
        var configuration = StoreConfiguration()
        configuration.durability = durability
        let logger = quiet ? Logger(label: "sinter.store", factory: { _ in SwiftLogNoOpLogHandler() }) : Logger(label: "sinter.store")
        return try TelemetryStore.open(at: directory, configuration: configuration, logger: logger)
    }
}

extension StoreCommand {
    struct Info: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print machines, record counts and sizes.")
        @OptionGroup var store: StoreOptions

        func run() async throws {
            let s = try store.open()
            let stats = s.statistics()
            print("store \(s.directory): \(stats.machines) machines, \(stats.records) records (\(stats.unsealedRecords) unsealed), \(stats.blocks) blocks in \(stats.segments) segments")
            print("segments \(stats.segmentBytes) bytes, WAL \(stats.walBytes) bytes")
            for m in s.machines() {
                print("  \(m.id)  kind=\(m.kind)  records=\(m.recordCount)  \(m.firstTimestamp) … \(m.lastTimestamp)")
            }
            for p in s.problems { print("problem: \(p)") }
            try await s.close()
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Read every record and frame, checking every checksum; exit 1 if anything is damaged.")
        @OptionGroup var store: StoreOptions

        func run() async throws {
            let s = try store.open()
            var damaged = s.problems.map { "\($0)" }
            var records = 0
            for m in s.machines() {
                do {
                    try s.forEachRecord(machine: m.id, includeFrames: true) { _ in
                        records += 1
                        return true
                    }
                } catch {
                    damaged.append("\(m.id): \(error)")
                }
            }
            try await s.close()
            print("verified \(records) records")
            for d in damaged { print("damage: \(d)") }
            if !damaged.isEmpty { throw ExitCode(1) }
        }
    }

    struct Ingest: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Append the deterministic crash-test workload, printing 'acked N' after each durable batch.",
            discussion: "Used by the crash tests: every sequence below N is acknowledged (durable).")
        @OptionGroup var store: StoreOptions
        @Option(help: "First sequence number to write.") var start = 0
        @Option(help: "How many records to write.") var count = 1000
        @Option(help: "Machines taking turns (crash-0, crash-1, …).") var machines = 3
        @Option(help: "Frames are N × N.") var frameSide = 24
        @Option(help: "Records per append call.") var batch = 8
        @Option(help: "durable (fsync before ack) or relaxed.") var durability = "durable"

        func validate() throws {
            guard machines >= 1 else { throw ValidationError("--machines must be at least 1") }
            guard (1...4096).contains(frameSide) else { throw ValidationError("--frame-side must be 1-4096") }
            guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
            guard ["durable", "relaxed"].contains(durability) else { throw ValidationError("--durability must be durable or relaxed") }
        }

        func run() async throws {
            let s = try store.open(durability: durability == "durable" ? .durable : .relaxed(syncInterval: .milliseconds(50)))
            let workload = CrashWorkload(machines: machines, frameSide: frameSide)
            var sequence = start
            let end = start + count
            while sequence < end {
                let n = min(batch, end - sequence)
                try await s.append((sequence..<(sequence + n)).map { workload.record(sequence: $0) })
                sequence += n
                FileHandle.standardOutput.write(Data("acked \(sequence)\n".utf8))
            }
            try await s.close()
        }
    }

    struct CrashSoakCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "crash-soak",
            abstract: "Kill an ingesting child with SIGKILL again and again, verifying the store after each kill.")
        @Option(help: "Store directory (emptied first).") var directory = "/tmp/sinter-soak"
        @Option(help: "How many kills.") var kills = 300
        @Option(help: "Random seed (printed, for reproducing a run).") var seed: UInt64?

        func run() async throws {
            try? FileManager.default.removeItem(atPath: directory)
            let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
            var soak = CrashSoak(executable: executable, directory: directory, kills: kills)
            if let seed { soak.seed = seed }
            print("crash soak: \(kills) kills, seed \(soak.seed), directory \(directory)")
            let report = try await soak.run { r in
                if r.kills % 10 == 0 || r.kills == kills {
                    FileHandle.standardOutput.write(Data("  \(r.summary)\n".utf8))
                }
            }
            print(report.summary)
            for f in report.failures { print("FAILURE: \(f)") }
            if !report.failures.isEmpty { throw ExitCode(1) }
        }
    }

    struct Demo: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Fill a store with a small synthetic fleet and print what it holds and where to look.")
        @OptionGroup var store: StoreOptions
        @Option(help: "Records per machine.") var records = 512

        func run() async throws {
            let s = try store.open()
            let workload = CrashWorkload(machines: 4, frameSide: 100)
            let base = s.statistics().records
            print("writing \(records * 4) records with 100 x 100 frames to \(s.directory) …")
            for chunk in stride(from: 0, to: records * 4, by: 64) {
                try await s.append((chunk..<min(chunk + 64, records * 4)).map { workload.record(sequence: base + $0) })
            }
            try await s.flush()
            let stats = s.statistics()
            print("\(stats.records) records in \(stats.blocks) blocks; segments \(stats.segmentBytes) bytes; frames compressed \(String(format: "%.2f", Double(stats.counters.sealedFrameRawBytes) / Double(max(1, stats.counters.sealedBlockBytes))))x")
            try await s.close()
            print("look: .build/debug/sinter-store info --directory \(store.directory)")
        }
    }
}
