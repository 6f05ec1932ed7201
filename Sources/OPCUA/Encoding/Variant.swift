// Variant (OPC 10000-6 §5.2.2.16) and DataValue (§5.2.2.17).
public import NIOCore

/// One value of a built-in type, as a Variant holds it.
public indirect enum Scalar: Hashable, Sendable {
    case boolean(Bool)
    case sbyte(Int8)
    case byte(UInt8)
    case int16(Int16)
    case uint16(UInt16)
    case int32(Int32)
    case uint32(UInt32)
    case int64(Int64)
    case uint64(UInt64)
    case float(Float)
    case double(Double)
    case string(String?)
    case dateTime(DateTime)
    case guid(Guid)
    case byteString(ByteString)
    case xmlElement(XmlElement)
    case nodeId(NodeId)
    case expandedNodeId(ExpandedNodeId)
    case statusCode(StatusCode)
    case qualifiedName(QualifiedName)
    case localizedText(LocalizedText)
    case extensionObject(ExtensionObject)
    case dataValue(DataValue)
    case diagnosticInfo(DiagnosticInfo)

    public var type: BuiltinType {
        switch self {
        case .boolean: .boolean
        case .sbyte: .sbyte
        case .byte: .byte
        case .int16: .int16
        case .uint16: .uint16
        case .int32: .int32
        case .uint32: .uint32
        case .int64: .int64
        case .uint64: .uint64
        case .float: .float
        case .double: .double
        case .string: .string
        case .dateTime: .dateTime
        case .guid: .guid
        case .byteString: .byteString
        case .xmlElement: .xmlElement
        case .nodeId: .nodeId
        case .expandedNodeId: .expandedNodeId
        case .statusCode: .statusCode
        case .qualifiedName: .qualifiedName
        case .localizedText: .localizedText
        case .extensionObject: .extensionObject
        case .dataValue: .dataValue
        case .diagnosticInfo: .diagnosticInfo
        }
    }

    func encodeBody(to buffer: inout ByteBuffer) {
        switch self {
        case .boolean(let v): v.encode(to: &buffer)
        case .sbyte(let v): v.encode(to: &buffer)
        case .byte(let v): v.encode(to: &buffer)
        case .int16(let v): v.encode(to: &buffer)
        case .uint16(let v): v.encode(to: &buffer)
        case .int32(let v): v.encode(to: &buffer)
        case .uint32(let v): v.encode(to: &buffer)
        case .int64(let v): v.encode(to: &buffer)
        case .uint64(let v): v.encode(to: &buffer)
        case .float(let v): v.encode(to: &buffer)
        case .double(let v): v.encode(to: &buffer)
        case .string(let v): buffer.writeUAString(v)
        case .dateTime(let v): v.encode(to: &buffer)
        case .guid(let v): v.encode(to: &buffer)
        case .byteString(let v): v.encode(to: &buffer)
        case .xmlElement(let v): v.encode(to: &buffer)
        case .nodeId(let v): v.encode(to: &buffer)
        case .expandedNodeId(let v): v.encode(to: &buffer)
        case .statusCode(let v): v.encode(to: &buffer)
        case .qualifiedName(let v): v.encode(to: &buffer)
        case .localizedText(let v): v.encode(to: &buffer)
        case .extensionObject(let v): v.encode(to: &buffer)
        case .dataValue(let v): v.encode(to: &buffer)
        case .diagnosticInfo(let v): v.encode(to: &buffer)
        }
    }

    static func decode(_ type: BuiltinType, from buffer: inout ByteBuffer, depth: Int) throws(OPCUAError) -> Scalar {
        switch type {
        case .boolean: .boolean(try Bool(decoding: &buffer))
        case .sbyte: .sbyte(try Int8(decoding: &buffer))
        case .byte: .byte(try UInt8(decoding: &buffer))
        case .int16: .int16(try Int16(decoding: &buffer))
        case .uint16: .uint16(try UInt16(decoding: &buffer))
        case .int32: .int32(try Int32(decoding: &buffer))
        case .uint32: .uint32(try UInt32(decoding: &buffer))
        case .int64: .int64(try Int64(decoding: &buffer))
        case .uint64: .uint64(try UInt64(decoding: &buffer))
        case .float: .float(try Float(decoding: &buffer))
        case .double: .double(try Double(decoding: &buffer))
        case .string: .string(try buffer.readUAString())
        case .dateTime: .dateTime(try DateTime(decoding: &buffer))
        case .guid: .guid(try Guid(decoding: &buffer))
        case .byteString: .byteString(try ByteString(decoding: &buffer))
        case .xmlElement: .xmlElement(try XmlElement(decoding: &buffer))
        case .nodeId: .nodeId(try NodeId(decoding: &buffer))
        case .expandedNodeId: .expandedNodeId(try ExpandedNodeId(decoding: &buffer))
        case .statusCode: .statusCode(try StatusCode(decoding: &buffer))
        case .qualifiedName: .qualifiedName(try QualifiedName(decoding: &buffer))
        case .localizedText: .localizedText(try LocalizedText(decoding: &buffer))
        case .extensionObject: .extensionObject(try ExtensionObject(decoding: &buffer))
        case .dataValue: .dataValue(try DataValue(decoding: &buffer, depth: depth + 1))
        case .diagnosticInfo: .diagnosticInfo(try DiagnosticInfo(decoding: &buffer))
        case .variant: throw OPCUAError.decoding("a Variant cannot hold a scalar Variant")
        }
    }
}

/// The elements of a Variant array, one Swift array per built-in type.
public indirect enum ArrayValues: Hashable, Sendable {
    case boolean([Bool])
    case sbyte([Int8])
    case byte([UInt8])
    case int16([Int16])
    case uint16([UInt16])
    case int32([Int32])
    case uint32([UInt32])
    case int64([Int64])
    case uint64([UInt64])
    case float([Float])
    case double([Double])
    case string([String?])
    case dateTime([DateTime])
    case guid([Guid])
    case byteString([ByteString])
    case xmlElement([XmlElement])
    case nodeId([NodeId])
    case expandedNodeId([ExpandedNodeId])
    case statusCode([StatusCode])
    case qualifiedName([QualifiedName])
    case localizedText([LocalizedText])
    case extensionObject([ExtensionObject])
    case dataValue([DataValue])
    case variant([Variant])
    case diagnosticInfo([DiagnosticInfo])

    public var type: BuiltinType {
        switch self {
        case .boolean: .boolean
        case .sbyte: .sbyte
        case .byte: .byte
        case .int16: .int16
        case .uint16: .uint16
        case .int32: .int32
        case .uint32: .uint32
        case .int64: .int64
        case .uint64: .uint64
        case .float: .float
        case .double: .double
        case .string: .string
        case .dateTime: .dateTime
        case .guid: .guid
        case .byteString: .byteString
        case .xmlElement: .xmlElement
        case .nodeId: .nodeId
        case .expandedNodeId: .expandedNodeId
        case .statusCode: .statusCode
        case .qualifiedName: .qualifiedName
        case .localizedText: .localizedText
        case .extensionObject: .extensionObject
        case .dataValue: .dataValue
        case .variant: .variant
        case .diagnosticInfo: .diagnosticInfo
        }
    }

    public var count: Int {
        switch self {
        case .boolean(let a): a.count
        case .sbyte(let a): a.count
        case .byte(let a): a.count
        case .int16(let a): a.count
        case .uint16(let a): a.count
        case .int32(let a): a.count
        case .uint32(let a): a.count
        case .int64(let a): a.count
        case .uint64(let a): a.count
        case .float(let a): a.count
        case .double(let a): a.count
        case .string(let a): a.count
        case .dateTime(let a): a.count
        case .guid(let a): a.count
        case .byteString(let a): a.count
        case .xmlElement(let a): a.count
        case .nodeId(let a): a.count
        case .expandedNodeId(let a): a.count
        case .statusCode(let a): a.count
        case .qualifiedName(let a): a.count
        case .localizedText(let a): a.count
        case .extensionObject(let a): a.count
        case .dataValue(let a): a.count
        case .variant(let a): a.count
        case .diagnosticInfo(let a): a.count
        }
    }

    /// Writes the Int32 count and the elements.
    func encodeElements(to buffer: inout ByteBuffer) {
        switch self {
        case .boolean(let a): buffer.writeUAArray(a)
        case .sbyte(let a): buffer.writeUAArray(a)
        case .byte(let a): buffer.writeUAArray(a)
        case .int16(let a): buffer.writeUAArray(a)
        case .uint16(let a): buffer.writeUAArray(a)
        case .int32(let a): buffer.writeUAArray(a)
        case .uint32(let a): buffer.writeUAArray(a)
        case .int64(let a): buffer.writeUAArray(a)
        case .uint64(let a): buffer.writeUAArray(a)
        case .float(let a): buffer.writeUAFloatArray(a)
        case .double(let a): buffer.writeUAArray(a)
        case .string(let a):
            buffer.writeUA(Int32(a.count))
            for s in a { buffer.writeUAString(s) }
        case .dateTime(let a): buffer.writeUAArray(a)
        case .guid(let a): buffer.writeUAArray(a)
        case .byteString(let a): buffer.writeUAArray(a)
        case .xmlElement(let a): buffer.writeUAArray(a)
        case .nodeId(let a): buffer.writeUAArray(a)
        case .expandedNodeId(let a): buffer.writeUAArray(a)
        case .statusCode(let a): buffer.writeUAArray(a)
        case .qualifiedName(let a): buffer.writeUAArray(a)
        case .localizedText(let a): buffer.writeUAArray(a)
        case .extensionObject(let a): buffer.writeUAArray(a)
        case .dataValue(let a): buffer.writeUAArray(a)
        case .variant(let a): buffer.writeUAArray(a)
        case .diagnosticInfo(let a): buffer.writeUAArray(a)
        }
    }

    /// Reads `count` elements (the count has been read and checked against the readable bytes).
    static func decode(_ type: BuiltinType, count: Int, from buffer: inout ByteBuffer, depth: Int) throws(OPCUAError) -> ArrayValues {
        func many<T>(_ read: (inout ByteBuffer) throws(OPCUAError) -> T) throws(OPCUAError) -> [T] {
            var result: [T] = []
            result.reserveCapacity(Swift.min(count, 4096))
            for _ in 0..<count { result.append(try read(&buffer)) }
            return result
        }
        switch type {
        case .boolean: return .boolean(try many { b throws(OPCUAError) in try Bool(decoding: &b) })
        case .sbyte: return .sbyte(try many { b throws(OPCUAError) in try Int8(decoding: &b) })
        case .byte: return .byte(try many { b throws(OPCUAError) in try UInt8(decoding: &b) })
        case .int16: return .int16(try many { b throws(OPCUAError) in try Int16(decoding: &b) })
        case .uint16: return .uint16(try many { b throws(OPCUAError) in try UInt16(decoding: &b) })
        case .int32: return .int32(try many { b throws(OPCUAError) in try Int32(decoding: &b) })
        case .uint32: return .uint32(try many { b throws(OPCUAError) in try UInt32(decoding: &b) })
        case .int64: return .int64(try many { b throws(OPCUAError) in try Int64(decoding: &b) })
        case .uint64: return .uint64(try many { b throws(OPCUAError) in try UInt64(decoding: &b) })
        case .float: return .float(try buffer.readUAFloats(count: count))
        case .double: return .double(try many { b throws(OPCUAError) in try Double(decoding: &b) })
        case .string: return .string(try many { b throws(OPCUAError) in try b.readUAString() })
        case .dateTime: return .dateTime(try many { b throws(OPCUAError) in try DateTime(decoding: &b) })
        case .guid: return .guid(try many { b throws(OPCUAError) in try Guid(decoding: &b) })
        case .byteString: return .byteString(try many { b throws(OPCUAError) in try ByteString(decoding: &b) })
        case .xmlElement: return .xmlElement(try many { b throws(OPCUAError) in try XmlElement(decoding: &b) })
        case .nodeId: return .nodeId(try many { b throws(OPCUAError) in try NodeId(decoding: &b) })
        case .expandedNodeId: return .expandedNodeId(try many { b throws(OPCUAError) in try ExpandedNodeId(decoding: &b) })
        case .statusCode: return .statusCode(try many { b throws(OPCUAError) in try StatusCode(decoding: &b) })
        case .qualifiedName: return .qualifiedName(try many { b throws(OPCUAError) in try QualifiedName(decoding: &b) })
        case .localizedText: return .localizedText(try many { b throws(OPCUAError) in try LocalizedText(decoding: &b) })
        case .extensionObject: return .extensionObject(try many { b throws(OPCUAError) in try ExtensionObject(decoding: &b) })
        case .dataValue: return .dataValue(try many { b throws(OPCUAError) in try DataValue(decoding: &b, depth: depth + 1) })
        case .variant: return .variant(try many { b throws(OPCUAError) in try Variant(decoding: &b, depth: depth + 1) })
        case .diagnosticInfo: return .diagnosticInfo(try many { b throws(OPCUAError) in try DiagnosticInfo(decoding: &b) })
        }
    }

    /// An empty array of the given element type.
    static func empty(_ type: BuiltinType) -> ArrayValues {
        var nothing = ByteBuffer()
        return (try? decode(type, count: 0, from: &nothing, depth: 0)) ?? .boolean([])
    }
}

/// A Variant (OPC 10000-6 §5.2.2.16): empty, one value, an array, or a multi-dimensional array.
///
/// A matrix is an array in row-major order with `dimensions` (a 100×100 Float frame has
/// 10,000 elements and dimensions [100, 100]); a one-dimensional array never carries
/// dimensions on the wire. A null array (length -1) is kept apart from an empty one.
///
/// ```swift
/// let frame = Variant.matrix(.float(temperatures), dimensions: [100, 100])
/// let power = Variant.scalar(.double(12.5))
/// ```
public indirect enum Variant: Hashable, Sendable, OPCUACodable {
    /// The null Variant (encoding byte 0).
    case empty
    case scalar(Scalar)
    /// An array; `dimensions` nil or a single dimension for 1-D, two or more for a matrix.
    case array(ArrayValues, dimensions: [Int32]?)
    /// A null array of the type (length -1).
    case nullArray(BuiltinType)

    /// A matrix in row-major order.
    public static func matrix(_ values: ArrayValues, dimensions: [Int32]) -> Variant {
        .array(values, dimensions: dimensions)
    }

    /// The built-in type of the value or the elements; nil for the empty Variant.
    public var type: BuiltinType? {
        switch self {
        case .empty: nil
        case .scalar(let s): s.type
        case .array(let values, _): values.type
        case .nullArray(let type): type
        }
    }

    /// -1 scalar, 1 one-dimensional array, n for an n-dimensional matrix; nil when empty.
    public var valueRank: Int32? {
        switch self {
        case .empty: nil
        case .scalar: -1
        case .array(_, let dimensions): Int32(max(dimensions?.count ?? 1, 1))
        case .nullArray: 1
        }
    }

    /// The array dimensions as the ArrayDimensions attribute states them (nil for scalars).
    public var arrayDimensions: [UInt32]? {
        switch self {
        case .empty, .scalar: nil
        case .array(let values, let dimensions):
            if let dimensions, dimensions.count > 1 { dimensions.map { UInt32(max($0, 0)) } } else { [UInt32(values.count)] }
        case .nullArray: [0]
        }
    }

    public func encode(to buffer: inout ByteBuffer) {
        switch self {
        case .empty:
            buffer.writeUA(UInt8(0))
        case .scalar(let scalar):
            buffer.writeUA(scalar.type.rawValue)
            scalar.encodeBody(to: &buffer)
        case .array(let values, let dimensions):
            let multi = (dimensions?.count ?? 0) > 1
            buffer.writeUA(values.type.rawValue | 0x80 | (multi ? 0x40 : 0))
            values.encodeElements(to: &buffer)
            if multi, let dimensions { buffer.writeUAArray(dimensions) }
        case .nullArray(let type):
            buffer.writeUA(type.rawValue | 0x80)
            buffer.writeUA(Int32(-1))
        }
    }

    public init(decoding buffer: inout ByteBuffer) throws(OPCUAError) {
        try self.init(decoding: &buffer, depth: 0)
    }

    init(decoding buffer: inout ByteBuffer, depth: Int) throws(OPCUAError) {
        guard depth < DecodingLimits.maxNestingDepth else {
            throw OPCUAError.decoding("Variant nested deeper than \(DecodingLimits.maxNestingDepth)")
        }
        let mask = try buffer.readUA(UInt8.self, "Variant encoding")
        let typeId = mask & 0x3F
        if typeId == 0 {
            guard mask == 0 else { throw OPCUAError.decoding("null Variant with array flags 0x\(String(mask, radix: 16))") }
            self = .empty
            return
        }
        guard let type = BuiltinType(rawValue: typeId) else {
            throw OPCUAError.decoding("Variant type id \(typeId) is not a built-in type")
        }
        guard mask & 0x80 != 0 else {
            guard mask & 0x40 == 0 else { throw OPCUAError.decoding("Variant scalar with an ArrayDimensions flag") }
            self = .scalar(try Scalar.decode(type, from: &buffer, depth: depth))
            return
        }
        guard let count = try buffer.readUALength(minimumElementSize: type.minimumEncodedSize, "Variant array length") else {
            if mask & 0x40 != 0 { _ = try buffer.readUAArray(Int32.self, "Variant ArrayDimensions") }
            self = .nullArray(type)
            return
        }
        let values = try ArrayValues.decode(type, count: count, from: &buffer, depth: depth)
        var dimensions: [Int32]?
        if mask & 0x40 != 0 {
            let dims = try buffer.readUAArray(Int32.self, "Variant ArrayDimensions") ?? []
            var product = 1
            for dim in dims {
                guard dim >= 0 else { throw OPCUAError.decoding("Variant ArrayDimensions has a negative length \(dim)") }
                let (next, overflow) = product.multipliedReportingOverflow(by: Int(dim))
                guard !overflow else { throw OPCUAError.decoding("Variant ArrayDimensions overflow") }
                product = next
            }
            guard !dims.isEmpty, product == count else {
                throw OPCUAError.decoding("Variant ArrayDimensions \(dims) do not match the array length \(count)")
            }
            dimensions = dims.count > 1 ? dims : nil
        }
        self = .array(values, dimensions: dimensions)
    }
}

extension BuiltinType {
    /// The fewest bytes one value of the type takes on the wire (bounds a hostile array length).
    var minimumEncodedSize: Int {
        switch self {
        case .boolean, .sbyte, .byte, .dataValue, .variant, .diagnosticInfo, .localizedText: 1
        case .int16, .uint16, .nodeId, .expandedNodeId: 2
        case .int32, .uint32, .float, .statusCode, .string, .byteString, .xmlElement: 4
        case .int64, .uint64, .double, .dateTime: 8
        case .guid: 16
        case .qualifiedName: 6
        case .extensionObject: 3
        }
    }
}

// MARK: - Float arrays (the frame path)

extension ByteBuffer {
    /// Writes Int32 count then little-endian Float32s in one copy on little-endian hosts.
    @usableFromInline
    mutating func writeUAFloatArray(_ values: [Float]) {
        writeUA(Int32(values.count))
        #if _endian(little)
        values.withUnsafeBytes { _ = writeBytes($0) }
        #else
        for value in values { writeUA(value.bitPattern) }
        #endif
    }

    /// Reads `count` little-endian Float32s (count already checked against the readable bytes).
    @usableFromInline
    mutating func readUAFloats(count: Int) throws(OPCUAError) -> [Float] {
        let byteCount = count * 4
        guard readableBytes >= byteCount else { throw OPCUAError.decoding("Float array truncated") }
        #if _endian(little)
        let result = [Float](unsafeUninitializedCapacity: count) { storage, initialized in
            readWithUnsafeReadableBytes { raw in
                UnsafeMutableRawBufferPointer(storage).copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[0..<byteCount]))
                return byteCount
            }
            initialized = count
        }
        return result
        #else
        var result: [Float] = []
        result.reserveCapacity(count)
        for _ in 0..<count { result.append(Float(bitPattern: readInteger(endianness: .little)!)) }
        return result
        #endif
    }
}

// MARK: - DataValue

/// A DataValue (OPC 10000-6 §5.2.2.17): a value with its status and timestamps, each optional.
///
/// Mask bits: 0x01 Value, 0x02 StatusCode, 0x04 SourceTimestamp, 0x08 ServerTimestamp,
/// 0x10 SourcePicoseconds, 0x20 ServerPicoseconds; fields in the order Value, Status,
/// SourceTimestamp, SourcePicoseconds, ServerTimestamp, ServerPicoseconds.
public struct DataValue: Hashable, Sendable, OPCUACodable {
    public var value: Variant?
    public var status: StatusCode?
    public var sourceTimestamp: DateTime?
    public var sourcePicoseconds: UInt16?
    public var serverTimestamp: DateTime?
    public var serverPicoseconds: UInt16?

    public init(
        value: Variant? = nil, status: StatusCode? = nil, sourceTimestamp: DateTime? = nil,
        sourcePicoseconds: UInt16? = nil, serverTimestamp: DateTime? = nil, serverPicoseconds: UInt16? = nil
    ) {
        self.value = value
        self.status = status
        self.sourceTimestamp = sourceTimestamp
        self.sourcePicoseconds = sourcePicoseconds
        self.serverTimestamp = serverTimestamp
        self.serverPicoseconds = serverPicoseconds
    }

    /// The status the DataValue stands for: its StatusCode, Good when absent.
    public var effectiveStatus: StatusCode { status ?? .good }

    public var mask: UInt8 {
        var mask: UInt8 = 0
        if value != nil { mask |= 0x01 }
        if status != nil { mask |= 0x02 }
        if sourceTimestamp != nil { mask |= 0x04 }
        if serverTimestamp != nil { mask |= 0x08 }
        if sourcePicoseconds != nil { mask |= 0x10 }
        if serverPicoseconds != nil { mask |= 0x20 }
        return mask
    }

    public func encode(to buffer: inout ByteBuffer) {
        buffer.writeUA(mask)
        if let value { value.encode(to: &buffer) }
        if let status { status.encode(to: &buffer) }
        if let sourceTimestamp { sourceTimestamp.encode(to: &buffer) }
        if let sourcePicoseconds { buffer.writeUA(sourcePicoseconds) }
        if let serverTimestamp { serverTimestamp.encode(to: &buffer) }
        if let serverPicoseconds { buffer.writeUA(serverPicoseconds) }
    }

    public init(decoding buffer: inout ByteBuffer) throws(OPCUAError) {
        try self.init(decoding: &buffer, depth: 0)
    }

    init(decoding buffer: inout ByteBuffer, depth: Int) throws(OPCUAError) {
        guard depth < DecodingLimits.maxNestingDepth else {
            throw OPCUAError.decoding("DataValue nested deeper than \(DecodingLimits.maxNestingDepth)")
        }
        let mask = try buffer.readUA(UInt8.self, "DataValue mask")
        value = mask & 0x01 != 0 ? try Variant(decoding: &buffer, depth: depth + 1) : nil
        status = mask & 0x02 != 0 ? try StatusCode(decoding: &buffer) : nil
        sourceTimestamp = mask & 0x04 != 0 ? try DateTime(decoding: &buffer) : nil
        sourcePicoseconds = mask & 0x10 != 0 ? try buffer.readUA(UInt16.self, "DataValue SourcePicoseconds") : nil
        serverTimestamp = mask & 0x08 != 0 ? try DateTime(decoding: &buffer) : nil
        serverPicoseconds = mask & 0x20 != 0 ? try buffer.readUA(UInt16.self, "DataValue ServerPicoseconds") : nil
    }
}
