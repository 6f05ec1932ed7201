// Codec baselines: frames in append-only files, compressed with plain LZ4 or byte-shuffle + LZ4.
import CLZ4Baseline
import Foundation
import TelemetryModel
#if canImport(Glibc)
import Glibc
#endif

/// One file per machine of `[u32 payload bytes][i64 timestamp ns][f32 power][f32 vibration][payload]`
/// records, each frame compressed on its own by LZ4 (`LZ4_compress_default`), optionally after
/// splitting its Float32 values into four byte planes ("byte shuffle"). Every batch is one write
/// per machine and an fdatasync per file touched. The index (timestamp → offset) lives in memory:
/// the baseline measures the codec and the file system, not a query engine, so it answers the
/// latest and range queries and not the aggregates. The runner never calls it concurrently.
final class LZ4Files: ComparedStore, @unchecked Sendable {
    struct Entry { var timestamp: Int64; var offset: Int64; var length: Int }

    let directory: String
    let shuffle: Bool
    let writers = 1
    private var files: [String: (fd: Int32, size: Int64, index: [Entry])] = [:]

    static let headerSize = 20

    init(directory: String, shuffle: Bool) throws {
        try? FileManager.default.removeItem(atPath: directory)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        self.directory = directory
        self.shuffle = shuffle
    }

    /// Compresses one frame (after the byte shuffle if asked).
    func compress(_ values: [Float]) -> [UInt8] {
        let n = values.count
        var input = [UInt8](repeating: 0, count: n * 4)
        if shuffle {
            values.withUnsafeBufferPointer { v in
                input.withUnsafeMutableBufferPointer { out in
                    for i in 0..<n {
                        let bits = v[i].bitPattern
                        out[i] = UInt8(truncatingIfNeeded: bits)
                        out[n + i] = UInt8(truncatingIfNeeded: bits >> 8)
                        out[2 * n + i] = UInt8(truncatingIfNeeded: bits >> 16)
                        out[3 * n + i] = UInt8(truncatingIfNeeded: bits >> 24)
                    }
                }
            }
        } else {
            input.withUnsafeMutableBytes { out in values.withUnsafeBytes { out.copyMemory(from: $0) } }
        }
        let bound = Int(LZ4_compressBound(Int32(input.count)))
        return [UInt8](unsafeUninitializedCapacity: bound) { out, count in
            count = input.withUnsafeBytes { src in
                Int(LZ4_compress_default(src.baseAddress!.assumingMemoryBound(to: CChar.self), UnsafeMutableRawPointer(out.baseAddress!).assumingMemoryBound(to: CChar.self),
                                         Int32(src.count), Int32(bound)))
            }
        }
    }

    /// Decompresses one frame of `count` values.
    func decompress(_ bytes: UnsafeRawBufferPointer, count n: Int) throws -> [Float] {
        var raw = [UInt8](repeating: 0, count: n * 4)
        let got = raw.withUnsafeMutableBytes { out in
            LZ4_decompress_safe(bytes.baseAddress!.assumingMemoryBound(to: CChar.self), out.baseAddress!.assumingMemoryBound(to: CChar.self),
                                Int32(bytes.count), Int32(out.count))
        }
        guard got == n * 4 else { throw BenchFailure("lz4: corrupt frame (\(got) bytes)") }
        if !shuffle {
            return [Float](unsafeUninitializedCapacity: n) { out, c in
                raw.withUnsafeBytes { _ = memcpy(out.baseAddress!, $0.baseAddress!, n * 4) }
                c = n
            }
        }
        return [Float](unsafeUninitializedCapacity: n) { out, c in
            raw.withUnsafeBufferPointer { p in
                for i in 0..<n {
                    let bits = UInt32(p[i]) | UInt32(p[n + i]) << 8 | UInt32(p[2 * n + i]) << 16 | UInt32(p[3 * n + i]) << 24
                    out[i] = Float(bitPattern: bits)
                }
            }
            c = n
        }
    }

    private func file(_ machine: String) throws -> (fd: Int32, size: Int64, index: [Entry]) {
        if let f = files[machine] { return f }
        let fd = open(directory + "/" + machine + (shuffle ? ".shuffle-lz4" : ".lz4"), O_RDWR | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw BenchFailure("lz4: cannot create a file in \(directory): errno \(errno)") }
        let f = (fd: fd, size: Int64(0), index: [Entry]())
        files[machine] = f
        return f
    }

    func append(_ records: [TelemetryRecord], writer: Int) async throws {
        var buffers: [String: [UInt8]] = [:]
        var entries: [String: [Entry]] = [:]
        for r in records {
            guard let frame = r.frame else { throw BenchFailure("lz4: a record without a frame") }
            let id = r.machineID.rawValue
            let f = try file(id)
            let payload = compress(frame.values)
            var buffer = buffers[id] ?? []
            let offset = f.size + Int64(buffer.count)
            withUnsafeBytes(of: UInt32(payload.count).littleEndian) { buffer.append(contentsOf: $0) }
            withUnsafeBytes(of: r.timestamp.nanoseconds.littleEndian) { buffer.append(contentsOf: $0) }
            withUnsafeBytes(of: (r.channels["power_kw"] ?? .nan).bitPattern.littleEndian) { buffer.append(contentsOf: $0) }
            withUnsafeBytes(of: (r.channels["vibration_mm_s"] ?? .nan).bitPattern.littleEndian) { buffer.append(contentsOf: $0) }
            buffer.append(contentsOf: payload)
            buffers[id] = buffer
            entries[id, default: []].append(Entry(timestamp: r.timestamp.nanoseconds, offset: offset, length: Self.headerSize + payload.count))
        }
        for (id, buffer) in buffers {
            var f = try file(id)
            let written = buffer.withUnsafeBytes { pwrite(f.fd, $0.baseAddress, $0.count, off_t(f.size)) }
            guard written == buffer.count else { throw BenchFailure("lz4: short write (errno \(errno))") }
            guard fdatasync(f.fd) == 0 else { throw BenchFailure("lz4: fdatasync failed (errno \(errno))") }
            f.size += Int64(buffer.count)
            f.index += entries[id] ?? []
            files[id] = f
        }
    }

    func diskUsage() async throws -> DiskUsage {
        DiskUsage(bytes: directoryBytes(directory), what: "the files (20-byte record headers included; the in-memory index is not stored)")
    }

    private func read(_ f: (fd: Int32, size: Int64, index: [Entry]), _ e: Entry) throws -> [Float] {
        var bytes = [UInt8](repeating: 0, count: e.length)
        let got = bytes.withUnsafeMutableBytes { pread(f.fd, $0.baseAddress, e.length, off_t(e.offset)) }
        guard got == e.length else { throw BenchFailure("lz4: short read") }
        return try bytes.withUnsafeBytes { try decompress(UnsafeRawBufferPointer(rebasing: $0[Self.headerSize...]), count: 10_000) }
    }

    func latest(machine: MachineID) async throws -> Int {
        guard let f = files[machine.rawValue], let e = f.index.last else { throw BenchFailure("lz4: no record of \(machine)") }
        return try read(f, e).count
    }

    func range(machine: MachineID, from: Timestamp, limit: Int) async throws -> [Timestamp] {
        guard let f = files[machine.rawValue] else { return [] }
        // First entry at or after `from` (binary search).
        var lo = 0, hi = f.index.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if f.index[mid].timestamp < from.nanoseconds { lo = mid + 1 } else { hi = mid }
        }
        // The run of records is contiguous in the machine's file: one read, then decode each.
        let entries = f.index[lo..<min(f.index.count, lo + limit)]
        guard let first = entries.first, let last = entries.last else { return [] }
        let span = Int(last.offset - first.offset) + last.length
        var bytes = [UInt8](repeating: 0, count: span)
        let got = bytes.withUnsafeMutableBytes { pread(f.fd, $0.baseAddress, span, off_t(first.offset)) }
        guard got == span else { throw BenchFailure("lz4: short read") }
        var out: [Timestamp] = []
        try bytes.withUnsafeBytes { raw in
            for e in entries {
                let start = Int(e.offset - first.offset) + Self.headerSize
                let values = try decompress(UnsafeRawBufferPointer(rebasing: raw[start..<(Int(e.offset - first.offset) + e.length)]), count: 10_000)
                guard values.count == 10_000 else { throw BenchFailure("lz4: a frame of \(values.count) values") }
                out.append(Timestamp(nanoseconds: e.timestamp))
            }
        }
        return out
    }

    func statistics(machine: MachineID, from: Timestamp, to: Timestamp) async throws -> Aggregate? { nil }
    func series(machine: MachineID, from: Timestamp, to: Timestamp, stepSeconds: Int) async throws -> [Bucket]? { nil }

    func close() async throws {
        for f in files.values { Glibc.close(f.fd) }
        files = [:]
        try? FileManager.default.removeItem(atPath: directory)
    }
}
