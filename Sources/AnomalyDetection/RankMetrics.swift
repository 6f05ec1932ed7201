// Rank and correlation metrics for judging detectors: ROC AUC (Mann–Whitney) and Pearson's r.

/// Metrics that compare anomaly scores with labels or with other scores.
///
/// Both functions are pure and return `.nan` where the metric is undefined (mismatched lengths,
/// a missing class, a constant series, a NaN input) instead of trapping, so an evaluation report
/// can show "n/a" for one slice and carry on.
///
/// ```swift
/// let auc = RankMetrics.rocAUC(scores: [0.1, 0.4, 0.35, 0.8], labels: [false, false, true, true])  // 0.75
/// let r = RankMetrics.pearson([1, 2, 3], [2, 4, 6])                                             // 1.0
/// ```
public enum RankMetrics {
    /// The area under the ROC curve of `scores` (higher = more anomalous) against `labels`
    /// (`true` = anomaly).
    ///
    /// Computed as the Mann–Whitney statistic: the probability that a randomly chosen anomaly
    /// scores higher than a randomly chosen normal point, a tie counting one half. Tied scores get
    /// their average rank, so the result equals the trapezoidal area under the ROC curve (what
    /// scikit-learn's `roc_auc_score` reports). Returns `.nan` if the arrays differ in length, if
    /// either class is empty, or if a score is NaN.
    ///
    /// ```swift
    /// // Positives 0.35 and 0.8 against negatives 0.1 and 0.4: 3 of 4 pairs are ordered right.
    /// RankMetrics.rocAUC(scores: [0.1, 0.4, 0.35, 0.8], labels: [false, false, true, true])  // 0.75
    /// ```
    public static func rocAUC(scores: [Double], labels: [Bool]) -> Double {
        guard scores.count == labels.count, !scores.contains(where: \.isNaN) else { return .nan }
        let positives = labels.reduce(0) { $0 + ($1 ? 1 : 0) }
        let negatives = labels.count - positives
        guard positives > 0, negatives > 0 else { return .nan }

        let order = scores.indices.sorted { scores[$0] < scores[$1] }
        // Sum of the (1-based, tie-averaged) ranks of the positives.
        var positiveRankSum = 0.0
        var start = 0
        while start < order.count {
            var end = start + 1
            while end < order.count, scores[order[end]] == scores[order[start]] { end += 1 }
            let averageRank = Double(start + 1 + end) / 2  // mean of ranks start+1 ... end
            for k in start..<end where labels[order[k]] { positiveRankSum += averageRank }
            start = end
        }
        let p = Double(positives), n = Double(negatives)
        return (positiveRankSum - p * (p + 1) / 2) / (p * n)
    }

    /// Pearson's product-moment correlation of two equally long series.
    ///
    /// Uses the two-pass formula (means first, then centred sums) for accuracy. Returns `.nan` if
    /// the lengths differ, there are fewer than two values, either series is constant, or a value
    /// is not finite.
    ///
    /// ```swift
    /// RankMetrics.pearson([1, 2, 3, 4], [2, 4, 5, 9])   // 11 / √130 ≈ 0.9648
    /// ```
    public static func pearson(_ a: [Double], _ b: [Double]) -> Double {
        guard a.count == b.count, a.count >= 2,
              a.allSatisfy(\.isFinite), b.allSatisfy(\.isFinite) else { return .nan }
        let count = Double(a.count)
        let meanA = a.reduce(0, +) / count
        let meanB = b.reduce(0, +) / count
        var sab = 0.0, saa = 0.0, sbb = 0.0
        for i in a.indices {
            let da = a[i] - meanA, db = b[i] - meanB
            sab += da * db
            saa += da * da
            sbb += db * db
        }
        guard saa > 0, sbb > 0 else { return .nan }
        return sab / (saa.squareRoot() * sbb.squareRoot())
    }
}
