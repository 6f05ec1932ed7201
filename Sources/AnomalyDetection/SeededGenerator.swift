// A seedable, platform-independent random number generator: xoshiro256** seeded by SplitMix64,
// plus the bounded-integer and unit-interval draws the Isolation Forest uses.

/// A deterministic random number generator: the same seed gives the same stream on every platform.
///
/// The state is xoshiro256** (Blackman and Vigna, 2018), filled from the seed with four SplitMix64
/// outputs, so seeds 0, 1, 2 … give unrelated streams. It is a value type: copying it forks the
/// stream. Use ``nextInt(below:)`` and ``nextDouble()`` rather than the standard library's
/// `Int.random(in:using:)` where results must not depend on the standard library's version.
/// It is not cryptographically secure.
///
/// ```swift
/// var generator = SeededGenerator(seed: 42)
/// let die = generator.nextInt(below: 6) + 1      // 1...6, the same on every run
/// let u = generator.nextDouble()                 // in [0, 1)
/// let shuffled = [1, 2, 3].shuffled(using: &generator)
/// ```
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var s0: UInt64
    private var s1: UInt64
    private var s2: UInt64
    private var s3: UInt64

    /// Creates a generator whose state is four SplitMix64 outputs of `seed`.
    ///
    /// SplitMix64 never yields an all-zero xoshiro state from a 64-bit seed, so every seed,
    /// including 0, is valid.
    ///
    /// ```swift
    /// var a = SeededGenerator(seed: 7), b = SeededGenerator(seed: 7)
    /// assert(a.next() == b.next())
    /// ```
    public init(seed: UInt64) {
        var x = seed
        func splitMix() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s0 = splitMix()
        s1 = splitMix()
        s2 = splitMix()
        s3 = splitMix()
    }

    /// The next 64 random bits (xoshiro256**).
    ///
    /// ```swift
    /// var generator = SeededGenerator(seed: 0)
    /// let bits: UInt64 = generator.next()
    /// ```
    public mutating func next() -> UInt64 {
        let result = rotateLeft(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = rotateLeft(s3, 45)
        return result
    }

    /// A uniformly distributed integer in `0..<bound`; `bound` must be positive.
    ///
    /// Lemire's multiply-and-reject method, written out here so the result depends only on the
    /// generator's bits (not on how a given standard library implements `random(in:)`).
    ///
    /// ```swift
    /// var generator = SeededGenerator(seed: 1)
    /// let index = generator.nextInt(below: 30)   // 0...29
    /// ```
    public mutating func nextInt(below bound: Int) -> Int {
        precondition(bound > 0, "nextInt(below:) needs a positive bound, got \(bound)")
        let range = UInt64(bound)
        var product = next().multipliedFullWidth(by: range)
        if product.low < range {
            // 2^64 mod range, computed without overflow as (0 - range) mod range.
            let threshold = (0 &- range) % range
            while product.low < threshold {
                product = next().multipliedFullWidth(by: range)
            }
        }
        return Int(product.high)
    }

    /// A uniformly distributed `Double` in `[0, 1)`, with 53 random bits.
    ///
    /// ```swift
    /// var generator = SeededGenerator(seed: 2)
    /// let u = generator.nextDouble()   // 0 <= u < 1
    /// ```
    public mutating func nextDouble() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    @inline(__always)
    private func rotateLeft(_ x: UInt64, _ k: UInt64) -> UInt64 {
        (x << k) | (x >> (64 - k))
    }
}
