// Thin, throwing wrappers over the POSIX calls the spool uses, and little-endian byte helpers.
import CRC32C
import DurableFiles

/// An open file of the spool, through the shared durable-file layer (Sources/DurableFiles);
/// closed by ``close()`` or when the last reference goes.
final class SpoolFile {
    let file: any DurableFile
    /// The name relative to the spool directory, for messages.
    let name: String

    private init(file: any DurableFile, name: String) {
        self.file = file
        self.name = name
    }

    /// How ``open(_:name:creating:fileSystem:)`` treats a missing or existing file.
    enum Creation {
        /// The file must exist.
        case no
        /// Created if missing (`O_CREAT`).
        case ifMissing
        /// Created; it must not exist (`O_CREAT | O_EXCL`).
        case exclusive
        /// Created if missing, emptied if not (`O_CREAT | O_TRUNC`).
        case truncating
    }

    /// Opens `path` read-write.
    static func open(_ path: String, name: String, creating: Creation = .no,
                     fileSystem: any DurableFileSystem = PosixFileSystem()) throws(SpoolError) -> SpoolFile {
        let mode: OpenMode = switch creating {
        case .no: .existing
        case .ifMissing: .createIfMissing
        case .exclusive: .createExclusive
        case .truncating: .truncate
        }
        do throws(FileError) {
            return SpoolFile(file: try fileSystem.open(path, mode: mode), name: name)
        } catch {
            throw SpoolError.file(error, name)
        }
    }

    func close() { file.close() }

    func size() throws(SpoolError) -> Int {
        do throws(FileError) { return Int(try file.size()) } catch { throw SpoolError.file(error, name) }
    }

    /// Reads up to `count` bytes at `offset`; fewer only at the end of the file.
    func read(at offset: Int, count: Int) throws(SpoolError) -> [UInt8] {
        do throws(FileError) {
            return try file.read(at: Int64(offset), count: count)
        } catch {
            throw SpoolError.file(error, name, offset: offset)
        }
    }

    /// Writes all of `bytes` at `offset`.
    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws(SpoolError) {
        do throws(FileError) { try file.write(bytes, at: Int64(offset)) } catch { throw SpoolError.file(error, name, offset: offset) }
    }

    func write(_ bytes: [UInt8], at offset: Int) throws(SpoolError) {
        try write(bytes, range: bytes.indices, at: offset)
    }

    /// Writes `bytes[range]` at `offset`, without copying them.
    func write(_ bytes: [UInt8], range: Range<Int>, at offset: Int) throws(SpoolError) {
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(SpoolError) in try write(UnsafeRawBufferPointer(rebasing: raw[range]), at: offset) }
        }
        try result.get()
    }

    /// `fdatasync` (Linux) or `fsync` (Darwin).
    func sync() throws(SpoolError) {
        do throws(FileError) { try file.sync() } catch { throw SpoolError.file(error, name) }
    }

    func truncate(to size: Int) throws(SpoolError) {
        do throws(FileError) { try file.truncate(to: Int64(size)) } catch { throw SpoolError.file(error, name, offset: size) }
    }

    /// Takes an exclusive advisory lock without waiting; `false` if someone else holds it.
    func lockExclusive() throws(SpoolError) -> Bool {
        do throws(FileError) { return try file.tryLock() } catch { throw SpoolError.file(error, name) }
    }
}

/// Directory operations of the spool, through the shared durable-file layer.
enum SpoolFileSystem {
    /// Creates `path` and its parents (the parents of new directories fsynced).
    static func makeDirectories(_ path: String, fileSystem: any DurableFileSystem = PosixFileSystem()) throws(SpoolError) {
        do throws(FileError) { try fileSystem.makeDirectories(path) } catch { throw SpoolError.file(error, error.path) }
    }

    static func list(_ path: String, fileSystem: any DurableFileSystem = PosixFileSystem()) throws(SpoolError) -> [String] {
        do throws(FileError) { return try fileSystem.list(path) } catch { throw SpoolError.file(error, path) }
    }

    static func exists(_ path: String, fileSystem: any DurableFileSystem = PosixFileSystem()) -> Bool { fileSystem.exists(path) }

    /// Deletes `path`; a missing file is not an error.
    static func remove(_ path: String, name: String, fileSystem: any DurableFileSystem = PosixFileSystem()) throws(SpoolError) {
        do throws(FileError) { try fileSystem.remove(path) } catch { throw SpoolError.file(error, name) }
    }

    static func rename(_ from: String, _ to: String, name: String, fileSystem: any DurableFileSystem = PosixFileSystem()) throws(SpoolError) {
        do throws(FileError) { try fileSystem.rename(from, to: to) } catch { throw SpoolError.file(error, name) }
    }

    /// fsyncs a directory so that creations, renames and deletions in it are durable.
    static func syncDirectory(_ path: String, fileSystem: any DurableFileSystem = PosixFileSystem()) throws(SpoolError) {
        do throws(FileError) { try fileSystem.syncDirectory(path) } catch { throw SpoolError.file(error, path) }
    }
}

extension SpoolError {
    /// An `.io` error for a failed file-system call on `name`, with errno's text.
    static func file(_ error: FileError, _ name: String, offset: Int? = nil) -> SpoolError {
        SpoolError(.io, "\(error.callName) failed for \(name): \(error.reason)", file: name, offset: offset)
    }
}

// MARK: Bytes

/// CRC-32C of `bytes`, continuing `crc` (0 for a fresh checksum).
func spoolCRC(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
    guard let base = bytes.baseAddress, bytes.count > 0 else { return crc }
    return sinter_crc32c_extend(crc, base, bytes.count)
}

extension UnsafeRawBufferPointer {
    /// The little-endian `u32` at `offset`; the caller checks the bounds.
    func u32(at offset: Int) -> UInt32 { UInt32(littleEndian: loadUnaligned(fromByteOffset: offset, as: UInt32.self)) }
    /// The little-endian `u16` at `offset`; the caller checks the bounds.
    func u16(at offset: Int) -> UInt16 { UInt16(littleEndian: loadUnaligned(fromByteOffset: offset, as: UInt16.self)) }
    /// The little-endian `u64` at `offset`; the caller checks the bounds.
    func u64(at offset: Int) -> UInt64 { UInt64(littleEndian: loadUnaligned(fromByteOffset: offset, as: UInt64.self)) }
}

extension Array where Element == UInt8 {
    mutating func appendLittleEndian(_ value: UInt16) { Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) } }
    mutating func appendLittleEndian(_ value: UInt32) { Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) } }
    mutating func appendLittleEndian(_ value: UInt64) { Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) } }
}
