public import TelemetryModel

/// Everything that shapes a simulated fleet: how many printers of each kind, how often they
/// sample, the seed, and the physics of each kind.
///
/// The same configuration and seed always give the same records, bit for bit, whatever the
/// wall clock does: simulated time starts at ``start`` and advances by exactly `1 / rate` per
/// sample. Printers are named `dmls-01…` and `fdm-01…`.
///
/// ```swift
/// var configuration = SimulationConfiguration()
/// configuration.dmlsCount = 4
/// configuration.fdmCount = 2
/// configuration.seed = 7
/// configuration.faults = [try FaultSpec(parsing: "hot-spot:dmls-01@120+60")]
/// var fleet = try PrinterFleet(configuration: configuration)
/// let step = fleet.step()          // one record per printer at `configuration.start`
/// ```
public struct SimulationConfiguration: Sendable {
    /// Number of DMLS (metal powder bed) printers, `dmls-01…`.
    public var dmlsCount = 1
    /// Number of FDM (polymer) printers, `fdm-01…`.
    public var fdmCount = 1
    /// Samples per printer per simulated second (0.001–1000).
    public var rate = 1.0
    /// The seed of every random choice: noise, part shapes, random faults, fleet stagger.
    public var seed: UInt64 = 1
    /// Simulated time of the first sample.
    public var start = Timestamp(milliseconds: 1_800_000_000_000)
    /// The DMLS physics.
    public var dmls = DMLSConfiguration()
    /// The FDM physics and state cycle.
    public var fdm = FDMConfiguration()
    /// Faults at fixed times (`--fault`).
    public var faults: [FaultSpec] = []
    /// Mean number of random faults per printer per simulated hour (0 = none). Random faults
    /// never overlap on one printer and last ``randomFaultSeconds``.
    public var randomFaultsPerHour = 0.0
    /// Shortest and longest random fault, in simulated seconds.
    public var randomFaultSeconds: ClosedRange<Double> = 30...180
    /// Resolution of every sensor reading (°C, kW, mm/s…): values are rounded to a multiple of
    /// it, as real instruments report them (0 = full Float precision).
    public var sensorResolution = 0.01

    public init() {}

    /// The simulated time between two samples of one printer, in nanoseconds.
    public var periodNanoseconds: Int64 { Int64((1e9 / rate).rounded()) }

    /// Checks every value, naming the command-line flag that sets it.
    public func validate() throws(SimulationError) {
        func fail(_ flag: String, _ message: String) -> SimulationError {
            SimulationError(code: .invalidConfiguration, message: "\(flag) \(message)")
        }
        guard (0...999).contains(dmlsCount) else { throw fail("--dmls", "must be 0...999; got \(dmlsCount)") }
        guard (0...999).contains(fdmCount) else { throw fail("--fdm", "must be 0...999; got \(fdmCount)") }
        guard dmlsCount + fdmCount > 0 else { throw fail("--dmls/--fdm", "must ask for at least one printer") }
        guard rate.isFinite, rate >= 0.001, rate <= 1000 else { throw fail("--rate", "must be 0.001...1000 samples per second; got \(rate)") }
        guard sensorResolution.isFinite, sensorResolution >= 0, sensorResolution <= 10 else {
            throw fail("--sensor-resolution", "must be 0...10; got \(sensorResolution)")
        }
        guard randomFaultsPerHour.isFinite, randomFaultsPerHour >= 0, randomFaultsPerHour <= 3600 else {
            throw fail("--random-faults", "must be 0...3600 per printer-hour; got \(randomFaultsPerHour)")
        }
        guard randomFaultSeconds.lowerBound > 0 else { throw fail("--random-faults", "durations must be positive") }
        try dmls.validate()
        try fdm.validate()
    }
}

/// The physics of a DMLS printer: its thermal camera, the heat model of the powder bed, the
/// scan strategy and the recoater.
///
/// Defaults give frames of about 22–75 °C as seed 000's device did: a heated build plate near
/// 32 °C, a melt track near 70 °C that cools within seconds, a layer every minute or so.
public struct DMLSConfiguration: Sendable {
    /// Frame columns.
    public var width = ThermalFrame.defaultWidth
    /// Frame rows.
    public var height = ThermalFrame.defaultHeight
    /// The camera's range (°C): readings outside are clipped to it, as a real sensor saturates.
    public var temperatureRange: ClosedRange<Float> = 20...80
    /// Standard deviation of the per-pixel noise of one reading (°C).
    public var sensorNoise: Float = 0.12
    /// Laser scan speed in frame cells per simulated second.
    public var scanSpeed = 25.0
    /// Rows (or columns) between two hatch lines.
    public var hatchSpacing = 2
    /// Seconds the recoater needs to spread one layer of powder.
    public var recoatSeconds = 8.0
    /// Thermal diffusivity of the bed in cells² per second (powder conducts poorly).
    public var diffusivity = 0.5
    /// Rate at which a cell relaxes to the plate and chamber temperature (1/s).
    public var cooling = 0.12
    /// Temperature rise the laser gives per cell of track (°C·cell), before diffusion.
    public var laserHeat = 35.0
    /// How much hotter than the bed's cell the camera sees the melt pool under the laser (°C);
    /// default: 45 % of the range's span. The pool is smaller than a pixel and far hotter than
    /// the grid's average, so it is drawn at sampling time rather than carried in the heat model.
    public var meltPoolGlow: Double?
    /// Set point of the build-plate heater (°C); default: the range's low end + 20 % of its span.
    public var plateSetpoint: Double?
    /// Mean chamber temperature (°C); default: the range's low end + 4 °C.
    public var chamberTemperature: Double?

    public init() {}

    var span: Double { Double(temperatureRange.upperBound - temperatureRange.lowerBound) }
    var resolvedPlateSetpoint: Double { plateSetpoint ?? Double(temperatureRange.lowerBound) + 0.2 * span }
    var resolvedGlow: Double { meltPoolGlow ?? 0.45 * span }
    var resolvedChamber: Double { chamberTemperature ?? Double(temperatureRange.lowerBound) + 4 }

    func validate() throws(SimulationError) {
        func fail(_ flag: String, _ message: String) -> SimulationError {
            SimulationError(code: .invalidConfiguration, message: "\(flag) \(message)")
        }
        guard (8...1024).contains(width), (8...1024).contains(height) else {
            throw fail("--frame-size", "sides must be 8...1024; got \(width)x\(height)")
        }
        guard temperatureRange.lowerBound.isFinite, temperatureRange.upperBound.isFinite,
              temperatureRange.upperBound - temperatureRange.lowerBound >= 10 else {
            throw fail("--temperature-range", "must span at least 10 °C; got \(temperatureRange)")
        }
        guard sensorNoise.isFinite, sensorNoise >= 0 else { throw fail("--sensor-noise", "must be ≥ 0") }
        guard scanSpeed > 0, scanSpeed <= 10_000 else { throw fail("scanSpeed", "must be 0...10000 cells/s") }
        guard hatchSpacing >= 1 else { throw fail("hatchSpacing", "must be ≥ 1") }
        guard recoatSeconds > 0 else { throw fail("recoatSeconds", "must be > 0") }
        guard diffusivity >= 0, cooling >= 0, laserHeat >= 0 else { throw fail("heat model", "coefficients must be ≥ 0") }
    }
}

/// One state of an FDM printer's cycle and how long it lasts.
public struct FDMPhase: Sendable, Hashable {
    public var state: FDMState
    /// Simulated seconds.
    public var seconds: Double

    public init(_ state: FDMState, seconds: Double) {
        self.state = state
        self.seconds = seconds
    }
}

/// The true condition of an FDM printer.
public enum FDMState: String, Sendable, CaseIterable {
    case idle, printing, anomaly, error
}

/// The physics and state cycle of an FDM printer (seed 001's simulator, made physical).
///
/// The default cycle is seed 001's: idle → printing → anomaly → error → printing, 60 s each,
/// then again from idle. In `anomaly` the nozzle overheats (0.5 °C/s, the seed's rate) while
/// the printer still reports `printing`; in `error` the filament is jammed.
public struct FDMConfiguration: Sendable {
    /// The repeating cycle of states.
    public var cycle: [FDMPhase] = [
        FDMPhase(.idle, seconds: 60), FDMPhase(.printing, seconds: 60), FDMPhase(.anomaly, seconds: 60),
        FDMPhase(.error, seconds: 60), FDMPhase(.printing, seconds: 60),
    ]
    /// Start each printer at a different, seeded point of its cycle (so a fleet does not fail
    /// all at once). Off: every printer starts at the beginning of the cycle.
    public var stagger = true
    /// Nozzle set point while printing (°C).
    public var nozzleSetpoint = 210.5
    /// Bed set point while printing (°C).
    public var bedSetpoint = 60.1
    /// Room temperature (°C).
    public var ambient = 25.0
    /// How fast the nozzle overheats in the anomaly state (°C per second).
    public var anomalyDriftPerSecond = 0.5
    /// Seconds one print takes (progress 0 → 100 %).
    public var printSeconds = 300.0
    /// Report the anomaly state as `anomaly` in records. Off (default): the printer reports
    /// `printing`, as a real printer does not know it is drifting; the truth is in the labels.
    public var reportAnomalyState = false

    public init() {}

    /// The cycle's whole length in seconds.
    public var cycleSeconds: Double { cycle.reduce(0) { $0 + $1.seconds } }

    func validate() throws(SimulationError) {
        guard !cycle.isEmpty, cycle.allSatisfy({ $0.seconds > 0 && $0.seconds.isFinite }) else {
            throw SimulationError(code: .invalidConfiguration, message: "--state-seconds: every state must last more than 0 s")
        }
        guard printSeconds > 0 else {
            throw SimulationError(code: .invalidConfiguration, message: "printSeconds must be > 0")
        }
    }
}

/// An error of the simulator: a code, a message a person can act on.
///
/// ```swift
/// do { _ = try FaultSpec(parsing: "melt:dmls-01@10") }
/// catch { print(error.message) }   // --fault "melt:dmls-01@10": unknown fault kind "melt"; …
/// ```
public struct SimulationError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case invalidConfiguration = "invalid_configuration"
        case invalidFault = "invalid_fault"
        case output = "output"
        case labels = "labels"
    }

    public var code: Code
    public var message: String

    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
