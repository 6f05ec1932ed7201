// `sinter-bench`: the command line (the executable's main only calls `SinterBenchCommand.main()`).
public import ArgumentParser
import Foundation
import Logging

/// `sinter-bench compare | check`.
public struct SinterBenchCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "sinter-bench",
        abstract: "Sinter side by side with PostgreSQL, SQLite and LZ4 files, and CI's deterministic size gate.",
        discussion: """
            compare: the same simulated DMLS frames into every store (Sinter embedded and over HTTP, PostgreSQL, \
            SQLite, LZ4 files), measured as the store grows; a table on stdout, progress on stderr, --json for machines. \
            `make bench-compare` starts a throwaway PostgreSQL and writes Benchmarks/Results/compare.{json,md}.
            check: a fixed, seeded set of frames into an embedded Sinter store and the LZ4 files; fails if Sinter's \
            bytes per frame exceed the committed bound or a frame does not read back bit for bit. No clocks involved.
            """,
        subcommands: [Compare.self, Check.self])

    public init() {}
}

/// Comma-separated integers, for `--scales`.
struct IntList: ExpressibleByArgument {
    var values: [Int]
    init?(argument: String) {
        let parts = argument.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !parts.isEmpty, parts.allSatisfy({ $0 != nil }) else { return nil }
        values = parts.map { $0! }
    }
    var defaultValueDescription: String { values.map(String.init).joined(separator: ",") }
}

/// Comma-separated store keys, for `--stores`.
struct StoreList: ExpressibleByArgument {
    var values: [StoreKind]
    init?(argument: String) {
        let parts = argument.split(separator: ",").map { StoreKind(rawValue: $0.trimmingCharacters(in: .whitespaces)) }
        guard !parts.isEmpty, parts.allSatisfy({ $0 != nil }) else { return nil }
        values = parts.map { $0! }
    }
    var defaultValueDescription: String { values.map(\.rawValue).joined(separator: ",") }
}

public struct Compare: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        abstract: "Ingest the same frames into every store and measure ingest, size and queries as the store grows.",
        discussion: """
            Every store gets the same records (machines dmls-01…, one 100 × 100 Float32 frame each, power and vibration) \
            in the same batches, durable per batch. After each growth step: bytes at rest, latest record with its frame, \
            100-frame range queries (frames decoded into Float arrays in this process), statistics over the last day \
            and a 1-hour power series over the last week of the first machine. Build with -c release.
            Stores: \(StoreKind.allCases.map(\.rawValue).joined(separator: ", ")).
            PostgreSQL defaults come from PGHOST, PGPORT, PGUSER and PGDATABASE when set (Scripts/pg-throwaway.sh run -- … sets them).
            """)

    @Option(help: "Records (frames) in the first growth step, over all machines; later steps multiply it (400 = 100 per machine, so the first step already answers 100-frame ranges).")
    var frames = 400
    @Option(help: "Growth steps as multiples of --frames, comma-separated: the store grows 10× and 100×.")
    var scales = IntList(argument: "1,10,100")!
    @Option(help: "Simulated machines (dmls-01…).")
    var machines = 4
    @Option(help: "Records per batch: one append, HTTP request, INSERT/COPY or transaction.")
    var batch = 100
    @Option(help: "Concurrent writers for Sinter and PostgreSQL (2 = the cores here); SQLite and the files take one.")
    var writers = 2
    @Option(help: "Seconds between a machine's records; default: what makes the largest step span 7 days.")
    var interval: Int?
    @Option(help: "Latest-record queries per step.")
    var latestQueries = 50
    @Option(help: "100-frame range queries per step.")
    var rangeQueries = 100
    @Option(help: "Repetitions of the day-statistics and week-series queries per step.")
    var aggregateQueries = 10
    @Option(help: "Stores to run, comma-separated, in order.")
    var stores = StoreList(argument: StoreKind.allCases.map(\.rawValue).joined(separator: ","))!
    @Option(help: "Scratch directory, emptied before and removed after.")
    var directory = "/tmp/sinter-bench-compare"
    @Option(help: "Release sinter-server binary for sinter-http.")
    var serverBin = "../.build/release/sinter-server"
    @Option(help: "PostgreSQL host, loopback only ($PGHOST if set).")
    var pgHost = ProcessInfo.processInfo.environment["PGHOST"] ?? "127.0.0.1"
    @Option(help: "PostgreSQL port ($PGPORT if set).")
    var pgPort = Int(ProcessInfo.processInfo.environment["PGPORT"] ?? "") ?? 5432
    @Option(help: "PostgreSQL user, trust authentication ($PGUSER if set).")
    var pgUser = ProcessInfo.processInfo.environment["PGUSER"] ?? "postgres"
    @Option(help: "PostgreSQL database ($PGDATABASE if set).")
    var pgDatabase = ProcessInfo.processInfo.environment["PGDATABASE"] ?? "postgres"
    @Option(help: "Seed of the range queries' offsets.")
    var seed: UInt64 = 598
    @Option(help: "Also write the results as JSON to this file.")
    var json: String?
    @Flag(help: "Log each store's diagnostics (debug level).")
    var verbose = false

    public init() {}

    public func validate() throws {
        guard frames > 0 else { throw ValidationError("--frames must be > 0") }
        guard scales.values.allSatisfy({ $0 > 0 }), scales.values == scales.values.sorted(), Set(scales.values).count == scales.values.count else {
            throw ValidationError("--scales must be increasing positive integers, e.g. 1,10,100")
        }
        guard machines > 0, machines <= 99 else { throw ValidationError("--machines must be between 1 and 99") }
        guard batch > 0, batch <= 1_000 else { throw ValidationError("--batch must be between 1 and 1000") }
        guard writers > 0 else { throw ValidationError("--writers must be > 0") }
        if let interval { guard interval > 0 else { throw ValidationError("--interval must be > 0") } }
        guard latestQueries > 0 else { throw ValidationError("--latest-queries must be > 0") }
        guard rangeQueries > 0 else { throw ValidationError("--range-queries must be > 0") }
        guard aggregateQueries > 0 else { throw ValidationError("--aggregate-queries must be > 0") }
        guard frames >= machines else { throw ValidationError("--frames must be at least --machines") }
        guard pgHost == "127.0.0.1" || pgHost == "localhost" || pgHost == "::1" || pgHost.hasPrefix("/") else {
            throw ValidationError("--pg-host must be loopback (127.0.0.1, localhost or ::1)")
        }
    }

    public func run() async throws {
        var c = CompareConfiguration()
        c.frames = frames
        c.scales = scales.values
        c.machines = machines
        c.batch = batch
        c.writers = writers
        c.intervalSeconds = interval
        c.latestQueries = latestQueries
        c.rangeQueries = rangeQueries
        c.aggregateQueries = aggregateQueries
        c.stores = stores.values
        c.directory = directory
        c.serverBinary = serverBin
        c.postgresHost = pgHost
        c.postgresPort = pgPort
        c.postgresUser = pgUser
        c.postgresDatabase = pgDatabase
        c.seed = seed
        var logger = Logger(label: "sinter-bench")
        logger.logLevel = verbose ? .debug : .warning
        let command = (["sinter-bench"] + CommandLine.arguments.dropFirst()).joined(separator: " ")
        let results = try await CompareRunner(configuration: c, logger: logger, command: command).run()
        print(results.markdown())
        fflush(nil)
        if let json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
            try encoder.encode(results).write(to: URL(fileURLWithPath: json))
            logger.info("JSON written to \(json)")
        }
        if results.stores.contains(where: { $0.error != nil }) { throw ExitCode(2) }
    }
}

extension SinterBenchCommand {
    /// Parses the command line and runs the chosen subcommand asynchronously (what `@main` on
    /// an `AsyncParsableCommand` does, callable from the thin executable).
    public static func mainAsync() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}
