// Seed 000's edge averaging: N consecutive records of a machine become one.
public import TelemetryModel

/// Averages each machine's records in groups of ``window`` consecutive records.
///
/// A group becomes one record: its timestamp and state are the last record's, each channel is
/// the mean of the values the group's records carry for it (NaN when any of them is NaN, so a
/// dropped-out sensor stays visible), and the frame is the element-wise mean of the group's
/// frames, summed in Double. Records without a frame do not count towards the frame mean; a
/// frame of another size than the group's first ends the group early. With a window of 1
/// every record passes through unchanged, frame bits included.
///
/// ```swift
/// var averager = FrameAverager(window: 4)
/// let out = averager.add(record)        // [] until the 4th record of that machine
/// let rest = averager.flush()           // partial groups, at shutdown
/// ```
public struct FrameAverager: Sendable {
    /// Records per group (≥ 1).
    public let window: Int

    private struct Group {
        var count = 0
        var last: TelemetryRecord
        var channelSums: [String: Double] = [:]
        var channelCounts: [String: Int] = [:]
        var frameSums: [Double] = []
        var frameCount = 0
        var frameShape: (width: Int, height: Int)?
    }

    private var groups: [MachineID: Group] = [:]

    /// - Precondition: `window >= 1`.
    public init(window: Int) {
        precondition(window >= 1, "averaging window must be at least 1")
        self.window = window
    }

    /// Records waiting in partial groups.
    public var pendingRecords: Int { groups.values.reduce(0) { $0 + $1.count } }

    /// Adds one record; returns the averaged records it completed (none, one, or two when a
    /// frame of a new size closed the previous group).
    public mutating func add(_ record: TelemetryRecord) -> [TelemetryRecord] {
        if window == 1 { return [record] }
        var out: [TelemetryRecord] = []
        if let shape = groups[record.machineID]?.frameShape, let frame = record.frame,
           frame.width != shape.width || frame.height != shape.height {
            if let group = groups.removeValue(forKey: record.machineID) { out.append(Self.average(group)) }
        }
        var group = groups[record.machineID] ?? Group(last: record)
        group.count += 1
        group.last = record
        for (name, value) in record.channels {
            group.channelSums[name, default: 0] += Double(value)
            group.channelCounts[name, default: 0] += 1
        }
        if let frame = record.frame {
            if group.frameSums.isEmpty {
                group.frameSums = Array(repeating: 0, count: frame.values.count)
                group.frameShape = (frame.width, frame.height)
            }
            frame.values.withUnsafeBufferPointer { values in
                group.frameSums.withUnsafeMutableBufferPointer { sums in
                    for i in 0..<values.count { sums[i] += Double(values[i]) }
                }
            }
            group.frameCount += 1
        }
        if group.count >= window {
            groups[record.machineID] = nil
            out.append(Self.average(group))
        } else {
            groups[record.machineID] = group
        }
        return out
    }

    /// Averages every partial group (at shutdown), in timestamp order.
    public mutating func flush() -> [TelemetryRecord] {
        let out = groups.values.map(Self.average).sorted { ($0.timestamp, $0.machineID.rawValue) < ($1.timestamp, $1.machineID.rawValue) }
        groups = [:]
        return out
    }

    private static func average(_ group: Group) -> TelemetryRecord {
        var record = group.last
        var channels: [String: Float] = [:]
        for (name, sum) in group.channelSums {
            channels[name] = Float(sum / Double(group.channelCounts[name] ?? 1))
        }
        record.channels = channels
        if let shape = group.frameShape, group.frameCount > 0 {
            let n = Double(group.frameCount)
            let values = group.frameSums.map { Float($0 / n) }
            record.frame = try? ThermalFrame(width: shape.width, height: shape.height, values: values)
        } else {
            record.frame = nil
        }
        return record
    }
}
