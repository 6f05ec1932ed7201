// Opening a spool: Storage/Format/spool.md#recovery and #damage.
import DurableFiles
import Logging
import TelemetryModel

extension SpoolEngine {
    /// Creates the directory if needed, takes the lock and recovers what a previous run left.
    static func open(configuration: SpoolConfiguration, logger: Logger) throws(SpoolError) -> SpoolEngine {
        var directory = configuration.directory
        while directory.count > 1 && directory.hasSuffix("/") { directory.removeLast() }
        let fs = configuration.fileSystem
        try SpoolFileSystem.makeDirectories(directory, fileSystem: fs)
        let lock = try SpoolFile.open(SpoolFiles.path(directory, SpoolFiles.lock), name: SpoolFiles.lock, creating: .ifMissing, fileSystem: fs)
        guard try lock.lockExclusive() else {
            throw SpoolError(.locked,
                             "the spool directory \(directory) is in use: another sinter-edge, or another spool in this process, holds its LOCK; give each gateway its own spool directory",
                             file: SpoolFiles.lock)
        }
        let engine = SpoolEngine(directory: directory, configuration: configuration, logger: logger, lock: lock)
        try engine.recover()
        return engine
    }

    private func recover() throws(SpoolError) {
        try SpoolFileSystem.remove(path(SpoolFiles.cursorTemporary), name: SpoolFiles.cursorTemporary, fileSystem: fs)
        let starts = try SpoolFileSystem.list(directory, fileSystem: fs).compactMap(SpoolFiles.segmentStart).sorted()

        var acknowledged: UInt64 = 0
        switch try SpoolCursor.read(directory: directory, fileSystem: fs) {
        case .value(let value):
            acknowledged = value
        case .missing:
            if !starts.isEmpty {
                logger.warning("spool.cursor_missing", metadata: [
                    "spool.directory": "\(directory)",
                    "message": "the spool has segments but no cursor; every record on disk is sent again (duplicates are stored once)",
                ])
            }
        case .damaged(let reason):
            let message = "\(reason); every record on disk is sent again (duplicates are stored once)"
            keepProblem(SpoolError(.corrupt, message, file: SpoolFiles.cursor))
            logger.warning("spool.cursor_damaged", metadata: ["spool.directory": "\(directory)", "message": "\(message)"])
        }
        cursor = acknowledged

        var lastSequence: UInt64 = 0
        var unread: [UInt64] = []
        var scanned: [Segment] = []
        for (index, start) in starts.enumerated() {
            let nextStart = index + 1 < starts.count ? starts[index + 1] : nil
            if let nextStart, nextStart <= acknowledged &+ 1 {
                unread.append(start)    // every entry is below nextStart, so at or below the cursor
                continue
            }
            if let segment = try recoverSegment(start, nextStart: nextStart, acknowledged: acknowledged) {
                lastSequence = max(lastSequence, segment.lastSequence ?? 0)
                scanned.append(segment)
            }
        }
        nextSequence = max(acknowledged &+ 1, lastSequence &+ 1, (starts.last ?? 0) &+ 1, 1)

        let delivered = unread + scanned.filter { $0.pendingRecords == 0 }.map(\.start)
        if !delivered.isEmpty {
            if acknowledged > 0 { try SpoolCursor.sync(directory: directory, fileSystem: fs) }
            for start in delivered {
                let name = SpoolFiles.segment(start)
                try SpoolFileSystem.remove(path(name), name: name, fileSystem: fs)
            }
        }
        segments = scanned.filter { $0.pendingRecords > 0 }
        diskBytes = segments.reduce(0) { $0 + $1.size }
        pendingRecords = segments.reduce(0) { $0 + $1.pendingRecords }
        pendingBytes = segments.reduce(0) { $0 + $1.pendingBytes }
        recoveredRecords = pendingRecords
        syncedThrough = nextSequence &- 1   // what a previous run left counts as it is
        if let last = segments.last {
            activeFile = try SpoolFile.open(path(last.name), name: last.name, fileSystem: fs)
        }
        logger.info("spool.opened", metadata: [
            "spool.directory": "\(directory)", "records.recovered": "\(recoveredRecords)", "segments": "\(segments.count)",
            "bytes.disk": "\(diskBytes)", "sequence.cursor": "\(cursor)", "sequence.next": "\(nextSequence)",
            "entries.corrupt": "\(corruptEntries)",
        ])
    }

    /// Checks the header of segment `start` and scans its entries; nil if the file was set aside
    /// or deleted. Pending entries are decoded, counted and cached.
    private func recoverSegment(_ start: UInt64, nextStart: UInt64?, acknowledged: UInt64) throws(SpoolError) -> Segment? {
        let name = SpoolFiles.segment(start)
        let digits = SpoolFiles.digits(start)
        let file = try SpoolFile.open(path(name), name: name, fileSystem: fs)
        defer { file.close() }
        let size = try file.size()
        let isLast = nextStart == nil

        if size < SpoolFileHeader.size && isLast {
            // Killed while creating it: it holds nothing.
            try SpoolFileSystem.remove(path(name), name: name, fileSystem: fs)
            logger.notice("spool.torn_tail", metadata: [
                "spool.directory": "\(directory)", "segment": "\(name)", "offset": "0", "bytes.cut": "\(size)",
            ])
            return nil
        }
        let headerProblem: SpoolError?
        switch try SpoolSegment.readHeader(file) {
        case .failure(let problem):
            headerProblem = SpoolError(problem.isOtherFormat ? .unsupportedFormat : .corrupt, problem.message("segment \(digits)"),
                                       file: name, offset: 0)
        case .success(let number) where number != start:
            headerProblem = SpoolError(.corrupt, "the header of segment \(digits) says it starts at sequence \(number)", file: name, offset: 12)
        case .success:
            headerProblem = nil
        }
        if var problem = headerProblem {
            let corrupt = SpoolFiles.corruptSegment(start)
            do throws(SpoolError) {
                try SpoolFileSystem.rename(path(name), path(corrupt), name: corrupt, fileSystem: fs)
                problem.message += "; its records are skipped and the file is kept as \(corrupt)"
            } catch {
                problem.message += "; its records are skipped (renaming it to \(corrupt) failed: \(error.message))"
            }
            report(problem, event: "spool.corrupt_segment")
            return nil
        }

        var segment = Segment(start: start, size: size, readOffset: size)
        var firstPending: Int?
        var previous: UInt64?
        let scan = try SpoolSegment.scan(file, size: size, start: start, limit: nextStart) { offset, sequence, entry in
            if sequence <= acknowledged {
                previous = sequence
                return nil
            }
            switch SpoolEntry.decodeRecord(entry) {
            case .failure(let reason):
                return reason
            case .record(let record):
                if firstPending == nil { firstPending = offset }
                segment.pendingRecords += 1
                segment.pendingBytes += entry.count
                cache.append(Cached(sequence: sequence, record: record, size: entry.count, segment: start, offset: offset))
                cache.trim(to: configuration.memoryBytes)
                return nil
            }
        }

        var damage = scan.damage
        if let tail = scan.tail {
            if isLast {
                try file.truncate(to: tail.offset)
                segment.size = tail.offset
                logger.notice("spool.torn_tail", metadata: [
                    "spool.directory": "\(directory)", "segment": "\(name)", "offset": "\(tail.offset)",
                    "bytes.cut": "\(size - tail.offset)", "reason": "\(tail.reason)",
                ])
            } else {
                damage.append(.init(range: tail.offset..<size, reason: tail.reason))
            }
        }
        for stretch in damage {
            let detail = stretch.reason.hasPrefix("undecodable") ? "" : " (\(stretch.range.count) bytes skipped)"
            report(SpoolError(.corrupt, "\(stretch.reason) in segment \(digits) at offset \(stretch.range.lowerBound)\(detail)",
                              file: name, offset: stretch.range.lowerBound))
        }
        segment.lastSequence = scan.lastSequence
        segment.readOffset = firstPending ?? segment.size
        segment.readPrevious = firstPending == nil ? scan.lastSequence : previous
        segment.skips = damage.map(\.range).filter { $0.upperBound > segment.readOffset }.sorted { $0.lowerBound < $1.lowerBound }
        return segment
    }
}
