// Segment files and their entries: Storage/Format/spool.md#segment (layout, writing) and
import DurableFiles
// spool.md#scanning-entries (the scan that open runs).
import TelemetryModel

/// One entry: `length <u32> | crc32c <u32> | sequence <u64> | frame batch of one record`.
///
/// The entry is a checksummed frame (Storage/Format/README.md#checksummed-frame) whose payload
/// is the sequence and the batch; the CRC covers the length bytes, then the payload.
enum SpoolEntry {
    /// `length`, `crc32c` and `sequence`.
    static let headerSize = 16
    /// The smallest `length`: a sequence and a batch header.
    static let minimumLength = 8 + FrameBatch.headerSize
    /// The largest `length`, the house limit of a checksummed frame.
    static let maximumLength = 80 << 20
    /// In the last segment, a plausible entry's sequence is less than this far above the
    /// previous one (there is no next segment to bound it).
    static let maximumSequenceGap: UInt64 = 1 << 40

    /// Appends the entry of `record` to `buffer` and returns its size in bytes.
    static func append(_ record: TelemetryRecord, sequence: UInt64, to buffer: inout [UInt8]) -> Int {
        let start = buffer.count
        buffer.append(contentsOf: repeatElement(0, count: headerSize))
        FrameBatch.encode([record], into: &buffer)
        let size = buffer.count - start
        let length = size - 8
        buffer.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: UInt32(truncatingIfNeeded: length).littleEndian, toByteOffset: start, as: UInt32.self)
            raw.storeBytes(of: sequence.littleEndian, toByteOffset: start + 8, as: UInt64.self)
            let entry = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(raw)[start..<(start + size)])
            let crc = checksum(entry)
            raw.storeBytes(of: crc.littleEndian, toByteOffset: start + 4, as: UInt32.self)
        }
        return size
    }

    /// The CRC of a whole entry: its 4 length bytes, then everything after the CRC field.
    static func checksum(_ entry: UnsafeRawBufferPointer) -> UInt32 {
        let crc = spoolCRC(UnsafeRawBufferPointer(rebasing: entry[0..<4]))
        return spoolCRC(UnsafeRawBufferPointer(rebasing: entry[8...]), continuing: crc)
    }

    /// The record of an entry, or why it does not decode.
    enum Decoded {
        case record(TelemetryRecord)
        case failure(String)
    }

    /// Decodes the one record of a whole entry (bounds-checked; never traps).
    static func decodeRecord(_ entry: UnsafeRawBufferPointer) -> Decoded {
        let batch = UnsafeRawBufferPointer(rebasing: entry[headerSize...])
        let records: [TelemetryRecord]
        do {
            records = try FrameBatch.decode(batch, maximumRecords: 1, allowReservedChannels: true)
        } catch {
            return .failure(error.description)
        }
        guard records.count == 1 else { return .failure("the batch holds \(records.count) records instead of 1") }
        return .record(records[0])
    }

    /// The sequences an entry may have after `previous` (or first in a segment starting at
    /// `start`), below the next segment's start `limit` if there is one.
    static func sequenceBounds(start: UInt64, previous: UInt64?, limit: UInt64?) -> Range<UInt64> {
        let lower = previous.map { $0 &+ 1 } ?? start
        let (gapLimit, overflow) = lower.addingReportingOverflow(maximumSequenceGap)
        let upper = limit ?? (overflow ? .max : gapLimit)
        return lower..<max(lower, upper)
    }
}

/// What a check of the entry at one offset found.
enum SpoolEntryCheck {
    case valid(sequence: UInt64, size: Int)
    case invalid(String)
}

/// Reads a segment file through a window of a few MiB, so that a scan neither reads a whole
/// segment into memory nor calls `pread` per field.
struct SpoolWindowReader {
    let file: SpoolFile
    /// The bytes of the file that count (its size when the reader was made).
    let size: Int
    private var window: [UInt8] = []
    private var windowStart = 0
    static let chunk = 4 << 20

    init(file: SpoolFile, size: Int) {
        self.file = file
        self.size = size
    }

    /// Calls `body` with bytes `offset..<offset + count`, which must lie within `size`.
    mutating func withBytes<R>(at offset: Int, count: Int, _ body: (UnsafeRawBufferPointer) -> R) throws(SpoolError) -> R {
        if offset < windowStart || offset + count > windowStart + window.count {
            window = try file.read(at: offset, count: min(max(Self.chunk, count), size - offset))
            windowStart = offset
            guard window.count >= count else {
                throw SpoolError(.io, "\(file.name) ends at \(offset + window.count), but \(count) bytes were expected at offset \(offset) (did something else change the file?)",
                                 file: file.name, offset: offset)
            }
        }
        let from = offset - windowStart
        return window.withUnsafeBytes { raw in body(UnsafeRawBufferPointer(rebasing: raw[from..<(from + count)])) }
    }

    /// Checks the entry at `offset` against `bounds`. `searching` puts the cheap sequence test
    /// before the CRC (a resync tries every byte); otherwise the CRC comes first, so that a
    /// damaged entry is reported as a CRC mismatch.
    mutating func check(at offset: Int, bounds: Range<UInt64>, searching: Bool) throws(SpoolError) -> SpoolEntryCheck {
        let remaining = size - offset
        guard remaining >= 8 else { return .invalid("bad length (\(remaining) bytes left)") }
        let length = try withBytes(at: offset, count: 4) { Int($0.u32(at: 0)) }
        guard length >= SpoolEntry.minimumLength, length <= SpoolEntry.maximumLength else {
            return .invalid("bad length \(length)")
        }
        guard 8 + length <= remaining else { return .invalid("bad length \(length) (past the end of the file)") }
        if searching {
            let sequence = try withBytes(at: offset + 8, count: 8) { $0.u64(at: 0) }
            guard bounds.contains(sequence) else { return .invalid("sequence out of order") }
        }
        return try withBytes(at: offset, count: 8 + length) { entry in
            guard SpoolEntry.checksum(entry) == entry.u32(at: 4) else { return .invalid("CRC mismatch") }
            let sequence = entry.u64(at: 8)
            guard bounds.contains(sequence) else {
                return .invalid("sequence \(sequence) out of order (expected \(bounds.lowerBound) to \(bounds.upperBound - 1))")
            }
            return .valid(sequence: sequence, size: 8 + length)
        }
    }
}

/// Segment files: creation, the header, the scan of open, and reading single entries back.
enum SpoolSegment {
    /// What a scan found besides the valid entries, which it hands to its callback.
    struct Scan {
        /// A damaged stretch (resynced past) or an undecodable entry.
        struct Damage {
            var range: Range<Int>
            var reason: String
        }
        var damage: [Damage] = []
        /// Bad bytes with no valid entry after them, from this offset to the end of the file.
        var tail: (offset: Int, reason: String)?
        /// The sequence of the last entry that passed its checks (decodable or not).
        var lastSequence: UInt64?
    }

    /// Creates segment `start` (`O_EXCL`) and writes its header.
    static func create(directory: String, start: UInt64, fileSystem: any DurableFileSystem) throws(SpoolError) -> SpoolFile {
        let name = SpoolFiles.segment(start)
        let file = try SpoolFile.open(SpoolFiles.path(directory, name), name: name, creating: .exclusive, fileSystem: fileSystem)
        try file.write(SpoolFileHeader.encode(magic: SpoolFileHeader.segmentMagic, number: start), at: 0)
        return file
    }

    /// The start sequence in the header of `file`, or why the header is refused.
    static func readHeader(_ file: SpoolFile) throws(SpoolError) -> Result<UInt64, SpoolFileHeader.Problem> {
        let bytes = try file.read(at: 0, count: SpoolFileHeader.size)
        return SpoolFileHeader.decode(bytes, magic: SpoolFileHeader.segmentMagic)
    }

    /// Walks the entries of segment `start` (size `size`), resyncing byte by byte past damage
    /// (spool.md#scanning-entries). `onEntry` gets the offset, the sequence and the bytes of
    /// each valid entry, and returns a reason if the entry does not decode.
    static func scan(_ file: SpoolFile, size: Int, start: UInt64, limit: UInt64?,
                     onEntry: (Int, UInt64, UnsafeRawBufferPointer) -> String?) throws(SpoolError) -> Scan {
        var reader = SpoolWindowReader(file: file, size: size)
        var scan = Scan()
        var offset = SpoolFileHeader.size
        while offset < size {
            let bounds = SpoolEntry.sequenceBounds(start: start, previous: scan.lastSequence, limit: limit)
            switch try reader.check(at: offset, bounds: bounds, searching: false) {
            case .valid(let sequence, let entrySize):
                let at = offset
                if let reason = try reader.withBytes(at: offset, count: entrySize, { onEntry(at, sequence, $0) }) {
                    scan.damage.append(.init(range: offset..<(offset + entrySize), reason: "undecodable entry (\(reason))"))
                }
                scan.lastSequence = sequence
                offset += entrySize
            case .invalid(let reason):
                var candidate = offset + 1
                var found: Int?
                while size - candidate >= 8 + SpoolEntry.minimumLength {
                    if case .valid = try reader.check(at: candidate, bounds: bounds, searching: true) {
                        found = candidate
                        break
                    }
                    candidate += 1
                }
                guard let next = found else {
                    scan.tail = (offset, reason)
                    return scan
                }
                scan.damage.append(.init(range: offset..<next, reason: reason))
                offset = next
            }
        }
        return scan
    }

    /// What reading one entry back found.
    enum Read {
        /// The entry is whole; `record` is nil when only the header was read.
        case entry(sequence: UInt64, size: Int, record: TelemetryRecord?)
        /// The entry passed its checks but its batch does not decode: only it is lost.
        case undecodable(sequence: UInt64, size: Int, reason: String)
        /// The entry fails a check; its length cannot be trusted.
        case damaged(String)
    }

    /// Reads the entry at `offset` of `file`, whose valid bytes end at `end`. With `decode`,
    /// the CRC is checked and the record decoded; without, only the length and the sequence.
    static func readEntry(_ file: SpoolFile, at offset: Int, end: Int, bounds: Range<UInt64>,
                          decode: Bool) throws(SpoolError) -> Read {
        guard end - offset >= SpoolEntry.headerSize else { return .damaged("bad length (\(end - offset) bytes left)") }
        let header = try file.read(at: offset, count: SpoolEntry.headerSize)
        guard header.count == SpoolEntry.headerSize else { return .damaged("the file ends at \(offset + header.count)") }
        let (length, sequence) = header.withUnsafeBytes { (Int($0.u32(at: 0)), $0.u64(at: 8)) }
        guard length >= SpoolEntry.minimumLength, length <= SpoolEntry.maximumLength, 8 + length <= end - offset else {
            return .damaged("bad length \(length)")
        }
        guard decode else {
            guard bounds.contains(sequence) else { return .damaged("sequence \(sequence) out of order") }
            return .entry(sequence: sequence, size: 8 + length, record: nil)
        }
        let bytes = try file.read(at: offset, count: 8 + length)
        guard bytes.count == 8 + length else { return .damaged("the file ends at \(offset + bytes.count)") }
        return bytes.withUnsafeBytes { entry -> Read in
            guard SpoolEntry.checksum(entry) == entry.u32(at: 4) else { return .damaged("CRC mismatch") }
            guard bounds.contains(sequence) else { return .damaged("sequence \(sequence) out of order") }
            switch SpoolEntry.decodeRecord(entry) {
            case .record(let record): return .entry(sequence: sequence, size: 8 + length, record: record)
            case .failure(let reason): return .undecodable(sequence: sequence, size: 8 + length, reason: reason)
            }
        }
    }
}
