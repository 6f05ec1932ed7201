// Frame analytics for DMLS thermal frames: persistent hot and cold regions of the bed.
import Foundation
public import TelemetryModel

/// Finds regions of a printer's bed that are persistently hotter or colder than usual.
///
/// The frame is cut into square blocks (``Configuration/blocksAcross`` across); each block's
/// mean minus the median of all block means is its *excess*. A short exponential average of each
/// block's excess (``Configuration/shortSeconds``) follows what the bed does now; a long one
/// (``Configuration/baselineSeconds``, learned only while the block is within
/// ``Configuration/learnBand`` of it) remembers what is normal for that block on this printer
/// — the part's footprint is warmer than loose powder, every layer. The laser's melt pool
/// passes through a block in a moment and barely moves the short average; a hot spot over
/// supports or a cold lack-of-fusion patch stays, and the difference short − baseline grows.
///
/// ```swift
/// var analyzer = FrameAnalyzer()
/// let reading = analyzer.add(frame, at: record.timestamp)   // nil during the warm-up
/// reading?.hottest.excess                                   // °C above this block's normal
/// ```
public struct FrameAnalyzer: Sendable {
    /// Tuning of the frame analytics.
    public struct Configuration: Sendable, Equatable {
        /// Blocks across the frame's shorter side (20: 5 × 5-pixel blocks on a 100 × 100 frame).
        public var blocksAcross = 20
        /// Time constant of the short average of each block's excess (seconds).
        public var shortSeconds = 15.0
        /// Time constant of each block's learned normal excess (seconds).
        public var baselineSeconds = 300.0
        /// A block's baseline learns only while short − baseline is within ± this (°C), so a
        /// developing hot spot is not learned as normal.
        public var learnBand = 3.0
        /// Frames before readings are given (the baselines start from the first frames).
        public var warmUpFrames = 30
        /// A frame's melt pool (hottest pixel minus the frame's median) this many °C below the
        /// printer's normal pool, while the laser should be on, is a *weak pool*: too little
        /// energy where the laser is (lack of fusion).
        public var weakPoolDrop = 15.0
        /// Weak pools are counted over this many seconds.
        public var weakPoolSeconds = 30.0
        public init() {}
    }

    /// The most extreme block of one frame.
    public struct Region: Sendable, Equatable {
        /// Block centre in pixels.
        public var x: Int
        public var y: Int
        /// Short average minus the block's learned normal (°C).
        public var excess: Double
    }

    /// What one frame shows.
    public struct Reading: Sendable, Equatable {
        /// The block most above its normal.
        public var hottest: Region
        /// The block most below its normal.
        public var coldest: Region
        /// Standard deviation of the block means (°C): how uneven the layer is.
        public var blockSpread: Double
        /// This frame's melt pool: hottest pixel minus the frame's median (°C).
        public var pool: Double
        /// The printer's learned normal pool (NaN until learned).
        public var normalPool: Double
        /// Weak pools in the last ``Configuration/weakPoolSeconds``.
        public var weakPools: Int
        /// Where the latest weak pool was (pixels), if any.
        public var weakPoolAt: (x: Int, y: Int)?

        public static func == (a: Reading, b: Reading) -> Bool {
            a.hottest == b.hottest && a.coldest == b.coldest && a.blockSpread == b.blockSpread && a.pool == b.pool
                && a.weakPools == b.weakPools
        }
    }

    public let configuration: Configuration
    private var width = 0, height = 0, block = 0, across = 0, down = 0
    private var short: [Double] = []
    private var baseline: [Double] = []
    private var frames = 0
    private var lastTime: Timestamp?
    private var normalPool = Double.nan
    private var poolSamples = 0
    private var weakTimes: [Int64] = []
    private var weakAt: (x: Int, y: Int)?

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    /// Adds one frame taken at `time`; nil until the warm-up is over. `laserOn` says whether
    /// the printer is exposing (not recoating), so a missing melt pool counts.
    public mutating func add(_ frame: ThermalFrame, at time: Timestamp, laserOn: Bool = true) -> Reading? {
        if frame.width != width || frame.height != height { reset(for: frame) }
        guard block > 0 else { return nil }
        var means = [Double](repeating: 0, count: across * down)
        frame.values.withUnsafeBufferPointer { v in
            for by in 0..<down {
                for bx in 0..<across {
                    var sum = 0.0
                    var n = 0
                    for y in (by * block)..<((by + 1) * block) {
                        let row = y * width
                        for x in (bx * block)..<((bx + 1) * block) {
                            let t = Double(v[row + x])
                            if t.isFinite { sum += t; n += 1 }
                        }
                    }
                    means[by * across + bx] = n > 0 ? sum / Double(n) : .nan
                }
            }
        }
        let finite = means.filter(\.isFinite)
        guard finite.count > 0 else { return nil }
        let centre = Self.median(finite)
        var hottestPixel = -Double.infinity, hottestIndex = 0
        frame.values.withUnsafeBufferPointer { v in
            for i in 0..<v.count where Double(v[i]) > hottestPixel { hottestPixel = Double(v[i]); hottestIndex = i }
        }
        let pool = hottestPixel - centre
        if laserOn {
            if poolSamples >= configuration.warmUpFrames, pool < normalPool - configuration.weakPoolDrop {
                weakTimes.append(time.nanoseconds)
                weakAt = (hottestIndex % width, hottestIndex / width)
            } else {
                poolSamples += 1
                normalPool = normalPool.isNaN ? pool : normalPool + max(0.02, 1 / Double(poolSamples)) * (pool - normalPool)
            }
        }
        let horizon = time.nanoseconds - Int64(configuration.weakPoolSeconds * 1e9)
        weakTimes.removeAll { $0 <= horizon }
        if weakTimes.isEmpty { weakAt = nil }
        let dt = lastTime.map { max(0, Double(time.nanoseconds - $0.nanoseconds) / 1e9) } ?? 1
        lastTime = time
        let aShort = 1 - Foundation.exp(-dt / configuration.shortSeconds)
        let aLong = 1 - Foundation.exp(-dt / configuration.baselineSeconds)
        frames += 1
        let warming = frames <= configuration.warmUpFrames
        var hottest = Region(x: 0, y: 0, excess: -.infinity)
        var coldest = Region(x: 0, y: 0, excess: .infinity)
        var sum = 0.0, sumSquares = 0.0
        for k in 0..<means.count where means[k].isFinite {
            let excess = means[k] - centre
            sum += means[k]
            sumSquares += means[k] * means[k]
            if frames == 1 {
                short[k] = excess
                baseline[k] = excess
            } else {
                short[k] += aShort * (excess - short[k])
                if warming {
                    baseline[k] += max(aLong, 1 / Double(frames)) * (short[k] - baseline[k])
                } else if abs(short[k] - baseline[k]) <= configuration.learnBand {
                    baseline[k] += aLong * (short[k] - baseline[k])
                }
            }
            let d = short[k] - baseline[k]
            let (bx, by) = (k % across, k / across)
            let cx = bx * block + block / 2, cy = by * block + block / 2
            if d > hottest.excess { hottest = Region(x: cx, y: cy, excess: d) }
            if d < coldest.excess { coldest = Region(x: cx, y: cy, excess: d) }
        }
        if warming { return nil }
        let n = Double(finite.count)
        let spread = max(0, sumSquares / n - (sum / n) * (sum / n)).squareRoot()
        return Reading(hottest: hottest, coldest: coldest, blockSpread: spread, pool: pool,
                       normalPool: poolSamples >= configuration.warmUpFrames ? normalPool : .nan,
                       weakPools: weakTimes.count, weakPoolAt: weakAt)
    }

    private mutating func reset(for frame: ThermalFrame) {
        width = frame.width
        height = frame.height
        let across = max(1, configuration.blocksAcross)
        block = max(1, min(width, height) / across)
        self.across = width / block
        down = height / block
        short = [Double](repeating: 0, count: self.across * down)
        baseline = short
        frames = 0
        lastTime = nil
        normalPool = .nan
        poolSamples = 0
        weakTimes = []
        weakAt = nil
    }

    static func median(_ values: [Double]) -> Double {
        let s = values.sorted()
        let n = s.count
        return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2
    }
}
