/// A thermal image: `width × height` Float32 temperatures in row-major order (°C).
///
/// DMLS printers send 100 × 100 frames. Values are kept bit for bit: the store returns exactly
/// the Float32 patterns it was given, NaN payloads, infinities, -0.0 and subnormals included.
///
/// ```swift
/// let frame = try ThermalFrame(width: 2, height: 2, values: [20.5, 21, 22.25, 80])
/// frame[1, 0] // 21
/// ```
public struct ThermalFrame: Sendable {
    public static let defaultWidth = 100
    public static let defaultHeight = 100
    /// The largest side accepted (frames are at most 4096 × 4096).
    public static let maximumSide = 4096

    public let width: Int
    public let height: Int
    /// `width * height` values, row after row.
    public var values: [Float]

    public init(width: Int = defaultWidth, height: Int = defaultHeight, values: [Float]) throws(ModelError) {
        guard (1...Self.maximumSide).contains(width), (1...Self.maximumSide).contains(height) else {
            throw ModelError(code: "invalid_frame_size",
                             message: "frame sides must be 1-\(Self.maximumSide) (got \(width) x \(height))",
                             field: "temperature_data")
        }
        guard values.count == width * height else {
            throw ModelError(code: "invalid_frame_size",
                             message: "a \(width) x \(height) frame needs \(width * height) values, got \(values.count)",
                             field: "temperature_data")
        }
        self.width = width
        self.height = height
        self.values = values
    }

    public subscript(x: Int, y: Int) -> Float { values[y * width + x] }

    /// Statistics over the finite values (NaN and ±inf are skipped); `nil` when no value is finite.
    public func statistics() -> FrameStatistics? { FrameStatistics(values) }
}

extension ThermalFrame: Equatable {
    /// Bit-identical comparison: NaN equals NaN with the same payload, -0.0 differs from 0.0.
    public static func == (a: ThermalFrame, b: ThermalFrame) -> Bool {
        guard a.width == b.width, a.height == b.height, a.values.count == b.values.count else { return false }
        return a.values.withUnsafeBytes { pa in b.values.withUnsafeBytes { pb in pa.elementsEqual(pb) } }
    }
}

/// Minimum, maximum, mean and standard deviation of a frame, computed at ingest.
///
/// Statistics queries read these, never the frames. Only finite values count.
public struct FrameStatistics: Hashable, Sendable {
    public var min: Float
    public var max: Float
    public var mean: Float
    /// Population standard deviation.
    public var std: Float

    public init(min: Float, max: Float, mean: Float, std: Float) {
        self.min = min
        self.max = max
        self.mean = mean
        self.std = std
    }

    /// Computes the statistics of the finite values, or returns nil if there are none.
    public init?(_ values: [Float]) {
        var lo = Float.infinity, hi = -Float.infinity
        var sum = 0.0, sumSquares = 0.0
        var n = 0
        values.withUnsafeBufferPointer { buffer in
            for v in buffer where v.isFinite {
                lo = Swift.min(lo, v)
                hi = Swift.max(hi, v)
                let d = Double(v)
                sum += d
                sumSquares += d * d
                n += 1
            }
        }
        guard n > 0 else { return nil }
        let mean = sum / Double(n)
        let variance = Swift.max(0, sumSquares / Double(n) - mean * mean)
        self.init(min: lo, max: hi, mean: Float(mean), std: Float(variance.squareRoot()))
    }

    /// The statistics as the four `frame_*` channels.
    public var channels: [String: Float] {
        [ChannelName.frameMin: min, ChannelName.frameMax: max, ChannelName.frameMean: mean, ChannelName.frameStd: std]
    }
}
