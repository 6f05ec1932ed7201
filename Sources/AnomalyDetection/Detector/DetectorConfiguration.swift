// Every threshold and period of the detector, with the defaults sinter-detect uses.

/// The detector's rules and model, as documented `var`s with defaults.
///
/// Defaults suit the simulated fleet and common practice: vibration limits are ISO 10816's
/// class I zones (4.5 and 7.1 mm/s RMS), FDM limits are a PLA/PETG nozzle's (225 °C warning,
/// 240 °C critical), other temperatures are judged against each printer's own learned level.
///
/// ```swift
/// var configuration = DetectorConfiguration()
/// configuration.vibration = Threshold(warning: 2.8, critical: 4.5, hysteresis: 0.3)
/// var detector = Detector(configuration: configuration)
/// ```
public struct DetectorConfiguration: Sendable, Equatable {
    /// Pending and clearing periods of one rule.
    public struct Timing: Sendable, Equatable {
        /// How long the condition must hold before the alert is raised.
        public var pending: Duration
        /// How long it must stay clear before the alert is resolved.
        public var clearAfter: Duration
        public init(pending: Duration, clearAfter: Duration) {
            self.pending = pending
            self.clearAfter = clearAfter
        }
    }

    // MARK: Rules

    /// `hard_failure` (critical): the printer reports the `error` state.
    public var hardFailure = Timing(pending: .zero, clearAfter: .seconds(5))

    /// `filament_jam` (critical): filament flow below ``jamFlow`` while the extruder motor's
    /// load is above ``jamLoad`` % (or its load is not reported) and the printer should be
    /// extruding (`printing`, `anomaly`, `error`, or no state).
    public var filamentJam = Timing(pending: .seconds(3), clearAfter: .seconds(5))
    /// Flow (mm³/s) under which the filament counts as stopped; it clears above ``jamFlow`` + 1.
    public var jamFlow = 1.5
    /// Extruder load (%) above which a stopped filament is a jam.
    public var jamLoad = 80.0

    /// `overheating`: absolute limits per temperature channel (°C).
    public var temperatureLimits: [String: Threshold] = [
        "nozzle_temp_c": Threshold(warning: 225, critical: 240, hysteresis: 3),
        "bed_temp_c": Threshold(warning: 75, critical: 90, hysteresis: 2),
    ]
    /// `overheating`: limits relative to the printer's learned level, for temperature channels
    /// without absolute limits (a DMLS build plate): warning and critical °C above the level.
    public var learnedTemperatureOffsets: [String: Threshold] = [
        "plate_temp_c": Threshold(warning: 6, critical: 12, hysteresis: 1.5),
    ]
    public var overheating = Timing(pending: .seconds(5), clearAfter: .seconds(15))

    /// `predictive_overheat` (warning): a temperature rising steadily (least-squares slope over
    /// ``trendSeconds`` at least ``trendMinimumSlope`` °C/s, not slowing down) that will reach
    /// its critical limit within ``trendHorizonSeconds`` — the warning before the failure.
    public var predictiveOverheat = Timing(pending: .seconds(3), clearAfter: .seconds(20))
    public var trendSeconds = 12.0
    public var trendMinimumSlope = 0.2
    public var trendHorizonSeconds = 120.0

    /// `power_spike`: power above the printer's recent normal (95th percentile of the last
    /// ``powerWindowSeconds``) by ``powerRatio``× and by at least ``powerMinimumDelta`` for its
    /// kind (kW): warning, and critical at twice the excess.
    public var powerSpike = Timing(pending: .seconds(2), clearAfter: .seconds(10))
    public var powerRatio = 1.5
    public var powerMinimumDelta: [String: Double] = ["dmls": 2.0, "fdm": 0.4]
    public var powerWindowSeconds = 600.0

    /// `vibration`: RMS vibration velocity (mm/s), ISO 10816 class I zones by default.
    public var vibration = Threshold(warning: 4.5, critical: 7.1, hysteresis: 0.5)
    public var vibrationTiming = Timing(pending: .seconds(3), clearAfter: .seconds(10))

    /// `sensor_dropout` (warning): a temperature channel NaN, or frozen at one value for
    /// ``frozenSamples`` samples.
    public var sensorDropout = Timing(pending: .seconds(5), clearAfter: .seconds(10))
    public var frozenSamples = 20

    /// `frame_hot_spot` and `non_uniform_layer` (DMLS frames): a bed region persistently above
    /// (below) its normal by these many °C.
    public var hotSpot = Threshold(warning: 6, critical: 12, hysteresis: 2)
    public var coldSpot = Threshold(warning: -6, critical: -12, hysteresis: 2, direction: .below)
    /// `non_uniform_layer` also counts weak melt pools (see ``FrameAnalyzer/Configuration/weakPoolDrop``)
    /// in the last ``FrameAnalyzer/Configuration/weakPoolSeconds``: warning at 3, critical at 8.
    public var weakPools = Threshold(warning: 3, critical: 8, hysteresis: 1)
    public var frameTiming = Timing(pending: .seconds(10), clearAfter: .seconds(20))
    public var frames = FrameAnalyzer.Configuration()

    // MARK: Model

    /// `isolation_forest` (warning): the per-printer streaming model.
    public var model = StreamingModel.Configuration()
    public var modelTiming = Timing(pending: .seconds(10), clearAfter: .seconds(30))

    /// Rules switched off by name (`--disable vibration,power_spike`).
    public var disabledRules: Set<String> = []

    public init() {}
}

/// The names of the rules the detector raises, as they appear in alerts.
public enum RuleName {
    public static let hardFailure = "hard_failure"
    public static let filamentJam = "filament_jam"
    public static let overheating = "overheating"
    public static let predictiveOverheat = "predictive_overheat"
    public static let powerSpike = "power_spike"
    public static let vibration = "vibration"
    public static let sensorDropout = "sensor_dropout"
    public static let hotSpot = "frame_hot_spot"
    public static let nonUniformLayer = "non_uniform_layer"
    public static let isolationForest = "isolation_forest"

    /// Every rule, in the order they are evaluated.
    public static let all = [hardFailure, filamentJam, overheating, predictiveOverheat, powerSpike, vibration,
                             sensorDropout, hotSpot, nonUniformLayer, isolationForest]
}
