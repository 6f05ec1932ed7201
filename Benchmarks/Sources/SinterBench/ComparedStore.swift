// What every store in the comparison answers, and the shapes of the answers.
import Foundation
import TelemetryModel

/// One store under comparison. The runner calls it from one task at a time, except `append`,
/// which up to ``writers`` writers call concurrently (each with its own `writer` index).
protocol ComparedStore: AnyObject, Sendable {
    /// Concurrent writers it takes (1 for SQLite and the files).
    var writers: Int { get }
    /// Stores `records` durably: when this returns, they survive a crash (fsync or equivalent).
    func append(_ records: [TelemetryRecord], writer: Int) async throws
    /// Bytes at rest after the step (what counts is in ``DiskUsage/what``).
    func diskUsage() async throws -> DiskUsage
    /// The newest record of `machine` with its frame decoded; returns the frame's value count.
    func latest(machine: MachineID) async throws -> Int
    /// At most `limit` records of `machine` from `from` on, frames decoded into Float arrays;
    /// returns the timestamps, in order.
    func range(machine: MachineID, from: Timestamp, limit: Int) async throws -> [Timestamp]
    /// Count, min/max/mean power and mean of the frame means of `machine` in `[from, to)`; nil if
    /// the store has no query engine.
    func statistics(machine: MachineID, from: Timestamp, to: Timestamp) async throws -> Aggregate?
    /// Power in buckets of `stepSeconds` from `from`, over `[from, to)`; nil if unsupported.
    func series(machine: MachineID, from: Timestamp, to: Timestamp, stepSeconds: Int) async throws -> [Bucket]?
    /// Called after each ingest step, outside the timings (PostgreSQL: ANALYZE).
    func afterIngest() async throws
    func close() async throws
}

extension ComparedStore {
    func afterIngest() async throws {}
}

/// Bytes a store keeps at rest, and what was counted.
public struct DiskUsage: Sendable, Codable {
    public var bytes: Int64
    /// Write-ahead log bytes written during ingest, where the store reports them (PostgreSQL).
    public var walBytesWritten: Int64?
    public var what: String
}

/// The answer of the day-statistics query (compared across stores).
public struct Aggregate: Sendable, Codable, Equatable {
    public var count: Int
    public var powerMin: Float
    public var powerMax: Float
    public var powerMean: Double
    public var frameMeanMean: Double

    /// Same count and extremes, means within 1e-4 relative (stores sum in different orders and precisions).
    func agrees(with o: Aggregate) -> Bool {
        func close(_ a: Double, _ b: Double) -> Bool { abs(a - b) <= 1e-4 * max(1, abs(a), abs(b)) }
        return count == o.count && powerMin == o.powerMin && powerMax == o.powerMax
            && close(powerMean, o.powerMean) && close(frameMeanMean, o.frameMeanMean)
    }
}

/// One bucket of the downsampled power series.
public struct Bucket: Sendable, Codable, Equatable {
    /// Bucket start, seconds since `from`.
    public var offsetSeconds: Int64
    public var count: Int
    public var min: Float
    public var max: Float
    public var mean: Double
}

/// A failure of a store, naming it.
public struct BenchFailure: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Sum of the sizes of the regular files under `path` (logical sizes, recursively).
func directoryBytes(_ path: String, excluding skip: (String) -> Bool = { _ in false }) -> Int64 {
    guard let e = FileManager.default.enumerator(atPath: path) else { return 0 }
    var total: Int64 = 0
    while let name = e.nextObject() as? String {
        guard !skip(name) else { continue }
        if let a = try? FileManager.default.attributesOfItem(atPath: path + "/" + name),
           a[.type] as? FileAttributeType == .typeRegular, let size = a[.size] as? NSNumber {
            total += size.int64Value
        }
    }
    return total
}
