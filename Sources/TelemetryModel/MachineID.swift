/// The name of a machine: 1–64 characters of `[A-Za-z0-9._-]`.
///
/// Machine ids are validated once, here, before they reach a file name, an index or a URL,
/// so that no other code has to trust user input. `.` and `..` are refused as well.
///
/// ```swift
/// let id = try MachineID("dmls-01")
/// print(id) // dmls-01
/// ```
public struct MachineID: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The validated name.
    public let rawValue: String

    /// The longest machine id accepted.
    public static let maximumLength = 64

    /// Validates `rawValue`, throwing a ``ModelError`` with field `machine_id` if it is not a machine id.
    public init(_ rawValue: String, field: String = "machine_id") throws(ModelError) {
        guard Self.isValid(rawValue) else {
            throw ModelError(
                code: "invalid_machine_id",
                message: "machine id must be 1-\(Self.maximumLength) characters of A-Z a-z 0-9 . _ - (got \(Self.quoted(rawValue)))",
                field: field)
        }
        self.rawValue = rawValue
    }

    /// Whether `string` is a valid machine id.
    public static func isValid(_ string: String) -> Bool {
        let utf8 = string.utf8
        guard !utf8.isEmpty, utf8.count <= maximumLength, string != ".", string != ".." else { return false }
        return utf8.allSatisfy(isNameByte)
    }

    /// `[A-Za-z0-9._-]`: the bytes allowed in machine ids and channel names.
    @inlinable
    public static func isNameByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
            return true
        default:
            return false
        }
    }

    /// `s` in quotes for an error message, cut to 80 characters.
    public static func quoted(_ s: String) -> String {
        let shown = s.count > 80 ? String(s.prefix(80)) + "…" : s
        return "\"" + shown + "\""
    }

    public var description: String { rawValue }
    public static func < (a: MachineID, b: MachineID) -> Bool { a.rawValue < b.rawValue }
}

/// Channel names follow the machine-id alphabet: 1–64 characters of `[A-Za-z0-9._-]`.
public enum ChannelName {
    /// Channel names that the store computes for every record with a frame.
    public static let frameMin = "frame_min"
    public static let frameMax = "frame_max"
    public static let frameMean = "frame_mean"
    public static let frameStd = "frame_std"
    /// The four frame-statistics channels, in this order.
    public static let frameStatistics = [frameMin, frameMax, frameMean, frameStd]

    /// Common channels of the printers Sinter knows.
    public static let powerKW = "power_kw"
    public static let vibrationMMS = "vibration_mm_s"
    public static let nozzleTempC = "nozzle_temp_c"
    public static let bedTempC = "bed_temp_c"
    public static let filamentFlow = "filament_flow"

    /// Whether `name` may be used as a channel name.
    public static func isValid(_ name: String) -> Bool {
        let utf8 = name.utf8
        return !utf8.isEmpty && utf8.count <= 64 && utf8.allSatisfy(MachineID.isNameByte)
    }
}
