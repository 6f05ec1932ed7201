// The `sinter-store` command: maintenance and test tooling for a store directory.
public import ArgumentParser
import Foundation
import Logging
import StorageEngine
import SyntheticData
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
              sinter-store powerloss-soak --cuts 1000 --directory /tmp/sinter-powerloss
            """,
        subcommands: [Info.self, Verify.self, Ingest.self, CrashSoakCommand.self, PowerLossSoakCommand.self, Demo.self])

    public init() {}
}

struct StoreOptions: ParsableArguments {
    @Option(name: .long, help: "The store directory.")
    var directory: String = "Storage/data"

    /// Opens a store that must already exist: a mistyped `--directory` is an error, and
    /// nothing is created there.
    func openExisting(quiet: Bool = true) throws -> TelemetryStore {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ValidationError("no store at \(directory): the directory does not exist (check --directory)")
        }
        let marks = ["MANIFEST", "segments", "wal"].filter { FileManager.default.fileExists(atPath: directory + "/" + $0) }
        guard !marks.isEmpty else {
            throw ValidationError("no store at \(directory): it has no MANIFEST, segments/ or wal/ (check --directory)")
        }
        return try open(quiet: quiet)
    }

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
            let s = try store.openExisting()
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
            let s = try store.openExisting()
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
        @Option(parsing: .unconditional, help: "First sequence number to write.") var start = 0
        @Option(parsing: .unconditional, help: "How many records to write.") var count = 1000
        @Option(parsing: .unconditional, help: "Machines taking turns (crash-0, crash-1, …).") var machines = 3
        @Option(parsing: .unconditional, help: "Frames are N × N.") var frameSide = 24
        @Option(parsing: .unconditional, help: "Records per append call.") var batch = 8
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
        @Option(parsing: .unconditional, help: "How many kills.") var kills = 300
        @Option(parsing: .unconditional, help: "Random seed (printed, for reproducing a run).") var seed: UInt64?

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
            abstract: "Fill a store with a small synthetic fleet, query it, and print what it holds and where to look.",
            discussion: "Two DMLS printers (100 x 100 thermal frames, power, vibration) and two FDM printers (nozzle and bed temperature, filament flow, state), one record per second each, appended after whatever the store already holds.")
        @OptionGroup var store: StoreOptions
        @Option(parsing: .unconditional, help: "Simulated seconds of data per machine.") var seconds = 600

        func validate() throws {
            guard (1...1_000_000).contains(seconds) else { throw ValidationError("--seconds must be 1-1000000") }
        }

        func run() async throws {
            let s = try store.open()
            let dmls = try [MachineID("dmls-01"), MachineID("dmls-02")]
            let fdm = try [MachineID("fdm-01"), MachineID("fdm-02")]
            // Continue after the newest record, so that running the demo twice adds data.
            let newest = s.machines().map(\.lastTimestamp.nanoseconds).max()
            let start = (newest ?? Timestamp.now.nanoseconds - Int64(seconds) * 1_000_000_000) + 1_000_000_000
            let fields = dmls.indices.map { ThermalFieldGenerator(noiseSigma: 0.2, decimals: 2, seed: UInt64($0 + 1)) }
            var rng = SeededRandom(seed: 7)
            let states = ["idle", "printing", "printing", "printing", "anomaly", "printing"]
            print("writing \(seconds) s of a 4-printer fleet to \(s.directory) …")
            for second in 0..<seconds {
                let t = Timestamp(nanoseconds: start + Int64(second) * 1_000_000_000)
                var batch: [TelemetryRecord] = []
                for (k, id) in dmls.enumerated() {
                    batch.append(TelemetryRecord(
                        machineID: id, timestamp: t, kind: "dmls",
                        channels: [ChannelName.powerKW: Float(Int(300 + rng.next() % 60)) / 100,
                                   ChannelName.vibrationMMS: Float(Int(40 + rng.next() % 30)) / 100],
                        frame: try ThermalFrame(values: fields[k].frame(at: second))))
                }
                for id in fdm {
                    let state = states[(second / 60) % states.count]
                    let hot: Float = state == "anomaly" ? 12 : 0
                    batch.append(TelemetryRecord(
                        machineID: id, timestamp: t, kind: "fdm",
                        channels: [ChannelName.nozzleTempC: 210 + hot + Float(Int(rng.next() % 20)) / 10,
                                   ChannelName.bedTempC: 60 + Float(Int(rng.next() % 10)) / 10,
                                   ChannelName.filamentFlow: state == "idle" ? 0 : Float(Int(90 + rng.next() % 10)) / 100],
                        state: state))
                }
                try await s.append(batch)
            }
            try await s.flush()
            let stats = s.statistics()
            print("")
            print("machine   kind  records  first … last")
            for m in s.machines() {
                print("\(m.id.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0)) \(m.kind.padding(toLength: 5, withPad: " ", startingAt: 0)) \(String(m.recordCount).padding(toLength: 8, withPad: " ", startingAt: 0)) \(m.firstTimestamp) … \(m.lastTimestamp)")
            }
            if let latest = try s.latest(machine: dmls[0], includeFrame: true), let frame = latest.frame, let st = frame.statistics() {
                print("\nlatest dmls-01 frame at \(latest.timestamp): \(frame.width) x \(frame.height), min \(st.min) °C, max \(st.max) °C, mean \(String(format: "%.2f", st.mean)) °C")
            }
            let end = Timestamp(nanoseconds: start + Int64(seconds) * 1_000_000_000)
            let buckets = try s.series(machine: dmls[0], channel: ChannelName.frameMax, from: Timestamp(nanoseconds: start), to: end,
                                       step: .seconds(max(1, seconds / 5)))
            print("dmls-01 frame_max per \(max(1, seconds / 5)) s: " + buckets.map { String(format: "%.1f", $0.max) }.joined(separator: "  "))
            let ratio = Double(stats.counters.sealedFrameRawBytes) / Double(max(1, stats.counters.sealedBlockBytes))
            print("\n\(stats.records) records in \(stats.blocks) blocks, \(stats.segmentBytes / 1024) KiB of segments; frames compressed \(String(format: "%.2f", ratio))x")
            try await s.close()
            print("\nlook: swift run sinter-store info --directory \(store.directory)")
            print("      swift run sinter-store verify --directory \(store.directory)")
            print("      (the HTTP server, dashboard and live pipeline come with the next issues)")
        }
    }
}
