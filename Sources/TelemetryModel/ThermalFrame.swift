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

    /// Columns (x).
    public let width: Int
    /// Rows (y).
    public let height: Int
    /// `width * height` values, row after row.
    public var values: [Float]

    /// Checks the size (1–4096 per side, `values.count == width * height`), throwing a
    /// ``ModelError`` with field `temperature_data` otherwise.
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
    ///
    /// Runs at ingest for every frame, so it works in 8-wide SIMD lanes (sums in Double, so the
    /// result is as exact as a scalar Double loop).
    public init?(_ values: [Float]) {
        var lo = SIMD8<Float>(repeating: .infinity), hi = SIMD8<Float>(repeating: -.infinity)
        var sum = SIMD8<Double>(), sumSquares = SIMD8<Double>()
        var count = SIMD8<Int32>()
        var tailLo = Float.infinity, tailHi = -Float.infinity
        var tailSum = 0.0, tailSquares = 0.0
        var tailCount = 0
        values.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            let chunks = buffer.count / 8
            let raw = UnsafeRawPointer(base)
            for i in 0..<chunks {
                let v = raw.loadUnaligned(fromByteOffset: i * 32, as: SIMD8<Float>.self)
                let finite = (v - v) .== SIMD8<Float>()   // NaN and ±inf give NaN
                // Compare-and-select (a NaN or ±inf lane never wins, as its `finite` lane is false).
                lo.replace(with: v, where: finite .& (v .< lo))
                hi.replace(with: v, where: finite .& (v .> hi))
                let d = SIMD8<Double>(v.replacing(with: 0, where: .!finite))
                sum += d
                sumSquares += d * d
                count &+= SIMD8<Int32>(repeating: 0).replacing(with: 1, where: finite)
            }
            for v in buffer[(chunks * 8)...] where v.isFinite {
                tailLo = Swift.min(tailLo, v)
                tailHi = Swift.max(tailHi, v)
                tailSum += Double(v)
                tailSquares += Double(v) * Double(v)
                tailCount += 1
            }
        }
        let n = Int(count.wrappedSum()) + tailCount
        guard n > 0 else { return nil }
        let mean = (sum.sum() + tailSum) / Double(n)
        let variance = Swift.max(0, (sumSquares.sum() + tailSquares) / Double(n) - mean * mean)
        self.init(min: Swift.min(lo.min(), tailLo), max: Swift.max(hi.max(), tailHi), mean: Float(mean),
                  std: Float(variance.squareRoot()))
    }

    /// The statistics as the four `frame_*` channels.
    public var channels: [String: Float] {
        [ChannelName.frameMin: min, ChannelName.frameMax: max, ChannelName.frameMean: mean, ChannelName.frameStd: std]
    }
}
