package import DurableFiles

/// What a full spool does with new records.
///
/// The spool is full when the segment files would grow past
/// ``SpoolConfiguration/maximumBytes``. The raw values are the spellings of the command-line
/// option (`--spool-when-full reject|drop-oldest`).
///
/// ```swift
/// let policy = SpoolFullPolicy(rawValue: "drop-oldest")   // .dropOldest
/// ```
public enum SpoolFullPolicy: String, Sendable, CaseIterable {
    /// Refuse the new records (`append` throws ``SpoolError/Code/full``) and keep the old ones.
    case reject
    /// Delete the oldest segments, whole, until the new records fit; their unacknowledged
    /// records are counted as dropped.
    case dropOldest = "drop-oldest"
}

/// Where the spool lives and how much it may hold.
///
/// Only `directory` is required; the defaults suit a gateway that forwards a few printers with
/// thermal cameras. Values below zero count as zero. See `Storage/Format/spool.md`.
///
/// ```swift
/// var configuration = SpoolConfiguration(directory: "/var/lib/sinter-edge/spool")
/// configuration.maximumBytes = 4 << 30
/// configuration.whenFull = .dropOldest
/// ```
public struct SpoolConfiguration: Sendable {
    /// The spool directory; it is created, with its parents, if it is missing.
    public var directory: String
    /// The bound on the bytes of all segment files together (default 1 GiB).
    public var maximumBytes: Int = 1 << 30
    /// A new segment file starts once the current one holds this many bytes (default 32 MiB).
    public var segmentBytes: Int = 32 << 20
    /// What happens when an append does not fit under `maximumBytes` (default `.reject`).
    public var whenFull: SpoolFullPolicy = .reject
    /// How many bytes of the most recently appended records (as encoded on disk) are also kept
    /// decoded in memory, so that `peek` rarely reads the disk (default 64 MiB; 0 = none).
    public var memoryBytes: Int = 64 << 20
    /// The active segment is fsynced at most this long after an append (default 1 s). Zero
    /// fsyncs only when a segment is finished and at close; data written is still safe from a
    /// killed process, but not from a power loss.
    public var syncInterval: Duration = .seconds(1)
    /// The file system the spool's files live on: the real one, or (in tests) a
    /// fault-injecting one that simulates power cuts and I/O errors.
    package var fileSystem: any DurableFileSystem = PosixFileSystem()

    /// A configuration with every default and the given directory.
    ///
    /// Set the other properties afterwards.
    ///
    /// ```swift
    /// let spool = try Spool(configuration: SpoolConfiguration(directory: path), logger: logger)
    /// ```
    public init(directory: String) {
        self.directory = directory
    }
}
