// The store's files through the shared durable-file layer (Sources/DurableFiles): the same
// calls, with errors as StorageError naming the file relative to the store directory.
import DurableFiles

/// An open file of the store, closed when the last reference goes away.
///
/// Readers keep a reference while they read, so that retention can drop a segment while a
/// query is still reading it: the descriptor (and the unlinked inode) live until the query ends.
final class FileHandle: @unchecked Sendable {
    let file: any DurableFile
    /// The path relative to the store directory, for messages.
    let name: String

    init(file: any DurableFile, name: String) {
        self.file = file
        self.name = name
    }

    var size: Int64 {
        get throws {
            do { return try file.size() } catch { throw StorageError.file(error, name) }
        }
    }

    /// Reads exactly `count` bytes at `offset`, or throws if the file is shorter.
    func read(at offset: Int64, count: Int) throws -> [UInt8] {
        let bytes: [UInt8]
        do { bytes = try file.read(at: offset, count: count) } catch { throw StorageError.file(error, name) }
        guard bytes.count == count else {
            throw StorageError(.corruptBlock, "file \(name) ends at \(offset + Int64(bytes.count)) but \(count) bytes were expected at offset \(offset)",
                               file: name, offset: offset)
        }
        return bytes
    }

    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws {
        do { try file.write(bytes, at: offset) } catch { throw StorageError.file(error, name, offset: offset) }
    }

    func write(_ bytes: [UInt8], at offset: Int64) throws {
        try bytes.withUnsafeBytes { (raw) in try write(raw, at: offset) }
    }

    func sync() throws {
        do { try file.sync() } catch { throw StorageError.file(error, name) }
    }

    func truncate(to size: Int64) throws {
        do { try file.truncate(to: size) } catch { throw StorageError.file(error, name, offset: size) }
    }

    /// Takes an exclusive advisory lock without waiting.
    func lockExclusive() -> Bool { (try? file.tryLock()) ?? false }

    func unlock() { file.unlock() }
}

/// The directory operations of the store on its file system (``StoreConfiguration/fileSystem``).
struct StoreFiles: Sendable {
    let fs: any DurableFileSystem

    init(_ fs: any DurableFileSystem) { self.fs = fs }

    func open(_ path: String, name: String, create: Bool, readOnly: Bool = false) throws -> FileHandle {
        let mode: OpenMode = readOnly ? .readOnly : (create ? .createIfMissing : .existing)
        do { return FileHandle(file: try fs.open(path, mode: mode), name: name) } catch { throw StorageError.file(error, name) }
    }

    func exists(_ path: String) -> Bool { fs.exists(path) }

    func isDirectory(_ path: String) -> Bool { fs.isDirectory(path) }

    func makeDirectory(_ path: String) throws {
        do { try fs.makeDirectory(path) } catch { throw StorageError.file(error, path) }
    }

    /// Creates `path` and its parents, fsyncing the parents whose entries changed.
    func makeDirectories(_ path: String) throws {
        do { try fs.makeDirectories(path) } catch { throw StorageError.file(error, error.path) }
    }

    func list(_ path: String) throws -> [String] {
        do { return try fs.list(path) } catch { throw StorageError.file(error, path) }
    }

    func remove(_ path: String) throws {
        do { try fs.remove(path) } catch { throw StorageError.file(error, path) }
    }

    func rename(_ from: String, _ to: String) throws {
        do { try fs.rename(from, to: to) } catch { throw StorageError.file(error, to) }
    }

    /// fsyncs a directory so that creations, renames and deletions in it are durable.
    func syncDirectory(_ path: String) throws {
        do { try fs.syncDirectory(path) } catch { throw StorageError.file(error, path) }
    }

    func readFile(_ path: String, name: String) throws -> [UInt8] {
        let handle = try open(path, name: name, create: false, readOnly: true)
        return try handle.read(at: 0, count: Int(try handle.size))
    }

    /// Writes `bytes` as `directory/name` so that it appears whole or not at all (temporary file,
    /// fsync, rename, directory fsync: ``DurableFileSystem/replaceFile(_:with:temporary:)``).
    func replaceFile(_ name: String, in directory: String, with bytes: [UInt8], temporary: String) throws {
        do {
            try fs.replaceFile(directory + "/" + name, with: bytes, temporary: directory + "/" + temporary)
        } catch {
            throw StorageError.file(error, error.path.hasPrefix(directory + "/") ? String(error.path.dropFirst(directory.count + 1)) : error.path)
        }
    }

    /// Total bytes of the regular files in `path` (not recursive).
    func directorySize(_ path: String) -> Int64 { fs.directorySize(path) }
}

extension StorageError {
    /// A failed file-system call on `name`: `.noSpace` when the disk is full, else `.io`; the
    /// message names the call, the file and errno's text.
    static func file(_ error: FileError, _ name: String, offset: Int64? = nil) -> StorageError {
        StorageError(error.isNoSpace ? .noSpace : .io,
                     "\(error.callName) failed for \(name): \(error.reason)",
                     file: name, offset: offset, cause: error)
    }
}
