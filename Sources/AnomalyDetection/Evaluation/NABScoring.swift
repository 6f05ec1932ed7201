// NAB (Numenta Anomaly Benchmark) window scoring: rewards early detection inside a labelled
// anomaly window, penalises false positives by their distance from the preceding window, and
// normalises against the null (never detects) and perfect (detects every window at its start)
// detectors. Formulas follow numenta/NAB nab/sweeper.py and nab/runner.py (normalize()).

import Foundation

/// The weights of a NAB application profile.
///
/// NAB's three published profiles differ only in these weights; ``standard`` is the one the
/// leaderboards quote. The weights are magnitudes: a false positive adds
/// `falsePositiveWeight · σ(position)` with a negative `σ`, a missed window adds `−falseNegativeWeight`.
///
/// ```swift
/// let score = try NABScoring.score(detections: alarms, windows: windows, profile: .standard)
/// ```
public struct NABProfile: Sendable, Equatable, Codable {
    /// A_TP: the reward for detecting a window at its very first row.
    public var truePositiveWeight: Double
    /// |A_FP|: the weight of a false positive far from any window (0.11 in the standard profile).
    public var falsePositiveWeight: Double
    /// |A_FN|: the cost of a window with no detection in it.
    public var falseNegativeWeight: Double

    /// A profile with the given weights (all positive magnitudes).
    public init(truePositiveWeight: Double = 1.0, falsePositiveWeight: Double = 0.11, falseNegativeWeight: Double = 1.0) {
        self.truePositiveWeight = truePositiveWeight
        self.falsePositiveWeight = falsePositiveWeight
        self.falseNegativeWeight = falseNegativeWeight
    }

    /// NAB's standard profile: A_TP 1.0, A_FP −0.11, A_FN −1.0.
    public static let standard = NABProfile()
    /// NAB's "reward low FP rate" profile: A_FP −0.22.
    public static let rewardLowFalsePositives = NABProfile(falsePositiveWeight: 0.22)
    /// NAB's "reward low FN rate" profile: A_FN −2.0.
    public static let rewardLowFalseNegatives = NABProfile(falseNegativeWeight: 2.0)
}

/// A labelled anomaly window: the rows `start...end` (both inclusive, 0-based row indices).
public struct NABWindow: Sendable, Equatable, Hashable, Codable {
    /// First row of the window.
    public var start: Int
    /// Last row of the window (inclusive).
    public var end: Int

    /// A window over `start...end`.
    public init(start: Int, end: Int) {
        self.start = start
        self.end = end
    }

    /// Rows in the window.
    public var width: Int { end - start + 1 }
}

/// The NAB score of one or more series: the raw score and the two baselines it is normalised by.
///
/// Scores of several files add up with `+` (raw, null and perfect scores are sums over files, as in
/// NAB, which normalises the corpus total rather than averaging per-file scores).
public struct NABScore: Sendable, Equatable, Codable {
    /// The detector's raw score: window rewards and penalties plus false-positive penalties.
    public var raw: Double
    /// The null detector's score (it detects nothing): −A_FN per window.
    public var nullScore: Double
    /// The perfect detector's score (one detection at the start of every window): A_TP per window.
    public var perfectScore: Double
    /// Windows scored.
    public var windows: Int
    /// Windows with at least one detection.
    public var detectedWindows: Int
    /// Detections outside every window.
    public var falsePositives: Int

    /// A score from its parts.
    public init(raw: Double = 0, nullScore: Double = 0, perfectScore: Double = 0, windows: Int = 0, detectedWindows: Int = 0, falsePositives: Int = 0) {
        self.raw = raw
        self.nullScore = nullScore
        self.perfectScore = perfectScore
        self.windows = windows
        self.detectedWindows = detectedWindows
        self.falsePositives = falsePositives
    }

    /// 100 · (raw − null) / (perfect − null): 100 for the perfect detector, 0 for the null detector,
    /// negative for a detector worse than doing nothing; `nil` when there is no window (perfect and
    /// null coincide, and NAB's normalisation is undefined).
    public var normalized: Double? {
        let span = perfectScore - nullScore
        guard span > 0 else { return nil }
        return 100 * (raw - nullScore) / span
    }

    /// The scores of two series together.
    public static func + (lhs: NABScore, rhs: NABScore) -> NABScore {
        NABScore(
            raw: lhs.raw + rhs.raw,
            nullScore: lhs.nullScore + rhs.nullScore,
            perfectScore: lhs.perfectScore + rhs.perfectScore,
            windows: lhs.windows + rhs.windows,
            detectedWindows: lhs.detectedWindows + rhs.detectedWindows,
            falsePositives: lhs.falsePositives + rhs.falsePositives
        )
    }

    /// Adds `rhs` to `lhs`.
    public static func += (lhs: inout NABScore, rhs: NABScore) {
        lhs = lhs + rhs
    }
}

/// NAB window scoring of binary detections.
///
/// A detection is a row flagged anomalous (for a scoring detector: a row whose score is at or above
/// the threshold). The rules are NAB's (`nab/sweeper.py`):
/// - **Inside a window** of width `W` ending at row `e`, a detection at row `i` has the relative
///   position `p = −(e − i + 1) / W` (−1 at the window's first row, −1/W at its last) and earns
///   `A_TP · σ(p) / σ(−1)`, where `σ(p) = 2 / (1 + e^(5p)) − 1` is NAB's scaled sigmoid. Only the first
///   detection in a window counts (the sigmoid decreases through the window, so it is also the best).
/// - **A window with no detection** costs `−A_FN`.
/// - **Outside every window**, a detection before the first window costs `−|A_FP|`; after a window
///   of width `W` ending at row `e`, it costs `|A_FP| · σ(|i − e| / (W − 1))` (σ is negative there, near
///   0 right after the window, −1 from three window widths on). Every flagged row counts.
/// - The **normalised score** is `100 · (raw − null) / (perfect − null)` with `null = −A_FN · windows`
///   (the detector that never fires) and `perfect = A_TP · windows` (`runner.py`, `normalize()`).
///
/// Differences from NAB, all at edges NAB leaves undefined or handles by its corpus files:
/// - A window of width 1 would divide by zero after its end; the distance is divided by
///   `max(W − 1, 1)` instead.
/// - Windows come from the caller. ``windows(labels:)`` derives them from row labels as the
///   contiguous runs of anomalous rows; NAB's corpus instead widens each labelled point into a window
///   of 10 % of the file divided by the number of anomalies.
/// - The probationary period is a parameter (`probationaryRows`, default 0: callers that exclude a
///   training prefix have already removed it); ``nabProbationaryRows(rowCount:)`` gives NAB's 15 %.
///   Windows entirely inside it are not scored and count toward neither baseline.
///
/// ```swift
/// let windows = NABScoring.windows(labels: labels)
/// let score = try NABScoring.score(detections: alarms, windows: windows)
/// print(score.normalized ?? 0)
/// ```
public enum NABScoring {
    /// NAB's scaled sigmoid `2 / (1 + e^(5x)) − 1`, and −1 for `x > 3` (a false positive far past a window).
    ///
    /// `scaledSigmoid(-1)` ≈ 0.98661 (a window's first row), `scaledSigmoid(0) == 0` (just past its end),
    /// `scaledSigmoid(1)` ≈ −0.98661.
    public static func scaledSigmoid(_ x: Double) -> Double {
        if x > 3 { return -1 }
        return 2 / (1 + exp(5 * x)) - 1
    }

    /// NAB's probationary length for a file of `rowCount` rows: `min(floor(0.15 · n), 750)`.
    public static func nabProbationaryRows(rowCount: Int) -> Int {
        min(Int((0.15 * Double(rowCount)).rounded(.down)), 750)
    }

    /// The contiguous runs of `true` in `labels`, as windows.
    ///
    /// ```swift
    /// NABScoring.windows(labels: [false, true, true, false, true])
    /// // [NABWindow(start: 1, end: 2), NABWindow(start: 4, end: 4)]
    /// ```
    public static func windows(labels: [Bool]) -> [NABWindow] {
        var windows: [NABWindow] = []
        var start: Int?
        for (index, anomalous) in labels.enumerated() {
            if anomalous, start == nil { start = index }
            if !anomalous, let first = start {
                windows.append(NABWindow(start: first, end: index - 1))
                start = nil
            }
        }
        if let first = start { windows.append(NABWindow(start: first, end: labels.count - 1)) }
        return windows
    }

    /// The NAB score of `detections` (one flag per row) against `windows`.
    ///
    /// Throws ``DetectionError/Code/invalidArgument`` when the windows are not sorted, overlap, or
    /// reach outside `0..<detections.count`.
    ///
    /// ```swift
    /// let score = try NABScoring.score(detections: alarms, windows: [NABWindow(start: 10, end: 19)])
    /// ```
    public static func score(
        detections: [Bool],
        windows: [NABWindow],
        profile: NABProfile = .standard,
        probationaryRows: Int = 0
    ) throws(DetectionError) -> NABScore {
        try validate(windows, rowCount: detections.count)
        let maxTP = scaledSigmoid(-1)
        var score = NABScore()
        var next = 0                      // index of the next window to enter
        var current: NABWindow?           // the window row i is in
        var currentDetected = false
        var currentScored = false         // has a non-probationary row (so it counts)
        var previous: NABWindow?          // the last window left
        var raw = 0.0

        func close(_ window: NABWindow) {
            guard currentScored else { return }
            score.windows += 1
            if !currentDetected { raw -= profile.falseNegativeWeight }
        }

        for i in detections.indices {
            if current == nil, next < windows.count, windows[next].start == i {
                current = windows[next]
                next += 1
                currentDetected = false
                currentScored = false
            }
            let scored = i >= probationaryRows
            if let window = current {
                if scored { currentScored = true }
                if scored, detections[i], !currentDetected {
                    let position = -Double(window.end - i + 1) / Double(window.width)
                    raw += scaledSigmoid(position) * profile.truePositiveWeight / maxTP
                    currentDetected = true
                    score.detectedWindows += 1
                }
                if i == window.end {
                    close(window)
                    previous = window
                    current = nil
                }
            } else if scored, detections[i] {
                score.falsePositives += 1
                if let last = previous {
                    let distance = Double(abs(i - last.end)) / Double(max(last.width - 1, 1))
                    raw += scaledSigmoid(distance) * profile.falsePositiveWeight
                } else {
                    raw -= profile.falsePositiveWeight
                }
            }
        }
        score.raw = raw
        score.nullScore = -profile.falseNegativeWeight * Double(score.windows)
        score.perfectScore = profile.truePositiveWeight * Double(score.windows)
        return score
    }

    private static func validate(_ windows: [NABWindow], rowCount: Int) throws(DetectionError) {
        var previousEnd = -1
        for (index, window) in windows.enumerated() {
            guard window.start <= window.end else {
                throw DetectionError(.invalidArgument, "NAB window \(index) starts at row \(window.start) after its end \(window.end)")
            }
            guard window.start >= 0, window.end < rowCount else {
                throw DetectionError(.invalidArgument, "NAB window \(index) (rows \(window.start)...\(window.end)) is outside the \(rowCount) rows")
            }
            guard window.start > previousEnd else {
                throw DetectionError(.invalidArgument, "NAB window \(index) (from row \(window.start)) overlaps or precedes the previous window (to row \(previousEnd)); windows must be sorted and disjoint")
            }
            previousEnd = window.end
        }
    }
}
