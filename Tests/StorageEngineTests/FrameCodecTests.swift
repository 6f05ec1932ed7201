// Frame codec and LZ4 block tests. Format: Storage/Format/frame-encoding.md
import Testing
@testable import StorageEngine
import SyntheticData

/// Encodes `values` as a `width × height` frame.
private func encode(_ values: [Float], _ width: Int, _ height: Int) -> [UInt8] {
    var bytes: [UInt8] = []
    values.withUnsafeBufferPointer { FrameCodec.encode($0, width: width, height: height, into: &bytes) }
    return bytes
}

/// Decodes `bytes` as a `width × height` frame.
private func decode(_ bytes: [UInt8], _ width: Int, _ height: Int) throws -> [Float] {
    var values = [Float](repeating: 0, count: width * height)
    try bytes.withUnsafeBytes { raw in
        try values.withUnsafeMutableBufferPointer { out in
            try FrameCodec.decode(raw, width: width, height: height, into: out)
        }
    }
    return values
}

/// Decodes and reports only whether it threw: for damaged input, where either outcome is fine but a trap is not.
private func decodeSurvives(_ bytes: [UInt8], _ width: Int, _ height: Int) -> Bool {
    do {
        _ = try decode(bytes, width, height)
        return true
    } catch {
        #expect((error as? StorageError)?.code == .corruptData)
        return false
    }
}

private func analyze(_ values: [Float], _ width: Int, _ height: Int) -> FrameCodecAnalysis {
    values.withUnsafeBufferPointer { FrameCodec.analyze($0, width: width, height: height) }
}

/// Bit patterns, so that NaN payloads and -0.0 compare exactly.
private func bits(_ values: [Float]) -> [UInt32] { values.map(\.bitPattern) }

/// Values that no decimal scale represents exactly.
private let specialValues: [Float] = [
    Float(bitPattern: 0x7FC0_1234),  // quiet NaN with a payload
    Float(bitPattern: 0x7F80_0001),  // signalling NaN
    Float(bitPattern: 0xFFC0_0000),  // negative NaN
    .infinity, -.infinity, -0.0,
    Float(bitPattern: 0x0000_0001),  // smallest subnormal
    Float(bitPattern: 0x807F_FFFF),  // largest negative subnormal
    .leastNormalMagnitude, .greatestFiniteMagnitude, -.greatestFiniteMagnitude,
    1e30, 0.1 + 1e-7, .pi,
]

/// A random frame of decimal values on a smooth-ish field, with a fraction of exceptions.
private func randomFrame(_ random: inout SeededRandom, width: Int, height: Int, decimals: Int,
                         exceptionRate: Double) -> [Float] {
    var scale = 1.0
    for _ in 0..<decimals { scale *= 10 }
    let base = Double.random(in: -50...150, using: &random)
    let slope = Double.random(in: -0.5...0.5, using: &random)
    let noise = Double.random(in: 0...2, using: &random)
    var values = [Float]()
    values.reserveCapacity(width * height)
    for y in 0..<height {
        for x in 0..<width {
            if random.nextDouble() < exceptionRate {
                values.append(random.nextDouble() < 0.5
                    ? specialValues[Int(random.next() % UInt64(specialValues.count))]
                    : Float(bitPattern: UInt32(truncatingIfNeeded: random.next())))
            } else {
                let v = base + slope * Double(x + y) + noise * random.nextGaussian()
                values.append(Float((v * scale).rounded() / scale))
            }
        }
    }
    return values
}

struct FrameCodecTests {
    @Test func roundTripsManyRandomFrames() throws {
        var random = SeededRandom(seed: 0xF4A3E)
        for trial in 0..<400 {
            let width = trial % 5 == 0 ? Int.random(in: 1...4, using: &random) : Int.random(in: 1...128, using: &random)
            let height = trial % 7 == 0 ? Int.random(in: 1...4, using: &random) : Int.random(in: 1...128, using: &random)
            let decimals = Int.random(in: 0...4, using: &random)
            let rate = [0, 0, 0.001, 0.01, 0.05, 0.3][trial % 6]
            let values = randomFrame(&random, width: width, height: height, decimals: decimals, exceptionRate: rate)
            let bytes = encode(values, width, height)
            let back = try decode(bytes, width, height)
            #expect(bits(back) == bits(values), "trial \(trial): \(width)x\(height) d=\(decimals) rate=\(rate)")
        }
    }

    @Test func decimalFramesUseTheDecimalMethod() throws {
        var random = SeededRandom(seed: 99)
        for decimals in 0...4 {
            let values = randomFrame(&random, width: 64, height: 48, decimals: decimals, exceptionRate: 0)
            let analysis = analyze(values, 64, 48)
            #expect(analysis.method == .decimalRice)
            #expect(analysis.decimals ?? -1 <= decimals)
            #expect(analysis.exceptionCount <= 30)  // only a -0.0 from rounding, if any
            #expect(bits(try decode(encode(values, 64, 48), 64, 48)) == bits(values))
        }
    }

    @Test func specialValuesRoundTripBitForBit() throws {
        // Specials mixed into a decimal frame: stored as exceptions.
        var random = SeededRandom(seed: 5)
        var values = randomFrame(&random, width: 40, height: 30, decimals: 2, exceptionRate: 0)
        for (i, special) in specialValues.enumerated() { values[i * 83 % values.count] = special }
        values[0] = Float(bitPattern: 0x7FC0_1234)
        values[values.count - 1] = -0.0
        let analysis = analyze(values, 40, 30)
        #expect(analysis.method == .decimalRice)
        #expect(analysis.exceptionCount >= specialValues.count - 1)
        #expect(bits(try decode(encode(values, 40, 30), 40, 30)) == bits(values))

        // A frame made only of specials falls back and still round-trips.
        let only = (0..<200).map { specialValues[$0 % specialValues.count] }
        #expect(bits(try decode(encode(only, 20, 10), 20, 10)) == bits(only))
        // Every special alone, as a 1×1 frame.
        for special in specialValues {
            #expect(bits(try decode(encode([special], 1, 1), 1, 1)) == [special.bitPattern])
        }
    }

    @Test func constantFrames() throws {
        for value: Float in [0, -0.0, 25.5, .nan, Float(bitPattern: 0x7F80_0001), .infinity, .greatestFiniteMagnitude] {
            let values = [Float](repeating: value, count: 100 * 100)
            let bytes = encode(values, 100, 100)
            #expect(bytes.count <= 8)
            #expect(analyze(values, 100, 100).method == .constant)
            #expect(bits(try decode(bytes, 100, 100)) == bits(values))
        }
    }

    @Test func randomBitFramesFallBackLosslessly() throws {
        var random = SeededRandom(seed: 77)
        for (width, height) in [(1, 1), (3, 2), (100, 100), (128, 17)] {
            let values = (0..<(width * height)).map { _ in Float(bitPattern: UInt32(truncatingIfNeeded: random.next())) }
            let analysis = analyze(values, width, height)
            if width * height > 1 {
                #expect(analysis.method == .raw || analysis.method == .shuffleLZ4)
            }
            #expect(analysis.encodedBytes <= 4 * width * height + 2)
            #expect(bits(try decode(encode(values, width, height), width, height)) == bits(values))
        }
        // Non-decimal but smooth floats (e.g. computed values): still lossless, whatever the method.
        let smooth = (0..<(64 * 64)).map { Float(20 + 0.37 * Double($0 % 64)).squareRoot() * 1.000_001 }
        #expect(bits(try decode(encode(smooth, 64, 64), 64, 64)) == bits(smooth))
    }

    @Test func generatedFramesMeetTheRatioFloors() throws {
        // Ratio = raw Float32 bytes / encoded bytes, over 20 frames of 100×100.
        for (sigma, decimals, floor) in [(Float(0.2), 2, 4.2), (0.2, 1, 7.0), (0.05, 2, 5.0), (0.5, 2, 3.6), (0.05, 1, 10.0),
                                         (0.5, 1, 5.5)] {
            let generator = ThermalFieldGenerator(width: 100, height: 100, noiseSigma: sigma, decimals: decimals, seed: 2024)
            var encodedBytes = 0
            for i in 0..<20 {
                let values = generator.frame(at: i * 13)
                let bytes = encode(values, 100, 100)
                encodedBytes += bytes.count
                #expect(bits(try decode(bytes, 100, 100)) == bits(values))
            }
            let ratio = Double(20 * 40_000) / Double(encodedBytes)
            #expect(ratio >= floor, "σ \(sigma), \(decimals) decimals: ratio \(ratio) below \(floor)")
        }
    }

    @Test func analysisIsConsistentWithEncode() {
        let generator = ThermalFieldGenerator(seed: 1)
        let values = generator.frame(at: 3)
        let analysis = analyze(values, 100, 100)
        #expect(analysis.method == .decimalRice)
        #expect(analysis.decimals == 2)
        #expect(analysis.encodedBytes == encode(values, 100, 100).count)
        #expect(analysis.residualEntropyBitsPerValue > 4 && analysis.residualEntropyBitsPerValue < analysis.bitsPerValue)
        #expect(analysis.bitsPerValue < analysis.residualEntropyBitsPerValue + 0.5)
    }

    @Test func everyTruncationThrows() throws {
        var random = SeededRandom(seed: 3)
        var decimal = randomFrame(&random, width: 13, height: 9, decimals: 2, exceptionRate: 0)
        decimal[5] = .nan
        decimal[40] = -0.0
        let frames: [([Float], Int, Int)] = [
            (decimal, 13, 9),
            ((0..<64).map { _ in Float(bitPattern: UInt32(truncatingIfNeeded: random.next())) }, 8, 8),  // raw
            ((0..<256).map { Float(bitPattern: 0x4000_0000 | UInt32($0 % 7)) }, 16, 16),  // non-decimal, LZ4-friendly
            ([Float](repeating: 3.25, count: 30), 5, 6),  // constant
        ]
        for (values, width, height) in frames {
            let bytes = encode(values, width, height)
            #expect(bits(try decode(bytes, width, height)) == bits(values))
            for length in 0..<bytes.count {
                #expect(throws: StorageError.self, "prefix of \(length) of \(bytes.count) bytes") {
                    _ = try decode(Array(bytes[..<length]), width, height)
                }
            }
            #expect(throws: StorageError.self) { _ = try decode(bytes + [0], width, height) }
        }
    }

    @Test func bitFlipsAndGarbageNeverTrap() {
        var random = SeededRandom(seed: 11)
        let generator = ThermalFieldGenerator(width: 32, height: 24, noiseSigma: 0.2, decimals: 2, seed: 8)
        var withExceptions = generator.frame(at: 0)
        withExceptions[7] = .infinity
        withExceptions[100] = Float(bitPattern: 0x7FC0_1234)
        let sources: [[UInt8]] = [
            encode(generator.frame(at: 1), 32, 24),
            encode(withExceptions, 32, 24),
            encode((0..<768).map { Float($0 % 13) }, 32, 24),
        ]
        var survived = 0
        for trial in 0..<3000 {
            var bytes = sources[trial % sources.count]
            for _ in 0..<(1 + trial % 3) {
                let i = Int(random.next() % UInt64(bytes.count))
                bytes[i] ^= 1 << UInt8(random.next() % 8)
            }
            if decodeSurvives(bytes, 32, 24) { survived += 1 }
        }
        // Garbage of every kind and length, including valid-looking headers.
        for trial in 0..<3000 {
            let length = Int(random.next() % 200)
            var bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            if length >= 2 && trial % 2 == 0 {
                bytes[0] = FrameCodec.formatVersion
                bytes[1] = UInt8(trial % 4)
            }
            if decodeSurvives(bytes, 32, 24) { survived += 1 }
        }
        #expect(survived < 6000)
    }

    @Test func sizeMismatchesThrow() throws {
        let values: [Float] = [1.5, 2.5, 3.5, 4.5, 5.5, 6.5]
        let bytes = encode(values, 3, 2)
        #expect(try decode(bytes, 3, 2) == values)
        var tooSmall = [Float](repeating: 0, count: 5)
        #expect(throws: StorageError.self) {
            try bytes.withUnsafeBytes { raw in
                try tooSmall.withUnsafeMutableBufferPointer { out in
                    try FrameCodec.decode(raw, width: 3, height: 2, into: out)
                }
            }
        }
        #expect(throws: StorageError.self) { _ = try decode(bytes, 2, 3 + 1) }
        #expect(throws: StorageError.self) { _ = try decode([2, 0], 1, 1) }  // unknown version
        #expect(throws: StorageError.self) { _ = try decode([FrameCodec.formatVersion, 9], 1, 1) }  // unknown method
    }

    @Test func emptyFrame() throws {
        let bytes = encode([], 0, 0)
        #expect(try decode(bytes, 0, 0).isEmpty)
    }
}

struct LZ4BlockTests {
    private func compress(_ input: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        input.withUnsafeBytes { LZ4Block.compress($0, into: &out) }
        return out
    }

    private func decompress(_ block: [UInt8], _ size: Int) throws -> [UInt8] {
        var out: [UInt8] = []
        try block.withUnsafeBytes { raw in
            try LZ4Block.decompress(raw, decompressedSize: size, into: &out)
        }
        return out
    }

    @Test func roundTrips() throws {
        var random = SeededRandom(seed: 1)
        let inputs: [[UInt8]] = [
            [],
            [42],
            Array(repeating: 7, count: 100_000),
            (0..<5000).map { UInt8(truncatingIfNeeded: $0 / 10) },
            (0..<4096).map { _ in UInt8(truncatingIfNeeded: random.next()) },
        ]
        for input in inputs {
            let block = compress(input)
            #expect(try decompress(block, input.count) == input)
        }
        #expect(compress(Array(repeating: 7, count: 100_000)).count < 1000)
    }

    @Test func appendsToExistingOutput() throws {
        let input = Array("hello hello hello hello".utf8)
        var out: [UInt8] = [1, 2, 3]
        input.withUnsafeBytes { LZ4Block.compress($0, into: &out) }
        #expect(Array(out[..<3]) == [1, 2, 3])
        var back: [UInt8] = [9]
        try Array(out[3...]).withUnsafeBytes { raw in
            try LZ4Block.decompress(raw, decompressedSize: input.count, into: &back)
        }
        #expect(back == [9] + input)
    }

    @Test func corruptBlocksThrow() {
        let input = (0..<3000).map { UInt8(truncatingIfNeeded: $0 * 7 / 13) }
        let block = compress(input)
        #expect(throws: StorageError.self) { _ = try decompress(block, input.count - 1) }
        #expect(throws: StorageError.self) { _ = try decompress(block, input.count + 1) }
        #expect(throws: StorageError.self) { _ = try decompress(block, -1) }
        #expect(throws: StorageError.self) { _ = try decompress([], 10) }
        for length in 0..<block.count {
            #expect(throws: StorageError.self) { _ = try decompress(Array(block[..<length]), input.count) }
        }
        var random = SeededRandom(seed: 4)
        for _ in 0..<2000 {
            var damaged = block
            let i = Int(random.next() % UInt64(damaged.count))
            damaged[i] ^= UInt8(truncatingIfNeeded: random.next() | 1)
            do {
                let out = try decompress(damaged, input.count)
                #expect(out.count == input.count)
            } catch {
                #expect((error as? StorageError)?.code == .corruptData)
            }
        }
    }
}

struct ThermalFieldGeneratorTests {
    @Test func framesAreDeterministicAndIndependent() {
        let a = ThermalFieldGenerator(width: 50, height: 40, noiseSigma: 0.2, decimals: 2, seed: 9)
        let b = ThermalFieldGenerator(width: 50, height: 40, noiseSigma: 0.2, decimals: 2, seed: 9)
        _ = b.frame(at: 0)
        #expect(a.frame(at: 17) == b.frame(at: 17))
        #expect(a.frame(at: 17) != a.frame(at: 18))
        #expect(ThermalFieldGenerator(seed: 10).frame(at: 0) != ThermalFieldGenerator(seed: 11).frame(at: 0))
    }

    @Test func valuesLookLikeARoundedThermalField() {
        let generator = ThermalFieldGenerator(seed: 3)
        for index in [0, 100, 1000] {
            let values = generator.frame(at: index)
            #expect(values.count == 100 * 100)
            #expect(values.min()! > 15 && values.min()! < 30)
            #expect(values.max()! > 60 && values.max()! < 85)
            for v in values.prefix(500) {
                let q = (Double(v) * 100).rounded()
                #expect(Float(q / 100) == v)
            }
        }
    }

    @Test func seededRandomIsReproducible() {
        var a = SeededRandom(seed: 123), b = SeededRandom(seed: 123)
        for _ in 0..<100 { #expect(a.next() == b.next()) }
        var g = SeededRandom(seed: 1)
        var sum = 0.0, sumSquares = 0.0
        for _ in 0..<20_000 { let x = g.nextGaussian(); sum += x; sumSquares += x * x }
        #expect(abs(sum / 20_000) < 0.05)
        #expect(abs(sumSquares / 20_000 - 1) < 0.05)
    }
}

struct FrameCodecArrayAPITests {
    @Test func arrayDecodeMatchesPointerDecode() throws {
        let values = ThermalFieldGenerator(width: 20, height: 10, seed: 4).frame(at: 2)
        let bytes = encode(values, 20, 10)
        #expect(try FrameCodec.decode(bytes, width: 20, height: 10) == values)
        #expect(throws: StorageError.self) { _ = try FrameCodec.decode(Array(bytes.dropLast()), width: 20, height: 10) }
        #expect(throws: StorageError.self) { _ = try FrameCodec.decode(bytes, width: -1, height: 10) }
    }
}
