// The frame codec as public API: for tools, benchmarks and components that move frames
// compressed (the edge gateway). The store uses FrameCodec directly.
public import TelemetryModel

/// Sinter's lossless thermal-frame codec.
///
/// Detects the sensor's decimal scale, predicts every value from its neighbours and Rice-codes
/// the residuals; non-decimal frames fall back to byte planes + LZ4. Decoding gives back the
/// exact Float32 bits. The format is `Storage/Format/frame-encoding.md`.
///
/// ```swift
/// let bytes = FrameCompression.encode(frame)                       // ≈ 8.5 KB for a 100 × 100 2-decimal frame
/// let back = try FrameCompression.decode(bytes, width: 100, height: 100)
/// assert(back == frame)                                            // bit-identical
/// ```
public enum FrameCompression {
    /// What the codec did with one frame, and what plain LZ4 would have done.
    public struct Analysis: Sendable {
        /// `decimal`, `byte-planes+lz4`, `raw`, …
        public var method: String
        /// The decimal scale detected, if the decimal method was used.
        public var decimals: Int?
        /// Values stored verbatim (NaN, ±inf, −0.0, values off the decimal grid).
        public var exceptionCount: Int
        public var encodedBytes: Int
        /// Order-0 entropy of the prediction residuals, bits per value: the bound a residual coder can reach.
        public var residualEntropyBitsPerValue: Double
        /// Bytes LZ4 alone makes of the raw Float32 values.
        public var lz4Bytes: Int
        /// Bytes LZ4 makes of the values split into 4 byte planes.
        public var byteShuffleLZ4Bytes: Int
    }

    /// Encodes a frame.
    public static func encode(_ frame: ThermalFrame) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(frame.values.count)
        frame.values.withUnsafeBufferPointer { FrameCodec.encode($0, width: frame.width, height: frame.height, into: &out) }
        return out
    }

    /// Decodes bytes made by ``encode(_:)``; throws ``StorageError`` (`.corruptData`) on bad bytes.
    public static func decode(_ bytes: [UInt8], width: Int, height: Int) throws -> ThermalFrame {
        let values = try FrameCodec.decode(bytes, width: width, height: height)
        return try ThermalFrame(width: width, height: height, values: values)
    }

    /// Encodes the frame the three ways and reports sizes and the entropy bound.
    public static func analyze(_ frame: ThermalFrame) -> Analysis {
        let a = frame.values.withUnsafeBufferPointer { FrameCodec.analyze($0, width: frame.width, height: frame.height) }
        var lz4: [UInt8] = []
        frame.values.withUnsafeBytes { LZ4Block.compress($0, into: &lz4) }
        let n = frame.values.count
        var planes = [UInt8](repeating: 0, count: n * 4)
        frame.values.withUnsafeBufferPointer { v in
            for i in 0..<n {
                let bits = v[i].bitPattern
                for p in 0..<4 { planes[p * n + i] = UInt8(truncatingIfNeeded: bits >> (8 * UInt32(p))) }
            }
        }
        var shuffled: [UInt8] = []
        planes.withUnsafeBytes { LZ4Block.compress($0, into: &shuffled) }
        return Analysis(method: a.method.description, decimals: a.decimals, exceptionCount: a.exceptionCount,
                        encodedBytes: a.encodedBytes, residualEntropyBitsPerValue: a.residualEntropyBitsPerValue,
                        lz4Bytes: lz4.count, byteShuffleLZ4Bytes: shuffled.count)
    }
}
