// The partition record that follows a segment file's header. Format: Storage/Format/segment.md.

/// Which time partition a segment holds, recorded in the segment itself so that a lost or
/// damaged manifest can be rebuilt exactly from the segment files.
struct SegmentPartition: Equatable {
    /// Where the first block of a segment starts: file header, then this record in a checksummed frame.
    static let dataStart = FileHeader.size + ChecksummedFrame.overhead + 16

    var start: Int64
    var duration: Int64

    func append(to out: inout [UInt8]) {
        var w = ByteWriter(capacity: 16)
        w.write(start)
        w.write(duration)
        ChecksummedFrame.append(w.bytes, to: &out)
    }

    /// Reads the file header and the partition record from the first ``dataStart`` bytes of a segment.
    init(decodingSegmentPrefix bytes: UnsafeRawBufferPointer, file: String) throws {
        _ = try FileHeader(decoding: bytes, expected: .segment, file: file)
        var values: [Int64] = []
        let prefix = UnsafeRawBufferPointer(rebasing: bytes[FileHeader.size..<min(bytes.count, Self.dataStart)])
        let end = try ChecksummedFrame.scan(prefix, base: FileHeader.size) { payload, _ throws in
            var r = ByteReader(payload, context: file, fileOffset: Int64(FileHeader.size + ChecksummedFrame.overhead), code: .corruptBlock)
            values = [try r.read(Int64.self), try r.read(Int64.self)]
        }
        guard end == .clean, values.count == 2, values[1] > 0 else {
            throw StorageError(.corruptBlock, "CRC mismatch in the partition record of \(file) at offset \(FileHeader.size)",
                               file: file, offset: Int64(FileHeader.size))
        }
        start = values[0]
        duration = values[1]
    }

    init(start: Int64, duration: Int64) {
        self.start = start
        self.duration = duration
    }
}
