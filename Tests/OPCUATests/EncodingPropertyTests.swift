import NIOCore
import Testing

@testable import OPCUA

/// SplitMix64 (Steele, Lea, Flood 2014): a tiny seeded generator, so every failure reproduces.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Random values of the built-in types, bounded in size and nesting.
struct RandomValues {
    var rng: SplitMix64
    /// Set when a NaN was generated since the last ``takeNaNFlag()`` (NaN ≠ NaN, so such values
    /// compare by their encoding; `value == value` is no test, arrays short-cut on shared storage).
    private(set) var madeNaN = false
    init(seed: UInt64) { rng = SplitMix64(seed: seed) }

    /// Whether a NaN was generated since the last call; resets the flag.
    mutating func takeNaNFlag() -> Bool {
        defer { madeNaN = false }
        return madeNaN
    }

    mutating func chance(_ percent: Int) -> Bool { Int.random(in: 0..<100, using: &rng) < percent }
    mutating func below(_ bound: Int) -> Int { Int.random(in: 0..<bound, using: &rng) }

    /// An integer, often an edge value (0, ±1, min, max).
    mutating func integer<T: FixedWidthInteger>(_ type: T.Type = T.self) -> T {
        switch below(8) {
        case 0: return 0
        case 1: return T.max
        case 2: return T.min
        case 3: return 1
        case 4: return T.isSigned ? 0 &- 1 : 2
        default: return T(truncatingIfNeeded: rng.next())
        }
    }

    /// A Float from any bit pattern (NaNs, infinities, subnormals, -0 included) or a plain value.
    mutating func float() -> Float {
        let value = anyFloat()
        if value.isNaN { madeNaN = true }
        return value
    }

    mutating func double() -> Double {
        let value = anyDouble()
        if value.isNaN { madeNaN = true }
        return value
    }

    private mutating func anyFloat() -> Float {
        switch below(6) {
        case 0: return [Float.nan, .infinity, -.infinity, -0.0, .leastNonzeroMagnitude, .greatestFiniteMagnitude][below(6)]
        case 1, 2: return Float(bitPattern: UInt32(truncatingIfNeeded: rng.next()))
        default: return Float(Int16(truncatingIfNeeded: rng.next())) / 8
        }
    }

    private mutating func anyDouble() -> Double {
        switch below(6) {
        case 0: return [Double.nan, .infinity, -.infinity, -0.0, .leastNonzeroMagnitude, .greatestFiniteMagnitude][below(6)]
        case 1, 2: return Double(bitPattern: rng.next())
        default: return Double(Int32(truncatingIfNeeded: rng.next())) / 1024
        }
    }

    /// A String of scalars from ASCII, Latin-1, CJK, emoji and U+FFFD.
    mutating func text(maxLength: Int = 12) -> String {
        var scalars = String.UnicodeScalarView()
        for _ in 0..<below(maxLength + 1) {
            let ranges: [ClosedRange<UInt32>] = [0x20...0x7E, 0x00...0x1F, 0xA0...0xFF, 0x4E00...0x4FFF, 0x1F300...0x1F5FF, 0xFFFD...0xFFFD, 0x10FFFF...0x10FFFF]
            let range = ranges[below(ranges.count)]
            if let scalar = Unicode.Scalar(UInt32.random(in: range, using: &rng)) { scalars.append(scalar) }
        }
        return String(scalars)
    }

    mutating func string() -> String? {
        switch below(10) {
        case 0: return nil
        case 1: return ""
        default: return text()
        }
    }

    mutating func bytes(maxLength: Int = 12) -> [UInt8] {
        (0..<below(maxLength + 1)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
    }

    mutating func byteString() -> ByteString { chance(15) ? .null : ByteString(bytes()) }
    mutating func dateTime() -> DateTime { chance(20) ? .null : DateTime(ticks: integer()) }
    mutating func guid() -> Guid { Guid(data1: integer(), data2: integer(), data3: integer(), data4: integer()) }
    mutating func xmlElement() -> XmlElement { XmlElement(chance(15) ? nil : "<x>\(text())</x>") }
    mutating func statusCode() -> StatusCode { StatusCode(integer(UInt32.self)) }

    /// A NodeId; numeric ids and namespaces are biased to the form boundaries.
    mutating func nodeId() -> NodeId {
        let namespace: UInt16 = [0, 1, 255, 256, integer()][below(5)]
        switch below(6) {
        case 0, 1, 2:
            let numeric: UInt32 = [0, 255, 256, 65535, 65536, integer(), UInt32(below(300))][below(7)]
            return NodeId(numeric: numeric, namespace: namespace)
        case 3: return NodeId(namespace: namespace, .string(text()))
        case 4: return NodeId(namespace: namespace, .guid(guid()))
        default: return NodeId(namespace: namespace, .opaque(bytes()))
        }
    }

    mutating func expandedNodeId() -> ExpandedNodeId {
        ExpandedNodeId(nodeId(), namespaceUri: chance(40) ? "urn:" + text() : nil, serverIndex: chance(40) ? integer() : 0)
    }

    mutating func qualifiedName() -> QualifiedName { QualifiedName(string(), namespaceIndex: integer()) }
    mutating func localizedText() -> LocalizedText { LocalizedText(string(), locale: string()) }

    mutating func extensionObject() -> ExtensionObject {
        let body: ExtensionObject.Body
        switch below(3) {
        case 0: body = .none
        case 1: body = .binary(bytes(maxLength: 24))
        default: body = .xml(chance(10) ? nil : "<x>\(text())</x>")
        }
        return ExtensionObject(typeId: nodeId(), body: body)
    }

    mutating func diagnosticInfo(depth: Int = 0) -> DiagnosticInfo {
        DiagnosticInfo(
            symbolicId: chance(50) ? integer() : nil, namespaceUri: chance(50) ? integer() : nil,
            locale: chance(50) ? integer() : nil, localizedText: chance(50) ? integer() : nil,
            additionalInfo: chance(50) ? string() : nil, innerStatusCode: chance(50) ? statusCode() : nil,
            innerDiagnosticInfo: depth < 5 && chance(40) ? diagnosticInfo(depth: depth + 1) : nil)
    }

    mutating func dataValue(depth: Int = 0) -> DataValue {
        DataValue(
            value: chance(70) ? variant(depth: depth + 1) : nil, status: chance(50) ? statusCode() : nil,
            sourceTimestamp: chance(50) ? dateTime() : nil, sourcePicoseconds: chance(50) ? integer() : nil,
            serverTimestamp: chance(50) ? dateTime() : nil, serverPicoseconds: chance(50) ? integer() : nil)
    }

    /// A scalar of `type` (not `.variant`, which cannot be a scalar).
    mutating func scalar(_ type: BuiltinType, depth: Int) -> Scalar {
        switch type {
        case .boolean: .boolean(chance(50))
        case .sbyte: .sbyte(integer())
        case .byte: .byte(integer())
        case .int16: .int16(integer())
        case .uint16: .uint16(integer())
        case .int32: .int32(integer())
        case .uint32: .uint32(integer())
        case .int64: .int64(integer())
        case .uint64: .uint64(integer())
        case .float: .float(float())
        case .double: .double(double())
        case .string: .string(string())
        case .dateTime: .dateTime(dateTime())
        case .guid: .guid(guid())
        case .byteString: .byteString(byteString())
        case .xmlElement: .xmlElement(xmlElement())
        case .nodeId: .nodeId(nodeId())
        case .expandedNodeId: .expandedNodeId(expandedNodeId())
        case .statusCode: .statusCode(statusCode())
        case .qualifiedName: .qualifiedName(qualifiedName())
        case .localizedText: .localizedText(localizedText())
        case .extensionObject: .extensionObject(extensionObject())
        case .dataValue: .dataValue(dataValue(depth: depth + 1))
        case .diagnosticInfo: .diagnosticInfo(diagnosticInfo())
        case .variant: .int32(integer()) // unreachable for callers; a Variant never holds a scalar Variant
        }
    }

    mutating func arrayValues(_ type: BuiltinType, count: Int, depth: Int) -> ArrayValues {
        func many<T>(_ make: (inout RandomValues) -> T) -> [T] {
            var result: [T] = []
            for _ in 0..<count { result.append(make(&self)) }
            return result
        }
        switch type {
        case .boolean: return .boolean(many { $0.chance(50) })
        case .sbyte: return .sbyte(many { $0.integer() })
        case .byte: return .byte(many { $0.integer() })
        case .int16: return .int16(many { $0.integer() })
        case .uint16: return .uint16(many { $0.integer() })
        case .int32: return .int32(many { $0.integer() })
        case .uint32: return .uint32(many { $0.integer() })
        case .int64: return .int64(many { $0.integer() })
        case .uint64: return .uint64(many { $0.integer() })
        case .float: return .float(many { $0.float() })
        case .double: return .double(many { $0.double() })
        case .string: return .string(many { $0.string() })
        case .dateTime: return .dateTime(many { $0.dateTime() })
        case .guid: return .guid(many { $0.guid() })
        case .byteString: return .byteString(many { $0.byteString() })
        case .xmlElement: return .xmlElement(many { $0.xmlElement() })
        case .nodeId: return .nodeId(many { $0.nodeId() })
        case .expandedNodeId: return .expandedNodeId(many { $0.expandedNodeId() })
        case .statusCode: return .statusCode(many { $0.statusCode() })
        case .qualifiedName: return .qualifiedName(many { $0.qualifiedName() })
        case .localizedText: return .localizedText(many { $0.localizedText() })
        case .extensionObject: return .extensionObject(many { $0.extensionObject() })
        case .dataValue: return .dataValue(many { $0.dataValue(depth: depth + 1) })
        case .variant: return .variant(many { $0.variant(depth: depth + 1) })
        case .diagnosticInfo: return .diagnosticInfo(many { $0.diagnosticInfo() })
        }
    }

    /// Dimensions of 2…4 axes, each 0…5 long (0…2 for element types that nest).
    mutating func dimensions(small: Bool) -> [Int32] {
        (0..<(2 + below(small ? 2 : 3))).map { _ in Int32(below(chance(10) ? 1 : small ? 3 : 6)) }
    }

    mutating func matrix(_ type: BuiltinType, depth: Int) -> Variant {
        let dims = dimensions(small: type == .variant || type == .dataValue)
        let count = dims.reduce(1) { $0 * Int($1) }
        return .matrix(arrayValues(type, count: count, depth: depth), dimensions: dims)
    }

    /// Any Variant: empty, scalar, 1-D array, null array, matrix, or arrays of Variants and DataValues.
    mutating func variant(depth: Int = 0) -> Variant {
        let deep = depth >= 3
        let types = BuiltinType.allCases.filter { !deep || ($0 != .variant && $0 != .dataValue) }
        let type = types[below(types.count)]
        switch below(10) {
        case 0: return .empty
        case 1: return .nullArray(type)
        case 2, 3: return .array(arrayValues(type, count: below(deep ? 3 : 6), depth: depth), dimensions: nil)
        case 4: return matrix(type, depth: depth)
        case 5 where !deep: return .array(arrayValues(.variant, count: 1 + below(4), depth: depth), dimensions: nil)
        case 6 where !deep: return .scalar(.dataValue(dataValue(depth: depth + 1)))
        default:
            return type == .variant ? .scalar(.int32(integer())) : .scalar(scalar(type, depth: depth))
        }
    }
}

/// Round trips of random values: encode → decode gives the value back and consumes every byte.
struct EncodingPropertyTests {
    typealias F = EncodingFixtures

    /// encode → decode → equal, nothing left over. Values with a NaN inside (as `random` reports)
    /// compare by their re-encoding only.
    private func roundTrips<T: OPCUACodable & Equatable>(
        _ value: T, _ random: inout RandomValues, _ context: @autoclosure () -> String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let hasNaN = random.takeNaNFlag()
        let encoded = F.encode(value)
        do {
            let (back, left) = try F.decode(T.self, encoded)
            #expect(left == 0, "\(context()): \(left) bytes left", sourceLocation: sourceLocation)
            let reencoded = F.encode(back)
            #expect(reencoded == encoded, "\(context()): re-encoding differs", sourceLocation: sourceLocation)
            if !hasNaN {
                #expect(back == value, "\(context()): \(value) came back as \(back)", sourceLocation: sourceLocation)
            }
        } catch {
            Issue.record("\(context()): \(error) for \(F.hex(Array(encoded.prefix(80))))", sourceLocation: sourceLocation)
        }
    }

    @Test func primitives() {
        var random = RandomValues(seed: 0x5EED_0001)
        for index in 0..<400 {
            let context = "primitives case \(index)"
            roundTrips(random.chance(50), &random, context)
            roundTrips(random.integer(Int8.self), &random, context)
            roundTrips(random.integer(UInt8.self), &random, context)
            roundTrips(random.integer(Int16.self), &random, context)
            roundTrips(random.integer(UInt16.self), &random, context)
            roundTrips(random.integer(Int32.self), &random, context)
            roundTrips(random.integer(UInt32.self), &random, context)
            roundTrips(random.integer(Int64.self), &random, context)
            roundTrips(random.integer(UInt64.self), &random, context)
            roundTrips(random.float(), &random, context)
            roundTrips(random.double(), &random, context)
            roundTrips(random.string(), &random, context)
            roundTrips(random.text(maxLength: 40), &random, context)
            roundTrips(random.dateTime(), &random, context)
            roundTrips(random.guid(), &random, context)
            roundTrips(random.byteString(), &random, context)
            roundTrips(random.xmlElement(), &random, context)
            roundTrips(random.statusCode(), &random, context)
        }
    }

    @Test func floatsKeepEveryBitPattern() {
        var random = RandomValues(seed: 0x5EED_0002)
        for _ in 0..<500 {
            let single = Float(bitPattern: UInt32(truncatingIfNeeded: random.rng.next()))
            let double = Double(bitPattern: random.rng.next())
            #expect((try? F.decode(Float.self, F.encode(single)).value.bitPattern) == single.bitPattern)
            #expect((try? F.decode(Double.self, F.encode(double)).value.bitPattern) == double.bitPattern)
        }
    }

    @Test func nodeIdsAndTheirShortestForm() {
        var random = RandomValues(seed: 0x5EED_0003)
        for index in 0..<400 {
            let id = random.nodeId()
            roundTrips(id, &random, "NodeId case \(index)")
            roundTrips(random.expandedNodeId(), &random, "ExpandedNodeId case \(index)")
            if case .numeric(let value) = id.identifier {
                let expected = id.namespace == 0 && value <= 0xFF ? 2 : id.namespace <= 0xFF && value <= 0xFFFF ? 4 : 7
                #expect(F.encode(id).count == expected, "\(id) took \(F.encode(id).count) bytes")
            }
        }
    }

    @Test func structuredBuiltins() {
        var random = RandomValues(seed: 0x5EED_0004)
        for index in 0..<300 {
            roundTrips(random.qualifiedName(), &random, "QualifiedName case \(index)")
            roundTrips(random.localizedText(), &random, "LocalizedText case \(index)")
            roundTrips(random.extensionObject(), &random, "ExtensionObject case \(index)")
            roundTrips(random.diagnosticInfo(), &random, "DiagnosticInfo case \(index)")
        }
    }

    @Test func scalarVariantsOfEveryType() {
        var random = RandomValues(seed: 0x5EED_0005)
        for type in BuiltinType.allCases where type != .variant {
            for index in 0..<40 {
                roundTrips(Variant.scalar(random.scalar(type, depth: 0)), &random, "scalar \(type) case \(index)")
            }
        }
    }

    @Test func arraysOfEveryType() {
        var random = RandomValues(seed: 0x5EED_0006)
        for type in BuiltinType.allCases {
            for index in 0..<20 {
                let values = random.arrayValues(type, count: random.below(8), depth: 2)
                #expect(values.type == type)
                roundTrips(Variant.array(values, dimensions: nil), &random, "array \(type) case \(index)")
                roundTrips(Variant.nullArray(type), &random, "null array \(type)")
            }
        }
    }

    @Test func nestedVariants() {
        var random = RandomValues(seed: 0x5EED_0007)
        for index in 0..<300 {
            roundTrips(random.variant(), &random, "Variant case \(index)")
        }
    }

    @Test func dataValuesWithVariants() {
        var random = RandomValues(seed: 0x5EED_0008)
        for index in 0..<300 {
            roundTrips(random.dataValue(), &random, "DataValue case \(index)")
        }
    }

    @Test func matrices() {
        var random = RandomValues(seed: 0x5EED_0009)
        for index in 0..<200 {
            let type = BuiltinType.allCases[random.below(BuiltinType.allCases.count)]
            let matrix = random.matrix(type, depth: 3)
            roundTrips(matrix, &random, "matrix \(type) case \(index)")
            guard case .array(let values, let dims?) = matrix else {
                Issue.record("matrix without dimensions")
                continue
            }
            #expect(values.count == dims.reduce(1) { $0 * Int($1) })
            #expect(matrix.valueRank == Int32(dims.count))
        }
    }

    @Test func valuesBackToBackDecodeInOrder() throws {
        // Each decode consumes exactly its own bytes: a stream of mixed values reads back in order.
        var random = RandomValues(seed: 0x5EED_000A)
        for _ in 0..<50 {
            var variants: [(value: Variant, hasNaN: Bool)] = []
            var dataValues: [(value: DataValue, hasNaN: Bool)] = []
            var buffer = ByteBuffer()
            for _ in 0..<10 {
                let variant = random.variant()
                variants.append((variant, random.takeNaNFlag()))
                let dataValue = random.dataValue()
                dataValues.append((dataValue, random.takeNaNFlag()))
                variant.encode(to: &buffer)
                dataValue.encode(to: &buffer)
            }
            for index in 0..<10 {
                let variant = try Variant(decoding: &buffer)
                let dataValue = try DataValue(decoding: &buffer)
                #expect(F.encode(variant) == F.encode(variants[index].value))
                #expect(F.encode(dataValue) == F.encode(dataValues[index].value))
                if !variants[index].hasNaN { #expect(variant == variants[index].value) }
                if !dataValues[index].hasNaN { #expect(dataValue == dataValues[index].value) }
            }
            #expect(buffer.readableBytes == 0)
        }
    }

    @Test func generatorIsDeterministic() {
        var first = RandomValues(seed: 42)
        var second = RandomValues(seed: 42)
        #expect(F.encode(first.variant()) == F.encode(second.variant()))
        var zero = SplitMix64(seed: 0)
        #expect(zero.next() == 0xE220_A839_7B1D_CDAF) // the reference first output for seed 0
    }
}
