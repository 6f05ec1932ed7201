// The edge's dead-letter file: records the server refused individually, beside the spool.
// Format: Storage/Format/dead-letter.md. File I/O only in the "File I/O" section at the end.
import Logging
import SinterHTTPClient
import TelemetryModel

/// A record the server refused as invalid, with when and why.
struct DeadLetter: Sendable {
    /// When the server refused it.
    var refusedAt: Timestamp
    /// The HTTP status of the refusal (422 or 400).
    var status: Int
    /// Its sequence in the spool it came from.
    var sequence: UInt64
    /// The server's error.
    var error: ServerErrorBody
    /// The record.
    var record: TelemetryRecord
}

/// The byte layout of `dead-letters` (Storage/Format/dead-letter.md), without I/O.
enum DeadLetterFormat {
    static let fileName = "dead-letters"
    static let magic: [UInt8] = Array("SNTRDLT".utf8) + [0]
    /// refused_at 8 + status 2 + sequence 8 + position 8 + code ≥ 1 + field ≥ 1 + message ≥ 2 + batch header 12.
    static let minimumPayload = 42
    static let maximumPayload = 80 << 20

    static func header() -> [UInt8] { SpoolFileHeader.encode(magic: magic, number: 0) }

    /// One entry: length, CRC-32C (over the length bytes and the payload), payload.
    static func encode(_ letter: DeadLetter) -> [UInt8] {
        var payload: [UInt8] = []
        payload.appendLittleEndian(UInt64(bitPattern: letter.refusedAt.nanoseconds))
        payload.appendLittleEndian(UInt16(clamping: letter.status))
        payload.appendLittleEndian(letter.sequence)
        payload.appendLittleEndian(UInt64(bitPattern: Int64(letter.error.position ?? -1)))
        appendShort(letter.error.code, to: &payload)
        appendShort(letter.error.field ?? "", to: &payload)
        let message = Array(letter.error.message.utf8.prefix(65_535))
        payload.appendLittleEndian(UInt16(message.count))
        payload += message
        FrameBatch.encode([letter.record], into: &payload)
        var entry: [UInt8] = []
        entry.reserveCapacity(payload.count + 8)
        entry.appendLittleEndian(UInt32(payload.count))
        let crc = payload.withUnsafeBytes { p in entry.withUnsafeBytes { spoolCRC(p, continuing: spoolCRC($0)) } }
        entry.appendLittleEndian(crc)
        entry += payload
        return entry
    }

    private static func appendShort(_ text: String, to bytes: inout [UInt8]) {
        let utf8 = Array(text.utf8.prefix(255))
        bytes.append(UInt8(utf8.count))
        bytes += utf8
    }

    /// Decodes one payload; the reason when it does not decode.
    static func decode(_ p: UnsafeRawBufferPointer) -> Result<DeadLetter, DecodeFailure> {
        guard p.count >= minimumPayload else { return .failure(DecodeFailure(reason: "payload of \(p.count) bytes is too short")) }
        let refusedAt = Int64(bitPattern: p.u64(at: 0))
        let status = Int(p.u16(at: 8))
        let sequence = p.u64(at: 10)
        let position = Int64(bitPattern: p.u64(at: 18))
        var offset = 26
        func short() -> String? {
            guard offset < p.count else { return nil }
            let n = Int(p[offset])
            guard offset + 1 + n <= p.count else { return nil }
            defer { offset += 1 + n }
            return String(decoding: UnsafeRawBufferPointer(rebasing: p[(offset + 1)..<(offset + 1 + n)]), as: UTF8.self)
        }
        guard let code = short(), let field = short() else { return .failure(DecodeFailure(reason: "a string runs past the entry")) }
        guard offset + 2 <= p.count else { return .failure(DecodeFailure(reason: "the message runs past the entry")) }
        let n = Int(p.u16(at: offset))
        guard offset + 2 + n <= p.count else { return .failure(DecodeFailure(reason: "the message runs past the entry")) }
        let message = String(decoding: UnsafeRawBufferPointer(rebasing: p[(offset + 2)..<(offset + 2 + n)]), as: UTF8.self)
        offset += 2 + n
        let records: [TelemetryRecord]
        do throws(FrameBatchError) {
            records = try FrameBatch.decode(UnsafeRawBufferPointer(rebasing: p[offset...]), allowReservedChannels: true)
        } catch {
            return .failure(DecodeFailure(reason: "its record does not decode: \(error.message)"))
        }
        guard records.count == 1 else { return .failure(DecodeFailure(reason: "its batch holds \(records.count) records, not 1")) }
        let error = ServerErrorBody(code: code, message: message, field: field.isEmpty ? nil : field,
                                    position: position < 0 ? nil : Int(position))
        return .success(DeadLetter(refusedAt: Timestamp(nanoseconds: refusedAt), status: status, sequence: sequence,
                                   error: error, record: records[0]))
    }

    struct DecodeFailure: Error { var reason: String }

    /// What a scan of the whole file found.
    struct Scan {
        /// Valid entries and their byte ranges (frame included), in file order.
        var entries: [(letter: DeadLetter, range: Range<Int>)] = []
        /// Damaged stretches and undecodable entries.
        var problems: [SpoolError] = []
        /// Where a torn tail starts (no valid frame after it), if there is one.
        var tornTail: Int?
    }

    /// Whether a frame that passes its checks starts at `o`; its end if so.
    static func frame(at o: Int, in bytes: UnsafeRawBufferPointer) -> Int? {
        guard bytes.count - o >= 8 else { return nil }
        let length = Int(bytes.u32(at: o))
        guard (minimumPayload...maximumPayload).contains(length), o + 8 + length <= bytes.count else { return nil }
        let crc = spoolCRC(UnsafeRawBufferPointer(rebasing: bytes[(o + 8)..<(o + 8 + length)]),
                           continuing: spoolCRC(UnsafeRawBufferPointer(rebasing: bytes[o..<(o + 4)])))
        return crc == bytes.u32(at: o + 4) ? o + 8 + length : nil
    }

    /// Walks the entries after the header, resyncing byte by byte past damage.
    static func scan(_ file: [UInt8]) -> Scan {
        var result = Scan()
        file.withUnsafeBytes { bytes in
            var o = SpoolFileHeader.size
            while o < bytes.count {
                if let end = frame(at: o, in: bytes) {
                    switch decode(UnsafeRawBufferPointer(rebasing: bytes[(o + 8)..<end])) {
                    case .success(let letter): result.entries.append((letter, o..<end))
                    case .failure(let failure):
                        result.problems.append(SpoolError(.corrupt, "undecodable entry in \(fileName) at offset \(o): \(failure.reason)",
                                                          file: fileName, offset: o))
                    }
                    o = end
                    continue
                }
                var reason = "CRC mismatch"
                if bytes.count - o < 8 { reason = "bad length (\(bytes.count - o) bytes left)" } else {
                    let length = Int(bytes.u32(at: o))
                    if !(minimumPayload...maximumPayload).contains(length) || o + 8 + length > bytes.count { reason = "bad length \(length)" }
                }
                var p = o + 1
                while p < bytes.count, frame(at: p, in: bytes) == nil { p += 1 }
                if p >= bytes.count {
                    result.tornTail = o
                    return
                }
                result.problems.append(SpoolError(.corrupt, "\(reason) in \(fileName) at offset \(o) (\(p - o) bytes skipped)",
                                                  file: fileName, offset: o))
                o = p
            }
        }
        return result
    }
}

/// The dead-letter file of a spool directory, opened for appending by the forwarder.
///
/// Opened lazily; an append is fsynced before it returns, so that the caller may then move
/// the spool cursor past the record. After a failed write or fsync every later append fails
/// until the gateway restarts (fail-stop: the record stays in the spool).
actor DeadLetterFile {
    let directory: String
    private let logger: Logger
    private var file: SpoolFile?
    private var size = 0
    private var failure: SpoolError?
    /// Entries in the file (counted at open, plus appends).
    private(set) var count = 0
    /// Damaged stretches and undecodable entries found at open.
    private(set) var corruptEntries = 0

    init(directory: String, logger: Logger) {
        self.directory = directory
        self.logger = logger
    }

    nonisolated var path: String { directory + "/" + DeadLetterFormat.fileName }

    /// Opens (creating, truncating a torn tail, setting aside a bad header) unless already open.
    func open() throws(SpoolError) {
        if file != nil { return }
        if let failure { throw failure }
        let name = DeadLetterFormat.fileName
        try DeadLetterIO.remove(path + ".tmp", name: name + ".tmp")
        if DeadLetterIO.exists(path) {
            let bytes = try DeadLetterIO.readAll(path, name: name)
            if bytes.count < SpoolFileHeader.size {
                // Killed while creating it: nothing was ever appended (an append follows a durable header).
                try DeadLetterIO.create(path, name: name, contents: DeadLetterFormat.header(), directory: directory, replacing: true)
            } else if case .failure(let problem) = SpoolFileHeader.decode(bytes, magic: DeadLetterFormat.magic) {
                let aside = path + ".corrupt"
                try DeadLetterIO.rename(path, aside, name: name)
                logger.error("edge.dead_letter_corrupt", metadata: ["file": "\(aside)", "error": "\(problem.message(name))"])
                corruptEntries += 1
                try DeadLetterIO.create(path, name: name, contents: DeadLetterFormat.header(), directory: directory, replacing: false)
            } else {
                let scan = DeadLetterFormat.scan(bytes)
                count = scan.entries.count
                corruptEntries += scan.problems.count
                for problem in scan.problems { logger.error("edge.dead_letter_corrupt_entry", metadata: ["error": "\(problem.message)"]) }
                if let torn = scan.tornTail {
                    try DeadLetterIO.truncate(path, name: name, to: torn)
                    logger.notice("edge.dead_letter_torn_tail", metadata: ["file": "\(path)", "offset": "\(torn)", "bytes": "\(bytes.count - torn)"])
                }
            }
        } else {
            try DeadLetterIO.create(path, name: name, contents: DeadLetterFormat.header(), directory: directory, replacing: false)
        }
        let opened = try SpoolFile.open(path, name: name)
        size = try opened.size()
        file = opened
    }

    /// Appends `letter` and fsyncs it. When this returns, the entry is durable.
    func append(_ letter: DeadLetter) throws(SpoolError) {
        try open()
        guard let file else { throw SpoolError(.io, "the dead-letter file is not open") }
        let entry = DeadLetterFormat.encode(letter)
        do throws(SpoolError) {
            try file.write(entry, at: size)
        } catch {
            try? file.truncate(to: size)
            throw error
        }
        do throws(SpoolError) {
            try file.sync()
        } catch {
            // What the kernel kept of the failed pages is unknown: refuse from now on.
            failure = SpoolError(.io, "an earlier fsync of \(DeadLetterFormat.fileName) failed (\(error.message)); restart the gateway",
                                 file: DeadLetterFormat.fileName)
            self.file = nil
            file.close()
            throw error
        }
        size += entry.count
        count += 1
    }

    func close() {
        file?.close()
        file = nil
    }
}

/// Reading and rewriting the dead-letter file of a spool directory from the command line.
enum DeadLetterStore {
    /// Every entry of the file at `directory`/dead-letters, with what the scan found. A missing
    /// file is empty; a bad header throws.
    static func read(directory: String) throws(SpoolError) -> (bytes: [UInt8], scan: DeadLetterFormat.Scan) {
        let path = directory + "/" + DeadLetterFormat.fileName
        guard DeadLetterIO.exists(path) else { return ([], DeadLetterFormat.Scan()) }
        let bytes = try DeadLetterIO.readAll(path, name: DeadLetterFormat.fileName)
        if case .failure(let problem) = SpoolFileHeader.decode(bytes, magic: DeadLetterFormat.magic) {
            throw SpoolError(problem.isOtherFormat ? .unsupportedFormat : .corrupt, problem.message("\(path)"), file: DeadLetterFormat.fileName)
        }
        return (bytes, DeadLetterFormat.scan(bytes))
    }

    /// Replaces the file with the header and the entries at `keep` (byte ranges of `bytes`):
    /// temporary file, fsync, rename, directory fsync. With `saveOriginal` the old bytes are
    /// first written to `dead-letters.<unix seconds>.damaged`.
    static func rewrite(directory: String, bytes: [UInt8], keep: [Range<Int>], saveOriginal: Bool, now: Timestamp) throws(SpoolError) {
        let path = directory + "/" + DeadLetterFormat.fileName
        if saveOriginal {
            let backup = path + ".\(now.nanoseconds / 1_000_000_000).damaged"
            try DeadLetterIO.create(backup, name: DeadLetterFormat.fileName + ".damaged", contents: bytes, directory: directory, replacing: true)
        }
        var contents = DeadLetterFormat.header()
        for range in keep { contents += bytes[range] }
        try DeadLetterIO.create(path + ".tmp", name: DeadLetterFormat.fileName + ".tmp", contents: contents, directory: nil, replacing: true)
        try DeadLetterIO.rename(path + ".tmp", path, name: DeadLetterFormat.fileName)
        try DeadLetterIO.syncDirectory(directory)
    }

    /// Takes the spool directory's `LOCK` (held by a running gateway); nil if someone holds it.
    static func lock(directory: String) throws(SpoolError) -> SpoolFile? {
        let lock = try SpoolFile.open(directory + "/LOCK", name: "LOCK", creating: .ifMissing)
        return try lock.lockExclusive() ? lock : nil
    }
}

// MARK: File I/O (the only file system calls of the dead-letter file; they go through the spool's helpers)

enum DeadLetterIO {
    static func exists(_ path: String) -> Bool { SpoolFileSystem.exists(path) }

    static func remove(_ path: String, name: String) throws(SpoolError) { try SpoolFileSystem.remove(path, name: name) }

    static func rename(_ from: String, _ to: String, name: String) throws(SpoolError) { try SpoolFileSystem.rename(from, to, name: name) }

    static func syncDirectory(_ path: String) throws(SpoolError) { try SpoolFileSystem.syncDirectory(path) }

    static func readAll(_ path: String, name: String) throws(SpoolError) -> [UInt8] {
        let file = try SpoolFile.open(path, name: name)
        defer { file.close() }
        return try file.read(at: 0, count: try file.size())
    }

    static func truncate(_ path: String, name: String, to size: Int) throws(SpoolError) {
        let file = try SpoolFile.open(path, name: name)
        defer { file.close() }
        try file.truncate(to: size)
        try file.sync()
    }

    /// Writes `contents` to a new file at `path` and fsyncs it; then fsyncs `directory` if given.
    static func create(_ path: String, name: String, contents: [UInt8], directory: String?, replacing: Bool) throws(SpoolError) {
        let file = try SpoolFile.open(path, name: name, creating: replacing ? .truncating : .exclusive)
        defer { file.close() }
        try file.write(contents, at: 0)
        try file.sync()
        if let directory { try SpoolFileSystem.syncDirectory(directory) }
    }
}
