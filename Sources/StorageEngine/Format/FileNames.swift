// Every file name the store uses, in one place. See Storage/Format/README.md for the directory layout.

/// Names of the files and directories inside a store directory.
///
/// ```
/// <store>/LOCK                 advisory lock (flock) held by the open store
/// <store>/MANIFEST             the segment list and WAL start            (manifest.md)
/// <store>/MANIFEST.tmp         a manifest being written; deleted on open
/// <store>/wal/00000001.wal     write-ahead log files, numbered            (wal.md)
/// <store>/wal/00000002.wal.tmp a WAL file a checkpoint is writing; deleted on open
/// <store>/wal/00000001.wal.corrupt  a damaged WAL file kept for inspection
/// <store>/segments/000042.seg  sealed column blocks of one time partition (segment.md)
/// <store>/segments/000042.idx  the block index of segment 000042         (index.md)
/// <store>/alerts.log           the alert log, append-only                (alerts.md)
/// <store>/alerts.log.tmp       a new alert log being created; deleted on open
/// <store>/alerts.lock          advisory lock (flock) held by the open alert store
/// ```
enum FileNames {
    static let lock = "LOCK"
    static let manifest = "MANIFEST"
    static let manifestTemp = "MANIFEST.tmp"
    static let walDirectory = "wal"
    static let segmentDirectory = "segments"
    /// The alert log of ``AlertStore``, next to the telemetry files.
    static let alertLog = "alerts.log"
    /// A new alert log being created (header written, fsynced, then renamed); deleted on open.
    static let alertLogTemporary = "alerts.log.tmp"
    /// The alert store's own lock, so that it does not depend on a ``TelemetryStore`` being open.
    static let alertLock = "alerts.lock"

    static func wal(_ number: UInt64) -> String { "\(walDirectory)/\(pad(number, 8)).wal" }
    /// A WAL file being written by a checkpoint; renamed to ``wal(_:)`` when complete, deleted on open.
    static func walTemporary(_ number: UInt64) -> String { wal(number) + ".tmp" }
    static func segment(_ id: UInt32) -> String { "\(segmentDirectory)/\(segmentName(id)).seg" }
    static func index(_ id: UInt32) -> String { "\(segmentDirectory)/\(segmentName(id)).idx" }
    /// "segment 000042": how messages name a segment.
    static func segmentName(_ id: UInt32) -> String { pad(UInt64(id), 6) }

    /// Parses `00000001.wal` to 1.
    static func parseWAL(_ name: String) -> UInt64? {
        guard name.hasSuffix(".wal") else { return nil }
        return UInt64(name.dropLast(4))
    }

    /// Parses `000042.seg` to 42.
    static func parseSegment(_ name: String) -> UInt32? {
        guard name.hasSuffix(".seg") else { return nil }
        return UInt32(name.dropLast(4))
    }

    static func pad(_ v: UInt64, _ width: Int) -> String {
        let s = String(v)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }
}
