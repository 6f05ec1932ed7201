// DiagnosticInfo (OPC 10000-6 §5.2.2.12).
public import NIOCore

/// Vendor diagnostics for a status code (OPC 10000-4 §7.12), each field optional.
///
/// The encoding mask follows OPC 10000-6 Table 21: 0x01 SymbolicId, 0x02 NamespaceUri,
/// 0x04 LocalizedText, 0x08 Locale, 0x10 AdditionalInfo, 0x20 InnerStatusCode,
/// 0x40 InnerDiagnosticInfo; the fields follow in the order SymbolicId, NamespaceUri,
/// Locale, LocalizedText, AdditionalInfo, InnerStatusCode, InnerDiagnosticInfo.
/// Some stacks (asyncua) swap the 0x04 and 0x08 bits; both fields are Int32 indexes,
/// so their diagnostics decode without error, with the two indexes exchanged.
public struct DiagnosticInfo: Hashable, Sendable, OPCUACodable {
    public var symbolicId: Int32?
    public var namespaceUri: Int32?
    public var locale: Int32?
    public var localizedText: Int32?
    public var additionalInfo: String?
    public var innerStatusCode: StatusCode?
    /// Boxed in an array so the struct can nest.
    private var inner: [DiagnosticInfo]

    public var innerDiagnosticInfo: DiagnosticInfo? {
        get { inner.first }
        set { inner = newValue.map { [$0] } ?? [] }
    }

    public init(
        symbolicId: Int32? = nil, namespaceUri: Int32? = nil, locale: Int32? = nil, localizedText: Int32? = nil,
        additionalInfo: String? = nil, innerStatusCode: StatusCode? = nil, innerDiagnosticInfo: DiagnosticInfo? = nil
    ) {
        self.symbolicId = symbolicId
        self.namespaceUri = namespaceUri
        self.locale = locale
        self.localizedText = localizedText
        self.additionalInfo = additionalInfo
        self.innerStatusCode = innerStatusCode
        self.inner = innerDiagnosticInfo.map { [$0] } ?? []
    }

    /// The empty DiagnosticInfo (mask 0).
    public static let empty = DiagnosticInfo()

    public var mask: UInt8 {
        var mask: UInt8 = 0
        if symbolicId != nil { mask |= 0x01 }
        if namespaceUri != nil { mask |= 0x02 }
        if localizedText != nil { mask |= 0x04 }
        if locale != nil { mask |= 0x08 }
        if additionalInfo != nil { mask |= 0x10 }
        if innerStatusCode != nil { mask |= 0x20 }
        if !inner.isEmpty { mask |= 0x40 }
        return mask
    }

    public func encode(to buffer: inout ByteBuffer) {
        buffer.writeUA(mask)
        if let symbolicId { buffer.writeUA(symbolicId) }
        if let namespaceUri { buffer.writeUA(namespaceUri) }
        if let locale { buffer.writeUA(locale) }
        if let localizedText { buffer.writeUA(localizedText) }
        if let additionalInfo { buffer.writeUAString(additionalInfo) }
        if let innerStatusCode { innerStatusCode.encode(to: &buffer) }
        if let first = inner.first { first.encode(to: &buffer) }
    }

    public init(decoding buffer: inout ByteBuffer) throws(OPCUAError) {
        try self.init(decoding: &buffer, depth: 0)
    }

    init(decoding buffer: inout ByteBuffer, depth: Int) throws(OPCUAError) {
        guard depth < DecodingLimits.maxDiagnosticDepth else {
            throw OPCUAError.decoding("DiagnosticInfo nested deeper than \(DecodingLimits.maxDiagnosticDepth)")
        }
        let mask = try buffer.readUA(UInt8.self, "DiagnosticInfo mask")
        symbolicId = mask & 0x01 != 0 ? try buffer.readUA(Int32.self, "DiagnosticInfo SymbolicId") : nil
        namespaceUri = mask & 0x02 != 0 ? try buffer.readUA(Int32.self, "DiagnosticInfo NamespaceUri") : nil
        locale = mask & 0x08 != 0 ? try buffer.readUA(Int32.self, "DiagnosticInfo Locale") : nil
        localizedText = mask & 0x04 != 0 ? try buffer.readUA(Int32.self, "DiagnosticInfo LocalizedText") : nil
        additionalInfo = mask & 0x10 != 0 ? try buffer.readUAString("DiagnosticInfo AdditionalInfo") : nil
        innerStatusCode = mask & 0x20 != 0 ? try StatusCode(decoding: &buffer) : nil
        inner = mask & 0x40 != 0 ? [try DiagnosticInfo(decoding: &buffer, depth: depth + 1)] : []
    }
}
