// The sinter-server under test: a child process on a fresh data directory and a free port.
public import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One `sinter-server` child: started with `--data DIR --port 0`, ready once it prints
/// `sinter-server listening on http://HOST:PORT (data: …)`, stopped with SIGTERM.
///
/// Its stderr (the server's log) goes to a file next to the data directory, so that a failure can
/// show the log's tail without the log interleaving with the report's progress.
public final class ServerProcess {
    /// Why starting or stopping the server failed, with the tail of its log.
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
        public init(_ d: String) { description = d }
    }

    /// The child process.
    public let process: Process
    /// `http://127.0.0.1:PORT`, from the server's listening line.
    public let baseURL: String
    /// Where the server's stderr goes.
    public let logFile: String
    private let stdoutPipe: Pipe
    private let watcher: StdoutWatcher

    private init(process: Process, baseURL: String, logFile: String, stdoutPipe: Pipe, watcher: StdoutWatcher) {
        self.process = process
        self.baseURL = baseURL
        self.logFile = logFile
        self.stdoutPipe = stdoutPipe
        self.watcher = watcher
    }

    /// Starts `binary` on `dataDirectory` and waits at most `timeout` seconds for its listening line.
    public static func start(binary: String, dataDirectory: String, logFile: String, extraArguments: [String],
                      timeout: Double) async throws -> ServerProcess {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["--data", dataDirectory, "--port", "0"] + extraArguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardInput = FileHandle.nullDevice
        guard FileManager.default.createFile(atPath: logFile, contents: nil), let log = FileHandle(forWritingAtPath: logFile) else { throw Failure("cannot create \(logFile)") }
        process.standardError = log
        try process.run()
        try? log.close()  // the child holds its own descriptor
        let watcher = StdoutWatcher(fd: pipe.fileHandleForReading.fileDescriptor)
        watcher.start()

        let deadline = nowNanoseconds() + UInt64(timeout * 1e9)
        while true {
            if let url = watcher.listeningURL {
                return ServerProcess(process: process, baseURL: url, logFile: logFile, stdoutPipe: pipe, watcher: watcher)
            }
            if !process.isRunning {
                throw Failure("sinter-server exited with status \(process.terminationStatus) before listening\(logTail(logFile))")
            }
            if nowNanoseconds() > deadline {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
                throw Failure("sinter-server printed no listening line within \(Int(timeout)) s\(logTail(logFile))")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Sends SIGTERM and waits at most `timeout` seconds; throws unless the server exits with status 0.
    public func stop(timeout: Double = 30) async throws {
        guard process.isRunning else {
            throw Failure("sinter-server had already exited (status \(process.terminationStatus))\(Self.logTail(logFile))")
        }
        kill(process.processIdentifier, SIGTERM)
        let started = nowNanoseconds()
        let deadline = started + UInt64(timeout * 1e9)
        while process.isRunning {
            if nowNanoseconds() > deadline {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
                throw Failure("sinter-server did not exit within \(Int(timeout)) s of SIGTERM (killed)\(Self.logTail(logFile))")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        process.waitUntilExit()
        let seconds = Double(nowNanoseconds() - started) / 1e9
        guard process.terminationReason == .exit, process.terminationStatus == 0 else {
            let how = process.terminationReason == .exit ? "exited with status" : "died of signal"
            throw Failure("sinter-server \(how) \(process.terminationStatus) after SIGTERM\(Self.logTail(logFile))")
        }
        progress("  server stopped cleanly in \(String(format: "%.2f", seconds)) s (exit 0)")
    }

    /// CPU seconds (user + system) the server has used so far, from /proc (nil elsewhere).
    public func cpuSeconds() -> Double? {
        guard let stat = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        // After "pid (comm) ": state is field 3, utime field 14, stime field 15.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// The server's resident set size in MB, from /proc (nil elsewhere).
    public func residentMB() -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return line.split(separator: " ").dropFirst().first.flatMap { Int($0) }.map { $0 / 1024 }
        }
        return nil
    }

    /// Kills the server without ceremony (after an error elsewhere).
    public func kill9() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    /// The last lines of the server's log, for error messages.
    public static func logTail(_ path: String, lines: Int = 15) -> String {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8), !text.isEmpty else { return "" }
        let tail = text.split(separator: "\n", omittingEmptySubsequences: true).suffix(lines)
        return "\n  server log (\(path)), last lines:\n    " + tail.joined(separator: "\n    ")
    }
}

/// Reads the child's stdout on a thread of its own (so the pipe never fills) and remembers the
/// URL of the listening line.
public final class StdoutWatcher: Sendable {
    private let fd: Int32
    private let state = Mutex<(pending: [UInt8], url: String?)>(([], nil))

    public init(fd: Int32) { self.fd = fd }

    public var listeningURL: String? { state.withLock { $0.url } }

    public func start() {
        let thread = Thread { [self] in self.readLoop() }
        thread.name = "server-stdout"
        thread.start()
    }

    private func readLoop() {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            state.withLock { s in
                guard s.url == nil else { return }  // after the listening line, stdout is only drained
                s.pending.append(contentsOf: buffer[0..<n])
                while let newline = s.pending.firstIndex(of: UInt8(ascii: "\n")) {
                    let line = String(decoding: s.pending[..<newline], as: UTF8.self)
                    s.pending.removeSubrange(...newline)
                    if let url = Self.listeningURL(in: line) {
                        s.url = url
                        s.pending = []
                        break
                    }
                }
            }
        }
    }

    /// `http://HOST:PORT` from `sinter-server listening on http://HOST:PORT (data: …)`.
    public static func listeningURL(in line: String) -> String? {
        let marker = "sinter-server listening on "
        guard let range = line.range(of: marker) else { return nil }
        let rest = line[range.upperBound...]
        let url = rest.prefix { $0 != " " }
        guard url.hasPrefix("http://"), let colon = url.lastIndex(of: ":"),
              let port = Int(url[url.index(after: colon)...]), port > 0 else { return nil }
        return String(url)
    }
}

/// CPU seconds (user + system) this process has used so far.
public func ownCPUSeconds() -> Double {
    var usage = rusage()
    #if os(Linux)
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    #else
    getrusage(RUSAGE_SELF, &usage)
    #endif
    func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
    return seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// The one-minute load average (Linux), to tell a busy machine from a slow server.
public func loadAverage() -> Double? {
    guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) else { return nil }
    return text.split(separator: " ").first.flatMap { Double($0) }
}

/// Monotonic nanoseconds.
public func nowNanoseconds() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

/// A line of progress on stderr (stdout carries only the report).
public func progress(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}
