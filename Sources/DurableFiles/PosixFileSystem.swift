// The real file system: thin, throwing wrappers over the POSIX calls.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The operating system's file system (POSIX calls, `EINTR` retried).
///
/// ```swift
/// let fs = PosixFileSystem()
/// try fs.makeDirectories("/var/lib/sinter/data")
/// ```
public struct PosixFileSystem: DurableFileSystem {
    public init() {}

    public func open(_ path: String, mode: OpenMode) throws(FileError) -> any DurableFile {
        try PosixFile.open(path, mode: mode)
    }

    public func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    public func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    public func makeDirectory(_ path: String) throws(FileError) {
        if mkdir(path, 0o755) != 0 {
            let code = currentErrno()
            if code == EEXIST && isDirectory(path) { return }
            throw FileError(.makeDirectory, path: path, errno: code)
        }
    }

    public func list(_ path: String) throws(FileError) -> [String] {
        guard let dir = opendir(path) else { throw FileError(.list, path: path, errno: currentErrno()) }
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

    public func remove(_ path: String) throws(FileError) {
        if unlink(path) != 0 {
            let code = currentErrno()
            if code != ENOENT { throw FileError(.remove, path: path, errno: code) }
        }
    }

    public func rename(_ from: String, to: String) throws(FileError) {
        guard systemRename(from, to) == 0 else { throw FileError(.rename, path: to, errno: currentErrno()) }
    }

    public func syncDirectory(_ path: String) throws(FileError) {
        let fd = systemOpen(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0)
        guard fd >= 0 else { throw FileError(.syncDirectory, path: path, errno: currentErrno()) }
        defer { _ = systemClose(fd) }
        guard fsync(fd) == 0 else { throw FileError(.syncDirectory, path: path, errno: currentErrno()) }
    }

    public func fileSize(_ path: String) -> Int64? {
        var st = stat()
        guard stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
        return Int64(st.st_size)
    }
}

/// A POSIX file descriptor.
final class PosixFile: DurableFile, @unchecked Sendable {
    // `fd` is written only by `close()`, which owners call once no one else uses the file.
    private var fd: Int32
    let path: String

    private init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
    }

    deinit { if fd >= 0 { _ = systemClose(fd) } }

    static func open(_ path: String, mode: OpenMode) throws(FileError) -> PosixFile {
        let flags: Int32 = switch mode {
        case .readOnly: O_RDONLY
        case .existing: O_RDWR
        case .createIfMissing: O_RDWR | O_CREAT
        case .createExclusive: O_RDWR | O_CREAT | O_EXCL
        case .truncate: O_RDWR | O_CREAT | O_TRUNC
        }
        let fd = systemOpen(path, flags | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw FileError(.open, path: path, errno: currentErrno()) }
        return PosixFile(fd: fd, path: path)
    }

    func size() throws(FileError) -> Int64 {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw FileError(.stat, path: path, errno: currentErrno()) }
        return Int64(st.st_size)
    }

    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws(FileError) -> Int {
        guard let base = buffer.baseAddress else { return 0 }
        var done = 0
        while done < buffer.count {
            let n = pread(fd, base + done, buffer.count - done, off_t(offset) + off_t(done))
            if n < 0 {
                let code = currentErrno()
                if code == EINTR { continue }
                throw FileError(.read, path: path, errno: code)
            }
            if n == 0 { break }
            done += n
        }
        return done
    }

    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws(FileError) {
        guard let base = bytes.baseAddress else { return }
        var done = 0
        while done < bytes.count {
            let n = pwrite(fd, base + done, bytes.count - done, off_t(offset) + off_t(done))
            if n < 0 {
                let code = currentErrno()
                if code == EINTR { continue }
                throw FileError(.write, path: path, errno: code)
            }
            done += n
        }
    }

    func sync() throws(FileError) {
        #if canImport(Darwin)
        guard fsync(fd) == 0 else { throw FileError(.sync, path: path, errno: currentErrno()) }
        #else
        guard fdatasync(fd) == 0 else { throw FileError(.sync, path: path, errno: currentErrno()) }
        #endif
    }

    func truncate(to size: Int64) throws(FileError) {
        guard ftruncate(fd, off_t(size)) == 0 else { throw FileError(.truncate, path: path, errno: currentErrno()) }
    }

    func tryLock() throws(FileError) -> Bool {
        if flock(fd, LOCK_EX | LOCK_NB) == 0 { return true }
        let code = currentErrno()
        if code == EWOULDBLOCK { return false }
        throw FileError(.lock, path: path, errno: code)
    }

    func unlock() { _ = flock(fd, LOCK_UN) }

    func duplicate() throws(FileError) -> any DurableFile {
        let copy = dup(fd)
        guard copy >= 0 else { throw FileError(.open, path: path, errno: currentErrno()) }
        return PosixFile(fd: copy, path: path)
    }

    func close() {
        guard fd >= 0 else { return }
        _ = systemClose(fd)
        fd = -1
    }
}

func currentErrno() -> Int32 { errno }

func systemOpen(_ path: String, _ flags: Int32, _ mode: mode_t) -> Int32 {
    #if canImport(Glibc)
    Glibc.open(path, flags, mode)
    #elseif canImport(Musl)
    Musl.open(path, flags, mode)
    #else
    Darwin.open(path, flags, mode)
    #endif
}

func systemClose(_ fd: Int32) -> Int32 {
    #if canImport(Glibc)
    Glibc.close(fd)
    #elseif canImport(Musl)
    Musl.close(fd)
    #else
    Darwin.close(fd)
    #endif
}

func systemRename(_ from: String, _ to: String) -> Int32 {
    #if canImport(Glibc)
    Glibc.rename(from, to)
    #elseif canImport(Musl)
    Musl.rename(from, to)
    #else
    Darwin.rename(from, to)
    #endif
}
