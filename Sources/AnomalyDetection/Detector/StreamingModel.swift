// The per-printer streaming model: rolling-window features, an Isolation Forest retrained on
// recent normal data, and an adaptive threshold.
import Foundation
public import TelemetryModel

/// Scores each record of one printer against that printer's own recent normal behaviour.
///
/// Features are computed over rolling windows of every numeric channel (the level, the window
/// mean and deviation, the slope) plus the frame's statistics. Feature vectors of records the
/// caller marks normal (no rule alert open, the model itself quiet) go into a bounded training
/// buffer; every ``Configuration/retrainEvery`` normal records the forest is refitted on the
/// buffer, and the threshold is set again from the training data's own scores (their
/// ``Configuration/thresholdQuantile`` quantile plus ``Configuration/thresholdMargin``). A
/// forest fitted once with a fixed threshold drifts into continuous alerting as a machine
/// warms up, wears and changes jobs; refitting on recent normal data and re-deriving the
/// threshold follows that drift, while a fault (not normal, so not learned) stays visible.
///
/// ```swift
/// var model = StreamingModel()
/// if let s = model.add(record, normal: true) { print(s.smoothed, s.threshold) }
/// ```
public struct StreamingModel: Sendable {
    /// Tuning of the model.
    public struct Configuration: Sendable, Equatable {
        /// Length of the rolling windows (seconds).
        public var windowSeconds = 30.0
        /// Normal feature vectors kept for training (the newest).
        public var trainingSize = 1_024
        /// Normal vectors needed before the first fit.
        public var minimumTraining = 240
        /// Refit after this many new normal vectors.
        public var retrainEvery = 300
        /// Trees per forest.
        public var trees = 100
        /// Subsample size ψ.
        public var sampleSize = 256
        /// Quantile of the training scores that sets the threshold.
        public var thresholdQuantile = 0.995
        /// Added to that quantile.
        public var thresholdMargin = 0.03
        /// Smoothing of the score: weight of the newest score in an exponential average.
        public var smoothing = 0.3
        /// Seed of the forests (each refit uses seed + fit count).
        public var seed: UInt64 = 1
        public init() {}
    }

    /// One scored record.
    public struct Score: Sendable, Equatable {
        /// This record's score, 2^(−E[h]/c(ψ)).
        public var raw: Double
        /// Exponentially smoothed score (what the threshold applies to).
        public var smoothed: Double
        /// The current adaptive threshold.
        public var threshold: Double
        /// The feature farthest from its training median, in training deviations.
        public var topFeature: String
    }

    public let configuration: Configuration
    private var channelNames: [String] = []
    private var windows: [String: RollingWindow] = [:]
    private var training: [[Double]] = []
    private var trainingHead = 0
    private var newSinceFit = 0
    private var forest: IsolationForest?
    private var medians: [Double] = []
    private var deviations: [Double] = []
    private(set) public var threshold = Double.nan
    private(set) public var fits = 0
    private var smoothed: Double?
    /// Names of the features, in vector order.
    private(set) public var featureNames: [String] = []

    /// Channels that are counters or set points rather than measurements.
    static let ignoredChannels: Set<String> = ["layer", "print_progress"]

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    /// Adds one record; `normal` says whether it may be learned. Returns its score once a
    /// forest exists. `frameStatistics` are the record's frame statistics (from its channels
    /// when the store computed them, else from its frame); `extra` adds features.
    public mutating func add(_ record: TelemetryRecord, frameStatistics: FrameStatistics? = nil, extra: [String: Double] = [:],
                             normal: Bool) -> Score? {
        var channels: [String: Double] = [:]
        for (k, v) in record.channels where !Self.ignoredChannels.contains(k) && !k.hasPrefix("frame_") { channels[k] = Double(v) }
        if let s = frameStatistics {
            channels["frame_mean"] = Double(s.mean)
            channels["frame_std"] = Double(s.std)
            channels["frame_peak"] = Double(s.max - s.mean)
        }
        for (k, v) in extra { channels[k] = v }
        if channelNames.isEmpty || Set(channels.keys).subtracting(channelNames).count > 0 {
            // A new channel: start the feature layout again (rare: the first record, a new sensor).
            channelNames = Array(Set(channelNames).union(channels.keys)).sorted()
            featureNames = channelNames.flatMap { ["\($0)", "\($0).mean", "\($0).std", "\($0).slope"] }
            training = []
            trainingHead = 0
            forest = nil
            newSinceFit = 0
            threshold = .nan
            smoothed = nil
        }
        for name in channelNames {
            if let v = channels[name] { windows[name, default: RollingWindow(seconds: configuration.windowSeconds)].add(v, at: record.timestamp) }
        }
        var x: [Double] = []
        x.reserveCapacity(featureNames.count)
        for name in channelNames {
            let w = windows[name]
            let level = channels[name] ?? .nan
            x.append(level)
            x.append(w?.mean ?? .nan)
            x.append(w?.standardDeviation ?? .nan)
            x.append(w?.slope ?? .nan)
        }
        var score: Score?
        if let forest {
            let filled = fill(x)
            let raw = forest.score(filled)
            let s = smoothed.map { $0 + configuration.smoothing * (raw - $0) } ?? raw
            smoothed = s
            score = Score(raw: raw, smoothed: s, threshold: threshold, topFeature: topFeature(filled))
        }
        if normal, windows.values.allSatisfy({ $0.count >= 2 }) {
            learn(x)
        }
        return score
    }

    private mutating func learn(_ x: [Double]) {
        if training.count < configuration.trainingSize {
            training.append(x)
        } else {
            training[trainingHead] = x
            trainingHead = (trainingHead + 1) % configuration.trainingSize
        }
        newSinceFit += 1
        let due = forest == nil ? training.count >= configuration.minimumTraining : newSinceFit >= configuration.retrainEvery
        if due { fit() }
    }

    private mutating func fit() {
        let width = featureNames.count
        var med = [Double](repeating: 0, count: width)
        var dev = [Double](repeating: 1, count: width)
        for j in 0..<width {
            let column = training.map { $0[j] }.filter(\.isFinite).sorted()
            guard !column.isEmpty else { continue }
            med[j] = column[column.count / 2]
            let mad = column.map { abs($0 - med[j]) }.sorted()[column.count / 2]
            dev[j] = max(mad * 1.4826, 1e-6)
        }
        medians = med
        deviations = dev
        var forestConfiguration = IsolationForest.Configuration()
        forestConfiguration.trees = configuration.trees
        forestConfiguration.sampleSize = configuration.sampleSize
        forestConfiguration.seed = configuration.seed &+ UInt64(fits)
        let rows = training.map(fill)
        guard let fitted = try? IsolationForest(training: rows, configuration: forestConfiguration) else { return }
        forest = fitted
        fits += 1
        newSinceFit = 0
        threshold = RollingWindow.nearestRank(fitted.scores(rows).sorted(), configuration.thresholdQuantile) + configuration.thresholdMargin
    }

    /// Missing values take the training median (the forest needs finite numbers).
    private func fill(_ x: [Double]) -> [Double] {
        var y = x
        for j in y.indices where !y[j].isFinite { y[j] = j < medians.count ? medians[j] : 0 }
        return y
    }

    private func topFeature(_ x: [Double]) -> String {
        guard medians.count == x.count else { return "" }
        var best = 0, bestZ = -1.0
        for j in x.indices {
            let z = abs(x[j] - medians[j]) / deviations[j]
            if z > bestZ { bestZ = z; best = j }
        }
        return featureNames[best]
    }
}
