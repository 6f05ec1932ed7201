// The size gate (formerly only `sinter-bench check` in the Benchmarks package): 1,024 fixed,
// seeded DMLS frames into an embedded store must stay under the committed bytes per frame and
// read back bit for bit. Deterministic: one writer, the same batches, no clock.
import Foundation
import Logging
import StorageEngine
import SyntheticData
import Testing
import TelemetryModel

struct SizeGateTests {
    @Test func bytesPerFrameStayUnderTheCommittedBoundAndFramesReadBackBitExact() async throws {
        let dir = TemporaryDirectory()
        let frames = 1024
        let dataset = FleetDataset(machines: 4, intervalSeconds: 1)
        let store = try TelemetryStore.open(at: dir.path + "/sinter",
                                            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        for batch in dataset.batches(0..<frames, writer: 0, writers: 1, batch: 64) {
            try await store.append(batch.map { dataset.record(machine: $0.machine, sequence: $0.sequence) })
        }
        try await store.flush()
        var mismatches = 0
        for (m, id) in dataset.machines.enumerated() {
            let records = try store.records(machine: id, limit: .max, includeFrames: true)
            #expect(records.count == dataset.count(machine: m, total: frames))
            for (k, r) in records.enumerated() {
                let expected = dataset.record(machine: m, sequence: k)
                if r.timestamp != expected.timestamp
                    || r.frame.map({ $0.values.map(\.bitPattern) }) != expected.frame!.values.map(\.bitPattern) { mismatches += 1 }
            }
        }
        try await store.close()
        #expect(mismatches == 0)
        let bytes = totalBytes(dir.path + "/sinter")
        let perFrame = Double(bytes) / Double(frames)
        #expect(perFrame <= Double(FleetDataset.sizeGateBytesPerFrame),
                "Sinter uses \(perFrame) bytes per frame, more than the committed \(FleetDataset.sizeGateBytesPerFrame)")
        // A sanity floor: a store that wrote nothing would pass the bound.
        #expect(perFrame > 1000)
    }

    func totalBytes(_ path: String) -> Int64 {
        guard let e = FileManager.default.enumerator(atPath: path) else { return 0 }
        var total: Int64 = 0
        while let name = e.nextObject() as? String {
            if let a = try? FileManager.default.attributesOfItem(atPath: path + "/" + name),
               a[.type] as? FileAttributeType == .typeRegular, let size = a[.size] as? NSNumber { total += size.int64Value }
        }
        return total
    }
}
