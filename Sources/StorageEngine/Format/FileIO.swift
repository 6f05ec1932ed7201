// Thin, throwing wrappers over the POSIX calls the store uses (pread/pwrite/fsync/rename).
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An open file descriptor, closed when the last reference goes away.
///
/// Readers keep a reference while they `pread`, so that retention can drop a segment while a
/// query is still reading it: the descriptor (and the unlinked inode) live until the query ends.
final class FileHandle: @unchecked Sendable {
    let fd: Int32
    /// The path relative to the store directory, for messages.
    let name: String

    private init(fd: Int32, name: String) {
        self.fd = fd
        self.name = name
    }

    deinit { close(fd) }

    static func open(_ path: String, name: String, create: Bool, readOnly: Bool = false) throws -> FileHandle {
        var flags = readOnly ? O_RDONLY : O_RDWR
        flags |= O_CLOEXEC
        if create { flags |= O_CREAT }
        let fd = Glibc.open(path, flags, 0o644)
        guard fd >= 0 else { throw StorageError.errno("open", name) }
        return FileHandle(fd: fd, name: name)
    }

    var size: Int64 {
        get throws {
            var st = stat()
            guard fstat(fd, &st) == 0 else { throw StorageError.errno("fstat", name) }
            return Int64(st.st_size)
        }
    }

    /// Reads exactly `count` bytes at `offset`, or throws if the file is shorter.
    func read(at offset: Int64, count: Int) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        let got = out.withUnsafeMutableBytes { buffer -> Int in
            var done = 0
            while done < count {
                let n = pread(fd, buffer.baseAddress! + done, count - done, off_t(offset) + off_t(done))
                if n < 0 {
                    if errno == EINTR { continue }
                    return -1
                }
                if n == 0 { break }
                done += n
            }
            return done
        }
        guard got >= 0 else { throw StorageError.errno("pread", name) }
        guard got == count else {
            throw StorageError(.corruptBlock, "file \(name) ends at \(offset + Int64(got)) but \(count) bytes were expected at offset \(offset)",
                               file: name, offset: offset)
        }
        return out
    }

    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws {
        var done = 0
        while done < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                throw StorageError.errno("pwrite", name)
            }
            done += n
        }
    }

    func write(_ bytes: [UInt8], at offset: Int64) throws {
        try bytes.withUnsafeBytes { (raw) in try write(raw, at: offset) }
    }

    func sync() throws {
        #if canImport(Darwin)
        guard fsync(fd) == 0 else { throw StorageError.errno("fsync", name) }
        #else
        guard fdatasync(fd) == 0 else { throw StorageError.errno("fdatasync", name) }
        #endif
    }

    func truncate(to size: Int64) throws {
        guard ftruncate(fd, off_t(size)) == 0 else { throw StorageError.errno("ftruncate", name) }
    }

    /// Takes an exclusive advisory lock without waiting.
    func lockExclusive() -> Bool { flock(fd, LOCK_EX | LOCK_NB) == 0 }

    func unlock() { _ = flock(fd, LOCK_UN) }
}

enum FileSystem {
    static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    static func makeDirectory(_ path: String) throws {
        if mkdir(path, 0o755) != 0 && errno != EEXIST { throw StorageError.errno("mkdir", path) }
    }

    /// Creates `path` and its parents.
    static func makeDirectories(_ path: String) throws {
        var current = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            current += "/" + part
            try makeDirectory(current)
        }
    }

    static func list(_ path: String) throws -> [String] {
        guard let dir = opendir(path) else { throw StorageError.errno("opendir", path) }
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

    static func remove(_ path: String) throws {
        if unlink(path) != 0 && errno != ENOENT { throw StorageError.errno("unlink", path) }
    }

    static func rename(_ from: String, _ to: String) throws {
        guard Glibc.rename(from, to) == 0 else { throw StorageError.errno("rename", to) }
    }

    /// fsyncs a directory so that creations, renames and deletions in it are durable.
    static func syncDirectory(_ path: String) throws {
        let fd = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw StorageError.errno("open directory", path) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw StorageError.errno("fsync directory", path) }
    }

    static func readFile(_ path: String, name: String) throws -> [UInt8] {
        let handle = try FileHandle.open(path, name: name, create: false, readOnly: true)
        return try handle.read(at: 0, count: Int(try handle.size))
    }

    /// Total bytes of the regular files in `path` (not recursive).
    static func directorySize(_ path: String) -> Int64 {
        guard let names = try? list(path) else { return 0 }
        var total: Int64 = 0
        for name in names {
            var st = stat()
            if stat(path + "/" + name, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG { total += Int64(st.st_size) }
        }
        return total
    }
}

extension StorageError {
    static func errno(_ call: String, _ name: String) -> StorageError {
        let code = Glibc.errno
        let text = String(cString: strerror(code))
        return StorageError(.io, "\(call) failed for \(name): \(text) (errno \(code))", file: name)
    }
}
