// The error every durable-file operation throws: which call, on which file, and errno.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A failed file-system call: the operation, the file (as its owner names it) and errno.
///
/// The owners of the files (the store, the alert log, the spool) wrap it in their own error
/// type; ``isNoSpace`` tells the one failure a writer may recover from in place (the disk is
/// full, nothing was half-written once the writer has cut its file back).
///
/// ```swift
/// do { try file.sync() }
/// catch { print(error.message) }   // "fdatasync failed for wal/000000000003.wal: Input/output error (errno 5)"
/// ```
public struct FileError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The system call that failed.
    public enum Operation: String, Sendable, CaseIterable {
        case open, read, write, sync, truncate, rename, remove, makeDirectory, list, syncDirectory, lock, stat
    }

    /// The failed call.
    public var operation: Operation
    /// The file or directory, as named to ``DurableFileSystem`` (or the owner's short name).
    public var path: String
    /// The C `errno` (`EIO` = 5, `ENOSPC` = 28, …).
    public var errno: Int32

    public init(_ operation: Operation, path: String, errno: Int32) {
        self.operation = operation
        self.path = path
        self.errno = errno
    }

    /// The name of the system call, as a person reading a log would look it up.
    public var callName: String {
        switch operation {
        case .open: "open"
        case .read: "pread"
        case .write: "pwrite"
        #if canImport(Darwin)
        case .sync: "fsync"
        #else
        case .sync: "fdatasync"
        #endif
        case .truncate: "ftruncate"
        case .rename: "rename"
        case .remove: "unlink"
        case .makeDirectory: "mkdir"
        case .list: "opendir"
        case .syncDirectory: "fsync directory"
        case .lock: "flock"
        case .stat: "fstat"
        }
    }

    /// The disk (or the quota) is full.
    public var isNoSpace: Bool {
        #if canImport(Darwin)
        errno == ENOSPC || errno == EDQUOT
        #else
        errno == ENOSPC || errno == EDQUOT
        #endif
    }

    /// "No space left on device (errno 28)".
    public var reason: String { "\(String(cString: strerror(errno))) (errno \(errno))" }

    /// "pwrite failed for wal/000000000003.wal: No space left on device (errno 28)".
    public var message: String { "\(callName) failed for \(path): \(reason)" }

    public var description: String { message }
}
