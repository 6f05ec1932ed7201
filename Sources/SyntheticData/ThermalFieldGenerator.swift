// Seeded synthetic thermal frames: a smooth field with a moving hot spot plus sensor noise.
import Foundation

/// A small, fast, deterministic random number generator (SplitMix64) with a Box–Muller gaussian.
///
/// The same seed always gives the same sequence, on every platform, so tests and benchmarks
/// can be reproduced exactly. It is not cryptographically secure. It conforms to
/// `RandomNumberGenerator`, so it also drives the standard library's `random(in:using:)`.
///
/// ```swift
/// var random = SeededRandom(seed: 42)
/// let u = random.nextDouble()         // uniform in [0, 1)
/// let g = random.nextGaussian()       // mean 0, standard deviation 1
/// let k = Int.random(in: 0..<10, using: &random)
/// ```
public struct SeededRandom: RandomNumberGenerator, Sendable {
    /// The SplitMix64 state.
    public private(set) var state: UInt64
    private var spareGaussian: Double?

    /// A generator whose sequence depends only on `seed`.
    public init(seed: UInt64) {
        state = seed
    }

    /// A generator for one item of a family (a frame of a stream, say), independent of the others.
    ///
    /// `SeededRandom(seed: s, stream: i)` mixes both numbers through SplitMix64's finalizer,
    /// so neighbouring streams do not share any part of their sequences.
    public init(seed: UInt64, stream: UInt64) {
        state = Self.mix(seed &+ Self.mix(stream &+ 0x632B_E59B_D9B4_E019))
    }

    /// The next 64 random bits (SplitMix64).
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return Self.mix(state)
    }

    /// A uniform double in [0, 1) with 53 random bits.
    public mutating func nextDouble() -> Double {
        Double(next() >> 11) * 0x1p-53
    }

    /// A standard normal sample (mean 0, standard deviation 1) by the Box–Muller transform.
    ///
    /// Each transform yields two independent samples; the second is kept for the next call.
    public mutating func nextGaussian() -> Double {
        if let spare = spareGaussian {
            spareGaussian = nil
            return spare
        }
        let u1 = 1 - nextDouble()  // (0, 1]: the logarithm stays finite
        let u2 = nextDouble()
        let r = (-2 * log(u1)).squareRoot()
        let theta = 2 * Double.pi * u2
        spareGaussian = r * sin(theta)
        return r * cos(theta)
    }

    private static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Synthetic thermal-camera frames of a printer's build plate, deterministic from a seed.
///
/// Each frame is an ambient background of about 25 °C with a gentle linear gradient, plus a
/// Gaussian hot spot (peak about +45 °C, radius 12–18 px) that travels along a smooth closed
/// path as the frame index grows, so values span roughly 20–80 °C. Gaussian sensor noise of
/// `noiseSigma` is added and every value is rounded to `decimals` decimals, as a real sensor
/// reports it: `Float((v * 10^d).rounded() / 10^d)` computed in `Double`. Frame `i` depends only
/// on the seed and `i`, so any frame can be produced without producing the others.
///
/// ```swift
/// let generator = ThermalFieldGenerator(width: 100, height: 100, noiseSigma: 0.2, decimals: 2, seed: 7)
/// let values = generator.frame(at: 1234)   // 10,000 Floats, row-major
/// let frame = try ThermalFrame(width: 100, height: 100, values: values)
/// ```
public struct ThermalFieldGenerator: Sendable {
    /// Frame width in pixels.
    public let width: Int
    /// Frame height in pixels.
    public let height: Int
    /// Standard deviation of the per-pixel sensor noise, °C.
    public let noiseSigma: Float
    /// Decimals every value is rounded to (0 or more).
    public let decimals: Int
    /// The seed all frames derive from.
    public let seed: UInt64

    /// Background temperature at the plate's centre, °C.
    public static let ambient = 25.0
    /// Hot-spot peak above the background, °C.
    public static let hotSpotPeak = 45.0

    /// A generator of `width × height` frames with the given noise, rounding and seed.
    public init(width: Int = 100, height: Int = 100, noiseSigma: Float = 0.2, decimals: Int = 2, seed: UInt64) {
        precondition(width > 0 && height > 0, "frame sides must be positive")
        precondition(noiseSigma >= 0 && decimals >= 0, "noise and decimals must not be negative")
        self.width = width
        self.height = height
        self.noiseSigma = noiseSigma
        self.decimals = decimals
        self.seed = seed
    }

    /// The hot spot's centre (pixels) and radius (pixels) in frame `index`.
    public func hotSpot(at index: Int) -> (x: Double, y: Double, radius: Double) {
        let t = Double(index)
        // Phases derived from the seed so that different seeds move differently.
        var random = SeededRandom(seed: seed, stream: 0xFFFF_FFFF_FFFF_FFFF)
        let phaseX = random.nextDouble() * 2 * Double.pi
        let phaseY = random.nextDouble() * 2 * Double.pi
        let phaseR = random.nextDouble() * 2 * Double.pi
        let x = Double(width) * (0.5 + 0.3 * sin(2 * Double.pi * t / 600 + phaseX))
        let y = Double(height) * (0.5 + 0.3 * sin(2 * Double.pi * t / 420 + phaseY))
        let radius = 15 + 3 * sin(2 * Double.pi * t / 250 + phaseR)
        return (x, y, radius)
    }

    /// Frame `index`: `width × height` values, row after row, reproducible on its own.
    public func frame(at index: Int) -> [Float] {
        let (cx, cy, radius) = hotSpot(at: index)
        // The hot spot is separable: exp(-(dx² + dy²) / 2r²) = ex[x] · ey[y].
        let inverseTwoR2 = 1 / (2 * radius * radius)
        let ex = (0..<width).map { x -> Double in
            let d = Double(x) + 0.5 - cx
            return exp(-d * d * inverseTwoR2)
        }
        let ey = (0..<height).map { y -> Double in
            let d = Double(y) + 0.5 - cy
            return Self.hotSpotPeak * exp(-d * d * inverseTwoR2)
        }
        // Gradient: about 6 °C across the plate in x and 4 °C in y, centred on `ambient`.
        let gx = 6.0 / Double(width), gy = 4.0 / Double(height)
        let x0 = Double(width) / 2, y0 = Double(height) / 2
        let sigma = Double(noiseSigma)
        let scale = Self.power10(decimals)
        var random = SeededRandom(seed: seed, stream: UInt64(bitPattern: Int64(index)))
        var values = [Float](repeating: 0, count: width * height)
        values.withUnsafeMutableBufferPointer { out in
            var i = 0
            for y in 0..<height {
                let rowBase = Self.ambient + gy * (Double(y) - y0)
                let hy = ey[y]
                for x in 0..<width {
                    var v = rowBase + gx * (Double(x) - x0) + hy * ex[x]
                    if sigma > 0 { v += sigma * random.nextGaussian() }
                    out[i] = Float((v * scale).rounded() / scale)
                    i += 1
                }
            }
        }
        return values
    }

    private static func power10(_ d: Int) -> Double {
        var p = 1.0
        for _ in 0..<d { p *= 10 }
        return p
    }
}
