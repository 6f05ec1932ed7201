/// One sample of one machine: the unit of ingest, storage and query.
///
/// A record has a machine id, a timestamp, a kind (`dmls`, `fdm` or free text), named Float
/// channels, an optional state label and an optional thermal frame. (machine id, timestamp) is
/// its identity: a second record with the same pair is a duplicate and is stored once.
///
/// ```swift
/// let record = TelemetryRecord(
///     machineID: try MachineID("dmls-01"), timestamp: Timestamp(milliseconds: 1_795_255_200_000),
///     kind: "dmls", channels: ["power_kw": 3.2, "vibration_mm_s": 0.8],
///     frame: try ThermalFrame(values: Array(repeating: 25, count: 10_000)))
/// ```
public struct TelemetryRecord: Sendable, Equatable {
    /// The machine that produced the record.
    public var machineID: MachineID
    /// When the sample was taken (UTC, nanoseconds).
    public var timestamp: Timestamp
    /// `dmls`, `fdm`, or free text (at most 64 bytes).
    public var kind: String
    /// Named scalar channels (`power_kw`, `vibration_mm_s`, `nozzle_temp_c`, …). Names follow the
    /// machine-id alphabet. Frame statistics appear here as `frame_min`, `frame_max`, `frame_mean`
    /// and `frame_std` in records read back from the store.
    public var channels: [String: Float]
    /// `idle`, `printing`, `anomaly`, `error`, or free text (at most 64 bytes).
    public var state: String?
    /// The thermal image, if the machine has a thermal camera (DMLS).
    public var frame: ThermalFrame?

    /// A record; nothing is validated until ``validate()`` (which the store calls on append).
    public init(machineID: MachineID, timestamp: Timestamp, kind: String = "", channels: [String: Float] = [:],
                state: String? = nil, frame: ThermalFrame? = nil) {
        self.machineID = machineID
        self.timestamp = timestamp
        self.kind = kind
        self.channels = channels
        self.state = state
        self.frame = frame
    }

    /// The record's stable id.
    public var id: RecordID { RecordID(machineID: machineID, timestamp: timestamp) }

    /// The frame statistics channels, if the record carries them.
    public var frameStatistics: FrameStatistics? {
        guard let mn = channels[ChannelName.frameMin], let mx = channels[ChannelName.frameMax],
              let mean = channels[ChannelName.frameMean], let std = channels[ChannelName.frameStd] else { return nil }
        return FrameStatistics(min: mn, max: mx, mean: mean, std: std)
    }

    /// Checks everything the store relies on: channel names, label lengths, and that no
    /// caller-supplied channel uses the reserved `frame_` statistics names.
    public func validate() throws(ModelError) {
        guard kind.utf8.count <= 64 else {
            throw ModelError(code: "invalid_kind", message: "kind must be at most 64 bytes", field: "kind")
        }
        if let state, state.utf8.count > 64 || state.isEmpty {
            throw ModelError(code: "invalid_state", message: "state must be 1-64 bytes", field: "state")
        }
        guard channels.count <= 1024 else {
            throw ModelError(code: "too_many_channels", message: "at most 1024 channels per record", field: "channels")
        }
        for name in channels.keys {
            guard ChannelName.isValid(name) else {
                throw ModelError(code: "invalid_channel",
                                 message: "channel names must be 1-64 characters of A-Z a-z 0-9 . _ - (got \(MachineID.quoted(name)))",
                                 field: "channels")
            }
            guard !ChannelName.frameStatistics.contains(name) else {
                throw ModelError(code: "reserved_channel",
                                 message: "\(name) is computed by the store from the frame and cannot be sent",
                                 field: "channels.\(name)")
            }
        }
    }
}

/// The stable id of a stored record: its machine id and timestamp, written `machine@nanoseconds`.
///
/// Because (machine id, timestamp) identifies a record, the id of a retried or duplicate record
/// is the id of the stored one. Ids are safe in URL paths.
///
/// ```swift
/// let id = try RecordID(parsing: "dmls-01@1795255200000000000")
/// id.machineID.rawValue // "dmls-01"
/// ```
public struct RecordID: Hashable, Sendable, CustomStringConvertible, Comparable {
    public var machineID: MachineID
    public var timestamp: Timestamp

    public init(machineID: MachineID, timestamp: Timestamp) {
        self.machineID = machineID
        self.timestamp = timestamp
    }

    /// Parses `machine@nanoseconds`, throwing a ``ModelError`` with field `id` otherwise.
    public init(parsing text: String) throws(ModelError) {
        let invalid = ModelError(code: "invalid_record_id",
                                 message: "record ids look like machine@nanoseconds (got \(MachineID.quoted(text)))",
                                 field: "id")
        guard let at = text.lastIndex(of: "@"), let ns = Int64(text[text.index(after: at)...]) else { throw invalid }
        do {
            self.machineID = try MachineID(String(text[..<at]), field: "id")
        } catch {
            throw invalid
        }
        self.timestamp = Timestamp(nanoseconds: ns)
    }

    public var description: String { "\(machineID.rawValue)@\(timestamp.nanoseconds)" }
    public static func < (a: RecordID, b: RecordID) -> Bool { (a.machineID, a.timestamp) < (b.machineID, b.timestamp) }
}
