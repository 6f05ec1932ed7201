// What `sinter-bench compare` runs: stores, sizes, batches and query counts.
import Foundation

/// Settings of one comparison run (`sinter-bench compare`); every flag sets one of these.
public struct CompareConfiguration: Sendable, Codable {
    /// Records (each with one 100 × 100 frame) in the first growth step; later steps multiply it.
    public var frames: Int = 400
    /// Growth steps as multiples of ``frames`` (default 1, 10, 100: the store grows 10× and 100×).
    public var scales: [Int] = [1, 10, 100]
    /// Simulated machines; records go to them round robin.
    public var machines: Int = 4
    /// Records per ingest batch (one append, one HTTP request, one INSERT or COPY, one transaction).
    public var batch: Int = 100
    /// Concurrent writers for the stores that take more than one (Sinter, PostgreSQL); SQLite and
    /// the files take one. Each writer owns a disjoint set of machines.
    public var writers: Int = 2
    /// Seconds between two records of a machine; nil chooses the interval that makes the largest
    /// step span seven days per machine.
    public var intervalSeconds: Int? = nil
    /// Latest-record queries per measurement.
    public var latestQueries: Int = 50
    /// 100-frame range queries per measurement.
    public var rangeQueries: Int = 100
    /// Records per range query.
    public var rangeLimit: Int = 100
    /// Repetitions of the day-statistics and week-series queries per measurement.
    public var aggregateQueries: Int = 10
    /// Store keys to run, in order (see ``StoreKind``).
    public var stores: [StoreKind] = StoreKind.allCases
    /// Scratch directory for the embedded stores, the server's data and the files (emptied before and after).
    public var directory: String = "/tmp/sinter-bench-compare"
    /// The release `sinter-server` binary for the HTTP path.
    public var serverBinary: String = "../.build/release/sinter-server"
    /// PostgreSQL connection: host (loopback), port, user, database.
    public var postgresHost: String = "127.0.0.1"
    public var postgresPort: Int = 5432
    public var postgresUser: String = "postgres"
    public var postgresDatabase: String = "postgres"
    /// Seed of the query offsets.
    public var seed: UInt64 = 598

    public init() {}

    /// The record interval in seconds: the configured one, or the one that makes the largest
    /// step span at least seven days per machine.
    public var effectiveIntervalSeconds: Int {
        if let intervalSeconds { return intervalSeconds }
        let perMachine = max(1, (frames * (scales.max() ?? 1)) / max(1, machines))
        return max(1, Int((7.0 * 86_400 / Double(perMachine)).rounded(.up)))
    }
}

/// The stores `compare` can run, by the key `--stores` takes.
public enum StoreKind: String, Sendable, Codable, CaseIterable {
    /// Sinter's `TelemetryStore` in process, durable appends.
    case sinter
    /// A `sinter-server` child process over loopback HTTP, binary batches.
    case sinterHTTP = "sinter-http"
    /// PostgreSQL 15, seed 000's table (`real[]` frame), multi-row INSERT with binary bind parameters.
    case postgres
    /// The same table loaded with text `COPY … FROM STDIN`.
    case postgresCopy = "postgres-copy"
    /// The `real[]` table with lz4 TOAST compression instead of pglz, binary INSERT.
    case postgresLZ4 = "postgres-lz4"
    /// The frame as `bytea` (raw Float32 bytes, default pglz TOAST), binary INSERT.
    case postgresBytea = "postgres-bytea"
    /// SQLite (system libsqlite3), seed 001's way: one row per record, the frame as a BLOB.
    case sqlite
    /// Files of plain LZ4 frames (codec baseline).
    case lz4
    /// Files of byte-shuffled + LZ4 frames (codec baseline).
    case shuffleLZ4 = "shuffle-lz4"

    /// Whether this is one of the PostgreSQL variants.
    public var isPostgres: Bool { [.postgres, .postgresCopy, .postgresLZ4, .postgresBytea].contains(self) }

    /// The row title in the table.
    public var title: String {
        switch self {
        case .sinter: "Sinter, embedded"
        case .sinterHTTP: "Sinter over HTTP (binary batches)"
        case .postgres: "PostgreSQL 15 (real[], binary INSERT)"
        case .postgresCopy: "PostgreSQL 15 (real[], text COPY)"
        case .postgresLZ4: "PostgreSQL 15 (real[] lz4 TOAST, binary INSERT)"
        case .postgresBytea: "PostgreSQL 15 (bytea, binary INSERT)"
        case .sqlite: "SQLite 3 (BLOB, WAL, synchronous=FULL)"
        case .lz4: "files: plain LZ4"
        case .shuffleLZ4: "files: byte-shuffle + LZ4"
        }
    }
}
