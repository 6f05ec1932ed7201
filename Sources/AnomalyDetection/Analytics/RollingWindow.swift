// A time-bounded window of one channel's recent values: level, mean, deviation, slope, quantiles.
public import TelemetryModel

/// The last ``seconds`` of one channel's values, with the statistics the rules and features use.
///
/// Values are kept with their times; the oldest fall out as new ones arrive. NaN values are
/// not stored (a dropped-out sensor leaves a gap, which ``count`` shows).
///
/// ```swift
/// var w = RollingWindow(seconds: 30)
/// w.add(210.4, at: t)
/// w.slope      // °C per second over the window (least squares)
/// ```
public struct RollingWindow: Sendable {
    /// The window's length in seconds.
    public let seconds: Double
    /// Most values kept (a bound against very high sample rates).
    public let capacity: Int
    private var times: [Double] = []
    private var values: [Double] = []
    private var head = 0

    public init(seconds: Double, capacity: Int = 4_096) {
        self.seconds = seconds
        self.capacity = capacity
    }

    /// Adds `value` at `time`, dropping values older than the window.
    public mutating func add(_ value: Double, at time: Timestamp) {
        guard value.isFinite else { return }
        let t = Double(time.nanoseconds) / 1e9
        times.append(t)
        values.append(value)
        while head < times.count, t - times[head] > seconds || times.count - head > capacity { head += 1 }
        if head > 256, head * 2 > times.count {
            times.removeFirst(head)
            values.removeFirst(head)
            head = 0
        }
    }

    /// Values in the window.
    public var count: Int { times.count - head }
    /// The newest value.
    public var last: Double? { count > 0 ? values[values.count - 1] : nil }
    /// Seconds between the oldest and the newest value.
    public var span: Double { count > 1 ? times[times.count - 1] - times[head] : 0 }

    /// Mean of the window (NaN when empty).
    public var mean: Double {
        guard count > 0 else { return .nan }
        var s = 0.0
        for i in head..<values.count { s += values[i] }
        return s / Double(count)
    }

    /// Population standard deviation (NaN when empty).
    public var standardDeviation: Double {
        guard count > 0 else { return .nan }
        let m = mean
        var s = 0.0
        for i in head..<values.count { s += (values[i] - m) * (values[i] - m) }
        return (s / Double(count)).squareRoot()
    }

    /// Least-squares slope in units per second (0 with fewer than 2 values or no time span).
    public var slope: Double { slope(from: head, to: values.count) }

    /// Slope of the older and the newer half of the window.
    public var halfSlopes: (older: Double, newer: Double) {
        let mid = head + count / 2
        return (slope(from: head, to: mid), slope(from: mid, to: values.count))
    }

    /// The `q` quantile (0…1) of the window, nearest rank (NaN when empty).
    public func quantile(_ q: Double) -> Double {
        Self.nearestRank(values[head...].sorted(), q)
    }

    /// The `q` quantile (0…1) of ascending `sorted` values, nearest rank (NaN when empty).
    static func nearestRank(_ sorted: [Double], _ q: Double) -> Double {
        guard !sorted.isEmpty else { return .nan }
        return sorted[min(sorted.count - 1, max(0, Int((q * Double(sorted.count)).rounded(.up)) - 1))]
    }

    /// Whether the newest `n` values are all equal (a frozen sensor).
    public func lastValuesEqual(_ n: Int) -> Bool {
        guard count >= n, n > 1 else { return false }
        let v = values[values.count - 1]
        for i in (values.count - n)..<values.count where values[i] != v { return false }
        return true
    }

    private func slope(from a: Int, to b: Int) -> Double {
        let n = b - a
        guard n >= 2 else { return 0 }
        let t0 = times[a]
        var st = 0.0, sv = 0.0
        for i in a..<b { st += times[i] - t0; sv += values[i] }
        let mt = st / Double(n), mv = sv / Double(n)
        var num = 0.0, den = 0.0
        for i in a..<b {
            let dt = times[i] - t0 - mt
            num += dt * (values[i] - mv)
            den += dt * dt
        }
        return den > 0 ? num / den : 0
    }
}
