// A Server-Sent Events parser (the live stream of sinter-server), fed chunk by chunk.
import NIOCore

/// Splits a `text/event-stream` body into events, across chunk boundaries.
///
/// Lines are `field: value`; an empty line ends an event; `data` lines join with newlines;
/// comment lines (`:`) are skipped. Only `event` and `data` are kept.
///
/// ```swift
/// var parser = ServerSentEvents()
/// for event in parser.feed(chunk) where event.name == "record" { … }
/// ```
struct ServerSentEvents: Sendable {
    struct Event: Sendable, Equatable {
        var name: String
        var data: String
    }

    /// Longest line kept (a frame-carrying record is ~80 kB); longer lines are dropped.
    static let maximumLine = 4 << 20
    private var pending: [UInt8] = []
    private var name = ""
    private var data: [String] = []
    private var skipping = false

    mutating func feed(_ chunk: ByteBuffer) -> [Event] {
        chunk.withUnsafeReadableBytes { feed(bytes: $0) }
    }

    mutating func feed<C: Collection>(bytes: C) -> [Event] where C.Element == UInt8 {
        var events: [Event] = []
        for byte in bytes {
            if byte == UInt8(ascii: "\n") {
                if !skipping { line(&events) }
                pending.removeAll(keepingCapacity: true)
                skipping = false
            } else if !skipping {
                pending.append(byte)
                if pending.count > Self.maximumLine { skipping = true; pending.removeAll() }
            }
        }
        return events
    }

    private mutating func line(_ events: inout [Event]) {
        var text = String(decoding: pending, as: UTF8.self)
        if text.hasSuffix("\r") { text.removeLast() }
        if text.isEmpty {
            if !data.isEmpty || !name.isEmpty {
                events.append(Event(name: name.isEmpty ? "message" : name, data: data.joined(separator: "\n")))
            }
            name = ""
            data = []
            return
        }
        if text.hasPrefix(":") { return }
        let field: Substring, value: Substring
        if let colon = text.firstIndex(of: ":") {
            field = text[..<colon]
            var v = text[text.index(after: colon)...]
            if v.hasPrefix(" ") { v = v.dropFirst() }
            value = v
        } else {
            field = Substring(text)
            value = ""
        }
        switch field {
        case "event": name = String(value)
        case "data": data.append(String(value))
        default: break
        }
    }

    /// The string value of a top-level `"key":"value"` in a JSON object, without a full parse
    /// (the record events are read only for their machine id).
    static func stringField(_ key: String, in json: String) -> String? {
        guard let range = json.range(of: "\"\(key)\":\"") else { return nil }
        let rest = json[range.upperBound...]
        guard let end = rest.firstIndex(of: "\"") else { return nil }
        return String(rest[..<end])
    }
}
