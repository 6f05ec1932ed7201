// A file system for tests that loses what was not made durable at a simulated power cut and
// fails chosen calls: modelled on RocksDB's FaultInjectionTestFS and SQLite's crash-test VFS.
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A ``DurableFileSystem`` over the real one that remembers what is not yet durable.
///
/// Every write and truncate keeps the bytes it replaced until the file is synced; every
/// creation, rename, removal and new directory is remembered until its directory is synced.
/// ``cutPower(tornWrites:using:)`` then puts the disk back to what a machine that lost power
/// would find: unsynced writes undone (or, with `tornWrites`, a random prefix of them kept,
/// the last one torn), unsynced directory changes undone. A failed sync models Linux after a
/// writeback error: the unsynced bytes stay lost at the next power cut even if a later sync
/// "succeeds". Faults (``Fault``) fail the n-th call at a site with an errno, optionally after
/// writing a short prefix; ``armPowerCut(atMutation:)`` kills the file system at the n-th
/// mutating call, after which every call fails with `EIO` (the process is "dead").
///
/// ```swift
/// let fs = FaultInjectingFileSystem()
/// fs.armPowerCut(atMutation: 120)
/// // … run a workload on `fs` until it fails …
/// var rng = SystemRandomNumberGenerator()
/// fs.cutPower(tornWrites: true, using: &rng)
/// // reopen on PosixFileSystem() and check what survived
/// ```
package final class FaultInjectingFileSystem: DurableFileSystem {
    /// The calls a fault can target.
    package enum Site: String, Sendable, CaseIterable {
        case write, sync, truncate, create, rename, remove, makeDirectory, syncDirectory
    }

    /// Fails the `occurrence`-th call (1-based, counted from when the fault is injected) at
    /// `site` whose path contains `pathContains`, with `errno`; `persistent` fails every later
    /// matching call too until ``clearFaults()`` (a full disk), `shortWrite` writes half of the
    /// bytes before failing.
    package struct Fault: Sendable, CustomStringConvertible {
        package var site: Site
        package var occurrence: Int
        package var errno: Int32
        package var persistent = false
        package var shortWrite = false
        package var pathContains: String? = nil
        /// Matching calls seen so far.
        var seen = 0

        package init(site: Site, occurrence: Int, errno: Int32, persistent: Bool = false, shortWrite: Bool = false,
                     pathContains: String? = nil) {
            self.site = site
            self.occurrence = occurrence
            self.errno = errno
            self.persistent = persistent
            self.shortWrite = shortWrite
            self.pathContains = pathContains
        }

        package var description: String {
            "\(site) #\(occurrence) errno \(errno)\(persistent ? " persistent" : "")\(shortWrite ? " short" : "")"
        }
    }

    /// One remembered change to a file's bytes: what `offset..<offset+old.count` held and the
    /// size before, and the bytes written (for torn writes).
    struct Undo {
        var offset: Int64
        var old: [UInt8]
        var oldSize: Int64
        var new: [UInt8]
    }

    /// The not-yet-durable state of one file (follows it through renames).
    final class Track: @unchecked Sendable {
        var path: String
        var undo: [Undo] = []
        /// Changes a failed sync left behind: lost at a power cut whatever happens later.
        var poisoned: [Undo] = []
        init(path: String) { self.path = path }
    }

    /// A directory change not yet made durable.
    enum DirectoryChange {
        case created(String)
        case madeDirectory(String)
        case renamed(from: String, to: String, replaced: [UInt8]?)
        case removed(String, content: [UInt8])

        var directory: String {
            switch self {
            case .created(let p), .madeDirectory(let p), .removed(let p, _): PosixFileSystem.parent(of: p)
            case .renamed(_, let to, _): PosixFileSystem.parent(of: to)
            }
        }
    }

    struct State {
        var counts: [Site: Int] = [:]
        var mutations = 0
        var faults: [Fault] = []
        var powerCutAt: Int?
        var dead = false
        var tracks: [String: Track] = [:]
        var changes: [(change: DirectoryChange, poisoned: Bool)] = []
        var injected: [String] = []
    }

    let base = PosixFileSystem()
    let state = Mutex(State())
    /// Whether syncs reach the real disk too (off: durability is simulated, and tests run fast).
    let realSyncs: Bool

    /// A fault-free file system; `realSyncs` passes syncs on to the disk as well.
    package init(realSyncs: Bool = false) { self.realSyncs = realSyncs }

    // MARK: Control

    /// Adds a fault.
    package func inject(_ fault: Fault) { state.withLock { $0.faults.append(fault) } }

    /// Removes every fault ("space is back").
    package func clearFaults() { state.withLock { $0.faults.removeAll() } }

    /// Kills the file system at the `n`-th mutating call (1-based): that call and every later one fail with `EIO`.
    package func armPowerCut(atMutation n: Int) { state.withLock { $0.powerCutAt = n } }

    /// How many calls each site has seen.
    package var counts: [Site: Int] { state.withLock { $0.counts } }

    /// How many mutating calls were made.
    package var mutations: Int { state.withLock { $0.mutations } }

    /// Whether the armed power cut happened.
    package var isDead: Bool { state.withLock { $0.dead } }

    /// The faults that fired, as "write #3 errno 5 at wal/…".
    package var injected: [String] { state.withLock { $0.injected } }

    /// Puts the disk back to what survives a power cut now, and kills the file system.
    ///
    /// Unsynced writes are undone in reverse order; with `tornWrites` each file keeps a random
    /// prefix of its unsynced writes, the last kept one cut at a random byte. Directory changes
    /// since the last sync of their directory are undone, newest first.
    package func cutPower(tornWrites: Bool, using rng: inout some RandomNumberGenerator) {
        state.withLock { s in
            s.dead = true
            for track in s.tracks.values {
                let all = track.poisoned + track.undo
                guard !all.isEmpty else { continue }
                var keep = tornWrites ? Int.random(in: 0...all.count, using: &rng) : 0
                // After a failed sync nothing of the unsynced writes is trusted to be on disk.
                if !track.poisoned.isEmpty { keep = 0 }
                for entry in all[keep...].reversed() { revert(entry, path: track.path) }
                if tornWrites, track.poisoned.isEmpty, keep < all.count {
                    let entry = all[keep]
                    let cut = Int.random(in: 0...entry.new.count, using: &rng)
                    if cut > 0 { rawWrite(Array(entry.new.prefix(cut)), at: entry.offset, path: track.path) }
                }
            }
            for (change, _) in s.changes.reversed() { undo(change) }
            s.tracks.removeAll()
            s.changes.removeAll()
        }
    }

    // MARK: Bookkeeping (under the lock)

    /// Counts a call at `site` on `path`; throws the fault or the power cut that applies.
    /// Returns a short-write fault to apply, if any.
    private func enter(_ s: inout State, _ site: Site, _ path: String, mutating: Bool = true) throws(FileError) -> Fault? {
        if s.dead { throw FileError(operation(site), path: path, errno: EIO) }
        s.counts[site, default: 0] += 1
        if mutating {
            s.mutations += 1
            if let at = s.powerCutAt, s.mutations >= at {
                s.dead = true
                s.injected.append("power cut at mutation \(s.mutations) (\(site) \(path))")
                throw FileError(operation(site), path: path, errno: EIO)
            }
        }
        for i in s.faults.indices where s.faults[i].site == site {
            if let part = s.faults[i].pathContains, !path.contains(part) { continue }
            s.faults[i].seen += 1
            let fault = s.faults[i]
            guard fault.seen == fault.occurrence || (fault.persistent && fault.seen > fault.occurrence) else { continue }
            s.injected.append("\(fault) at \(path)")
            if fault.shortWrite && site == .write { return fault }
            throw FileError(operation(site), path: path, errno: fault.errno)
        }
        return nil
    }

    private func operation(_ site: Site) -> FileError.Operation {
        switch site {
        case .write: .write
        case .sync: .sync
        case .truncate: .truncate
        case .create: .open
        case .rename: .rename
        case .remove: .remove
        case .makeDirectory: .makeDirectory
        case .syncDirectory: .syncDirectory
        }
    }

    private func track(_ s: inout State, _ path: String) -> Track {
        if let t = s.tracks[path] { return t }
        let t = Track(path: path)
        s.tracks[path] = t
        return t
    }

    /// The bytes of `path` as they would be after a power cut now (its unsynced writes undone).
    private func durableContent(_ s: inout State, _ path: String) -> [UInt8] {
        var bytes = (try? base.readFile(path)) ?? []
        guard let t = s.tracks[path] else { return bytes }
        for entry in (t.poisoned + t.undo).reversed() {
            let end = Int(entry.offset) + entry.old.count
            if bytes.count < end { bytes += [UInt8](repeating: 0, count: end - bytes.count) }
            bytes.replaceSubrange(Int(entry.offset)..<end, with: entry.old)
            if bytes.count > Int(entry.oldSize) { bytes.removeLast(bytes.count - Int(entry.oldSize)) }
            else if bytes.count < Int(entry.oldSize) { bytes += [UInt8](repeating: 0, count: Int(entry.oldSize) - bytes.count) }
        }
        return bytes
    }

    private func revert(_ entry: Undo, path: String) {
        rawWrite(entry.old, at: entry.offset, path: path)
        if let file = try? base.open(path, mode: .existing) {
            try? file.truncate(to: entry.oldSize)
            file.close()
        }
    }

    private func rawWrite(_ bytes: [UInt8], at offset: Int64, path: String) {
        guard !bytes.isEmpty, let file = try? base.open(path, mode: .existing) else { return }
        try? file.write(bytes, at: offset)
        file.close()
    }

    private func undo(_ change: DirectoryChange) {
        switch change {
        case .created(let path):
            try? base.remove(path)
        case .madeDirectory(let path):
            removeTree(path)
        case .renamed(let from, let to, let replaced):
            _ = systemRename(to, from)
            if let replaced, let file = try? base.open(to, mode: .truncate) {
                try? file.write(replaced, at: 0)
                file.close()
            }
        case .removed(let path, let content):
            if let file = try? base.open(path, mode: .truncate) {
                try? file.write(content, at: 0)
                file.close()
            }
        }
    }

    private func removeTree(_ path: String) {
        for name in (try? base.list(path)) ?? [] {
            let child = path + "/" + name
            if base.isDirectory(child) { removeTree(child) } else { try? base.remove(child) }
        }
        _ = rmdir(path)
    }

    // MARK: File-system calls

    package func open(_ path: String, mode: OpenMode) throws(FileError) -> any DurableFile {
        if mode == .readOnly {
            if state.withLock({ $0.dead }) { throw FileError(.open, path: path, errno: EIO) }
            return FaultFile(file: try base.open(path, mode: mode), fs: self, track: nil)
        }
        let existed = base.exists(path)
        let creates = !existed && mode != .existing
        let result: Result<any DurableFile, FileError> = state.withLock { s in
            do throws(FileError) {
                if creates { _ = try enter(&s, .create, path) }
                var oldContent: [UInt8] = []
                if existed && mode == .truncate { oldContent = (try? base.readFile(path)) ?? [] }
                let file = try base.open(path, mode: mode)
                let t = track(&s, path)
                if creates { s.changes.append((.created(path), false)) }
                if existed && mode == .truncate {
                    t.undo.append(Undo(offset: 0, old: oldContent, oldSize: Int64(oldContent.count), new: []))
                }
                return .success(FaultFile(file: file, fs: self, track: t))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    package func exists(_ path: String) -> Bool { base.exists(path) }

    package func isDirectory(_ path: String) -> Bool { base.isDirectory(path) }

    package func makeDirectory(_ path: String) throws(FileError) {
        try state.withLock { s throws(FileError) in
            if base.isDirectory(path) { return }
            _ = try enter(&s, .makeDirectory, path)
            try base.makeDirectory(path)
            s.changes.append((.madeDirectory(path), false))
        }
    }

    package func list(_ path: String) throws(FileError) -> [String] {
        if state.withLock({ $0.dead }) { throw FileError(.list, path: path, errno: EIO) }
        return try base.list(path)
    }

    package func remove(_ path: String) throws(FileError) {
        try state.withLock { s throws(FileError) in
            guard base.exists(path) else {
                if s.dead { throw FileError(.remove, path: path, errno: EIO) }
                return
            }
            _ = try enter(&s, .remove, path)
            let content = durableContent(&s, path)
            try base.remove(path)
            s.tracks[path] = nil
            s.changes.append((.removed(path, content: content), false))
        }
    }

    package func rename(_ from: String, to: String) throws(FileError) {
        try state.withLock { s throws(FileError) in
            _ = try enter(&s, .rename, to)
            let replaced: [UInt8]? = base.exists(to) ? durableContent(&s, to) : nil
            try base.rename(from, to: to)
            s.tracks[to] = nil
            if let t = s.tracks.removeValue(forKey: from) {
                t.path = to
                s.tracks[to] = t
            }
            s.changes.append((.renamed(from: from, to: to, replaced: replaced), false))
        }
    }

    package func syncDirectory(_ path: String) throws(FileError) {
        try state.withLock { s throws(FileError) in
            do throws(FileError) {
                _ = try enter(&s, .syncDirectory, path)
                if realSyncs { try base.syncDirectory(path) }
            } catch {
                // The changes may or may not be on disk; a later sync cannot vouch for them.
                for i in s.changes.indices where s.changes[i].change.directory == path { s.changes[i].poisoned = true }
                throw error
            }
            s.changes.removeAll { $0.change.directory == path && !$0.poisoned }
        }
    }

    package func fileSize(_ path: String) -> Int64? { base.fileSize(path) }

    // MARK: Calls of open files

    fileprivate func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64, file: any DurableFile, track: Track?) throws(FileError) {
        try state.withLock { s throws(FileError) in
            let path = track?.path ?? file.path
            let short = try enter(&s, .write, path)
            let count = short == nil ? bytes.count : bytes.count / 2
            if let track {
                let size = (try? file.size()) ?? 0
                let oldEnd = min(offset + Int64(count), size)
                let old = oldEnd > offset ? try file.read(at: offset, count: Int(oldEnd - offset)) : []
                track.undo.append(Undo(offset: offset, old: old, oldSize: size, new: Array(bytes.prefix(count))))
            }
            try file.write(UnsafeRawBufferPointer(rebasing: bytes.prefix(count)), at: offset)
            if let short { throw FileError(.write, path: path, errno: short.errno) }
        }
    }

    fileprivate func sync(file: any DurableFile, track: Track?) throws(FileError) {
        try state.withLock { s throws(FileError) in
            let path = track?.path ?? file.path
            do throws(FileError) {
                _ = try enter(&s, .sync, path)
                if realSyncs { try file.sync() }
            } catch {
                if let track {
                    track.poisoned += track.undo
                    track.undo.removeAll()
                }
                throw error
            }
            track?.undo.removeAll()
        }
    }

    fileprivate func truncate(to size: Int64, file: any DurableFile, track: Track?) throws(FileError) {
        try state.withLock { s throws(FileError) in
            let path = track?.path ?? file.path
            _ = try enter(&s, .truncate, path)
            let oldSize = try file.size()
            let old = oldSize > size ? try file.read(at: size, count: Int(oldSize - size)) : []
            track?.undo.append(Undo(offset: size, old: old, oldSize: oldSize, new: []))
            try file.truncate(to: size)
        }
    }

    fileprivate var dead: Bool { state.withLock { $0.dead } }
}

/// An open file of a ``FaultInjectingFileSystem``.
final class FaultFile: DurableFile, @unchecked Sendable {
    let file: any DurableFile
    let fs: FaultInjectingFileSystem
    let track: FaultInjectingFileSystem.Track?

    init(file: any DurableFile, fs: FaultInjectingFileSystem, track: FaultInjectingFileSystem.Track?) {
        self.file = file
        self.fs = fs
        self.track = track
    }

    var path: String { track?.path ?? file.path }

    func size() throws(FileError) -> Int64 { try file.size() }

    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws(FileError) -> Int {
        if fs.dead { throw FileError(.read, path: path, errno: EIO) }
        return try file.read(into: buffer, at: offset)
    }

    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws(FileError) {
        guard let track else { throw FileError(.write, path: path, errno: EBADF) }
        try fs.write(bytes, at: offset, file: file, track: track)
    }

    func sync() throws(FileError) { try fs.sync(file: file, track: track) }

    func truncate(to size: Int64) throws(FileError) {
        guard let track else { throw FileError(.truncate, path: path, errno: EBADF) }
        try fs.truncate(to: size, file: file, track: track)
    }

    func tryLock() throws(FileError) -> Bool { try file.tryLock() }
    func duplicate() throws(FileError) -> any DurableFile { FaultFile(file: try file.duplicate(), fs: fs, track: track) }
    func unlock() { file.unlock() }
    func close() { file.close() }
}
