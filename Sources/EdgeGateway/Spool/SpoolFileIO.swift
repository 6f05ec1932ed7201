// Thin, throwing wrappers over the POSIX calls the spool uses, and little-endian byte helpers.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import CRC32C

/// An open file descriptor of the spool, closed by ``close()`` or when the last reference goes.
final class SpoolFile {
    let fd: Int32
    /// The name relative to the spool directory, for messages.
    let name: String
    private var isOpen = true

    private init(fd: Int32, name: String) {
        self.fd = fd
        self.name = name
    }

    deinit { if isOpen { _ = systemClose(fd) } }

    /// How ``open(_:name:creating:)`` treats a missing or existing file.
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

    /// Opens `path` read-write (`O_CLOEXEC`).
    static func open(_ path: String, name: String, creating: Creation = .no) throws(SpoolError) -> SpoolFile {
        let extra: Int32 = switch creating {
        case .no: 0
        case .ifMissing: O_CREAT
        case .exclusive: O_CREAT | O_EXCL
        case .truncating: O_CREAT | O_TRUNC
        }
        let fd = systemOpen(path, O_RDWR | O_CLOEXEC | extra, 0o644)
        guard fd >= 0 else { throw SpoolError.errno("open", name) }
        return SpoolFile(fd: fd, name: name)
    }

    func close() {
        guard isOpen else { return }
        isOpen = false
        _ = systemClose(fd)
    }

    func size() throws(SpoolError) -> Int {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw SpoolError.errno("fstat", name) }
        return Int(st.st_size)
    }

    /// Reads up to `count` bytes at `offset`; fewer only at the end of the file.
    func read(at offset: Int, count: Int) throws(SpoolError) -> [UInt8] {
        guard count > 0 else { return [] }
        var failed = false
        let bytes = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            var done = 0
            while done < count {
                let n = pread(fd, buffer.baseAddress! + done, count - done, off_t(offset + done))
                if n < 0 {
                    if errno == EINTR { continue }
                    failed = true
                    break
                }
                if n == 0 { break }
                done += n
            }
            initialized = failed ? 0 : done
        }
        if failed { throw SpoolError.errno("pread", name, offset: offset) }
        return bytes
    }

    /// Writes all of `bytes` at `offset`.
    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws(SpoolError) {
        var done = 0
        while done < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw SpoolError.errno("pwrite", name, offset: offset + done)
            }
            done += n
        }
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
        #if canImport(Darwin)
        guard fsync(fd) == 0 else { throw SpoolError.errno("fsync", name) }
        #else
        guard fdatasync(fd) == 0 else { throw SpoolError.errno("fdatasync", name) }
        #endif
    }

    func truncate(to size: Int) throws(SpoolError) {
        guard ftruncate(fd, off_t(size)) == 0 else { throw SpoolError.errno("ftruncate", name, offset: size) }
    }

    /// Takes an exclusive advisory lock without waiting; `false` if someone else holds it.
    func lockExclusive() throws(SpoolError) -> Bool {
        if flock(fd, LOCK_EX | LOCK_NB) == 0 { return true }
        if errno == EWOULDBLOCK { return false }
        throw SpoolError.errno("flock", name)
    }
}

/// Directory operations of the spool.
enum SpoolFileSystem {
    /// Creates `path` and its parents.
    static func makeDirectories(_ path: String) throws(SpoolError) {
        var current = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            current += "/" + part
            if mkdir(current, 0o755) != 0 && errno != EEXIST { throw SpoolError.errno("mkdir", current) }
        }
    }

    static func list(_ path: String) throws(SpoolError) -> [String] {
        guard let dir = opendir(path) else { throw SpoolError.errno("opendir", path) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    /// Deletes `path`; a missing file is not an error.
    static func remove(_ path: String, name: String) throws(SpoolError) {
        if unlink(path) != 0 && errno != ENOENT { throw SpoolError.errno("unlink", name) }
    }

    static func rename(_ from: String, _ to: String, name: String) throws(SpoolError) {
        guard systemRename(from, to) == 0 else { throw SpoolError.errno("rename", name) }
    }

    /// fsyncs a directory so that creations, renames and deletions in it are durable.
    static func syncDirectory(_ path: String) throws(SpoolError) {
        let fd = systemOpen(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0)
        guard fd >= 0 else { throw SpoolError.errno("open directory", path) }
        defer { _ = systemClose(fd) }
        guard fsync(fd) == 0 else { throw SpoolError.errno("fsync directory", path) }
    }
}

extension SpoolError {
    /// An `.io` error for the failed `call` on `name`, with errno's text.
    static func errno(_ call: String, _ name: String, offset: Int? = nil) -> SpoolError {
        let code = currentErrno()
        let text = String(cString: strerror(code))
        return SpoolError(.io, "\(call) failed for \(name): \(text) (errno \(code))", file: name, offset: offset)
    }
}

private func currentErrno() -> Int32 { errno }

private func systemOpen(_ path: String, _ flags: Int32, _ mode: mode_t) -> Int32 {
    #if canImport(Glibc)
    Glibc.open(path, flags, mode)
    #elseif canImport(Musl)
    Musl.open(path, flags, mode)
    #else
    Darwin.open(path, flags, mode)
    #endif
}

private func systemClose(_ fd: Int32) -> Int32 {
    #if canImport(Glibc)
    Glibc.close(fd)
    #elseif canImport(Musl)
    Musl.close(fd)
    #else
    Darwin.close(fd)
    #endif
}

private func systemRename(_ from: String, _ to: String) -> Int32 {
    #if canImport(Glibc)
    Glibc.rename(from, to)
    #elseif canImport(Musl)
    Musl.rename(from, to)
    #else
    Darwin.rename(from, to)
    #endif
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
