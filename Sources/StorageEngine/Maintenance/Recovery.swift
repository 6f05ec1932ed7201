// Opening a store: manifest, segments and their indexes, WAL replay, and the repairs each needs.
import Logging
import Synchronization
import TelemetryModel

extension StoreWriter {
    /// Loads or rebuilds the manifest.
    static func loadManifest(directory: String, configuration: StoreConfiguration, problems: inout [StorageError],
                             logger: Logger) throws -> Manifest {
        let files = StoreFiles(configuration.fileSystem)
        let manifestPath = directory + "/" + FileNames.manifest
        try? files.remove(directory + "/" + FileNames.manifestTemp)
        if files.exists(manifestPath) {
            do {
                let bytes = try files.readFile(manifestPath, name: FileNames.manifest)
                return try bytes.withUnsafeBytes { (raw) in try Manifest(decoding: raw) }
            } catch let error as StorageError where error.code != .io && error.code != .unsupportedFormat {
                logger.error("manifest damaged, rebuilding from segment files", metadata: ["error": "\(error)"])
                problems.append(error)
            }
        }
        // New store, or a manifest to rebuild from the segment files (which record their partitions).
        var manifest = Manifest(partitionDuration: configuration.partitionDuration.nanoseconds)
        let segmentDirectory = directory + "/" + FileNames.segmentDirectory
        var maxID: UInt32 = 0
        for name in try files.list(segmentDirectory) {
            guard let id = FileNames.parseSegment(name) else { continue }
            maxID = max(maxID, id)
            let fileName = FileNames.segment(id)
            guard let file = try? files.open(directory + "/" + fileName, name: fileName, create: false, readOnly: true),
                  let prefix = try? file.read(at: 0, count: SegmentPartition.dataStart),
                  let partition = try? prefix.withUnsafeBytes({ (raw) throws in
                      try SegmentPartition(decodingSegmentPrefix: raw, file: fileName)
                  })
            else {
                problems.append(StorageError(.corruptBlock, "segment file \(fileName) has a damaged header and was left out", file: fileName, offset: 0))
                continue
            }
            manifest.partitionDuration = partition.duration
            manifest.segments.append(SegmentInfo(id: id, partitionStart: partition.start))
        }
        manifest.nextSegmentID = maxID + 1
        let walNumbers = (try files.list(directory + "/" + FileNames.walDirectory)).compactMap(FileNames.parseWAL)
        manifest.walStart = walNumbers.min() ?? 1
        try manifest.write(to: directory, files: files)
        return manifest
    }

    /// Opens every segment of the manifest, loading (and where needed repairing) its index.
    func loadSegments() -> [BlockRef] {
        var refs: [BlockRef] = []
        var problems: [StorageError] = []
        for info in manifest.segments {
            let segmentName = FileNames.segment(info.id), indexName = FileNames.index(info.id)
            do {
                let file = try files.open(path(segmentName), name: segmentName, create: false)
                let size = try file.size
                _ = try file.read(at: 0, count: SegmentPartition.dataStart).withUnsafeBytes { (raw) throws in
                    try SegmentPartition(decodingSegmentPrefix: raw, file: segmentName)
                }
                let segment = Segment(id: info.id, partitionStart: info.partitionStart, file: file)
                var entries: [IndexEntry]
                var rewriteIndex = false
                var indexDamaged = false
                do {
                    entries = try loadIndex(id: info.id, segmentSize: size)
                } catch let error as StorageError where error.code == .unsupportedFormat {
                    throw error
                } catch {
                    indexDamaged = true
                    // A damaged index is rebuilt from the blocks, which carry everything it holds.
                    logger.error("segment index damaged, rebuilding it", metadata: ["segment.id": "\(FileNames.segmentName(info.id))", "error": "\(error)"])
                    problems.append(StorageError.wrap(error))
                    entries = rebuildIndex(segment: segment, size: size, problems: &problems)
                    rewriteIndex = true
                }
                // Whole, valid blocks after the last indexed one (an index entry lost to a crash or
                // to damage) are indexed again; what is left is a block whose write a crash
                // interrupted, and its records are still in the WAL.
                var end = entries.map { $0.offset + Int64($0.length) }.max() ?? Int64(SegmentPartition.dataStart)
                if size > end {
                    var ignored: [StorageError] = []
                    let recovered = rebuildIndex(segment: segment, size: size, from: end, problems: &ignored)
                    if !recovered.isEmpty {
                        logger.info("indexing blocks missing from the index", metadata: ["segment.id": "\(FileNames.segmentName(info.id))", "blocks": "\(recovered.count)"])
                        entries.append(contentsOf: recovered)
                        end = recovered.map { $0.offset + Int64($0.length) }.max()!
                        rewriteIndex = true
                    }
                }
                if size > end && !indexDamaged {
                    // The index was intact, so these bytes can only be a block write that a crash
                    // interrupted before its index entry existed: its records are in the WAL.
                    logger.info("truncating unindexed segment tail", metadata: ["segment.id": "\(FileNames.segmentName(info.id))", "bytes": "\(size - end)"])
                    try file.truncate(to: end)
                } else if size > end {
                    // After index damage nothing proves these bytes worthless: keep them, append after them.
                    end = size
                }
                var indexFile = try files.open(path(indexName), name: indexName, create: true)
                var indexSize = try indexFile.size
                if rewriteIndex {
                    // The blocks the new index points at may so far live only in the page cache
                    // (written by a writer that died before its index flush): make them durable
                    // first, because replay will now drop the WAL copies of their records.
                    try file.sync()
                    // A fresh index under a temporary name, renamed over the old one.
                    var bytes = FileHeader(kind: .index, number: UInt64(info.id)).encoded()
                    ChecksummedFrame.append(entries, to: &bytes) { $0.encode(into: &$1) }
                    let temporary = indexName + ".tmp"
                    let fresh = try files.open(path(temporary), name: temporary, create: true)
                    try fresh.truncate(to: 0)
                    try fresh.write(bytes, at: 0)
                    try fresh.sync()
                    try files.rename(path(temporary), path(indexName))
                    try files.syncDirectory(path(FileNames.segmentDirectory))
                    indexFile = try files.open(path(indexName), name: indexName, create: false)
                    indexSize = Int64(bytes.count)
                }
                segments[info.id] = SegmentWriter(segment: segment, index: indexFile, segmentSize: end, indexSize: indexSize)
                segmentByPartition[info.partitionStart] = info.id
                refs.append(contentsOf: entries.map { BlockRef(segment: segment, entry: $0) })
            } catch {
                logger.error("segment unreadable, left out", metadata: ["segment.id": "\(FileNames.segmentName(info.id))", "error": "\(error)"])
                problems.append(StorageError.wrap(error))
            }
        }
        let found = problems
        state.withLock { s in for p in found { s.report(p) } }
        return refs
    }

    /// Reads a segment's index; truncates a torn tail and drops entries past the segment's end.
    /// Throws when the index is damaged in the middle (the caller rebuilds it).
    private func loadIndex(id: UInt32, segmentSize: Int64) throws -> [IndexEntry] {
        let name = FileNames.index(id)
        guard files.exists(path(name)) else {
            throw StorageError(.corruptIndex, "index file \(name) is missing", file: name)
        }
        let bytes = try files.readFile(path(name), name: name)
        var entries: [IndexEntry] = []
        let end = try bytes.withUnsafeBytes { (raw) -> ChecksummedFrame.End in
            do {
                _ = try FileHeader(decoding: raw, expected: .index, file: name)
            } catch let error as StorageError where error.code == .unsupportedFormat && raw.count >= FileHeader.size {
                throw error
            } catch {
                throw StorageError(.corruptIndex, StorageError.wrap(error).message, file: name, offset: 0)
            }
            var damage: [ChecksummedFrame.Damage] = []
            let end = try ChecksummedFrame.scan(UnsafeRawBufferPointer(rebasing: raw[FileHeader.size...]), base: FileHeader.size, damage: &damage) {
                (payload, offset) throws in
                var r = ByteReader(payload, context: name, fileOffset: Int64(offset + ChecksummedFrame.overhead), code: .corruptIndex)
                entries.append(try IndexEntry(decoding: &r))
            }
            if let first = damage.first {
                throw StorageError(.corruptIndex, "\(first.reason) in \(name) at offset \(first.offset)", file: name, offset: Int64(first.offset))
            }
            return end
        }
        var validEnd = bytes.count
        if case .tornTail(let at) = end { validEnd = at }
        // An entry written twice (a flush retried after a failed fsync) counts once.
        var offsets = Set<Int64>()
        entries = entries.filter { offsets.insert($0.offset).inserted }
        // Blocks are fsynced before their index entries are written, so an entry pointing past
        // the segment's end means the segment lost bytes after the fact: report the loss.
        if let firstBad = entries.firstIndex(where: { $0.offset < Int64(SegmentPartition.dataStart) || $0.offset + Int64($0.length) > segmentSize }) {
            let lost = entries[firstBad...]
            let segmentName = FileNames.segment(id)
            let problem = StorageError(
                .corruptBlock,
                "segment \(FileNames.segmentName(id)) (\(segmentName)) is truncated at offset \(segmentSize): \(lost.count) blocks with \(lost.reduce(0) { $0 + $1.count }) records are lost",
                file: segmentName, offset: segmentSize)
            logger.error("segment truncated", metadata: ["segment.id": "\(FileNames.segmentName(id))", "error": "\(problem)"])
            state.withLock { $0.report(problem) }
            entries.removeSubrange(firstBad...)
            var kept: [UInt8] = []
            ChecksummedFrame.append(entries, to: &kept) { $0.encode(into: &$1) }
            validEnd = min(validEnd, FileHeader.size + kept.count)
        }
        if validEnd < bytes.count {
            let file = try files.open(path(name), name: name, create: false)
            try file.truncate(to: Int64(validEnd))
            try file.sync()
            logger.info("truncated torn index tail", metadata: ["segment.id": "\(FileNames.segmentName(id))", "offset": "\(validEnd)"])
        }
        return entries
    }

    /// Rebuilds index entries by walking a segment's blocks; stops at the first damaged block.
    func rebuildIndex(segment: Segment, size: Int64, from start: Int64 = Int64(SegmentPartition.dataStart),
                      problems: inout [StorageError]) -> [IndexEntry] {
        var entries: [IndexEntry] = []
        var offset = start
        while offset + Int64(BlockHeader.prefixSize) <= size {
            do {
                let prefix = try segment.file.read(at: offset, count: 4)
                let total = Int64(prefix.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)) })
                guard total > Int64(BlockHeader.prefixSize), offset + total <= size else { break }
                let bytes = try segment.file.read(at: offset, count: Int(total))
                let scalars = try bytes.withUnsafeBytes { (raw) throws in
                    try BlockScalars(decoding: raw, name: segment.name, fileOffset: offset, needFrames: true)
                }
                // Every frame must check out too: replay trusts an indexed block and drops the WAL copies of its records.
                for case let location? in scalars.frames {
                    guard location.offset >= 0, location.offset + location.length <= bytes.count else {
                        throw StorageError(.corruptBlock, "frame outside its block in segment \(FileNames.segmentName(segment.id)) at offset \(offset)",
                                           file: segment.name, offset: offset)
                    }
                    let ok = bytes.withUnsafeBytes { crc32c(UnsafeRawBufferPointer(rebasing: $0[location.offset..<(location.offset + location.length)])) == location.crc }
                    guard ok else {
                        throw StorageError(.corruptBlock, "CRC mismatch in a frame in segment \(FileNames.segmentName(segment.id)) at offset \(offset + Int64(location.offset))",
                                           file: segment.name, offset: offset + Int64(location.offset))
                    }
                }
                let headerLength = Int(bytes.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: 4, as: UInt32.self)) })
                let areaStart = BlockHeader.prefixSize + headerLength
                let framesOffset = scalars.header.columns.first { $0.kind == .frames }.map { areaStart + Int($0.offset) } ?? Int(total)
                let summaries = scalars.channels.map { c -> ChannelSummary in
                    var s = ChannelSummary(name: c.name, count: 0, min: .infinity, max: -.infinity, sum: 0)
                    for case let v? in c.values where v.isFinite {
                        s.count += 1
                        s.min = min(s.min, v)
                        s.max = max(s.max, v)
                        s.sum += Double(v)
                    }
                    return s
                }
                entries.append(IndexEntry(offset: offset, length: UInt32(total), scalarLength: UInt32(framesOffset),
                                          machineID: scalars.header.machineID, count: scalars.header.count,
                                          minTimestamp: scalars.header.minTimestamp, maxTimestamp: scalars.header.maxTimestamp,
                                          lastKind: scalars.kinds.last ?? "", frameCount: scalars.frames.count { $0 != nil },
                                          channels: summaries))
                offset += total
            } catch {
                // A damaged block: report it and step over it by its (unchecksummed) length; if that
                // lands on garbage, the next decode fails and the walk ends there.
                problems.append(StorageError.wrap(error))
                guard let prefix = try? segment.file.read(at: offset, count: 4) else { break }
                let total = Int64(prefix.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)) })
                guard total > Int64(BlockHeader.prefixSize), offset + total <= size else { break }
                offset += total
            }
        }
        return entries
    }

    /// Replays the WAL files from `manifest.walStart` into the heads; returns how many records it restored.
    func replayWAL() throws -> Int {
        let walDirectory = path(FileNames.walDirectory)
        var numbers: [UInt64] = []
        for name in try files.list(walDirectory) {
            if name.hasSuffix(".wal.tmp") { try files.remove(walDirectory + "/" + name) }
            guard let n = FileNames.parseWAL(name) else { continue }
            if n < manifest.walStart {
                try files.remove(walDirectory + "/" + name)
            } else {
                numbers.append(n)
            }
        }
        numbers.sort()
        walNumber = max(numbers.last ?? 0, manifest.walStart > 0 ? manifest.walStart - 1 : 0)
        var restored = 0
        for n in numbers {
            let name = FileNames.wal(n)
            let bytes = try files.readFile(path(name), name: name)
            var records: [IngestRecord] = []
            var damage: [ChecksummedFrame.Damage] = []
            var undecodable: [ChecksummedFrame.Damage] = []
            let end: ChecksummedFrame.End
            do {
                end = try bytes.withUnsafeBytes { (raw) throws in
                    _ = try FileHeader(decoding: raw, expected: .wal, file: name)
                    return try ChecksummedFrame.scan(UnsafeRawBufferPointer(rebasing: raw[FileHeader.size...]), base: FileHeader.size,
                                                     damage: &damage, plausible: IngestRecord.isPlausiblePayload) {
                        (payload, offset) throws in
                        var r = ByteReader(payload, context: name, fileOffset: Int64(offset + ChecksummedFrame.overhead), code: .corruptLog)
                        do {
                            records.append(try IngestRecord(decoding: &r))
                        } catch {
                            undecodable.append(ChecksummedFrame.Damage(offset: offset, reason: "undecodable record (\(error))"))
                        }
                    }
                }
            } catch let error as StorageError where error.code == .unsupportedFormat && bytes.count >= FileHeader.size {
                throw error
            } catch {
                // The header itself is damaged: nothing in the file can be trusted.
                end = .clean
                damage.append(ChecksummedFrame.Damage(offset: 0, reason: StorageError.wrap(error).message))
            }
            damage += undecodable
            if case .tornTail(let at) = end {
                logger.info("discarding torn WAL tail", metadata: ["wal.number": "\(n)", "offset": "\(at)", "bytes": "\(bytes.count - at)"])
            }
            if let first = damage.first {
                // Keep the evidence: the file is renamed rather than deleted by the next checkpoint.
                let problem = StorageError(.corruptLog, "\(first.reason) in \(name) at offset \(first.offset); \(damage.count) damaged record(s) skipped, \(records.count) replayed (file kept as \(name).corrupt)",
                                           file: name, offset: Int64(first.offset))
                logger.error("WAL damaged", metadata: ["wal.number": "\(n)", "error": "\(problem)"])
                state.withLock { $0.report(problem) }
                try? files.rename(path(name), path(name) + ".corrupt")
            }
            var accepted: [IngestRecord] = []
            do {
                let snapshot = state.withLock { $0.machines }
                var seen = Set<RecordID>()
                for r in records {
                    let id = RecordID(machineID: r.machineID, timestamp: Timestamp(nanoseconds: r.timestamp))
                    if seen.contains(id) || isStored(r, in: snapshot[r.machineID]) { continue }
                    seen.insert(id)
                    accepted.append(r)
                }
            }
            state.withLock { s in for r in accepted { s.addToHead(r) } }
            restored += accepted.count
        }
        return restored
    }

    /// Deletes segment files that the manifest does not list, when they are provably dead: a
    /// segment whose creation a crash interrupted (its id was never recorded, so it never
    /// received a block) and the files of a partition that retention had already removed from
    /// the manifest. Anything else not in the manifest (say, a segment left out of a rebuilt
    /// manifest because its header was damaged) is reported and left alone.
    func removeOrphanSegments() throws {
        let known = Set(manifest.segments.map(\.id))
        let horizon = configuration.retention.map { configuration.now().nanoseconds &- $0.nanoseconds }
        for name in try files.list(path(FileNames.segmentDirectory)) {
            if name.hasSuffix(".tmp") {
                try files.remove(path(FileNames.segmentDirectory + "/" + name))
                continue
            }
            let id = FileNames.parseSegment(name) ?? (name.hasSuffix(".idx") ? UInt32(name.dropLast(4)) : nil)
            guard let id, !known.contains(id) else { continue }
            var dead = id >= manifest.nextSegmentID
            if !dead, let horizon,
               let file = try? files.open(path(FileNames.segment(id)), name: name, create: false, readOnly: true),
               let prefix = try? file.read(at: 0, count: SegmentPartition.dataStart),
               let partition = try? prefix.withUnsafeBytes({ try SegmentPartition(decodingSegmentPrefix: $0, file: name) }) {
                dead = partition.start.addingReportingOverflow(partition.duration).overflow ? false : partition.start + partition.duration <= horizon
            }
            if !dead && name.hasSuffix(".idx") && !files.exists(path(FileNames.segment(id))) {
                dead = true  // an index without its segment holds nothing
            }
            if dead {
                logger.info("removing orphan segment file", metadata: ["file": "\(name)"])
                try files.remove(path(FileNames.segmentDirectory + "/" + name))
            } else if name.hasSuffix(".seg") {
                state.withLock {
                    $0.report(StorageError(.corruptManifest, "segment file \(FileNames.segment(id)) is not in the manifest and was left alone; to adopt it, stop the store and delete MANIFEST (it is rebuilt from the segment files)",
                                           file: FileNames.segment(id)))
                }
            }
        }
    }
}
