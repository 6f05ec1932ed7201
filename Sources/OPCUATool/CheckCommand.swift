// `sinter-opcua check`: the interoperability check set against any OPC UA server, one JSON line per check.
import ArgumentParser
import Logging
import OPCUA

struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Run the interoperability checks against an OPC UA server.",
        discussion: """
            Checks, in this order: connect, browse_server, read_namespace_array, read_server_status, \
            translate_browse_path, write_read_matrix, subscription. Each prints one JSON line on stdout, \
            {"check": NAME, "ok": BOOL, "detail": TEXT}; logs go to stderr. The exit status is 0 iff every \
            printed check is ok. connect always runs (printed when selected or when it fails); when it fails \
            nothing else runs and the status is 1.

            The server needs the printer address space: namespace urn:sinter:printers (its index is read from \
            the NamespaceArray), Objects/Printers/<printer> with a Float 100×100 Temperature matrix and a \
            Double PowerKW, both writable.

            Example (shell line continuations, so it can be pasted):
              sinter-opcua check opc.tcp://127.0.0.1:4840 --printer dmls-01 \\
                --username operator --password s3cret
            """
    )

    static let checks = [
        "connect", "browse_server", "read_namespace_array", "read_server_status", "translate_browse_path", "write_read_matrix",
        "subscription",
    ]

    @ArgumentParser.Argument(help: "The server's endpoint URL (opc.tcp://HOST:PORT).") var url: String
    @Option(help: "A DMLS printer id.") var printer = "dmls-01"
    @Option(help: "User name (UserName identity token; needs --password).") var username: String?
    @Option(help: "Password for --username (sent in clear text over SecurityPolicy None).") var password: String?
    @Option(parsing: .unconditional, help: "Offer N-byte receive and send buffers in the Hello (at least 8192).") var bufferSize: Int = 0
    @Option(help: "Comma-separated checks to run (connect always runs).") var only: String = CheckCommand.checks.joined(separator: ",")
    @Option(parsing: .unconditional, help: "Deadline in seconds of each request and each check (the subscription check gets 25 s more).") var timeout: Double = 30
    @Option(parsing: .unconditional, help: "Seed of the matrix values.") var seed: Int = 5
    @Option(help: "Log level on stderr: trace, debug, info, notice, warning, error, critical.") var logLevel = "warning"

    var selected: [String] { only.split(separator: ",").map { $0.filter { $0 != " " } }.filter { !$0.isEmpty } }

    func validate() throws {
        do { _ = try EndpointURL(url) } catch { throw ValidationError("URL: \(error.message)") }
        let unknown = selected.filter { !Self.checks.contains($0) }
        guard unknown.isEmpty else {
            throw ValidationError("--only: unknown checks \(unknown.joined(separator: ", ")); known: \(Self.checks.joined(separator: ", "))")
        }
        if bufferSize != 0, !(8192...16_777_216).contains(bufferSize) {
            throw ValidationError("--buffer-size \(bufferSize): must be between 8192 and 16777216 (OPC 10000-6 §7.1.2.3)")
        }
        guard (username == nil) == (password == nil) else { throw ValidationError("--username and --password go together") }
        guard timeout > 0, timeout.isFinite else { throw ValidationError("--timeout \(timeout): must be positive") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("--log-level \(logLevel): unknown level") }
    }

    func run() async throws {
        bootstrapStderrLogging(level: Logger.Level(rawValue: logLevel) ?? .warning)
        var configuration = ClientConfiguration()
        configuration.requestTimeout = .milliseconds(Int64(timeout * 1000))
        configuration.reconnect = .never
        configuration.sessionName = "sinter-opcua check"
        if bufferSize > 0 {
            configuration.transport.receiveBufferSize = UInt32(bufferSize)
            configuration.transport.sendBufferSize = UInt32(bufferSize)
        }
        if let username, let password { configuration.identity = .userName(username, password: password) }
        let client = try OPCUAClient(url: url, configuration: configuration, logger: Logger(label: "sinter.opcua.check"))
        let runner = CheckRunner(client: client, printer: printer, seed: seed, identity: configuration.identity)
        let selected = Set(self.selected)
        var allOk = true
        do {
            let detail = try await withDeadline(timeout) { try await runner.connect() }
            if selected.contains("connect") { emit("connect", true, detail) }
        } catch {
            emit("connect", false, describe(error))
            await runner.disconnect()
            throw ExitCode(1)
        }
        for name in Self.checks.dropFirst() where selected.contains(name) {
            let deadline = name == "subscription" ? timeout + Double(CheckRunner.subscriptionWrites) * CheckRunner.notificationWait : timeout
            do {
                let detail = try await withDeadline(deadline) { try await runner.run(name) }
                emit(name, true, detail)
            } catch {
                emit(name, false, describe(error))
                allOk = false
            }
        }
        await runner.disconnect()
        if !allOk { throw ExitCode(1) }
    }

    private func emit(_ check: String, _ ok: Bool, _ detail: String) {
        printLine(JSON.object([("check", JSON.string(check)), ("ok", ok ? "true" : "false"), ("detail", JSON.string(detail))]))
    }
}

/// A check ran and found something wrong (the message is the detail).
struct CheckFailed: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// The seven checks, on one client session.
actor CheckRunner {
    static let namespace = PrinterModel.namespaceUri
    static let standardNamespace = "http://opcfoundation.org/UA/"
    static let side = 100
    static let clockTolerance = 120.0
    static let notificationWait = 5.0
    static let subscriptionWrites = 5
    static let subscriptionNeeded = 3
    static let publishingInterval = 100.0

    let client: OPCUAClient
    let printer: String
    let seed: Int
    let identity: ClientConfiguration.Identity
    private var namespaceIndex: UInt16?

    init(client: OPCUAClient, printer: String, seed: Int, identity: ClientConfiguration.Identity) {
        self.client = client
        self.printer = printer
        self.seed = seed
        self.identity = identity
    }

    func connect() async throws -> String {
        try await client.connect()
        let who: String
        switch identity {
        case .anonymous: who = "anonymous"
        case .userName(let name, _): who = "UserName \(JSON.string(name))"
        }
        var detail = "session activated (\(who))"
        if let ack = await client.acknowledge {
            detail += "; acknowledged receive buffer \(ack.receiveBufferSize), send buffer \(ack.sendBufferSize), "
                + "max message \(ack.maxMessageSize), max chunks \(ack.maxChunkCount)"
        }
        return detail
    }

    func disconnect() async {
        _ = try? await withDeadline(5) { await self.client.disconnect() }
    }

    func run(_ name: String) async throws -> String {
        switch name {
        case "browse_server": try await browseServer()
        case "read_namespace_array": try await readNamespaceArray()
        case "read_server_status": try await readServerStatus()
        case "translate_browse_path": try await translateBrowsePath()
        case "write_read_matrix": try await writeReadMatrix()
        case "subscription": try await subscription()
        default: throw CheckFailed("unknown check \(name)")
        }
    }

    private func namespace() async throws -> UInt16 {
        if let namespaceIndex { return namespaceIndex }
        let namespaces = try await client.namespaceArray()
        guard let index = namespaces.firstIndex(of: Self.namespace), let ns = UInt16(exactly: index) else {
            throw CheckFailed("\(Self.namespace) is not in the NamespaceArray \(namespaces)")
        }
        namespaceIndex = ns
        return ns
    }

    private func variable(_ name: String) async throws -> NodeId {
        NodeId(string: "\(printer).\(name)", namespace: try await namespace())
    }

    private func browseServer() async throws -> String {
        let references = try await client.browse(NS0.Server)
        let names = references.compactMap(\.browseName.name).sorted()
        let missing = ["NamespaceArray", "ServerCapabilities", "ServerStatus"].filter { !names.contains($0) }
        guard missing.isEmpty else { throw CheckFailed("missing \(missing) among \(names)") }
        return "\(names.count) forward hierarchical references: \(names.joined(separator: ", "))"
    }

    private func readNamespaceArray() async throws -> String {
        let namespaces = try await client.namespaceArray()
        guard namespaces.first == Self.standardNamespace else {
            throw CheckFailed("NamespaceArray \(namespaces) does not start with \(Self.standardNamespace)")
        }
        guard let index = namespaces.firstIndex(of: Self.namespace), let ns = UInt16(exactly: index) else {
            throw CheckFailed("\(Self.namespace) missing from NamespaceArray \(namespaces)")
        }
        namespaceIndex = ns
        return "\(Self.namespace) at index \(ns) of \(namespaces)"
    }

    private func readServerStatus() async throws -> String {
        let value = try await client.readValue(NS0.Server_ServerStatus)
        guard case .scalar(.extensionObject(let object)) = value, let status = try object.decode(ServerStatusDataType.self) else {
            throw CheckFailed("ServerStatus is not a ServerStatusDataType: \(value)")
        }
        guard status.state == .running else { throw CheckFailed("ServerStatus.State is \(status.state), not Running") }
        let current = try await client.readValue(NS0.Server_ServerStatus_CurrentTime)
        guard case .scalar(.dateTime(let time)) = current else { throw CheckFailed("CurrentTime is \(current), not a DateTime") }
        let skew = Double(time.unixNanoseconds - DateTime.now.unixNanoseconds) / 1e9
        guard abs(skew) <= Self.clockTolerance else {
            throw CheckFailed("CurrentTime is \(Format.fixed(skew, 1)) s off the local clock")
        }
        let sign = skew >= 0 ? "+" : ""
        return "State Running, CurrentTime \(sign)\(Format.fixed(skew, 2)) s from the local clock, product \(JSON.string(status.buildInfo.productName ?? ""))"
    }

    private func translateBrowsePath() async throws -> String {
        let ns = try await namespace()
        let path = ["Printers", printer, "Temperature"].map { QualifiedName($0, namespaceIndex: ns) }
        let text = "Objects/" + path.map { "\(ns):\($0.name ?? "")" }.joined(separator: "/")
        let expected = NodeId(string: "\(printer).Temperature", namespace: ns)
        let target: NodeId
        do {
            target = try await client.translate(NS0.ObjectsFolder, path: path)
        } catch {
            throw CheckFailed("\(text): \(describe(error))")
        }
        guard target == expected else { throw CheckFailed("\(text) resolved to \(target), expected \(expected)") }
        return "\(text) -> \(expected)"
    }

    private func writeReadMatrix() async throws -> String {
        let node = try await variable("Temperature")
        var seed = self.seed
        var values = matrixValues(seed: seed)
        let before = try await client.read([node])[0]
        if case .array(.float(let existing), _)? = before.value, existing == values {
            // An earlier run wrote these very values: write others, so the write must change something.
            seed += 1
            values = matrixValues(seed: seed)
        }
        let dimensions = [Int32(Self.side), Int32(Self.side)]
        try await client.writeValue(node, .matrix(.float(values), dimensions: dimensions))
        let back = try await client.read([node])[0]
        guard !back.effectiveStatus.isBad else { throw CheckFailed("read status \(back.effectiveStatus)") }
        guard case .array(.float(let floats), let readDimensions)? = back.value else {
            throw CheckFailed("read back \(back.value.map { "\($0.type.map { "\($0)" } ?? "empty")" } ?? "no value"), not a Float array")
        }
        guard readDimensions == dimensions else {
            throw CheckFailed("read back dimensions \(readDimensions.map { "\($0)" } ?? "none"), expected [100, 100]")
        }
        guard floats.count == values.count else { throw CheckFailed("read back \(floats.count) values, wrote \(values.count)") }
        let differing = zip(values, floats).enumerated().filter { $0.element.0.bitPattern != $0.element.1.bitPattern }
        if let first = differing.first {
            let i = first.offset
            throw CheckFailed(
                "\(differing.count) values differ, first at [\(i / Self.side)][\(i % Self.side)]: wrote \(first.element.0), read \(first.element.1)")
        }
        let limits = await client.negotiatedLimits
        return "10000 Float values (seed \(seed)) written and read back equal, dimensions [100, 100]; "
            + "chunks of at most \(limits?.sendBufferSize ?? 0) bytes sent, \(limits?.receiveBufferSize ?? 0) accepted"
    }

    private func subscription() async throws -> String {
        let node = try await variable("PowerKW")
        let subscription = try await client.subscribe([node], publishingInterval: Self.publishingInterval)
        let queue = await TimedQueue.feeding(from: subscription.changes)
        var arrived: [Double] = []
        var missed: [Double] = []
        var revised = ""
        do {
            if let parameters = await subscription.revisedParameters {
                revised = "revised publishing interval \(Format.fixed(parameters.publishingInterval, 1)) ms, keep-alive \(parameters.maxKeepAliveCount)"
            }
            // Every written value differs from the current one and from the one written before it.
            let current = try await client.readValue(node)
            var base = 10.0
            if case .scalar(.double(let value)) = current, value.isFinite { base += value }
            for k in 1...Self.subscriptionWrites {
                let value = base + Double(k) * 1.25
                try await client.writeValue(node, .scalar(.double(value)))
                let deadline = ContinuousClock.now + .milliseconds(Int64(Self.notificationWait * 1000))
                var seen = false
                while !seen, ContinuousClock.now < deadline {
                    guard let change = await queue.next(timeout: deadline - ContinuousClock.now) else { break }
                    if case .scalar(.double(let got))? = change.value.value, got == value { seen = true }
                }
                if seen { arrived.append(value) } else { missed.append(value) }
            }
        } catch {
            await queue.stop()
            _ = try? await withDeadline(5) { try await subscription.cancel() }
            throw error
        }
        await queue.stop()
        _ = try? await withDeadline(5) { try await subscription.cancel() }
        var detail = "\(arrived.count)/\(Self.subscriptionWrites) written values arrived as data-change notifications (\(revised))"
        if !missed.isEmpty { detail += "; missed \(missed)" }
        guard arrived.count >= Self.subscriptionNeeded else { throw CheckFailed(detail) }
        return detail
    }
}
