package import DurableFiles
public import TelemetryModel

/// How a ``TelemetryStore`` trades durability, block size, partitioning and retention.
///
/// Every property has a default that suits a plant's telemetry; change only what you need.
///
/// ```swift
/// var configuration = StoreConfiguration()
/// configuration.durability = .relaxed(syncInterval: .milliseconds(100))
/// configuration.retention = .seconds(90 * 86_400)   // keep 90 days
/// let store = try TelemetryStore.open(at: "Storage/data", configuration: configuration)
/// ```
public struct StoreConfiguration: Sendable {
    /// When an `append` returns.
    public enum Durability: Sendable, Equatable {
        /// After the batch's WAL bytes are fsynced: nothing acknowledged is lost, even on power failure.
        case durable
        /// After the WAL bytes are written to the OS; fsync runs every `syncInterval`. A process
        /// crash loses nothing; a power failure loses at most the last `syncInterval` of writes.
        case relaxed(syncInterval: Duration)
    }

    /// Default `.durable`.
    public var durability: Durability = .durable
    /// How long the writer waits for more callers before an fsync, so that many small appends
    /// share one (group commit). At most 10 ms; default 0 (batch whatever queued during the last fsync).
    public var groupCommitWindow: Duration = .zero
    /// Records per sealed column block (1–4096; 64–256 is the useful range). Default 128.
    public var blockSize: Int = 128
    /// Length of a time partition (one segment file per partition). Used when a store is
    /// created; an existing store keeps its own. Default 1 day.
    public var partitionDuration: Duration = .seconds(86_400)
    /// Partitions whose end is older than this are deleted: at open, every
    /// `retentionCheckInterval` while the store is open, and by ``TelemetryStore/applyRetention()``.
    /// `nil` (the default) keeps everything.
    public var retention: Duration? = nil
    /// How often an open store applies `retention`. Default 1 minute.
    public var retentionCheckInterval: Duration = .seconds(60)
    /// A WAL file is rotated (checkpointed) when it grows past this many bytes. Bounds replay
    /// time on open. Default 64 MiB.
    public var walFileSize: Int = 64 << 20
    /// The clock used for retention; injectable for tests. Default: the system's real time.
    public var now: @Sendable () -> Timestamp = { Timestamp.now }
    /// Called after every WAL fsync with how long it took, on the writer's thread; keep it cheap
    /// (the server feeds a latency histogram). Default: nothing.
    public var walSyncObserver: (@Sendable (Duration) -> Void)? = nil

    /// The file system the store's files live on: the real one, or (in tests) a
    /// fault-injecting one that simulates power cuts and I/O errors.
    package var fileSystem: any DurableFileSystem = PosixFileSystem()

    public init() {}

    func validated() throws -> StoreConfiguration {
        guard (1...4096).contains(blockSize) else {
            throw StorageError(.invalidArgument, "blockSize must be 1-4096 (got \(blockSize))")
        }
        guard partitionDuration.nanoseconds >= 1_000_000 else {
            throw StorageError(.invalidArgument, "partitionDuration must be at least 1 ms")
        }
        guard groupCommitWindow <= .milliseconds(10), groupCommitWindow >= .zero else {
            throw StorageError(.invalidArgument, "groupCommitWindow must be 0-10 ms")
        }
        if let retention, retention <= .zero {
            throw StorageError(.invalidArgument, "retention must be positive (nil keeps everything)")
        }
        guard retentionCheckInterval >= .milliseconds(1) else {
            throw StorageError(.invalidArgument, "retentionCheckInterval must be at least 1 ms")
        }
        guard walFileSize >= 4096 else { throw StorageError(.invalidArgument, "walFileSize must be at least 4096 bytes") }
        return self
    }
}

extension Duration {
    /// Whole nanoseconds, saturating at the ends of Int64 (about ±292 years) instead of wrapping.
    var nanoseconds: Int64 {
        let (s, a) = components
        let (ns, overflow) = s.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return s < 0 ? .min : .max }
        let (total, overflow2) = ns.addingReportingOverflow(a / 1_000_000_000)
        return overflow2 ? (ns < 0 ? .min : .max) : total
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension Timestamp {
    /// The current real time.
    public static var now: Timestamp {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Timestamp(nanoseconds: Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec))
    }
}

/// Monotonic nanoseconds, for measuring durations.
func monotonicNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}
