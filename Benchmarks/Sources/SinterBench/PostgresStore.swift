// PostgreSQL 15 with seed 000's design: one row per record, the frame as real[], power,
// vibration and the frame's statistics as columns.
import Foundation
import Logging
import NIOCore
import PostgresNIO
import TelemetryModel

/// Seed 000's table in PostgreSQL, loaded over loopback by `writers` connections.
///
/// - `.insert`: one multi-row `INSERT … VALUES (…), (…)` per batch with binary bind parameters
///   (the frame as a binary `real[]`, no text rendering or parsing), autocommit: one transaction
///   and one WAL flush per batch.
/// - `.copy`: one text `COPY … FROM STDIN` per batch (postgres-nio's COPY is text only).
///
/// Variants (`Variant`): the frame as seed 000's `real[]` or as `bytea` (the raw Float32
/// little-endian bytes), TOAST-compressed with PostgreSQL's default pglz or with lz4.
///
/// The statistics columns are computed by the client at ingest (as the seed's cloud service
/// did), with the same code Sinter uses, inside the timed ingest.
final class PostgresPeer: ComparedStore {
    enum Load: String, Sendable { case insert, copy }

    /// How the frame column is stored.
    struct Variant: Sendable {
        var load: Load = .insert
        /// `bytea` instead of `real[]`.
        var bytea = false
        /// TOAST compression of the frame column: nil for the default (pglz), or "lz4".
        var compression: String? = nil
    }

    static let table = "telemetry"
    static let columns = ["machine_id", "timestamp", "temperature_data", "power_consumption", "vibration",
                          "temp_min", "temp_max", "temp_mean", "temp_std"]

    let connections: [PostgresConnection]
    let variant: Variant
    var load: Load { variant.load }
    let logger: Logger
    let walStart: String
    var writers: Int { connections.count }

    private init(connections: [PostgresConnection], variant: Variant, logger: Logger, walStart: String) {
        self.connections = connections
        self.variant = variant
        self.logger = logger
        self.walStart = walStart
    }

    static func open(host: String, port: Int, user: String, database: String, writers: Int, variant: Variant, logger: Logger) async throws -> PostgresPeer {
        let configuration = PostgresConnection.Configuration(host: host, port: port, username: user, password: nil, database: database, tls: .disable)
        var connections: [PostgresConnection] = []
        do {
            for i in 0..<max(1, writers) {
                connections.append(try await PostgresConnection.connect(configuration: configuration, id: i, logger: logger))
            }
        } catch {
            for c in connections { try? await c.close() }
            throw BenchFailure("cannot connect to PostgreSQL at \(host):\(port) as \(user) (--pg-host/--pg-port/--pg-user; start one with Scripts/pg-throwaway.sh): \(String(reflecting: error))")
        }
        let c = connections[0]
        try await c.query("DROP TABLE IF EXISTS telemetry", logger: logger)
        // Seed 000: id, machine, time, the 100 × 100 temperatures, power, vibration and the
        // statistics the cloud service computed per record. Frames go to TOAST (pglz, the default).
        try await c.query("""
            CREATE TABLE telemetry (
                id bigserial PRIMARY KEY,
                machine_id text NOT NULL,
                "timestamp" timestamptz NOT NULL,
                temperature_data \(unescaped: variant.bytea ? "bytea" : "real[]") \(unescaped: variant.compression.map { "COMPRESSION \($0)" } ?? "") NOT NULL,
                power_consumption real,
                vibration real,
                temp_min real, temp_max real, temp_mean real, temp_std real,
                UNIQUE (machine_id, "timestamp")
            )
            """, logger: logger)
        var walStart = ""
        for try await lsn in try await c.query("SELECT pg_current_wal_lsn()::text", logger: logger).decode(String.self) { walStart = lsn }
        return PostgresPeer(connections: connections, variant: variant, logger: logger, walStart: walStart)
    }

    func append(_ records: [TelemetryRecord], writer: Int) async throws {
        let c = connections[writer % connections.count]
        switch load {
        case .insert:
            var sql = "INSERT INTO telemetry (machine_id, \"timestamp\", temperature_data, power_consumption, vibration, temp_min, temp_max, temp_mean, temp_std) VALUES "
            var binds = PostgresBindings(capacity: records.count * 9)
            for (i, r) in records.enumerated() {
                let p = i * 9
                sql += (i == 0 ? "(" : ",(") + (1...9).map { "$\(p + $0)" }.joined(separator: ",") + ")"
                guard let frame = r.frame, let s = frame.statistics() else { throw BenchFailure("postgres: a record without a frame") }
                binds.append(r.machineID.rawValue)
                binds.append(Date(timeIntervalSince1970: Double(r.timestamp.nanoseconds) / 1e9))
                if variant.bytea {
                    var bytes = ByteBuffer()
                    frame.values.withUnsafeBytes { bytes.writeBytes($0) }  // little-endian Float32, as on x86 and ARM
                    binds.append(bytes)
                } else {
                    binds.append(frame.values)
                }
                binds.append(r.channels["power_kw"])
                binds.append(r.channels["vibration_mm_s"])
                binds.append(s.min)
                binds.append(s.max)
                binds.append(s.mean)
                binds.append(s.std)
            }
            try await c.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger)
        case .copy:
            var buffer = ByteBuffer()
            buffer.reserveCapacity(records.count * 80_000)
            for r in records {
                guard let frame = r.frame, let s = frame.statistics() else { throw BenchFailure("postgres: a record without a frame") }
                buffer.writeString(r.machineID.rawValue)
                buffer.writeString("\t" + r.timestamp.rfc3339 + "\t{")
                for (i, v) in frame.values.enumerated() {
                    if i > 0 { buffer.writeInteger(UInt8(ascii: ",")) }
                    buffer.writeString(v.description)  // shortest text that reads back as the same Float
                }
                buffer.writeString("}\t\(r.channels["power_kw"].map { "\($0)" } ?? "\\N")\t\(r.channels["vibration_mm_s"].map { "\($0)" } ?? "\\N")")
                buffer.writeString("\t\(s.min)\t\(s.max)\t\(s.mean)\t\(s.std)\n")
            }
            try await c.copyFrom(table: Self.table, columns: Self.columns, logger: logger) { writer in
                try await writer.write(buffer)
            }
        }
    }

    func afterIngest() async throws {
        // The planner's statistics after the load, as a DBA would (not timed).
        try await connections[0].query("ANALYZE telemetry", logger: logger)
    }

    func diskUsage() async throws -> DiskUsage {
        let c = connections[0]
        var bytes: Int64 = 0, wal: Int64 = 0
        for try await (b, w) in try await c.query(
            "SELECT pg_total_relation_size('telemetry'), pg_wal_lsn_diff(pg_current_wal_lsn(), \(walStart)::pg_lsn)::bigint",
            logger: logger).decode((Int64, Int64).self) {
            bytes = b
            wal = w
        }
        return DiskUsage(bytes: bytes, walBytesWritten: wal,
                         what: "pg_total_relation_size('telemetry'): heap, TOAST and both indexes (WAL written shown apart)")
    }

    /// A `bytea` frame as Float32 values (copied out: the decoded frame).
    static func floats(_ bytes: ByteBuffer) -> [Float] {
        let n = bytes.readableBytes / 4
        return [Float](unsafeUninitializedCapacity: n) { out, count in
            bytes.withUnsafeReadableBytes { raw in
                UnsafeMutableRawBufferPointer(out).copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[..<(n * 4)]))
            }
            count = n
        }
    }

    func date(_ t: Timestamp) -> Date { Date(timeIntervalSince1970: Double(t.nanoseconds) / 1e9) }

    func latest(machine: MachineID) async throws -> Int {
        var n = -1
        let rows = try await connections[0].query(
            "SELECT temperature_data FROM telemetry WHERE machine_id = \(machine.rawValue) ORDER BY \"timestamp\" DESC LIMIT 1",
            logger: logger)
        if variant.bytea {
            for try await bytes in rows.decode(ByteBuffer.self) { n = Self.floats(bytes).count }
        } else {
            for try await frame in rows.decode([Float].self) { n = frame.count }
        }
        guard n > 0 else { throw BenchFailure("postgres: no latest record of \(machine)") }
        return n
    }

    func range(machine: MachineID, from: Timestamp, limit: Int) async throws -> [Timestamp] {
        var out: [Timestamp] = []
        let rows = try await connections[0].query(
            "SELECT \"timestamp\", power_consumption, vibration, temperature_data FROM telemetry WHERE machine_id = \(machine.rawValue) AND \"timestamp\" >= \(date(from)) ORDER BY \"timestamp\" LIMIT \(limit)",
            logger: logger)
        func add(_ t: Date, _ frame: [Float]) throws {
            guard frame.count == 10_000 else { throw BenchFailure("postgres: a frame of \(frame.count) values") }
            out.append(Timestamp(nanoseconds: Int64((t.timeIntervalSince1970 * 1e3).rounded()) * 1_000_000))
        }
        if variant.bytea {
            for try await (t, _, _, bytes) in rows.decode((Date, Float?, Float?, ByteBuffer).self) { try add(t, Self.floats(bytes)) }
        } else {
            for try await (t, _, _, frame) in rows.decode((Date, Float?, Float?, [Float]).self) { try add(t, frame) }
        }
        return out
    }

    func statistics(machine: MachineID, from: Timestamp, to: Timestamp) async throws -> Aggregate? {
        var out: Aggregate?
        for try await (n, lo, hi, mean, frameMean) in try await connections[0].query(
            "SELECT count(*), min(power_consumption), max(power_consumption), avg(power_consumption), avg(temp_mean) FROM telemetry WHERE machine_id = \(machine.rawValue) AND \"timestamp\" >= \(date(from)) AND \"timestamp\" < \(date(to))",
            logger: logger).decode((Int, Float?, Float?, Double?, Double?).self) {
            out = Aggregate(count: n, powerMin: lo ?? .nan, powerMax: hi ?? .nan, powerMean: mean ?? .nan, frameMeanMean: frameMean ?? .nan)
        }
        return out
    }

    func series(machine: MachineID, from: Timestamp, to: Timestamp, stepSeconds: Int) async throws -> [Bucket]? {
        var out: [Bucket] = []
        for try await (b, n, lo, hi, mean) in try await connections[0].query(
            "SELECT date_bin(\(unescaped: "'\(stepSeconds) seconds'"), \"timestamp\", \(date(from))) AS b, count(*), min(power_consumption), max(power_consumption), avg(power_consumption) FROM telemetry WHERE machine_id = \(machine.rawValue) AND \"timestamp\" >= \(date(from)) AND \"timestamp\" < \(date(to)) GROUP BY b ORDER BY b",
            logger: logger).decode((Date, Int, Float, Float, Double).self) {
            out.append(Bucket(offsetSeconds: Int64((b.timeIntervalSince1970 - Double(from.nanoseconds) / 1e9).rounded()), count: n, min: lo, max: hi, mean: mean))
        }
        return out
    }

    func close() async throws {
        try? await connections[0].query("DROP TABLE IF EXISTS telemetry", logger: logger)
        for c in connections { try? await c.close() }
    }
}
