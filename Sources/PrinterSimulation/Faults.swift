public import TelemetryModel
import SyntheticData

/// The kinds of fault a simulated printer can suffer.
///
/// | kind | printers | what the data shows |
/// | --- | --- | --- |
/// | `hot-spot` | DMLS | a region of the bed overheats (poor heat escape over supports): a persistent spot 15–25 °C above its surroundings |
/// | `lack-of-fusion` | DMLS | the laser delivers too little energy in a region (`power=` fraction, default 0.3): a cold patch in the track |
/// | `recoater-jam` | DMLS | the blade catches on the part: recoating stalls, scanning stops, vibration 6–15 mm/s, motor power up |
/// | `heater-runaway` | both | a heater's controller fails on: plate (DMLS) or nozzle (FDM) temperature climbs, heater power at maximum |
/// | `thermocouple-dropout` | both | a temperature channel reads NaN (`mode=nan`, default) or freezes (`mode=stuck`) |
/// | `filament-jam` | FDM | flow drops near zero while the extruder motor's load rises above 85 % |
/// | `power-spike` | both | power draw jumps (`kw=` extra, default 2.5× the normal draw) |
public enum FaultKind: String, Sendable, CaseIterable, Hashable {
    case hotSpot = "hot-spot"
    case lackOfFusion = "lack-of-fusion"
    case recoaterJam = "recoater-jam"
    case heaterRunaway = "heater-runaway"
    case thermocoupleDropout = "thermocouple-dropout"
    case filamentJam = "filament-jam"
    case powerSpike = "power-spike"

    /// Whether a printer of `kind` can suffer this fault.
    public func applies(to kind: PrinterKind) -> Bool {
        switch self {
        case .hotSpot, .lackOfFusion, .recoaterJam: kind == .dmls
        case .filamentJam: kind == .fdm
        case .heaterRunaway, .thermocoupleDropout, .powerSpike: true
        }
    }

    /// Parameters each kind understands (`key=value` after the times).
    var parameterNames: Set<String> {
        switch self {
        case .hotSpot: ["x", "y", "radius", "delta"]
        case .lackOfFusion: ["x", "y", "radius", "power"]
        case .recoaterJam: []
        case .heaterRunaway: ["rate", "target"]
        case .thermocoupleDropout: ["mode", "channel"]
        case .filamentJam: []
        case .powerSpike: ["kw"]
        }
    }
}

/// DMLS (metal powder bed, thermal camera) or FDM (polymer extrusion).
public enum PrinterKind: String, Sendable, Hashable {
    case dmls, fdm
}

/// A fault to inject at a fixed simulated time, as given to `--fault`.
///
/// The syntax is `KIND:PRINTER@START[+DURATION][,key=value…]`: times are simulated seconds from
/// the start of the simulation, with an optional unit (`90`, `90s`, `2m`, `1.5h`); the duration
/// defaults to 60 s; `PRINTER` is a printer name or `*` for every printer the kind applies to.
///
/// ```swift
/// let spec = try FaultSpec(parsing: "thermocouple-dropout:fdm-02@5m+30s,mode=stuck")
/// spec.kind        // .thermocoupleDropout
/// spec.startSeconds // 300
/// ```
public struct FaultSpec: Sendable, Hashable, CustomStringConvertible {
    public var kind: FaultKind
    /// A printer name, or `*`.
    public var printer: String
    /// Simulated seconds after the start.
    public var startSeconds: Double
    public var durationSeconds: Double
    public var parameters: [String: String]

    public init(kind: FaultKind, printer: String, startSeconds: Double, durationSeconds: Double = 60,
                parameters: [String: String] = [:]) {
        self.kind = kind
        self.printer = printer
        self.startSeconds = startSeconds
        self.durationSeconds = durationSeconds
        self.parameters = parameters
    }

    /// Parses the `--fault` syntax; errors quote the text and say what is expected.
    public init(parsing text: String) throws(SimulationError) {
        func fail(_ why: String) -> SimulationError {
            SimulationError(code: .invalidFault,
                            message: "--fault \"\(text)\": \(why); expected KIND:PRINTER@START[+DURATION][,key=value], e.g. hot-spot:dmls-01@120+60")
        }
        var parts = text.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        let head = parts.removeFirst()
        guard let colon = head.firstIndex(of: ":") else { throw fail("missing \":PRINTER\"") }
        let kindText = String(head[..<colon])
        guard let kind = FaultKind(rawValue: kindText) else {
            throw fail("unknown fault kind \"\(kindText)\" (kinds: \(FaultKind.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        let rest = head[head.index(after: colon)...]
        guard let at = rest.firstIndex(of: "@") else { throw fail("missing \"@START\"") }
        let printer = String(rest[..<at])
        guard printer == "*" || MachineID.isValid(printer) else { throw fail("\"\(printer)\" is not a printer name") }
        let times = rest[rest.index(after: at)...]
        let startText: Substring, durationText: Substring?
        if let plus = times.firstIndex(of: "+") {
            startText = times[..<plus]
            durationText = times[times.index(after: plus)...]
        } else {
            startText = times
            durationText = nil
        }
        guard let start = Self.seconds(startText), start >= 0 else { throw fail("START \"\(startText)\" is not a time like 90, 90s, 2m or 1h") }
        var duration = 60.0
        if let durationText {
            guard let d = Self.seconds(durationText), d > 0 else {
                throw fail("DURATION \"\(durationText)\" is not a positive time like 30, 30s, 2m or 1h")
            }
            duration = d
        }
        var parameters: [String: String] = [:]
        for part in parts {
            let pair = part.split(separator: "=", maxSplits: 1).map(String.init)
            guard pair.count == 2, !pair[0].isEmpty, !pair[1].isEmpty else { throw fail("\"\(part)\" is not key=value") }
            guard kind.parameterNames.contains(pair[0]) else {
                let known = kind.parameterNames.sorted().joined(separator: ", ")
                throw fail("\(kind.rawValue) has no parameter \"\(pair[0])\"" + (known.isEmpty ? "" : " (it takes \(known))"))
            }
            parameters[pair[0]] = pair[1]
        }
        if let mode = parameters["mode"], mode != "nan", mode != "stuck" { throw fail("mode must be nan or stuck") }
        if let target = parameters["target"], target != "nozzle", target != "bed", target != "plate" {
            throw fail("target must be nozzle, bed or plate")
        }
        for key in ["x", "y", "radius", "delta", "power", "rate", "kw"] {
            if let value = parameters[key], Double(value).map({ !$0.isFinite || $0 < 0 }) ?? true {
                throw fail("\(key) must be a number ≥ 0")
            }
        }
        if let channel = parameters["channel"], !ChannelName.isValid(channel) { throw fail("\"\(channel)\" is not a channel name") }
        self.init(kind: kind, printer: printer, startSeconds: start, durationSeconds: duration, parameters: parameters)
    }

    /// `90`, `90s`, `1.5m`, `2h`, `250ms` → seconds.
    static func seconds(_ text: Substring) -> Double? {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        for (suffix, factor) in units where text.hasSuffix(suffix) {
            guard let v = Double(text.dropLast(suffix.count)), v.isFinite else { return nil }
            return v * factor
        }
        guard let v = Double(text), v.isFinite else { return nil }
        return v
    }

    public var description: String {
        let params = parameters.sorted { $0.key < $1.key }.map { ",\($0.key)=\($0.value)" }.joined()
        return "\(kind.rawValue):\(printer)@\(format2(startSeconds))+\(format2(durationSeconds))\(params)"
    }
}

/// A fault on one printer over one interval of simulated time: what the labels record.
public struct Fault: Sendable, Hashable, Identifiable {
    /// Unique within a simulation, in order of creation.
    public var id: Int
    public var kind: FaultKind
    public var machineID: MachineID
    /// First instant the fault acts (inclusive).
    public var start: Timestamp
    /// First instant it no longer acts (exclusive).
    public var end: Timestamp
    /// Resolved parameters (defaults filled in, positions chosen), as written to the labels.
    public var parameters: [String: Double]
    /// `mode` of a thermocouple dropout, `target` of a heater runaway, `channel` of a dropout.
    public var options: [String: String]
    /// Scheduled with `--fault` (true) or drawn at random.
    public var scheduled: Bool

    /// Whether the fault acts at `time`.
    public func isActive(at time: Timestamp) -> Bool { start <= time && time < end }
}

/// Expands scheduled faults and draws random ones, lazily and deterministically per printer.
struct FaultPlan {
    private(set) var faults: [Fault] = []
    private var nextID = 1
    private var random: [MachineID: SeededRandom] = [:]
    private var nextRandomStart: [MachineID: Timestamp] = [:]
    let configuration: SimulationConfiguration

    init(configuration: SimulationConfiguration, printers: [(MachineID, PrinterKind)]) throws(SimulationError) {
        self.configuration = configuration
        let names = Set(printers.map(\.0.rawValue))
        for spec in configuration.faults {
            let targets = printers.filter { spec.printer == "*" || $0.0.rawValue == spec.printer }
            if spec.printer != "*", !names.contains(spec.printer) {
                throw SimulationError(code: .invalidFault, message:
                    "--fault \"\(spec)\": there is no printer \(spec.printer) (this run has \(Self.describe(printers)))")
            }
            let applicable = targets.filter { spec.kind.applies(to: $0.1) }
            if applicable.isEmpty {
                throw SimulationError(code: .invalidFault, message:
                    "--fault \"\(spec)\": \(spec.kind.rawValue) applies to \(spec.kind.applies(to: .dmls) ? "DMLS" : "FDM") printers only")
            }
            for (_, kind) in applicable {
                if let target = spec.parameters["target"], spec.kind == .heaterRunaway,
                   (kind == .dmls) != (target == "plate") {
                    throw SimulationError(code: .invalidFault, message:
                        "--fault \"\(spec)\": a \(kind == .dmls ? "DMLS printer's heater is target=plate" : "FDM printer's heaters are target=nozzle or target=bed")")
                }
                if let channel = spec.parameters["channel"], spec.kind == .thermocoupleDropout,
                   !Self.thermocoupleChannels(kind).contains(channel) {
                    throw SimulationError(code: .invalidFault, message:
                        "--fault \"\(spec)\": \(kind.rawValue.uppercased()) thermocouples are \(Self.thermocoupleChannels(kind).joined(separator: " and "))")
                }
            }
            for (machine, _) in applicable {
                let start = configuration.start.advanced(byNanoseconds: Int64(spec.startSeconds * 1e9))
                let end = start.advanced(byNanoseconds: Int64(spec.durationSeconds * 1e9))
                var options: [String: String] = [:]
                var parameters: [String: Double] = [:]
                for (key, value) in spec.parameters {
                    if let number = Double(value) { parameters[key] = number } else { options[key] = value }
                }
                faults.append(Fault(id: nextID, kind: spec.kind, machineID: machine, start: start, end: end,
                                    parameters: parameters, options: options, scheduled: true))
                nextID += 1
            }
        }
        if configuration.randomFaultsPerHour > 0 {
            for (index, (machine, _)) in printers.enumerated() {
                var rng = SeededRandom(seed: configuration.seed, stream: 0xFA17_0000 &+ UInt64(index))
                nextRandomStart[machine] = configuration.start.advanced(byNanoseconds: Self.exponentialGap(&rng, perHour: configuration.randomFaultsPerHour))
                random[machine] = rng
            }
        }
    }

    /// The temperature channels a thermocouple dropout can hit.
    static func thermocoupleChannels(_ kind: PrinterKind) -> [String] {
        kind == .dmls ? ["plate_temp_c", "chamber_temp_c"] : [ChannelName.nozzleTempC, ChannelName.bedTempC]
    }

    static func describe(_ printers: [(MachineID, PrinterKind)]) -> String {
        guard let first = printers.first, let last = printers.last else { return "no printers" }
        return printers.count == 1 ? first.0.rawValue : "\(printers.count) printers, \(first.0.rawValue)…\(last.0.rawValue)"
    }

    static func exponentialGap(_ rng: inout SeededRandom, perHour: Double) -> Int64 {
        let u = 1 - rng.nextDouble()
        return Int64(-_log(u) / perHour * 3600e9)
    }

    /// Draws the random faults of `machine` that start at or before `time`.
    mutating func drawRandom(for machine: MachineID, kind: PrinterKind, upTo time: Timestamp) {
        guard var next = nextRandomStart[machine], var rng = random[machine] else { return }
        let kinds = FaultKind.allCases.filter { $0.applies(to: kind) }
        while next <= time {
            let range = configuration.randomFaultSeconds
            let seconds = range.lowerBound + rng.nextDouble() * (range.upperBound - range.lowerBound)
            let chosen = kinds[Int(rng.next() % UInt64(kinds.count))]
            var options: [String: String] = [:]
            if chosen == .thermocoupleDropout { options["mode"] = rng.nextDouble() < 0.5 ? "nan" : "stuck" }
            let end = next.advanced(byNanoseconds: Int64(seconds * 1e9))
            faults.append(Fault(id: nextID, kind: chosen, machineID: machine, start: next, end: end,
                                parameters: [:], options: options, scheduled: false))
            nextID += 1
            next = end.advanced(byNanoseconds: Self.exponentialGap(&rng, perHour: configuration.randomFaultsPerHour))
        }
        nextRandomStart[machine] = next
        random[machine] = rng
    }

    /// Lets a printer fill in a fault's resolved parameters (a position chosen on its bed).
    mutating func update(_ fault: Fault) {
        if let i = faults.firstIndex(where: { $0.id == fault.id }) { faults[i] = fault }
    }

    /// Forgets faults that ended before `time` (their labels are written).
    mutating func prune(before time: Timestamp) {
        faults.removeAll { $0.end < time }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

@inline(__always) func _log(_ x: Double) -> Double { log(x) }
