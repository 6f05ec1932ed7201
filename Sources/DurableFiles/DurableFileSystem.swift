// The one file layer of Sinter's durable files (store, alert log, spool, dead letters):
// the calls they make, as a protocol, so that tests substitute a fault-injecting file system.

/// How ``DurableFileSystem/open(_:mode:)`` treats a missing or existing file.
public enum OpenMode: Sendable, Equatable {
    /// Read only; the file must exist.
    case readOnly
    /// Read-write; the file must exist.
    case existing
    /// Read-write, created if missing (`O_CREAT`).
    case createIfMissing
    /// Read-write, created; it must not exist (`O_CREAT | O_EXCL`).
    case createExclusive
    /// Read-write, created if missing and emptied if not (`O_CREAT | O_TRUNC`).
    case truncate
}

/// The file-system calls of a durable file's owner.
///
/// Paths are plain strings. Creating, renaming and removing change a directory, and those
/// changes are durable only after ``syncDirectory(_:)`` of it; written bytes are durable only
/// after ``DurableFile/sync()``. ``PosixFileSystem`` is the real one;
/// `FaultInjectingFileSystem` (tests) keeps what was not made durable apart, drops it at a
/// simulated power cut and fails chosen calls with `EIO`, `ENOSPC` or short writes.
///
/// ```swift
/// let fs: any DurableFileSystem = PosixFileSystem()
/// let file = try fs.open("/data/MANIFEST.tmp", mode: .truncate)
/// try file.write(bytes, at: 0)
/// try file.sync()
/// try fs.rename("/data/MANIFEST.tmp", to: "/data/MANIFEST")
/// try fs.syncDirectory("/data")
/// ```
public protocol DurableFileSystem: Sendable {
    /// Opens `path` (`O_CLOEXEC`) as `mode` says.
    func open(_ path: String, mode: OpenMode) throws(FileError) -> any DurableFile
    /// Whether `path` exists (file or directory).
    func exists(_ path: String) -> Bool
    /// Whether `path` is a directory.
    func isDirectory(_ path: String) -> Bool
    /// Creates the directory `path`; an existing directory is not an error.
    func makeDirectory(_ path: String) throws(FileError)
    /// The names in directory `path` (not `.` and `..`), sorted.
    func list(_ path: String) throws(FileError) -> [String]
    /// Deletes the file `path`; a missing file is not an error.
    func remove(_ path: String) throws(FileError)
    /// Renames `from` to `to`, replacing `to` atomically.
    func rename(_ from: String, to: String) throws(FileError)
    /// fsyncs the directory `path`, making creations, renames and removals in it durable.
    func syncDirectory(_ path: String) throws(FileError)
    /// The size of the regular file `path`, or nil if it is missing or not a regular file.
    func fileSize(_ path: String) -> Int64?
}

/// An open file of a ``DurableFileSystem``.
///
/// Reads and writes are positional (`pread`/`pwrite`) so one handle serves concurrent readers.
/// It is closed by ``close()`` or when the last reference goes.
public protocol DurableFile: AnyObject, Sendable {
    /// The path it was opened with.
    var path: String { get }
    /// The current size in bytes.
    func size() throws(FileError) -> Int64
    /// Reads up to `buffer.count` bytes at `offset`; returns how many (fewer only at the end of the file).
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws(FileError) -> Int
    /// Writes all of `bytes` at `offset` (retrying partial writes; a failure may leave a prefix written).
    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws(FileError)
    /// `fdatasync` (Linux) or `fsync` (Darwin). After a failure the state on disk is unknown:
    /// Linux reports a writeback error once, so a later "successful" sync proves nothing.
    func sync() throws(FileError)
    /// Sets the size to `size` (`ftruncate`).
    func truncate(to size: Int64) throws(FileError)
    /// Takes an exclusive advisory lock without waiting; false if another holder has it.
    func tryLock() throws(FileError) -> Bool
    /// Releases the lock.
    func unlock()
    /// A second handle on the same open file (`dup`), closed on its own: an fsync can run on
    /// it elsewhere while the owner closes or replaces the first.
    func duplicate() throws(FileError) -> any DurableFile
    /// Closes the descriptor; later calls fail with `EBADF`. Closing twice does nothing.
    func close()
}

extension DurableFile {
    /// Reads exactly `count` bytes at `offset`, or fewer if the file ends first.
    public func read(at offset: Int64, count: Int) throws(FileError) -> [UInt8] {
        guard count > 0 else { return [] }
        var failure: FileError?
        let bytes = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            do throws(FileError) {
                initialized = try read(into: UnsafeMutableRawBufferPointer(buffer), at: offset)
            } catch {
                failure = error
                initialized = 0
            }
        }
        if let failure { throw failure }
        return bytes
    }

    /// Writes `bytes` at `offset`.
    public func write(_ bytes: [UInt8], at offset: Int64) throws(FileError) {
        let result = bytes.withUnsafeBytes { raw in Result { () throws(FileError) in try write(raw, at: offset) } }
        try result.get()
    }
}

extension DurableFileSystem {
    /// Creates `path` and its missing parents, fsyncing each parent whose entries changed so
    /// that the new directories survive a power cut.
    public func makeDirectories(_ path: String) throws(FileError) {
        var current = path.hasPrefix("/") ? "" : "."
        var created: [String] = []
        for part in path.split(separator: "/") {
            let parent = current.isEmpty ? "/" : current
            current += "/" + part
            if !isDirectory(current) {
                try makeDirectory(current)
                created.append(parent)
            }
        }
        for parent in created { try syncDirectory(parent) }
    }

    /// Total bytes of the regular files in directory `path` (not recursive); 0 if it is missing.
    public func directorySize(_ path: String) -> Int64 {
        guard let names = try? list(path) else { return 0 }
        return names.reduce(0) { $0 + (fileSize(path + "/" + $1) ?? 0) }
    }

    /// The whole file `path`.
    public func readFile(_ path: String) throws(FileError) -> [UInt8] {
        let file = try open(path, mode: .readOnly)
        defer { file.close() }
        return try file.read(at: 0, count: Int(try file.size()))
    }

    /// Writes `bytes` as the file `path` so that it appears whole or not at all: to
    /// `temporary`, fsynced, renamed over `path`, and the directory fsynced.
    public func replaceFile(_ path: String, with bytes: [UInt8], temporary: String) throws(FileError) {
        let file = try open(temporary, mode: .truncate)
        defer { file.close() }
        try file.write(bytes, at: 0)
        try file.sync()
        try rename(temporary, to: path)
        try syncDirectory(Self.parent(of: path))
    }

    /// The directory part of `path` (`.` for a bare name).
    public static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}
