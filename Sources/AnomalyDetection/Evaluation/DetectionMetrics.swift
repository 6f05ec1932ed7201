// Row-level detection metrics: the confusion counts and the rates derived from them
// (precision, recall, F1, false-alarm rate, missed-alarm rate), as SKAB reports them.

/// The four confusion counts of a binary detector against labels, and the rates derived from them.
///
/// Anomalous is the positive class: a true positive is an anomalous row the detector flagged, a false
/// positive a normal row it flagged, a false negative an anomalous row it missed. Counts from several
/// files add up with `+` (SKAB pools the rows of all its files before computing the rates).
///
/// Every rate is a ratio whose denominator can be zero; such a 0/0 rate is defined as **0** (the
/// convention of scikit-learn's `zero_division=0`), never NaN:
/// - ``precision`` is 0 when nothing was flagged,
/// - ``recall`` and ``missedAlarmRate`` are 0 when there is no anomalous row (nothing could be missed),
/// - ``falseAlarmRate`` is 0 when there is no normal row (no alarm could be false),
/// - ``f1`` is 0 when there is neither an anomalous row nor a flagged row.
///
/// ```swift
/// let counts = ConfusionCounts(predicted: [true, true, false, false], actual: [true, false, true, false])
/// // tp 1, fp 1, tn 1, fn 1: F1 0.5, FAR 0.5, MAR 0.5
/// ```
public struct ConfusionCounts: Sendable, Equatable, Hashable, Codable {
    /// Anomalous rows the detector flagged.
    public var tp: Int
    /// Normal rows the detector flagged (false alarms).
    public var fp: Int
    /// Normal rows the detector left alone.
    public var tn: Int
    /// Anomalous rows the detector missed.
    public var fn: Int

    /// Counts given directly.
    public init(tp: Int = 0, fp: Int = 0, tn: Int = 0, fn: Int = 0) {
        self.tp = tp
        self.fp = fp
        self.tn = tn
        self.fn = fn
    }

    /// Counts of `predicted` against `actual`, row by row.
    ///
    /// Both arrays must have the same length (a programming error otherwise: the initializer stops
    /// with a precondition failure rather than count a misaligned prefix).
    ///
    /// ```swift
    /// let counts = ConfusionCounts(predicted: alarms, actual: labels)
    /// ```
    public init(predicted: [Bool], actual: [Bool]) {
        precondition(
            predicted.count == actual.count,
            "ConfusionCounts: \(predicted.count) predictions for \(actual.count) labels"
        )
        var counts = ConfusionCounts()
        for (flagged, anomalous) in zip(predicted, actual) {
            switch (flagged, anomalous) {
            case (true, true): counts.tp += 1
            case (true, false): counts.fp += 1
            case (false, false): counts.tn += 1
            case (false, true): counts.fn += 1
            }
        }
        self = counts
    }

    /// The counts of two evaluations pooled (rows of both).
    public static func + (lhs: ConfusionCounts, rhs: ConfusionCounts) -> ConfusionCounts {
        ConfusionCounts(tp: lhs.tp + rhs.tp, fp: lhs.fp + rhs.fp, tn: lhs.tn + rhs.tn, fn: lhs.fn + rhs.fn)
    }

    /// Adds `rhs`'s counts to `lhs`.
    public static func += (lhs: inout ConfusionCounts, rhs: ConfusionCounts) {
        lhs = lhs + rhs
    }

    /// All rows counted.
    public var total: Int { tp + fp + tn + fn }

    /// Rows labelled anomalous (tp + fn).
    public var actualPositives: Int { tp + fn }

    /// Rows labelled normal (fp + tn).
    public var actualNegatives: Int { fp + tn }

    /// tp / (tp + fp): the share of flagged rows that are anomalous; 0 when nothing was flagged.
    public var precision: Double { Self.ratio(tp, tp + fp) }

    /// tp / (tp + fn): the share of anomalous rows flagged; 0 when there is no anomalous row.
    public var recall: Double { Self.ratio(tp, tp + fn) }

    /// 2·tp / (2·tp + fp + fn), the harmonic mean of precision and recall; 0 when there is neither an
    /// anomalous nor a flagged row.
    ///
    /// This form equals 2·P·R / (P + R) whenever both are defined and is defined (0) when tp is 0.
    public var f1: Double { Self.ratio(2 * tp, 2 * tp + fp + fn) }

    /// FAR = fp / (fp + tn): the share of normal rows flagged; 0 when there is no normal row.
    public var falseAlarmRate: Double { Self.ratio(fp, fp + tn) }

    /// MAR = fn / (fn + tp): the share of anomalous rows missed; 0 when there is no anomalous row.
    public var missedAlarmRate: Double { Self.ratio(fn, fn + tp) }

    private static func ratio(_ numerator: Int, _ denominator: Int) -> Double {
        denominator == 0 ? 0 : Double(numerator) / Double(denominator)
    }
}
