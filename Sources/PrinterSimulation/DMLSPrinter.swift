import SyntheticData
public import TelemetryModel

/// A simulated DMLS printer: a powder bed seen by a thermal camera, a laser scanning hatch lines
/// layer by layer, a recoater spreading powder between layers, a heated build plate.
///
/// The bed is a finite-difference heat model on the camera's grid (one cell per pixel):
///
///     ∂T/∂t = D ∇²T − k (T − T_bg) + q_laser (+ q_fault)
///
/// with T_bg the powder's resting temperature (85 % plate, 15 % chamber, a little cooler at the
/// edges), explicit Euler sub-steps of at most 0.15 s (stable while D·dt ≤ 1/4) and insulated
/// edges. The laser moves at `scanSpeed` along serpentine hatch lines inside the part's outline,
/// alternating between rows and columns from layer to layer; each pass deposits heat on a 3×3
/// Gaussian spot. A recoater pass sweeps the bed between layers and buries the heat under fresh
/// powder. The camera adds a fixed per-pixel offset and noise, clips to its range and rounds to
/// its resolution.
public struct DMLSPrinter: Sendable {
    public let machineID: MachineID
    let configuration: DMLSConfiguration
    let resolution: Double
    let width: Int, height: Int
    var rng: SeededRandom
    var faultRng: SeededRandom
    var field: [Float]
    var scratch: [Float]
    /// The resting-temperature offset of each cell (°C, ≤ 0: edges are cooler).
    let edgeProfile: [Float]
    /// The camera's fixed-pattern offset of each pixel (°C).
    let fixedPattern: [Float]

    // The machine.
    /// Layers finished so far.
    public private(set) var layer = 0
    enum Phase: Sendable, Equatable { case scanning(distance: Double), recoating(progress: Double) }
    var phase: Phase = .scanning(distance: 0)
    var part: (x0: Int, x1: Int, y0: Int, y1: Int)
    /// Where the laser is (cell coordinates), when it is on.
    public private(set) var laserPosition: (x: Double, y: Double)?
    var plate: Double
    var chamberWander = 0.0
    let chamberPhase: Double
    var lastReadings: [String: Float] = [:]
    var laserWasOn = false
    /// The laser's power fraction at its last position (lack of fusion lowers it).
    var laserPowerNow = 1.0
    var recoatingNow = false
    var jammed = false

    init(machineID: MachineID, index: Int, configuration: SimulationConfiguration) {
        self.machineID = machineID
        self.configuration = configuration.dmls
        resolution = configuration.sensorResolution
        width = configuration.dmls.width
        height = configuration.dmls.height
        rng = SeededRandom(seed: configuration.seed, stream: 0xD000_0000 &+ UInt64(index))
        faultRng = SeededRandom(seed: configuration.seed, stream: 0xDF00_0000 &+ UInt64(index))
        var setup = SeededRandom(seed: configuration.seed, stream: 0xD5E7_0000 &+ UInt64(index))
        // The part: a rectangle of 40–65 % of each side, somewhere on the bed.
        let pw = Int(Double(width) * (0.4 + 0.25 * setup.nextDouble()))
        let ph = Int(Double(height) * (0.4 + 0.25 * setup.nextDouble()))
        let px = Int(Double(width - pw - 8) * setup.nextDouble()) + 4
        let py = Int(Double(height - ph - 8) * setup.nextDouble()) + 4
        part = (px, px + pw - 1, py, py + ph - 1)
        chamberPhase = setup.nextDouble() * 2 * Double.pi
        plate = configuration.dmls.resolvedPlateSetpoint
        var profile = [Float](repeating: 0, count: width * height)
        var pattern = [Float](repeating: 0, count: width * height)
        for y in 0..<height {
            for x in 0..<width {
                let dx = (Double(x) + 0.5) / Double(width) - 0.5, dy = (Double(y) + 0.5) / Double(height) - 0.5
                profile[y * width + x] = Float(-6 * (dx * dx + dy * dy))      // up to −3 °C in the corners
                pattern[y * width + x] = Float(setup.nextGaussian() * 0.08)
            }
        }
        edgeProfile = profile
        fixedPattern = pattern
        let bg = Float(0.85 * plate + 0.15 * configuration.dmls.resolvedChamber)
        field = profile.map { bg + $0 }
        scratch = field
    }

    var chamber: Double { configuration.resolvedChamber }

    /// Fills in what a fault of this printer leaves open: where a hot spot or a patch of lack of
    /// fusion sits (a seeded point on the part), how large and how strong it is.
    mutating func resolve(_ fault: inout Fault) {
        switch fault.kind {
        case .hotSpot, .lackOfFusion:
            let x = Double(part.x0) + faultRng.nextDouble() * Double(part.x1 - part.x0)
            let y = Double(part.y0) + faultRng.nextDouble() * Double(part.y1 - part.y0)
            if fault.parameters["x"] == nil { fault.parameters["x"] = x.rounded() }
            if fault.parameters["y"] == nil { fault.parameters["y"] = y.rounded() }
            if fault.kind == .hotSpot {
                if fault.parameters["radius"] == nil { fault.parameters["radius"] = 4 }
                if fault.parameters["delta"] == nil { fault.parameters["delta"] = (0.35 * configuration.span).rounded() }
            } else {
                if fault.parameters["radius"] == nil { fault.parameters["radius"] = 10 }
                if fault.parameters["power"] == nil { fault.parameters["power"] = 0.3 }
            }
        case .heaterRunaway:
            if fault.parameters["rate"] == nil { fault.parameters["rate"] = 0.15 }
            if fault.options["target"] == nil { fault.options["target"] = "plate" }
        case .thermocoupleDropout:
            if fault.options["mode"] == nil { fault.options["mode"] = "nan" }
            if fault.options["channel"] == nil { fault.options["channel"] = "plate_temp_c" }
        case .powerSpike:
            if fault.parameters["kw"] == nil { fault.parameters["kw"] = 7 }
        case .recoaterJam, .filamentJam:
            break
        }
    }

    /// Advances the bed by `seconds` of simulated time ending at `time` and returns the sample.
    mutating func step(to time: Timestamp, seconds: Double, faults: [Fault], kind: String = "dmls") -> TelemetryRecord {
        let substeps = max(1, Int((seconds / 0.15).rounded(.up)))
        let dt = seconds / Double(substeps)
        let begin = time.advanced(byNanoseconds: -Int64(seconds * 1e9))
        if seconds > 0 {
            laserWasOn = false
            recoatingNow = false
        } else if case .scanning = phase {
            laserWasOn = true
        }
        var heaterPower = 0.5
        for s in 1...substeps where seconds > 0 {
            let t = begin.advanced(byNanoseconds: Int64(Double(s) * dt * 1e9))
            let active = faults.filter { $0.isActive(at: t) }
            heaterPower = advanceMachine(dt: dt, active: active, time: t)
            diffuse(dt: dt, background: Float(background(t)))
        }
        return sample(time: time, faults: faults.filter { $0.isActive(at: time) }, heaterPower: heaterPower, kind: kind)
    }

    /// One sub-step of the machine: chamber and plate, laser or recoater, fault heat sources.
    /// Returns the plate heater's power (kW).
    private mutating func advanceMachine(dt: Double, active: [Fault], time: Timestamp) -> Double {
        // Chamber: a slow daily-like wave plus an Ornstein–Uhlenbeck wander (τ = 120 s, σ = 0.25 °C).
        chamberWander += -chamberWander * dt / 120 + 0.25 * (2 * dt / 120).squareRoot() * rng.nextGaussian()
        // Plate: held at its set point unless the heater runs away.
        var heater: Double
        if let runaway = active.first(where: { $0.kind == .heaterRunaway }) {
            plate += (runaway.parameters["rate"] ?? 0.15) * dt
            heater = 1.8
        } else {
            let error = configuration.resolvedPlateSetpoint - plate
            plate += error * dt / 40
            heater = min(1.8, max(0, 0.35 + 0.02 * (plate - chamberNow(time)) + 0.3 * error))
        }
        jammed = active.contains { $0.kind == .recoaterJam }
        if jammed, case .scanning = phase { phase = .recoating(progress: 0.35) }   // the blade crashed: the layer is abandoned
        switch phase {
        case .scanning(let distance):
            let lines = layerLines()
            let total = Double(lines.count) * lines.length
            let end = min(total, distance + configuration.scanSpeed * dt)
            deposit(from: distance, to: end, lines: lines, active: active)
            laserWasOn = true
            phase = end >= total ? .recoating(progress: 0) : .scanning(distance: end)
            if end >= total { laserPosition = nil }
        case .recoating(let progress):
            laserPosition = nil
            recoatingNow = true
            let next = jammed ? progress : min(1, progress + dt / configuration.recoatSeconds)
            spreadPowder(from: progress, to: next, time: time)
            if jammed { chillBlade(at: next) }
            if next >= 1 {
                layer += 1
                phase = .scanning(distance: 0)
            } else {
                phase = .recoating(progress: next)
            }
        }
        for fault in active where fault.kind == .hotSpot { heatSpot(fault, dt: dt, time: time) }
        return heater
    }

    func chamberNow(_ time: Timestamp) -> Double {
        chamber + 1.2 * _sin(2 * Double.pi * time.seconds / 1800 + chamberPhase) + chamberWander
    }

    /// The hatch lines of the current layer: rows on even layers, columns on odd ones.
    private func layerLines() -> (count: Int, length: Double) {
        let spacing = configuration.hatchSpacing
        if layer % 2 == 0 {
            return ((part.y1 - part.y0) / spacing + 1, Double(part.x1 - part.x0))
        } else {
            return ((part.x1 - part.x0) / spacing + 1, Double(part.y1 - part.y0))
        }
    }

    /// The laser's position after `distance` cells of the layer's serpentine path.
    func position(at distance: Double, lines: (count: Int, length: Double)) -> (x: Double, y: Double) {
        let line = min(lines.count - 1, Int(distance / lines.length))
        var along = distance - Double(line) * lines.length
        if line % 2 == 1 { along = lines.length - along }
        let across = Double(line * configuration.hatchSpacing)
        if layer % 2 == 0 {
            return (Double(part.x0) + along, Double(part.y0) + across)
        } else {
            return (Double(part.x0) + across, Double(part.y0) + along)
        }
    }

    private mutating func deposit(from start: Double, to end: Double, lines: (count: Int, length: Double), active: [Fault]) {
        let stepLength = 0.5
        var d = start
        let lackOfFusion = active.filter { $0.kind == .lackOfFusion }
        while d < end {
            let p = position(at: d, lines: lines)
            var power = 1.0
            for fault in lackOfFusion {
                let dx = p.x - (fault.parameters["x"] ?? 0), dy = p.y - (fault.parameters["y"] ?? 0)
                let r = fault.parameters["radius"] ?? 10
                if dx * dx + dy * dy <= r * r { power = min(power, fault.parameters["power"] ?? 0.3) }
            }
            stamp(x: p.x, y: p.y, amount: configuration.laserHeat * stepLength * power)
            laserPowerNow = power
            d += stepLength
        }
        laserPosition = position(at: end, lines: lines)
    }

    /// Adds `amount` °C·cell² on a 3×3 Gaussian spot (σ ≈ 0.8 cell) around (x, y).
    private mutating func stamp(x: Double, y: Double, amount: Double) {
        let cx = Int(x.rounded()), cy = Int(y.rounded())
        let weights: [Float] = [0.0572, 0.1248, 0.0572, 0.1248, 0.2721, 0.1248, 0.0572, 0.1248, 0.0572]
        let a = Float(amount)
        for dy in -1...1 {
            let yy = cy + dy
            guard yy >= 0, yy < height else { continue }
            for dx in -1...1 {
                let xx = cx + dx
                guard xx >= 0, xx < width else { continue }
                field[yy * width + xx] += a * weights[(dy + 1) * 3 + dx + 1]
            }
        }
    }

    /// The blade moves from column `progress·width` to `next·width`: the columns it passes get
    /// fresh, cooler powder that hides most of the heat below.
    private mutating func spreadPowder(from progress: Double, to next: Double, time: Timestamp) {
        let c0 = Int(progress * Double(width)), c1 = min(width, Int(next * Double(width)))
        guard c1 > c0 else { return }
        let bg = Float(background(time))
        for y in 0..<height {
            for x in c0..<c1 {
                let i = y * width + x
                let rest = bg + edgeProfile[i]
                field[i] = rest - 0.8 + 0.3 * (field[i] - rest)
            }
        }
    }

    /// A jammed blade sits on the bed: its column stays at chamber temperature.
    private mutating func chillBlade(at progress: Double) {
        let x = min(width - 1, Int(progress * Double(width)))
        for y in 0..<height { field[y * width + x] = Float(chamber) }
    }

    private mutating func heatSpot(_ fault: Fault, dt: Double, time: Timestamp) {
        let fx = fault.parameters["x"] ?? Double(width / 2), fy = fault.parameters["y"] ?? Double(height / 2)
        let r = max(0.5, fault.parameters["radius"] ?? 4), delta = fault.parameters["delta"] ?? 20
        let bg = background(time)
        let reach = Int((2 * r).rounded(.up))
        let relax = Float(min(1, dt / 1))
        for y in max(0, Int(fy) - reach)...min(height - 1, Int(fy) + reach) {
            for x in max(0, Int(fx) - reach)...min(width - 1, Int(fx) + reach) {
                let d2 = (Double(x) - fx) * (Double(x) - fx) + (Double(y) - fy) * (Double(y) - fy)
                let target = Float(bg + delta * _exp(-d2 / (2 * r * r)))
                let i = y * width + x
                if field[i] < target { field[i] += (target - field[i]) * relax }
            }
        }
    }

    func background(_ time: Timestamp) -> Double { 0.85 * plate + 0.15 * chamberNow(time) }

    /// One explicit Euler step of diffusion and cooling over the whole grid (insulated edges).
    private mutating func diffuse(dt: Double, background bg: Float) {
        let a = Float(configuration.diffusivity * dt), k = Float(configuration.cooling * dt)
        let w = width, h = height
        field.withUnsafeBufferPointer { src in
            scratch.withUnsafeMutableBufferPointer { dst in
                edgeProfile.withUnsafeBufferPointer { profile in
                    for y in 0..<h {
                        let row = y * w
                        let up = (y == 0 ? row : row - w), down = (y == h - 1 ? row : row + w)
                        for x in 0..<w {
                            let i = row + x
                            let c = src[i]
                            let l = src[x == 0 ? i : i - 1], r = src[x == w - 1 ? i : i + 1]
                            let u = src[up + x], d = src[down + x]
                            let lap = l + r + u + d - 4 * c
                            dst[i] = c + a * lap - k * (c - bg - profile[i])
                        }
                    }
                }
            }
        }
        swap(&field, &scratch)
    }

    /// The camera's frame and the machine's channels at `time`.
    private mutating func sample(time: Timestamp, faults: [Fault], heaterPower: Double, kind: String) -> TelemetryRecord {
        let lo = configuration.temperatureRange.lowerBound, hi = configuration.temperatureRange.upperBound
        let noise = configuration.sensorNoise
        var values = [Float](repeating: 0, count: width * height)
        let res = resolution
        for i in 0..<values.count {
            values[i] = field[i] + fixedPattern[i] + noise * Float(rng.nextGaussian())
        }
        if let laser = laserPosition {
            // The melt pool under the laser (weaker where the laser lacks power).
            let glow = Float(configuration.resolvedGlow * laserPowerNow)
            let cx = Int(laser.x.rounded()), cy = Int(laser.y.rounded())
            for dy in -1...1 where cy + dy >= 0 && cy + dy < height {
                for dx in -1...1 where cx + dx >= 0 && cx + dx < width {
                    let w: Float = dx == 0 && dy == 0 ? 1 : (dx == 0 || dy == 0 ? 0.4 : 0.15)
                    values[(cy + dy) * width + cx + dx] += glow * w
                }
            }
        }
        for i in 0..<values.count {
            values[i] = Self.quantize(min(hi, max(lo, values[i])), res)
        }
        // Power: electronics and pumps, the plate heater, the laser (wall plug), the recoater motor.
        var power = 1.6 + heaterPower + (laserWasOn ? 1.3 : 0) + (recoatingNow ? 0.25 : 0) + (jammed ? 0.6 : 0)
        power += 0.03 * rng.nextGaussian()
        for fault in faults where fault.kind == .powerSpike { power += (fault.parameters["kw"] ?? 7) * (0.8 + 0.4 * rng.nextDouble()) }
        // Vibration: fans and pumps, the scanner, the recoater; a jammed blade hammers.
        var vibration = 0.35 + 0.05 * rng.nextGaussian()
        if laserWasOn { vibration += 0.15 }
        if recoatingNow { vibration += 2.2 + 0.3 * rng.nextGaussian() }
        if jammed { vibration += 6 + 3 * abs(rng.nextGaussian()) }
        if faults.contains(where: { $0.kind == .powerSpike }) { vibration += 0.5 }
        var channels: [String: Float] = [
            ChannelName.powerKW: Self.quantize(Float(max(0, power)), res),
            ChannelName.vibrationMMS: Self.quantize(Float(abs(vibration)), res),
            "plate_temp_c": Self.quantize(Float(plate + 0.05 * rng.nextGaussian()), res),
            "chamber_temp_c": Self.quantize(Float(chamberNow(time) + 0.05 * rng.nextGaussian()), res),
            "layer": Float(layer),
        ]
        applyDropouts(faults, to: &channels)
        let frame = try! ThermalFrame(width: width, height: height, values: values)   // size checked by validate()
        return TelemetryRecord(machineID: machineID, timestamp: time, kind: kind, channels: channels,
                               state: recoatingNow ? "recoating" : "printing", frame: frame)
    }

    mutating func applyDropouts(_ faults: [Fault], to channels: inout [String: Float]) {
        var frozen: Set<String> = []
        for fault in faults where fault.kind == .thermocoupleDropout {
            let channel = fault.options["channel"] ?? "plate_temp_c"
            guard channels[channel] != nil else { continue }
            if fault.options["mode"] == "stuck" {
                if let last = lastReadings[channel] { channels[channel] = last }
                frozen.insert(channel)
            } else {
                channels[channel] = .nan
                frozen.insert(channel)
            }
        }
        for (name, value) in channels where !frozen.contains(name) { lastReadings[name] = value }
    }

    /// Rounds to a multiple of `resolution` (the nearest Float to the decimal value).
    @inline(__always) static func quantize(_ v: Float, _ resolution: Double) -> Float {
        guard resolution > 0, v.isFinite else { return v }
        return Float((Double(v) / resolution).rounded() * resolution)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

@inline(__always) func _sin(_ x: Double) -> Double { sin(x) }
@inline(__always) func _exp(_ x: Double) -> Double { exp(x) }
