import Foundation
import Logging
@testable import StorageEngine
import TelemetryModel

/// A fresh directory under the system temp dir, removed when the value is released.
final class TemporaryDirectory: Sendable {
    let path: String

    init(_ label: String = #function) {
        let name = label.filter { $0.isLetter || $0.isNumber }
        path = NSTemporaryDirectory() + "sinter-\(name)-\(UUID().uuidString.prefix(8))"
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func file(_ name: String) -> String { path + "/" + name }
}

let quietLogger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

func openStore(_ dir: TemporaryDirectory, _ configure: (inout StoreConfiguration) -> Void = { _ in }) throws -> TelemetryStore {
    var configuration = StoreConfiguration()
    configuration.blockSize = 16
    configure(&configuration)
    return try TelemetryStore.open(at: dir.path, configuration: configuration, logger: quietLogger)
}

func machine(_ name: String) -> MachineID { try! MachineID(name) }

/// A record with a small decimal frame, deterministic in (machine, index).
func sampleRecord(_ m: String, _ i: Int, side: Int = 8, frame: Bool = true, t0: Int64 = 1_800_000_000_000_000_000) -> TelemetryRecord {
    var values: [Float] = []
    for k in 0..<(side * side) { values.append(Float(2000 + (k * 7 + i * 13) % 500) / 100) }
    return TelemetryRecord(
        machineID: machine(m), timestamp: Timestamp(nanoseconds: t0 + Int64(i) * 1_000_000), kind: "dmls",
        channels: ["power_kw": Float(i) / 10, "vibration_mm_s": Float(i % 17) / 4],
        state: i % 5 == 0 ? "anomaly" : "printing",
        frame: frame ? try! ThermalFrame(width: side, height: side, values: values) : nil)
}

/// Flips one bit of a file at `offset`.
func flipBit(_ path: String, at offset: Int, bit: UInt8 = 0x10) throws {
    let handle = try Foundation.FileHandle(forUpdatingAtPath: path).unwrap(path)
    try handle.seek(toOffset: UInt64(offset))
    var byte = try handle.read(upToCount: 1)!
    byte[0] ^= bit
    try handle.seek(toOffset: UInt64(offset))
    try handle.write(contentsOf: byte)
    try handle.close()
}

func truncateFile(_ path: String, to size: Int) throws {
    let handle = try Foundation.FileHandle(forUpdatingAtPath: path).unwrap(path)
    try handle.truncate(atOffset: UInt64(size))
    try handle.close()
}

func fileSize(_ path: String) -> Int {
    (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? -1
}

extension Optional {
    func unwrap(_ what: String) throws -> Wrapped {
        guard let self else { throw StorageError(.invalidArgument, "cannot open \(what)") }
        return self
    }
}
