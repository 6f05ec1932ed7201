// opc.tcp:// endpoint URLs.

/// An `opc.tcp://host:port/path` URL (OPC 10000-6 §7.2). The port defaults to 4840.
///
/// ```swift
/// let url = try EndpointURL("opc.tcp://127.0.0.1:4840/sinter")
/// url.host // "127.0.0.1"; url.port // 4840
/// ```
public struct EndpointURL: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var path: String

    public init(host: String, port: Int = 4840, path: String = "") {
        self.host = host
        self.port = port
        self.path = path
    }

    /// Parses the URL; the error names what is wrong.
    public init(_ text: String) throws(OPCUAError) {
        let scheme = "opc.tcp://"
        guard text.lowercased().hasPrefix(scheme) else {
            throw OPCUAError(.badTcpEndpointUrlInvalid, "\"\(text)\" is not an opc.tcp:// URL")
        }
        var rest = Substring(text.dropFirst(scheme.count))
        var path = ""
        if let slash = rest.firstIndex(of: "/") {
            path = String(rest[slash...])
            rest = rest[..<slash]
        }
        var host = String(rest)
        var port = 4840
        if rest.hasPrefix("[") {
            // [IPv6]:port
            guard let close = rest.firstIndex(of: "]") else { throw OPCUAError(.badTcpEndpointUrlInvalid, "\"\(text)\": unterminated IPv6 address") }
            host = String(rest[rest.index(after: rest.startIndex)..<close])
            let after = rest[rest.index(after: close)...]
            if after.hasPrefix(":") {
                guard let value = Int(after.dropFirst()), (0...65535).contains(value) else {
                    throw OPCUAError(.badTcpEndpointUrlInvalid, "\"\(text)\": bad port")
                }
                port = value
            }
        } else if let colon = rest.lastIndex(of: ":") {
            host = String(rest[..<colon])
            guard let value = Int(rest[rest.index(after: colon)...]), (0...65535).contains(value) else {
                throw OPCUAError(.badTcpEndpointUrlInvalid, "\"\(text)\": bad port")
            }
            port = value
        }
        guard !host.isEmpty else { throw OPCUAError(.badTcpEndpointUrlInvalid, "\"\(text)\": no host") }
        self.init(host: host, port: port, path: path)
    }

    public var description: String {
        let shownHost = host.contains(":") ? "[\(host)]" : host
        return "opc.tcp://\(shownHost):\(port)\(path)"
    }
}
