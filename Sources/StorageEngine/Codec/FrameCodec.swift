// Lossless thermal-frame encoding. Format: Storage/Format/frame-encoding.md
//
// Frames are decimal sensor readings stored as Float32. The encoder finds the decimal scale d,
// turns the frame into an integer grid q = v * 10^d (values that do not fit become verbatim
// exceptions), predicts every cell from its causal neighbours and codes the zigzagged residuals
// with an adaptive Golomb-Rice code. Frames that are not decimal fall back to a byte-shuffled
// LZ4 block, or to the raw bytes when even that does not help.

/// The ways a frame can be encoded; the second byte of every encoded frame.
package enum FrameCodecMethod: UInt8, Sendable, CustomStringConvertible {
    /// The `4 × n` little-endian Float32 bytes as they are.
    case raw = 0
    /// The Float32 bytes split into four byte planes, then one raw LZ4 block.
    case shuffleLZ4 = 1
    /// Decimal integer grid, spatial prediction, adaptive Golomb-Rice residuals, verbatim exceptions.
    case decimalRice = 2
    /// Every value has the same bit pattern.
    case constant = 3

    package var description: String {
        switch self {
        case .raw: "raw"
        case .shuffleLZ4: "shuffle+lz4"
        case .decimalRice: "decimal+rice"
        case .constant: "constant"
        }
    }
}

/// What ``FrameCodec`` chose for one frame and how close it came to the entropy of its residuals.
package struct FrameCodecAnalysis: Sendable, CustomStringConvertible {
    /// The method the encoder chose.
    package var method: FrameCodecMethod
    /// The decimal scale `d` (values are `q / 10^d`), or nil when the frame is not decimal.
    package var decimals: Int?
    /// Values stored verbatim (NaN, infinities, -0.0, non-decimal or too large values).
    package var exceptionCount: Int
    /// `width × height`.
    package var valueCount: Int
    /// Bytes `encode` produces, header included.
    package var encodedBytes: Int
    /// Order-0 entropy of the zigzagged prediction residuals (0 when the frame is not decimal).
    package var residualEntropyBitsPerValue: Double
    /// `8 × encodedBytes / valueCount`.
    package var bitsPerValue: Double { valueCount == 0 ? 0 : Double(encodedBytes * 8) / Double(valueCount) }
    /// Raw Float32 size over encoded size.
    package var ratio: Double { encodedBytes == 0 ? 0 : Double(valueCount * 4) / Double(encodedBytes) }

    package var description: String {
        "\(method) d=\(decimals.map(String.init) ?? "-") exceptions=\(exceptionCount) bytes=\(encodedBytes) "
            + "bits/value=\(bitsPerValue) entropy=\(residualEntropyBitsPerValue)"
    }
}

/// Lossless encoding of one `width × height` Float32 thermal frame (row-major).
///
/// Every encoded frame is self-contained: it decodes without any other frame. Decoding is
/// bit-identical to the input, NaN payloads, `-0.0`, infinities and subnormals included, and
/// never traps on damaged bytes: it throws ``StorageError`` with code `corruptData`.
///
/// ```swift
/// var bytes: [UInt8] = []
/// values.withUnsafeBufferPointer { FrameCodec.encode($0, width: 100, height: 100, into: &bytes) }
/// let back = try FrameCodec.decode(bytes, width: 100, height: 100)  // bit-identical to `values`
/// ```
package enum FrameCodec {
    /// The format version, the first byte of every encoded frame.
    package static let formatVersion: UInt8 = 1
    /// The largest decimal scale tried.
    package static let maximumDecimals = 6
    /// Integer grid values must satisfy `|q| < 2^25`, so that predictions never overflow.
    static let gridLimit: Int64 = 1 << 25
    /// Unary prefixes at or above this length escape to a verbatim 32-bit residual.
    static let riceEscape = 24
    /// Largest Rice parameter: keeps every non-escaped value below 2^32 (24 · 2^27 = 3 · 2^30).
    static let maximumRiceK = 27
    /// Residuals per Rice block: one parameter k per block, from the blocks before it.
    static let riceBlock = 16
    /// Decay of the running block sum `s ← s − s >> decay + blockSum` (a window of ≈ 8 blocks).
    static let riceDecay: UInt64 = 3
    /// k = bit length of `s >> riceShift`, i.e. of about half the recent mean residual.
    static let riceShift: UInt64 = 8
    /// The running sum before the first block (k = 4).
    static let riceInitialSum: UInt64 = 12 << 8
    /// Zero bytes the decoder needs past the end of the stream.
    static let ricePadding = 16 * 16 + 16
    // The interior predictor is `Σ wᵢ·nᵢ / 32` over the 12 causal neighbours within distance 2:
    // a minimum-norm linear predictor that is exact on planes (see frame-encoding.md). With
    // `|q| < 2^25` and `Σ|wᵢ| = 54` it never overflows Int32; wrapping arithmetic keeps it lossless anyway.

    static let powersOf10Double: [Double] = [1, 10, 100, 1000, 10_000, 100_000, 1_000_000]
    static let powersOf10Float: [Float] = [1, 10, 100, 1000, 10_000, 100_000, 1_000_000]

    // MARK: - Encode

    /// Appends the lossless encoding of a width×height Float32 frame (row-major) to `output`. Self-contained: needs no other frame to decode.
    package static func encode(_ values: UnsafeBufferPointer<Float>, width: Int, height: Int, into output: inout [UInt8]) {
        _ = encode(values, width: width, height: height, into: &output, statistics: nil)
    }

    /// For benchmarks: what the encoder chose and how close it came to the order-0 entropy of its residuals.
    package static func analyze(_ values: UnsafeBufferPointer<Float>, width: Int, height: Int) -> FrameCodecAnalysis {
        var bytes: [UInt8] = []
        var histogram = ResidualHistogram()
        let (method, decimals, exceptions) = encode(values, width: width, height: height, into: &bytes,
                                                    statistics: &histogram)
        return FrameCodecAnalysis(method: method, decimals: decimals, exceptionCount: exceptions,
                                  valueCount: width * height, encodedBytes: bytes.count,
                                  residualEntropyBitsPerValue: histogram.entropyBitsPerValue)
    }

    /// For benchmarks: the zigzag residuals the Rice coder sees, in coding order (nil if the frame is not decimal).
    package static func zigzagResiduals(_ values: UnsafeBufferPointer<Float>, width w: Int, height h: Int) -> [UInt32]? {
        let n = w * h
        guard n > 0, let base = values.baseAddress, let decimals = detectDecimals(base, count: n) else { return nil }
        let grid = UnsafeMutablePointer<Int32>.allocate(capacity: n)
        defer { grid.deallocate() }
        let exceptions = UnsafeMutablePointer<Int32>.allocate(capacity: n + 1)
        defer { exceptions.deallocate() }
        _ = quantize(base, count: n, decimals: decimals, grid: grid, exceptions: exceptions, maximumExceptions: n)
        var result: [UInt32] = []
        result.reserveCapacity(n)
        for y in 0..<h {
            let row = grid + y * w
            for x in 0..<w { result.append(zigzag(row[x] &- predict(row, x: x, y: y, width: w))) }
        }
        return result
    }

    private static func encode(_ values: UnsafeBufferPointer<Float>, width: Int, height: Int, into output: inout [UInt8],
                               statistics: UnsafeMutablePointer<ResidualHistogram>?)
        -> (FrameCodecMethod, Int?, Int)
    {
        precondition(width >= 0 && height >= 0 && values.count == width * height,
                     "a \(width) x \(height) frame needs \(width * height) values, got \(values.count)")
        let n = values.count
        output.append(formatVersion)
        guard n > 0, let base = values.baseAddress else {
            output.append(FrameCodecMethod.raw.rawValue)
            return (.raw, nil, 0)
        }
        // Constant frame.
        let firstBits = base[0].bitPattern
        var i = 1
        while i < n && base[i].bitPattern == firstBits { i += 1 }
        if i == n {
            output.append(FrameCodecMethod.constant.rawValue)
            appendUInt32(firstBits, to: &output)
            return (.constant, nil, 0)
        }

        if let decimals = detectDecimals(base, count: n) {
            let maximumExceptions = n / 8
            let grid = UnsafeMutablePointer<Int32>.allocate(capacity: n)
            defer { grid.deallocate() }
            let exceptions = UnsafeMutablePointer<Int32>.allocate(capacity: maximumExceptions + 1)
            defer { exceptions.deallocate() }
            let exceptionCount = quantize(base, count: n, decimals: decimals, grid: grid,
                                          exceptions: exceptions, maximumExceptions: maximumExceptions)
            if exceptionCount <= maximumExceptions {
                let start = output.count
                output.append(FrameCodecMethod.decimalRice.rawValue)
                output.append(UInt8(decimals))
                appendVarint(UInt64(exceptionCount), to: &output)
                var previous = -1
                for e in 0..<exceptionCount {
                    let index = Int(exceptions[e])
                    appendVarint(UInt64(index - previous - 1), to: &output)
                    appendUInt32(base[index].bitPattern, to: &output)
                    previous = index
                }
                riceEncode(grid, width: width, height: height, into: &output, statistics: statistics)
                // Decimal but noisy beyond repair (e.g. d = 6 over arbitrary floats): try the fallback.
                if output.count - start > n * 3 {
                    var fallback: [UInt8] = []
                    let method = encodeShuffled(values, into: &fallback)
                    if fallback.count < output.count - start {
                        output.removeSubrange(start...)
                        output.append(contentsOf: fallback)
                        return (method, nil, 0)
                    }
                }
                return (.decimalRice, decimals, exceptionCount)
            }
        }
        return (encodeShuffled(values, into: &output), nil, 0)
    }

    /// The smallest scale `d` at which (nearly) as many sampled values are exact decimals as at any scale.
    static func detectDecimals(_ values: UnsafePointer<Float>, count n: Int) -> Int? {
        let samples = min(n, 64)
        var fits = [Int](repeating: 0, count: maximumDecimals + 1)
        for s in 0..<samples {
            let v = values[s * n / samples]
            for d in 0...maximumDecimals {
                if quantizeOne(v, scale: powersOf10Double[d], inverse: powersOf10Float[d]) != nil { fits[d] += 1 }
            }
        }
        let best = fits.max()!
        guard best * 8 >= samples * 7 else { return nil }
        return fits.firstIndex(of: best)
    }

    /// `q` such that `Float(q) / 10^d` is bit-identical to `v` and `|q| < 2^25`, if there is one.
    @inline(__always)
    static func quantizeOne(_ v: Float, scale: Double, inverse: Float) -> Int32? {
        // Round to nearest even with the 1.5 × 2^52 trick: the integer lands in the low mantissa bits.
        let magic = 6_755_399_441_055_744.0
        let t = Double(v) * scale + magic
        let q = Int64(bitPattern: t.bitPattern &- magic.bitPattern)
        guard q > -gridLimit && q < gridLimit else { return nil }
        let q32 = Int32(truncatingIfNeeded: q)
        return (Float(q32) / inverse).bitPattern == v.bitPattern ? q32 : nil
    }

    /// Fills `grid`; returns the number of exceptions (stops counting past `maximumExceptions + 1`).
    /// An exception's grid cell repeats its left neighbour (0 for the first cell) to keep prediction good.
    private static func quantize(_ values: UnsafePointer<Float>, count n: Int, decimals: Int,
                                 grid: UnsafeMutablePointer<Int32>, exceptions: UnsafeMutablePointer<Int32>,
                                 maximumExceptions: Int) -> Int {
        let scale = powersOf10Double[decimals]
        let inverse = powersOf10Float[decimals]
        let magic = 6_755_399_441_055_744.0
        let magicBits = Int64(bitPattern: magic.bitPattern)
        var exceptionCount = 0
        var previous: Int32 = 0
        for i in 0..<n {
            let v = values[i]
            let t = Double(v) * scale + magic
            let q = Int64(bitPattern: t.bitPattern) &- magicBits
            let q32 = Int32(truncatingIfNeeded: q)
            // -2^25 < q < 2^25 as one unsigned compare; then the value must come back bit for bit.
            if UInt64(bitPattern: q &+ (gridLimit - 1)) < UInt64(2 &* gridLimit - 1)
                && (Float(q32) / inverse).bitPattern == v.bitPattern
            {
                grid[i] = q32
                previous = q32
            } else {
                grid[i] = previous
                if exceptionCount <= maximumExceptions { exceptions[exceptionCount] = Int32(i) }
                exceptionCount += 1
                if exceptionCount > maximumExceptions { return exceptionCount }
            }
        }
        return exceptionCount
    }

    /// Appends the Rice bitstream of the grid's residuals: varint byte length, then the bytes.
    private static func riceEncode(_ grid: UnsafeMutablePointer<Int32>, width w: Int, height h: Int,
                                   into output: inout [UInt8], statistics: UnsafeMutablePointer<ResidualHistogram>?) {
        let n = w * h
        let residuals = UnsafeMutablePointer<UInt32>.allocate(capacity: n)
        defer { residuals.deallocate() }
        computeResiduals(grid, width: w, height: h, into: residuals)
        if let statistics {
            for i in 0..<n { statistics.pointee.add(residuals[i]) }
        }
        // Two independent streams (first `split` residuals, then the rest) so that the decoder can
        // interleave them. Worst case 57 bits a value, plus room for the last 8-byte stores.
        let split = riceSplit(n)
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: n * 8 + 128, alignment: 8)
        defer { buffer.deallocate() }
        let bytesA = riceEncode(residuals, count: split, into: buffer)
        let bytesB = riceEncode(residuals + split, count: n - split, into: buffer + bytesA)
        appendVarint(UInt64(bytesA), to: &output)
        appendVarint(UInt64(bytesB), to: &output)
        output.append(contentsOf: UnsafeRawBufferPointer(start: buffer, count: bytesA + bytesB))
    }

    /// Residuals in the first Rice stream: half of them, rounded down to whole blocks.
    @inline(__always)
    static func riceSplit(_ n: Int) -> Int { (n / 2) & ~(riceBlock - 1) }

    /// Zigzag prediction residuals of the whole grid, in raster order.
    static func computeResiduals(_ grid: UnsafePointer<Int32>, width w: Int, height h: Int,
                                 into z: UnsafeMutablePointer<UInt32>) {
        for y in 0..<h {
            let row = grid + y * w
            let out = z + y * w
            if y == 0 {
                out[0] = zigzag(row[0])
                var x = 1
                while x < w { out[x] = zigzag(row[x] &- row[x - 1]); x += 1 }
                continue
            }
            out[0] = zigzag(row[0] &- row[-w])
            if y == 1 || w < 5 {
                var x = 1
                while x < w { out[x] = zigzag(row[x] &- planar(row + x, w)); x += 1 }
                continue
            }
            out[1] = zigzag(row[1] &- planar(row + 1, w))
            let up = row - w, upUp = row - 2 * w
            var x = 2
            while x < w - 2 {
                out[x] = zigzag(row[x] &- interior(left: row[x - 1], leftLeft: row[x - 2], upper: upperTerms(up + x, upUp + x)))
                x += 1
            }
            while x < w { out[x] = zigzag(row[x] &- planar(row + x, w)); x += 1 }
        }
    }

    /// The Rice parameter for the next block from the running sum `s` (≈ 8 × the last blocks' sums).
    @inline(__always)
    static func riceK(_ s: UInt64) -> UInt64 {
        UInt64(min(maximumRiceK, 64 - (s &>> riceShift).leadingZeroBitCount))
    }

    /// Writes the residuals as blocks of `riceBlock` values sharing one Rice parameter; returns the byte count.
    /// `buffer` must hold `count * 8 + 64` bytes.
    static func riceEncode(_ z: UnsafePointer<UInt32>, count n: Int, into buffer: UnsafeMutableRawPointer) -> Int {
        var p = buffer
        var accumulator: UInt64 = 0
        var pending: UInt64 = 0
        var s = riceInitialSum
        var i = 0
        while i < n {
            let end = min(i + riceBlock, n)
            let k = riceK(s)
            let mask: UInt64 = (1 &<< k) &- 1
            var sum: UInt64 = 0
            while i < end {
                let v = UInt64(z[i])
                sum &+= v
                let quotient = v &>> k
                if quotient < UInt64(riceEscape) {
                    // `quotient` zeros, a one, then the k low bits (LSB first): at most 55 bits.
                    accumulator |= ((1 | ((v & mask) &<< 1)) &<< quotient) &<< pending
                    pending &+= quotient &+ 1 &+ k
                } else {
                    accumulator |= (1 &<< UInt64(riceEscape)) &<< pending
                    pending &+= UInt64(riceEscape) + 1
                    p.storeBytes(of: accumulator.littleEndian, as: UInt64.self)
                    p += Int(pending &>> 3)
                    accumulator &>>= pending & ~7
                    pending &= 7
                    accumulator |= v &<< pending
                    pending &+= 32
                }
                p.storeBytes(of: accumulator.littleEndian, as: UInt64.self)
                p += Int(pending &>> 3)
                accumulator &>>= pending & ~7
                pending &= 7
                i += 1
            }
            s = s &- (s &>> riceDecay) &+ sum
        }
        if pending > 0 {
            p.storeBytes(of: UInt8(truncatingIfNeeded: accumulator), as: UInt8.self)
            p += 1
        }
        return p - buffer
    }

    /// Byte-shuffle + LZ4 (or raw when LZ4 does not shrink it). Lossless for arbitrary bits.
    private static func encodeShuffled(_ values: UnsafeBufferPointer<Float>, into output: inout [UInt8]) -> FrameCodecMethod {
        let n = values.count
        let shuffled = [UInt8](unsafeUninitializedCapacity: 4 * n) { buffer, count in
            let p = buffer.baseAddress!
            for i in 0..<n {
                let bits = values[i].bitPattern
                p[i] = UInt8(truncatingIfNeeded: bits)
                p[n + i] = UInt8(truncatingIfNeeded: bits &>> 8)
                p[2 * n + i] = UInt8(truncatingIfNeeded: bits &>> 16)
                p[3 * n + i] = UInt8(truncatingIfNeeded: bits &>> 24)
            }
            count = 4 * n
        }
        var compressed: [UInt8] = []
        shuffled.withUnsafeBytes { LZ4Block.compress($0, into: &compressed) }
        if compressed.count < 4 * n {
            output.append(FrameCodecMethod.shuffleLZ4.rawValue)
            output.append(contentsOf: compressed)
            return .shuffleLZ4
        }
        output.append(FrameCodecMethod.raw.rawValue)
        output.reserveCapacity(output.count + 4 * n)
        for v in values { appendUInt32(v.bitPattern, to: &output) }
        return .raw
    }

    // MARK: - Prediction (shared by encoder and decoder; integer-exact)

    /// L + U − UL: rows 1, the first and last columns, and narrow frames.
    @inline(__always)
    static func planar(_ c: UnsafePointer<Int32>, _ w: Int) -> Int32 {
        c[-1] &+ c[-w] &- c[-w - 1]
    }

    /// The interior predictor's terms from the two rows above (`u` at (x, y−1), `uu` at (x, y−2)),
    /// plus the rounding constant: weights U 4, UL 3, UR 5, ULL 1, URR 7, UU −2, UUL −3, UUR −1, UULL −5, UURR 1.
    @inline(__always)
    static func upperTerms(_ u: UnsafePointer<Int32>, _ uu: UnsafePointer<Int32>) -> Int32 {
        var s = 4 &* u[0] &+ 3 &* u[-1] &+ 5 &* u[1] &+ u[-2] &+ 7 &* u[2]
        s = s &- 2 &* uu[0] &- 3 &* uu[-1] &- uu[1] &- 5 &* uu[-2] &+ uu[2]
        return s &+ 16
    }

    /// The 12-neighbour predictor (needs y ≥ 2 and 2 ≤ x < w − 2): `(16·L + 6·LL + upper) >> 5`,
    /// written so that the decoder's dependency on L is one add and one shift.
    @inline(__always)
    static func interior(left: Int32, leftLeft: Int32, upper: Int32) -> Int32 {
        (left &+ ((6 &* leftLeft &+ upper) &>> 4)) &>> 1
    }

    /// The prediction for cell (x, y) given the row pointer; the slow general form.
    @inline(__always)
    static func predict(_ row: UnsafePointer<Int32>, x: Int, y: Int, width w: Int) -> Int32 {
        if y == 0 { return x == 0 ? 0 : row[x - 1] }
        if x == 0 { return row[-w] }
        if y >= 2 && x >= 2 && x < w - 2 {
            return interior(left: row[x - 1], leftLeft: row[x - 2], upper: upperTerms(row + x - w, row + x - 2 * w))
        }
        return planar(row + x, w)
    }

    @inline(__always) static func zigzag(_ r: Int32) -> UInt32 { UInt32(bitPattern: (r &<< 1) ^ (r &>> 31)) }
    @inline(__always) static func unzigzag(_ z: UInt32) -> Int32 { Int32(bitPattern: z &>> 1) ^ (0 &- Int32(bitPattern: z & 1)) }

    // MARK: - Decode

    /// Decodes bytes made by `encode` into `output` (count == width*height). Bit-identical to the input. Never traps on bad bytes: any truncation, bit flip or garbage throws StorageError(.corruptData, ...).
    package static func decode(_ encoded: UnsafeRawBufferPointer, width: Int, height: Int,
                               into output: UnsafeMutableBufferPointer<Float>) throws(StorageError) {
        guard width >= 0, height >= 0 else {
            throw StorageError(.corruptData, "frame has an impossible size \(width) x \(height)")
        }
        let (n, overflow) = width.multipliedReportingOverflow(by: height)
        guard !overflow, n <= 1 << 30, output.count == n else {
            throw StorageError(.corruptData, "frame of \(width) x \(height) does not fit an output of \(output.count) values")
        }
        var reader = ByteCursor(encoded)
        let version = try reader.byte("format version")
        guard version == formatVersion else {
            throw StorageError(.corruptData, "frame encoding has unknown format version \(version)")
        }
        let methodByte = try reader.byte("method")
        guard let method = FrameCodecMethod(rawValue: methodByte) else {
            throw StorageError(.corruptData, "frame encoding has unknown method \(methodByte)")
        }
        switch method {
        case .raw:
            guard reader.remaining == 4 * n else {
                throw StorageError(.corruptData, "raw frame holds \(reader.remaining) bytes, expected \(4 * n)")
            }
            for i in 0..<n { output[i] = Float(bitPattern: reader.uncheckedUInt32(at: reader.position + 4 * i)) }
        case .constant:
            guard n > 0 else { throw StorageError(.corruptData, "constant encoding of an empty frame") }
            let bits = try reader.uint32("constant value")
            guard reader.remaining == 0 else {
                throw StorageError(.corruptData, "constant frame has \(reader.remaining) trailing bytes")
            }
            output.initialize(repeating: Float(bitPattern: bits))
        case .shuffleLZ4:
            guard n > 0 else { throw StorageError(.corruptData, "shuffled encoding of an empty frame") }
            var bytes: [UInt8] = []
            try LZ4Block.decompress(UnsafeRawBufferPointer(rebasing: encoded[reader.position...]),
                                    decompressedSize: 4 * n, into: &bytes)
            bytes.withUnsafeBufferPointer { p in
                for i in 0..<n {
                    let bits = UInt32(p[i]) | UInt32(p[n + i]) &<< 8 | UInt32(p[2 * n + i]) &<< 16 | UInt32(p[3 * n + i]) &<< 24
                    output[i] = Float(bitPattern: bits)
                }
            }
        case .decimalRice:
            guard n > 0 else { throw StorageError(.corruptData, "decimal encoding of an empty frame") }
            try decodeDecimal(&reader, width: width, height: height, into: output)
        }
    }

    /// Decodes bytes made by `encode` into a new array of `width × height` values (typed throws,
    /// which `Array.withUnsafeBytes` does not pass through).
    package static func decode(_ encoded: [UInt8], width: Int, height: Int) throws(StorageError) -> [Float] {
        let (n, overflow) = width.multipliedReportingOverflow(by: height)
        guard width >= 0, height >= 0, !overflow, n <= 1 << 30 else {
            throw StorageError(.corruptData, "frame has an impossible size \(width) x \(height)")
        }
        var values = [Float](repeating: 0, count: n)
        var failure: StorageError?
        encoded.withUnsafeBytes { raw in
            values.withUnsafeMutableBufferPointer { out in
                do throws(StorageError) { try decode(raw, width: width, height: height, into: out) } catch { failure = error }
            }
        }
        if let failure { throw failure }
        return values
    }

    private static func decodeDecimal(_ reader: inout ByteCursor, width w: Int, height h: Int,
                                      into output: UnsafeMutableBufferPointer<Float>) throws(StorageError) {
        let n = w * h
        let decimals = Int(try reader.byte("decimal scale"))
        guard decimals <= maximumDecimals else {
            throw StorageError(.corruptData, "frame decimal scale \(decimals) is above \(maximumDecimals)")
        }
        let exceptionCount = try reader.varint("exception count")
        guard exceptionCount <= UInt64(n / 8) else {
            throw StorageError(.corruptData, "frame claims \(exceptionCount) exceptions for \(n) values")
        }
        // Validate the exception list now; apply it after the grid is decoded.
        let exceptionsStart = reader.position
        var previous = -1
        for _ in 0..<Int(exceptionCount) {
            let gap = try reader.varint("exception index")
            guard gap < UInt64(n) else { throw StorageError(.corruptData, "frame exception index out of range") }
            let index = previous + 1 + Int(gap)
            guard index < n else { throw StorageError(.corruptData, "frame exception index \(index) out of range") }
            _ = try reader.uint32("exception value")
            previous = index
        }
        let lengthA = try reader.varint("first residual stream length")
        let lengthB = try reader.varint("second residual stream length")
        guard lengthA <= UInt64(reader.remaining), lengthB == UInt64(reader.remaining) - lengthA else {
            throw StorageError(.corruptData, "frame residual streams should hold \(lengthA) + \(lengthB) bytes, \(reader.remaining) remain")
        }
        let a = Int(lengthA), b = Int(lengthB)
        // Each stream followed by zero padding, so that 8-byte loads never leave the buffer.
        let padded = UnsafeMutableRawPointer.allocate(byteCount: a + b + 2 * ricePadding, alignment: 8)
        defer { padded.deallocate() }
        padded.copyMemory(from: reader.base + reader.position, byteCount: a)
        (padded + a).initializeMemory(as: UInt8.self, repeating: 0, count: ricePadding)
        let streamB = padded + a + ricePadding
        streamB.copyMemory(from: reader.base + reader.position + a, byteCount: b)
        (streamB + b).initializeMemory(as: UInt8.self, repeating: 0, count: ricePadding)

        let grid = UnsafeMutablePointer<Int32>.allocate(capacity: n)
        defer { grid.deallocate() }
        let residuals = UnsafeMutablePointer<UInt32>.allocate(capacity: n)
        defer { residuals.deallocate() }
        try riceDecode(UnsafeRawPointer(padded), byteLength: a, UnsafeRawPointer(streamB), byteLength: b,
                       into: residuals, count: n)
        reconstruct(residuals, width: w, height: h, into: grid)

        // Grid to floats, checking the grid bound (a cheap corruption check).
        let inverse = powersOf10Float[decimals]
        let out = output.baseAddress!
        var outOfRange: UInt32 = 0
        for i in 0..<n {
            let q = grid[i]
            outOfRange |= UInt32(bitPattern: q &+ Int32(gridLimit - 1)) >= UInt32(2 * gridLimit - 1) ? 1 : 0
            out[i] = Float(q) / inverse
        }
        guard outOfRange == 0 else { throw StorageError(.corruptData, "frame value outside the integer grid") }

        var cursor = ByteCursor(reader.buffer, position: exceptionsStart)
        previous = -1
        for _ in 0..<Int(exceptionCount) {
            let index = previous + 1 + Int(truncatingIfNeeded: try cursor.varint("exception index"))
            out[index] = Float(bitPattern: try cursor.uint32("exception value"))
            previous = index
        }
    }

    /// One stream's reading state: `buffer` holds `available` valid bits; bytes before `p` are all in it.
    struct RiceReader {
        var p: UnsafeRawPointer
        let start: UnsafeRawPointer
        let end: UnsafeRawPointer
        var buffer: UInt64 = 0
        var available: UInt64 = 0
        var s = FrameCodec.riceInitialSum

        init(_ start: UnsafeRawPointer, byteLength: Int) {
            self.start = start
            p = start
            end = start + byteLength + 8
        }

        /// Whether the stream ended in its last byte: no missing and no extra bytes.
        var endsExactly: Bool {
            let consumed = (p - start) * 8 - Int(available)
            let length = (end - start - 8) * 8
            return consumed <= length && consumed + 8 > length
        }
    }

    /// Decodes one value; nil on a damaged code. Each call moves `p` by at most 16 bytes.
    @inline(__always)
    static func riceValue(_ r: inout RiceReader, k: UInt64, mask: UInt64) -> UInt64? {
        // Branchless refill to at least 56 bits: re-ORing bits already in `buffer` changes nothing.
        r.buffer |= UInt64(littleEndian: r.p.loadUnaligned(as: UInt64.self)) &<< r.available
        r.p += Int((63 &- r.available) &>> 3)
        r.available |= 56
        let quotient = UInt64(r.buffer.trailingZeroBitCount)
        if quotient < UInt64(riceEscape) {
            // `quotient · 2^k` as a multiplication: variable shifts cost several µops on x86-64 without BMI2.
            let v = (quotient &* (mask &+ 1)) | ((r.buffer &>> (quotient &+ 1)) & mask)
            let used = quotient &+ 1 &+ k
            r.buffer &>>= used
            r.available &-= used
            return v
        }
        guard quotient == UInt64(riceEscape) else { return nil }
        r.buffer &>>= UInt64(riceEscape) + 1
        r.available &-= UInt64(riceEscape) + 1
        r.buffer |= UInt64(littleEndian: r.p.loadUnaligned(as: UInt64.self)) &<< r.available
        r.p += Int((63 &- r.available) &>> 3)
        r.available |= 56
        let v = r.buffer & 0xFFFF_FFFF
        r.buffer &>>= 32
        r.available &-= 32
        return v
    }

    /// Reads the two residual streams, interleaving them so that their dependency chains overlap.
    /// Each stream must be followed by `ricePadding` readable zero bytes.
    static func riceDecode(_ streamA: UnsafeRawPointer, byteLength lengthA: Int, _ streamB: UnsafeRawPointer,
                           byteLength lengthB: Int, into z: UnsafeMutablePointer<UInt32>, count n: Int) throws(StorageError) {
        let damaged = StorageError(.corruptData, "frame residual stream is truncated or damaged")
        let split = riceSplit(n)
        var a = RiceReader(streamA, byteLength: lengthA)
        var b = RiceReader(streamB, byteLength: lengthB)
        let zB = z + split
        var i = 0  // index in stream A, and in stream B while both run
        while i < split {
            // A block moves `p` by at most 256 bytes: inside the padding.
            guard a.p <= a.end, b.p <= b.end else { throw damaged }
            let kA = riceK(a.s), kB = riceK(b.s)
            let maskA: UInt64 = (1 &<< kA) &- 1, maskB: UInt64 = (1 &<< kB) &- 1
            var sumA: UInt64 = 0, sumB: UInt64 = 0
            let blockEnd = i + riceBlock
            while i < blockEnd {
                guard let vA = riceValue(&a, k: kA, mask: maskA), let vB = riceValue(&b, k: kB, mask: maskB) else {
                    throw damaged
                }
                z[i] = UInt32(truncatingIfNeeded: vA)
                zB[i] = UInt32(truncatingIfNeeded: vB)
                sumA &+= vA
                sumB &+= vB
                i += 1
            }
            a.s = a.s &- (a.s &>> riceDecay) &+ sumA
            b.s = b.s &- (b.s &>> riceDecay) &+ sumB
        }
        // Stream B's remaining blocks (it holds at least as many residuals as A).
        let countB = n - split
        while i < countB {
            guard b.p <= b.end else { throw damaged }
            let k = riceK(b.s)
            let mask: UInt64 = (1 &<< k) &- 1
            var sum: UInt64 = 0
            let blockEnd = min(i + riceBlock, countB)
            while i < blockEnd {
                guard let v = riceValue(&b, k: k, mask: mask) else { throw damaged }
                zB[i] = UInt32(truncatingIfNeeded: v)
                sum &+= v
                i += 1
            }
            b.s = b.s &- (b.s &>> riceDecay) &+ sum
        }
        guard a.endsExactly, b.endsExactly else {
            throw StorageError(.corruptData, "frame residual stream length does not match its contents")
        }
    }

    /// Inverts ``computeResiduals(_:width:height:into:)``.
    static func reconstruct(_ z: UnsafePointer<UInt32>, width w: Int, height h: Int, into grid: UnsafeMutablePointer<Int32>) {
        let upper = UnsafeMutablePointer<Int32>.allocate(capacity: w)
        defer { upper.deallocate() }
        for y in 0..<h {
            let row = grid + y * w
            let residual = z + y * w
            if y == 0 {
                var left = unzigzag(residual[0])
                row[0] = left
                var x = 1
                while x < w { left = left &+ unzigzag(residual[x]); row[x] = left; x += 1 }
                continue
            }
            row[0] = row[-w] &+ unzigzag(residual[0])
            if y == 1 || w < 5 {
                var x = 1
                while x < w { row[x] = planar(row + x, w) &+ unzigzag(residual[x]); x += 1 }
                continue
            }
            row[1] = planar(row + 1, w) &+ unzigzag(residual[1])
            let up = row - w, upUp = row - 2 * w
            var x = 2
            while x < w - 2 { upper[x] = upperTerms(up + x, upUp + x); x += 1 }
            var leftLeft = row[0], left = row[1]
            x = 2
            while x < w - 2 {
                let q = interior(left: left, leftLeft: leftLeft, upper: upper[x]) &+ unzigzag(residual[x])
                row[x] = q
                leftLeft = left
                left = q
                x += 1
            }
            while x < w { row[x] = planar(row + x, w) &+ unzigzag(residual[x]); x += 1 }
        }
    }

    // MARK: - Small helpers

    static func appendUInt32(_ v: UInt32, to output: inout [UInt8]) {
        output.append(UInt8(truncatingIfNeeded: v))
        output.append(UInt8(truncatingIfNeeded: v >> 8))
        output.append(UInt8(truncatingIfNeeded: v >> 16))
        output.append(UInt8(truncatingIfNeeded: v >> 24))
    }

    static func appendVarint(_ v: UInt64, to output: inout [UInt8]) {
        var v = v
        while v >= 0x80 {
            output.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        output.append(UInt8(v))
    }
}

/// A bounds-checked reader of header bytes.
struct ByteCursor {
    let buffer: UnsafeRawBufferPointer
    var position: Int

    init(_ buffer: UnsafeRawBufferPointer, position: Int = 0) {
        self.buffer = buffer
        self.position = position
    }

    var remaining: Int { buffer.count - position }
    var base: UnsafeRawPointer { buffer.baseAddress ?? UnsafeRawPointer(bitPattern: 8)! }

    mutating func byte(_ what: String) throws(StorageError) -> UInt8 {
        guard position < buffer.count else { throw StorageError(.corruptData, "frame encoding is truncated in the \(what)") }
        defer { position += 1 }
        return buffer[position]
    }

    mutating func uint32(_ what: String) throws(StorageError) -> UInt32 {
        guard remaining >= 4 else { throw StorageError(.corruptData, "frame encoding is truncated in the \(what)") }
        defer { position += 4 }
        return uncheckedUInt32(at: position)
    }

    func uncheckedUInt32(at offset: Int) -> UInt32 {
        UInt32(littleEndian: (base + offset).loadUnaligned(as: UInt32.self))
    }

    mutating func varint(_ what: String) throws(StorageError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard position < buffer.count else { throw StorageError(.corruptData, "frame encoding is truncated in the \(what)") }
            let b = buffer[position]
            position += 1
            guard shift < 63 || (shift == 63 && b <= 1) else {
                throw StorageError(.corruptData, "frame encoding has an overlong varint in the \(what)")
            }
            result |= UInt64(b & 0x7F) << shift
            if b < 0x80 { return result }
            shift += 7
        }
    }
}

/// Counts zigzag residuals for ``FrameCodec/analyze(_:width:height:)``.
struct ResidualHistogram {
    var small = [Int](repeating: 0, count: 1 << 16)
    var large: [UInt32: Int] = [:]
    var total = 0

    mutating func add(_ z: UInt32) {
        if z < 1 << 16 { small[Int(z)] += 1 } else { large[z, default: 0] += 1 }
        total += 1
    }

    var entropyBitsPerValue: Double {
        guard total > 0 else { return 0 }
        let n = Double(total)
        var h = 0.0
        for c in small where c > 0 { let p = Double(c) / n; h -= p * log2(p) }
        for c in large.values { let p = Double(c) / n; h -= p * log2(p) }
        return h
    }

    private func log2(_ x: Double) -> Double {
        // Natural log by the series around the exponent, avoiding Foundation: log2(x) = e + log2(m).
        let e = Double(x.exponent)
        let m = x.significand  // [1, 2)
        // atanh series: ln(m) = 2 * atanh((m - 1) / (m + 1)).
        let t = (m - 1) / (m + 1), t2 = t * t
        var term = t, sum = 0.0, k = 1.0
        for _ in 0..<20 { sum += term / k; term *= t2; k += 2 }
        return e + 2 * sum / 0.693_147_180_559_945_3
    }
}
