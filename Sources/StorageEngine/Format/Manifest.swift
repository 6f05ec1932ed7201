// The manifest: which segments exist, their partitions, and where WAL replay starts.
// Format: Storage/Format/manifest.md.

/// One segment: a time partition of the data.
struct SegmentInfo: Sendable, Equatable {
    var id: UInt32
    /// Start of the partition, nanoseconds; the partition ends at start + partition duration.
    var partitionStart: Int64
}

/// The store's catalogue, replaced atomically (write `MANIFEST.tmp`, fsync, rename, fsync directory).
struct Manifest: Sendable, Equatable {
    /// Increases by one with every manifest written.
    var generation: UInt64 = 0
    /// Length of a time partition in nanoseconds (fixed when the store is created).
    var partitionDuration: Int64
    var nextSegmentID: UInt32 = 1
    /// The first WAL file replayed on open; older files are obsolete.
    var walStart: UInt64 = 1
    var segments: [SegmentInfo] = []

    func encoded() -> [UInt8] {
        var payload = ByteWriter()
        payload.write(partitionDuration)
        payload.write(nextSegmentID)
        payload.write(walStart)
        payload.write(UInt32(segments.count))
        for s in segments {
            payload.write(s.id)
            payload.write(s.partitionStart)
        }
        var out = FileHeader(kind: .manifest, number: generation).encoded()
        ChecksummedFrame.append(payload.bytes, to: &out)
        return out
    }

    init(partitionDuration: Int64) { self.partitionDuration = partitionDuration }

    init(decoding bytes: UnsafeRawBufferPointer) throws {
        let name = FileNames.manifest
        let header = try FileHeader(decoding: bytes, expected: .manifest, file: name)
        generation = header.number
        var payloads: [[UInt8]] = []
        let end = try ChecksummedFrame.scan(UnsafeRawBufferPointer(rebasing: bytes[FileHeader.size...]), base: FileHeader.size) {
            payload, _ in payloads.append(Array(payload))
        }
        guard end == .clean, payloads.count == 1 else {
            throw StorageError(.corruptManifest, "CRC mismatch or truncation in \(name) at offset \(FileHeader.size)",
                               file: name, offset: Int64(FileHeader.size))
        }
        var r = ByteReader(UnsafeRawBufferPointer(start: nil, count: 0), context: name)
        var decoded = Manifest(partitionDuration: 0)
        try payloads[0].withUnsafeBytes { (p) throws in
            r = ByteReader(p, context: name, fileOffset: Int64(FileHeader.size + ChecksummedFrame.overhead), code: .corruptManifest)
            decoded.partitionDuration = try r.read(Int64.self)
            decoded.nextSegmentID = try r.read(UInt32.self)
            decoded.walStart = try r.read(UInt64.self)
            let n = try r.readLength(UInt32.self, limit: p.count / 12, what: "segment count")
            for _ in 0..<n { decoded.segments.append(SegmentInfo(id: try r.read(UInt32.self), partitionStart: try r.read(Int64.self))) }
        }
        guard decoded.partitionDuration > 0 else {
            throw StorageError(.corruptManifest, "\(name) has a partition duration of \(decoded.partitionDuration)", file: name)
        }
        partitionDuration = decoded.partitionDuration
        nextSegmentID = decoded.nextSegmentID
        walStart = decoded.walStart
        segments = decoded.segments
    }

    /// Writes the manifest atomically into `directory`.
    func write(to directory: String, files: StoreFiles) throws {
        try files.replaceFile(FileNames.manifest, in: directory, with: encoded(), temporary: FileNames.manifestTemp)
    }

    /// The end of the partition starting at `start` (exclusive), saturating at Int64.max.
    func partitionEnd(of start: Int64) -> Int64 {
        let (end, overflow) = start.addingReportingOverflow(partitionDuration)
        return overflow ? .max : end
    }

    /// The partition that `timestamp` falls in.
    func partitionStart(of timestamp: Int64) -> Int64 {
        let d = partitionDuration
        let q = timestamp / d
        return (timestamp % d < 0 ? q - 1 : q) &* d
    }
}
