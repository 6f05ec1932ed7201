import Foundation
import Testing
@testable import StorageEngine
import SyntheticData
import TelemetryModel

/// Random bit flips, byte runs and truncations anywhere in any store file: opening and reading
/// everything may report damage, but must never trap, hang or return a record that differs
/// from what was written.
struct RandomDamageTests {
    @Test(arguments: [11, 12, 13])
    func randomDamageIsReportedNeverFatal(seed: UInt64) async throws {
        var g = SeededRandom(seed: seed)
        let pristine = TemporaryDirectory()
        var store = try openStore(pristine) { $0.blockSize = 8 }
        let records = (0..<48).map { sampleRecord("m\($0 % 2)", $0, side: 6) }
        try await store.append(Array(records[..<40]))
        try await store.flush()
        try await store.append(Array(records[40...]))   // these stay in the WAL
        try await store.close()
        let byID = Dictionary(uniqueKeysWithValues: records.map { ($0.id, $0) })

        let files = try FileManager.default.subpathsOfDirectory(atPath: pristine.path)
            .filter { path in
                var isDirectory: ObjCBool = false
                _ = FileManager.default.fileExists(atPath: pristine.file(path), isDirectory: &isDirectory)
                return !isDirectory.boolValue && !path.hasSuffix("LOCK") && fileSize(pristine.file(path)) > 0
            }
        #expect(files.count >= 4)   // MANIFEST, a WAL, a segment, its index
        var detected = 0
        for round in 0..<60 {
            let dir = TemporaryDirectory("damage\(seed)-\(round)")
            try FileManager.default.removeItem(atPath: dir.path)
            try FileManager.default.copyItem(atPath: pristine.path, toPath: dir.path)
            let victim = dir.file(files[Int(g.next() % UInt64(files.count))])
            let size = fileSize(victim)
            switch g.next() % 3 {
            case 0:
                for _ in 0..<Int(1 + g.next() % 4) { try flipBit(victim, at: Int(g.next() % UInt64(size)), bit: UInt8(1 << (g.next() % 8))) }
            case 1:
                try truncateFile(victim, to: Int(g.next() % UInt64(size)))
            default:
                let at = Int(g.next() % UInt64(size))
                let handle = try Foundation.FileHandle(forUpdatingAtPath: victim).unwrap(victim)
                try handle.seek(toOffset: UInt64(at))
                try handle.write(contentsOf: Data((0..<min(64, size - at)).map { _ in UInt8(truncatingIfNeeded: g.next()) }))
                try handle.close()
            }
            do {
                store = try openStore(dir) { $0.blockSize = 8 }
            } catch let error as StorageError {
                // Refusing to open is acceptable only for a header that looks like another format.
                #expect(error.code == .unsupportedFormat, "round \(round): \(victim): \(error)")
                detected += 1
                continue
            }
            if !store.problems.isEmpty { detected += 1 }
            for m in store.machines() {
                do {
                    try store.forEachRecord(machine: m.id, includeFrames: true) { r in
                        // Whatever comes back is exactly what was written.
                        if let original = byID[r.id] {
                            #expect(original.matchesIgnoringStatistics(r), "round \(round): \(r.id) differs after damage to \(victim)")
                        } else {
                            Issue.record("round \(round): record \(r.id) was never written")
                        }
                        return true
                    }
                } catch let error as StorageError {
                    #expect([.corruptBlock, .corruptData].contains(error.code), "round \(round): \(error)")
                    detected += 1
                }
            }
            try await store.close()
        }
        // Most damage lands in checksummed bytes and must be noticed (a torn WAL tail or a cut
        // after the last record is legitimately silent).
        #expect(detected >= 20, "only \(detected) of 60 damaged stores reported anything")
    }
}
