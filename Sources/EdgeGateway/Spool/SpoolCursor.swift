// The cursor file: Storage/Format/spool.md#cursor.
import DurableFiles

/// `cursor`: one file header whose `number` is the acknowledged-through sequence.
enum SpoolCursor {
    enum Read {
        case missing
        case damaged(String)
        case value(UInt64)
    }

    /// Reads `cursor` in `directory`.
    static func read(directory: String, fileSystem: any DurableFileSystem) throws(SpoolError) -> Read {
        let path = SpoolFiles.path(directory, SpoolFiles.cursor)
        guard SpoolFileSystem.exists(path, fileSystem: fileSystem) else { return .missing }
        let file = try SpoolFile.open(path, name: SpoolFiles.cursor, fileSystem: fileSystem)
        defer { file.close() }
        let bytes = try file.read(at: 0, count: SpoolFileHeader.size + 1)
        switch SpoolFileHeader.decode(bytes, magic: SpoolFileHeader.cursorMagic) {
        case .success(let value): return .value(value)
        case .failure(let problem): return .damaged(problem.message("cursor"))
        }
    }

    /// Writes `value` to `cursor.tmp` and renames it over `cursor`. With `durable`, the
    /// temporary file is fsynced before the rename and the directory after it.
    static func write(_ value: UInt64, directory: String, durable: Bool, fileSystem: any DurableFileSystem) throws(SpoolError) {
        let temporary = SpoolFiles.path(directory, SpoolFiles.cursorTemporary)
        let file = try SpoolFile.open(temporary, name: SpoolFiles.cursorTemporary, creating: .truncating, fileSystem: fileSystem)
        defer { file.close() }
        try file.write(SpoolFileHeader.encode(magic: SpoolFileHeader.cursorMagic, number: value), at: 0)
        if durable { try file.sync() }
        try SpoolFileSystem.rename(temporary, SpoolFiles.path(directory, SpoolFiles.cursor), name: SpoolFiles.cursor, fileSystem: fileSystem)
        if durable { try SpoolFileSystem.syncDirectory(directory, fileSystem: fileSystem) }
    }

    /// fsyncs an existing `cursor` (before open deletes segments on the strength of it).
    static func sync(directory: String, fileSystem: any DurableFileSystem) throws(SpoolError) {
        let file = try SpoolFile.open(SpoolFiles.path(directory, SpoolFiles.cursor), name: SpoolFiles.cursor, fileSystem: fileSystem)
        defer { file.close() }
        try file.sync()
    }
}
