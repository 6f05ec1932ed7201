// Helpers shared by `check` and `bench`: JSON text, number formatting, deadlines, a queue with
// timed waits, logging to stderr.
import Logging
import OPCUA
#if canImport(Glibc)
import Glibc
#endif

/// JSON text written by hand (the output is a few flat objects).
enum JSON {
    /// A JSON string literal: quotes, backslashes and control characters escaped.
    static func string(_ text: String) -> String {
        var out = "\""
        out.reserveCapacity(text.utf8.count + 2)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F || (0x2028...0x2029).contains(scalar.value) {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    /// A JSON number (null for NaN and infinities), with at most `digits` decimals.
    static func number(_ value: Double, digits: Int = 3) -> String {
        value.isFinite ? Format.fixed(value, digits) : "null"
    }

    /// An object from ordered key/value pairs whose values are JSON text already.
    static func object(_ pairs: [(String, String)]) -> String {
        "{" + pairs.map { "\(string($0.0)): \($0.1)" }.joined(separator: ", ") + "}"
    }
}

enum Format {
    /// `value` with exactly `digits` decimals ("12.30"), without Foundation.
    static func fixed(_ value: Double, _ digits: Int) -> String {
        guard value.isFinite else { return value.isNaN ? "nan" : (value < 0 ? "-inf" : "inf") }
        var scale = 1.0
        for _ in 0..<max(digits, 0) { scale *= 10 }
        let scaled = (abs(value) * scale).rounded()
        guard scaled < 9e18 else { return "\(value)" }
        let units = UInt64(scaled)
        let whole = units / UInt64(scale)
        let fraction = units % UInt64(scale)
        let sign = value < 0 && units != 0 ? "-" : ""
        guard digits > 0 else { return "\(sign)\(whole)" }
        let fractionText = String(fraction)
        return "\(sign)\(whole)." + String(repeating: "0", count: digits - fractionText.count) + fractionText
    }

    /// Seconds from a Duration.
    static func seconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}

/// Writes one line to stdout and flushes (the JSON lines must reach a pipe at once).
func printLine(_ line: String) {
    writeAll(STDOUT_FILENO, line + "\n")
}

/// Writes one line to stderr.
func printError(_ text: String) {
    writeAll(STDERR_FILENO, text + "\n")
}

/// Writes all of `text` to a file descriptor (unbuffered, so stdout and stderr never interleave mid-line).
private func writeAll(_ descriptor: Int32, _ text: String) {
    var text = text
    text.withUTF8 { bytes in
        var offset = 0
        while offset < bytes.count {
            let written = write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
            if written <= 0 {
                if written < 0, errno == EINTR { continue }
                return
            }
            offset += written
        }
    }
}

/// Sends every log message to stderr (stdout carries only results), at `level`.
func bootstrapStderrLogging(level: Logger.Level) {
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = level
        return handler
    }
}

/// The body's deadline passed.
struct DeadlineExceeded: Error, CustomStringConvertible {
    var seconds: Double
    var description: String { "TimeoutError: no answer within \(Format.fixed(seconds, 1)) s" }
}

/// Runs `body`, cancelling it and throwing ``DeadlineExceeded`` after `seconds`.
func withDeadline<T: Sendable>(_ seconds: Double, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: .milliseconds(Int64(seconds * 1000)))
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else { throw DeadlineExceeded(seconds: seconds) }
        return value
    }
}

/// A FIFO of values with a timed `next`, fed from an AsyncStream by a task of its own.
actor TimedQueue<Element: Sendable> {
    private var items: [Element] = []
    private var head = 0
    private var waiter: (id: Int, continuation: CheckedContinuation<Element?, Never>, timer: Task<Void, Never>)?
    private var nextId = 0
    private var finished = false
    private var feeder: Task<Void, Never>?

    /// A queue fed by `stream` until the stream ends or ``stop()``.
    static func feeding(from stream: AsyncStream<Element>) async -> TimedQueue<Element> {
        let queue = TimedQueue<Element>()
        await queue.start(stream)
        return queue
    }

    private func start(_ stream: AsyncStream<Element>) {
        feeder = Task { [weak self] in
            for await element in stream { await self?.put(element) }
            await self?.finish()
        }
    }

    func put(_ element: Element) {
        if let waiter {
            self.waiter = nil
            waiter.timer.cancel()
            waiter.continuation.resume(returning: element)
        } else {
            items.append(element)
        }
    }

    func finish() {
        finished = true
        if let waiter {
            self.waiter = nil
            waiter.timer.cancel()
            waiter.continuation.resume(returning: nil)
        }
    }

    func stop() {
        feeder?.cancel()
        finish()
    }

    /// The next element, or nil when none arrives within `timeout` (or the stream ended).
    func next(timeout: Duration) async -> Element? {
        if head < items.count {
            let element = items[head]
            head += 1
            if head > 1024, head * 2 > items.count {
                items.removeFirst(head)
                head = 0
            }
            return element
        }
        if finished || waiter != nil { return nil }
        nextId += 1
        let id = nextId
        return await withCheckedContinuation { continuation in
            let timer = Task { [weak self] in
                try? await Task.sleep(for: timeout)
                await self?.expire(id)
            }
            waiter = (id, continuation, timer)
        }
    }

    private func expire(_ id: Int) {
        guard let waiter, waiter.id == id else { return }
        self.waiter = nil
        waiter.continuation.resume(returning: nil)
    }
}

/// SplitMix64: a small seeded generator, so a seed always gives the same matrix.
struct SeededGenerator: RandomNumberGenerator {
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

/// A 100 × 100 matrix of Float values in 20…80 from `seed`.
func matrixValues(seed: Int, side: Int = 100) -> [Float] {
    var generator = SeededGenerator(seed: UInt64(bitPattern: Int64(seed)))
    return (0..<(side * side)).map { _ in Float.random(in: 20...80, using: &generator) }
}

/// An error as a check detail: OPC UA errors start with the status name.
func describe(_ error: any Error) -> String {
    if let error = error as? OPCUAError { return error.description }
    if let error = error as? DeadlineExceeded { return error.description }
    return "\(error)"
}
