// `sinter-edge dead-letter list|replay`: the records the server refused individually.
import ArgumentParser
import Foundation
import Logging
import SinterHTTPClient
import TelemetryModel

/// `sinter-edge dead-letter`: shows and re-sends the entries of a spool's dead-letter file.
struct DeadLetterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dead-letter",
        abstract: "List or replay the records the server refused individually as invalid (the spool's dead-letter file).",
        discussion: """
            The gateway moves a record out of its spool only when the server refuses that one \
            record as invalid (HTTP 422, or 400 with an error body). It then goes, with the time, \
            the status and the server's error code, field and message, to the file 'dead-letters' \
            in the spool directory (format: Storage/Format/dead-letter.md), never silently.

            Examples:
              sinter-edge dead-letter list --spool /var/lib/sinter-edge
              sinter-edge dead-letter list --spool /var/lib/sinter-edge --json
              sinter-edge dead-letter replay --spool /var/lib/sinter-edge \\
                --server http://10.0.0.2:8080
            """,
        subcommands: [List.self, Replay.self]
    )

    /// `dead-letter list`.
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print each dead-lettered record: machine, timestamp, HTTP status, the server's error.",
            discussion: """
                One line per entry, oldest first: spool sequence, machine, record timestamp, status, \
                error code, field and message, and when it was refused. Damaged entries and a torn \
                tail are reported on standard error (with --json, in "problems") and skipped. Works \
                while the gateway runs (it only reads).
                """
        )

        @Option(help: "Spool directory of the gateway (its --spool).")
        var spool = "Storage/spool"

        @Flag(help: "Print one JSON object: file, entries (machine_id, timestamp, status, code, field, message, position, refused_at, sequence), problems.")
        var json = false

        func run() throws {
            let (output, problems) = try render()
            print(output, terminator: "")
            for problem in problems { FileHandle.standardError.write(Data("dead-letter: \(problem)\n".utf8)) }
        }

        /// What `run` prints (standard output), and the problems (standard error; in the output with --json).
        func render() throws -> (output: String, problems: [String]) {
            try DeadLetterCommand.checkDirectory(spool)
            let (bytes, scan) = try DeadLetterCommand.read(spool)
            let path = spool + "/" + DeadLetterFormat.fileName
            var problems = scan.problems.map(\.message)
            if let torn = scan.tornTail { problems.append("torn tail in \(DeadLetterFormat.fileName) at offset \(torn) (\(bytes.count - torn) bytes)") }
            if json {
                let entries: [[String: Any]] = scan.entries.map { entry in
                    let l = entry.letter
                    var object: [String: Any] = [
                        "machine_id": l.record.machineID.rawValue, "timestamp": l.record.timestamp.rfc3339, "status": l.status,
                        "code": l.error.code, "message": l.error.message, "refused_at": l.refusedAt.rfc3339, "sequence": l.sequence,
                    ]
                    object["field"] = l.error.field ?? NSNull()
                    object["position"] = l.error.position ?? NSNull()
                    return object
                }
                let document: [String: Any] = ["file": path, "entries": entries, "problems": problems]
                let data = try JSONSerialization.data(withJSONObject: document, options: [.sortedKeys])
                return (String(decoding: data, as: UTF8.self) + "\n", [])
            }
            var output = ""
            for entry in scan.entries {
                let l = entry.letter
                let field = l.error.field.map { " field \($0)" } ?? ""
                output += "\(l.sequence)  \(l.record.machineID.rawValue)  \(l.record.timestamp.rfc3339)  HTTP \(l.status) \(l.error.code)\(field): \(l.error.message)  (refused \(l.refusedAt.rfc3339))\n"
            }
            output += "\(scan.entries.count) dead-lettered record\(scan.entries.count == 1 ? "" : "s") in \(path)\n"
            return (output, problems)
        }
    }

    /// `dead-letter replay`.
    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Post the dead-lettered records again; remove those the server now accepts.",
            discussion: """
                Each entry is posted once, alone. Accepted ones are removed; refused ones, and all \
                of them once the server cannot be reached, stay. The file is rewritten atomically \
                (temporary file, fsync, rename, directory fsync); damaged bytes are first saved as \
                dead-letters.<unix seconds>.damaged. Needs the spool's lock: stop the gateway \
                first. Prints the counts; exits 1 if records remain.
                """
        )

        @Option(help: "Spool directory of the gateway (its --spool).")
        var spool = "Storage/spool"

        @Option(help: "sinter-server base URL.")
        var server = "http://127.0.0.1:8080"

        @Option(help: "Bearer token for the server's writes (default: $SINTER_TOKEN).")
        var token: String?

        @Option(parsing: .unconditional, help: "Seconds allowed for each request.")
        var timeout = 30.0

        func validate() throws {
            guard timeout > 0 else { throw ValidationError("--timeout must be > 0; got \(timeout)") }
            guard server.hasPrefix("http://") || server.hasPrefix("https://") else {
                throw ValidationError("--server must start with http:// or https://; got \(server)")
            }
        }

        func run() async throws {
            try DeadLetterCommand.checkDirectory(spool)
            let lock: SpoolFile?
            do { lock = try DeadLetterStore.lock(directory: spool) } catch { throw ValidationError("--spool \(spool): \(error.message)") }
            guard let lock else {
                throw ValidationError("--spool \(spool): the spool is in use (a sinter-edge holds its LOCK); stop it before replaying")
            }
            defer { lock.close() }
            let (bytes, scan) = try DeadLetterCommand.read(spool)
            var configuration = SinterClientConfiguration(baseURL: server, token: token ?? ProcessInfo.processInfo.environment["SINTER_TOKEN"])
            configuration.requestTimeout = .milliseconds(Int64(timeout * 1000))
            var logger = Logger(label: "sinter-edge")
            logger.logLevel = .warning
            let client = SinterClient(configuration: configuration, logger: logger)
            var keep: [Range<Int>] = []
            var accepted = 0, refused = 0, unsent = 0
            var down: RetryReason?
            for entry in scan.entries {
                if down != nil {
                    unsent += 1
                    keep.append(entry.range)
                    continue
                }
                let l = entry.letter
                switch await client.postRecords([l.record]) {
                case .accepted:
                    accepted += 1
                case .refused(let refusal):
                    refused += 1
                    keep.append(entry.range)
                    print("refused again: \(l.record.machineID.rawValue) \(l.record.timestamp.rfc3339): HTTP \(refusal.status) \(refusal.error.code): \(refusal.error.message)")
                case .retryable(let reason):
                    unsent += 1
                    keep.append(entry.range)
                    print("not sent: \(l.record.machineID.rawValue) \(l.record.timestamp.rfc3339): \(reason.message)")
                    if reason.isTransient || reason.kind == .tokenRefused || reason.kind == .notFound { down = reason }
                }
            }
            await client.shutdown()
            let damaged = !scan.problems.isEmpty || scan.tornTail != nil
            if accepted > 0 || damaged {
                do throws(SpoolError) {
                    try DeadLetterStore.rewrite(directory: spool, bytes: bytes, keep: keep, saveOriginal: damaged,
                                                now: Timestamp(nanoseconds: Int64(Forwarder.wallClockNanoseconds())))
                } catch {
                    throw ValidationError("could not rewrite \(spool)/\(DeadLetterFormat.fileName) (nothing was removed): \(error.message)")
                }
            }
            if let down { print("stopped posting: \(down.message)") }
            print("replayed \(scan.entries.count): \(accepted) accepted, \(refused) refused again, \(unsent) not sent; \(keep.count) left in \(spool)/\(DeadLetterFormat.fileName)")
            if !keep.isEmpty { throw ExitCode(1) }
        }
    }

    static func checkDirectory(_ spool: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: spool, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ValidationError("--spool \(spool): no such directory")
        }
    }

    static func read(_ spool: String) throws -> (bytes: [UInt8], scan: DeadLetterFormat.Scan) {
        do throws(SpoolError) {
            return try DeadLetterStore.read(directory: spool)
        } catch {
            throw ValidationError("--spool \(spool): \(error.message)")
        }
    }
}
