// SQLite as seed 001 would use it: one row per record, the frame as a BLOB, through the system
// libsqlite3.
import CSQLite3
import Foundation
import TelemetryModel

/// One SQLite database file in WAL mode with `synchronous=FULL` (every commit fsynced: durable
/// like the others), one transaction per batch through a prepared INSERT; reads through
/// prepared statements on the same connection. The runner never calls it concurrently.
final class SQLitePeer: ComparedStore, @unchecked Sendable {
    let db: OpaquePointer
    let path: String
    let writers = 1
    private var insert: OpaquePointer?
    private var latestStatement: OpaquePointer?
    private var rangeStatement: OpaquePointer?
    private var statsStatement: OpaquePointer?
    private var seriesStatement: OpaquePointer?

    init(path: String) throws {
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        var handle: OpaquePointer?
        guard sqlite3_open_v2(path, &handle, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nil) == SQLITE_OK, let handle else {
            throw BenchFailure("sqlite: cannot open \(path)")
        }
        db = handle
        self.path = path
        try exec("PRAGMA journal_mode=WAL")
        try exec("PRAGMA synchronous=FULL")
        // Seed 001's readings table, with the frame as a BLOB (last, so that scalar reads stop
        // before its overflow pages) and the per-record statistics seed 000 stored.
        try exec("""
            CREATE TABLE readings (
                id INTEGER PRIMARY KEY,
                machine_id TEXT NOT NULL,
                timestamp INTEGER NOT NULL,
                power_consumption REAL,
                vibration REAL,
                temp_min REAL, temp_max REAL, temp_mean REAL, temp_std REAL,
                temperature_data BLOB NOT NULL,
                UNIQUE (machine_id, timestamp)
            )
            """)
        insert = try prepare("INSERT INTO readings (machine_id, timestamp, power_consumption, vibration, temp_min, temp_max, temp_mean, temp_std, temperature_data) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)")
        latestStatement = try prepare("SELECT timestamp, temperature_data FROM readings WHERE machine_id = ?1 ORDER BY timestamp DESC LIMIT 1")
        rangeStatement = try prepare("SELECT timestamp, power_consumption, vibration, temperature_data FROM readings WHERE machine_id = ?1 AND timestamp >= ?2 ORDER BY timestamp LIMIT ?3")
        statsStatement = try prepare("SELECT count(*), min(power_consumption), max(power_consumption), avg(power_consumption), avg(temp_mean) FROM readings WHERE machine_id = ?1 AND timestamp >= ?2 AND timestamp < ?3")
        seriesStatement = try prepare("SELECT (timestamp - ?2) / ?4 AS b, count(*), min(power_consumption), max(power_consumption), avg(power_consumption) FROM readings WHERE machine_id = ?1 AND timestamp >= ?2 AND timestamp < ?3 GROUP BY b ORDER BY b")
    }

    private func error(_ what: String) -> BenchFailure { BenchFailure("sqlite: \(what): \(String(cString: sqlite3_errmsg(db)))") }

    private func exec(_ sql: String) throws {
        guard sqlite3_exec(db, sql, nil, nil, nil) == SQLITE_OK else { throw error(sql) }
    }

    private func prepare(_ sql: String) throws -> OpaquePointer? {
        var s: OpaquePointer?
        guard sqlite3_prepare_v3(db, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &s, nil) == SQLITE_OK else { throw error(sql) }
        return s
    }

    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    /// Milliseconds since the epoch, the column's unit.
    private func ms(_ t: Timestamp) -> Int64 { t.milliseconds }

    func append(_ records: [TelemetryRecord], writer: Int) async throws {
        try exec("BEGIN")
        do {
            for r in records {
                guard let frame = r.frame, let s = frame.statistics() else { throw BenchFailure("sqlite: a record without a frame") }
                sqlite3_reset(insert)
                sqlite3_bind_text(insert, 1, r.machineID.rawValue, -1, Self.transient)
                sqlite3_bind_int64(insert, 2, ms(r.timestamp))
                sqlite3_bind_double(insert, 3, Double(r.channels["power_kw"] ?? .nan))
                sqlite3_bind_double(insert, 4, Double(r.channels["vibration_mm_s"] ?? .nan))
                sqlite3_bind_double(insert, 5, Double(s.min))
                sqlite3_bind_double(insert, 6, Double(s.max))
                sqlite3_bind_double(insert, 7, Double(s.mean))
                sqlite3_bind_double(insert, 8, Double(s.std))
                frame.values.withUnsafeBytes { raw in
                    _ = sqlite3_bind_blob(insert, 9, raw.baseAddress, Int32(raw.count), Self.transient)
                }
                guard sqlite3_step(insert) == SQLITE_DONE else { throw error("insert") }
            }
            sqlite3_reset(insert)
            try exec("COMMIT")
        } catch {
            try? exec("ROLLBACK")
            throw error
        }
    }

    func diskUsage() async throws -> DiskUsage {
        try exec("PRAGMA wal_checkpoint(TRUNCATE)")
        let size = { (p: String) -> Int64 in ((try? FileManager.default.attributesOfItem(atPath: p)[.size]) as? NSNumber)?.int64Value ?? 0 }
        return DiskUsage(bytes: size(path) + size(path + "-wal"), what: "the database file after a TRUNCATE checkpoint (plus its WAL, then empty)")
    }

    /// A BLOB column as Float32 values (copied out of SQLite's buffer: the decoded frame).
    private func frame(_ s: OpaquePointer?, column: Int32) -> [Float] {
        let bytes = Int(sqlite3_column_bytes(s, column))
        guard let p = sqlite3_column_blob(s, column) else { return [] }
        return [Float](unsafeUninitializedCapacity: bytes / 4) { out, n in
            _ = memcpy(out.baseAddress!, p, bytes / 4 * 4)
            n = bytes / 4
        }
    }

    func latest(machine: MachineID) async throws -> Int {
        let s = latestStatement
        sqlite3_reset(s)
        defer { sqlite3_reset(s) }  // ends the statement's read transaction
        sqlite3_bind_text(s, 1, machine.rawValue, -1, Self.transient)
        guard sqlite3_step(s) == SQLITE_ROW else { throw error("no latest record of \(machine)") }
        return frame(s, column: 1).count
    }

    func range(machine: MachineID, from: Timestamp, limit: Int) async throws -> [Timestamp] {
        let s = rangeStatement
        sqlite3_reset(s)
        defer { sqlite3_reset(s) }  // ends the statement's read transaction
        sqlite3_bind_text(s, 1, machine.rawValue, -1, Self.transient)
        sqlite3_bind_int64(s, 2, ms(from))
        sqlite3_bind_int64(s, 3, Int64(limit))
        var out: [Timestamp] = []
        while true {
            let rc = sqlite3_step(s)
            if rc == SQLITE_DONE { break }
            guard rc == SQLITE_ROW else { throw error("range") }
            let values = frame(s, column: 3)
            guard values.count == 10_000 else { throw BenchFailure("sqlite: a frame of \(values.count) values") }
            _ = (sqlite3_column_double(s, 1), sqlite3_column_double(s, 2))
            out.append(Timestamp(milliseconds: sqlite3_column_int64(s, 0)))
        }
        return out
    }

    func statistics(machine: MachineID, from: Timestamp, to: Timestamp) async throws -> Aggregate? {
        let s = statsStatement
        sqlite3_reset(s)
        defer { sqlite3_reset(s) }  // ends the statement's read transaction
        sqlite3_bind_text(s, 1, machine.rawValue, -1, Self.transient)
        sqlite3_bind_int64(s, 2, ms(from))
        sqlite3_bind_int64(s, 3, ms(to))
        guard sqlite3_step(s) == SQLITE_ROW else { throw error("statistics") }
        return Aggregate(count: Int(sqlite3_column_int64(s, 0)), powerMin: Float(sqlite3_column_double(s, 1)),
                         powerMax: Float(sqlite3_column_double(s, 2)), powerMean: sqlite3_column_double(s, 3),
                         frameMeanMean: sqlite3_column_double(s, 4))
    }

    func series(machine: MachineID, from: Timestamp, to: Timestamp, stepSeconds: Int) async throws -> [Bucket]? {
        let s = seriesStatement
        sqlite3_reset(s)
        defer { sqlite3_reset(s) }  // ends the statement's read transaction
        sqlite3_bind_text(s, 1, machine.rawValue, -1, Self.transient)
        sqlite3_bind_int64(s, 2, ms(from))
        sqlite3_bind_int64(s, 3, ms(to))
        sqlite3_bind_int64(s, 4, Int64(stepSeconds) * 1000)
        var out: [Bucket] = []
        while true {
            let rc = sqlite3_step(s)
            if rc == SQLITE_DONE { break }
            guard rc == SQLITE_ROW else { throw error("series") }
            out.append(Bucket(offsetSeconds: sqlite3_column_int64(s, 0) * Int64(stepSeconds), count: Int(sqlite3_column_int64(s, 1)),
                              min: Float(sqlite3_column_double(s, 2)), max: Float(sqlite3_column_double(s, 3)), mean: sqlite3_column_double(s, 4)))
        }
        return out
    }

    func close() async throws {
        for s in [insert, latestStatement, rangeStatement, statsStatement, seriesStatement] { sqlite3_finalize(s) }
        sqlite3_close_v2(db)
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
    }
}
