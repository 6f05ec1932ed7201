// `sinter-opcua serve`: an OPC UA server with printer objects.
import ArgumentParser
import Logging
import OPCUA
import ServiceLifecycle
#if canImport(Glibc)
import Glibc
#endif

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run an OPC UA server (SecurityPolicy None) with printer objects.",
        discussion: """
            Prints "listening opc.tcp://HOST:PORT" on stdout once the socket is bound (port 0 picks a free \
            port), then serves until SIGINT/SIGTERM or --duration. Printer variables are writable: a printer \
            or the simulator writes samples, clients read and subscribe.

            Example (shell line continuations, so it can be pasted):
              sinter-opcua serve --listen opc.tcp://127.0.0.1:4840 \\
                --printers dmls-01,fdm-01 \\
                --user operator:s3cret --allow-username-over-none
            """
    )

    @Option(help: "The endpoint to listen on (opc.tcp://HOST:PORT).")
    var listen = "opc.tcp://127.0.0.1:4840"

    @Option(help: "Comma-separated printer ids; the kind comes from the prefix (dmls-…, fdm-…).")
    var printers = "dmls-01,fdm-01"

    @Option(name: .customLong("user"), help: "A user as NAME:PASSWORD (repeatable). Needs --allow-username-over-none.")
    var users: [String] = []

    @Flag(help: "Accept user names over SecurityPolicy None, where passwords travel in clear text.")
    var allowUsernameOverNone = false

    @Flag(help: "Refuse anonymous sessions.")
    var noAnonymous = false

    @Option(parsing: .unconditional, help: "Largest chunk in bytes either way (8192 … 16777216); smaller values force chunking.")
    var maxBufferSize: Int = 65536

    @Option(parsing: .unconditional, help: "Largest message in bytes.")
    var maxMessageSize: Int = 16 * 1024 * 1024

    @Option(parsing: .unconditional, help: "Stop after this many seconds (default: run until stopped).")
    var duration: Double?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel = "notice"

    func validate() throws {
        do { _ = try EndpointURL(listen) } catch { throw ValidationError("--listen: \(error.message)") }
        guard (8192...16_777_216).contains(maxBufferSize) else {
            throw ValidationError("--max-buffer-size \(maxBufferSize): must be between 8192 and 16777216")
        }
        guard maxMessageSize >= maxBufferSize else {
            throw ValidationError("--max-message-size \(maxMessageSize): must be at least --max-buffer-size")
        }
        for user in users where !user.contains(":") || user.hasPrefix(":") {
            throw ValidationError("--user \"\(user)\": expected NAME:PASSWORD")
        }
        if !users.isEmpty && !allowUsernameOverNone {
            throw ValidationError("--user needs --allow-username-over-none: passwords would travel in clear text over SecurityPolicy None")
        }
        for id in printerIds where PrinterModel.Kind(printerId: id) == nil {
            throw ValidationError("--printers: \"\(id)\" is not a printer id (dmls-NN or fdm-NN)")
        }
        if let duration, !(duration > 0) { throw ValidationError("--duration \(duration): must be positive") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("--log-level \(logLevel): unknown level") }
    }

    var printerIds: [String] {
        printers.split(separator: ",").map { $0.filter { $0 != " " } }.filter { !$0.isEmpty }
    }

    func run() async throws {
        let url = try EndpointURL(listen)
        var configuration = ServerConfiguration()
        configuration.host = url.host
        configuration.port = url.port
        configuration.allowAnonymous = !noAnonymous
        configuration.allowUserNameOverNone = allowUsernameOverNone
        for user in users {
            let parts = user.split(separator: ":", maxSplits: 1)
            configuration.users[String(parts[0])] = parts.count > 1 ? String(parts[1]) : ""
        }
        configuration.transport.receiveBufferSize = UInt32(maxBufferSize)
        configuration.transport.sendBufferSize = UInt32(maxBufferSize)
        configuration.transport.maxMessageSize = UInt32(maxMessageSize)
        var space = AddressSpace()
        for id in printerIds { space.addPrinter(id) }
        var logger = Logger(label: "sinter.opcua")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .notice
        let server = OPCUAServer(configuration: configuration, addressSpace: space, logger: logger)
        let group = ServiceGroup(
            configuration: .init(services: [.init(service: server)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        )
        // The group's run task reports true; the announcer (and --duration timer) false.
        try await withThrowingTaskGroup(of: Bool.self) { tasks in
            tasks.addTask {
                try await group.run()
                return true
            }
            tasks.addTask {
                let port = try await server.listeningPort()
                let advertised = url.port == 0 ? EndpointURL(host: url.host, port: port, path: url.path) : url
                print("listening \(advertised)")
                fflush(nil)
                if let duration {
                    try await Task.sleep(for: .seconds(duration))
                    await group.triggerGracefulShutdown()
                }
                return false
            }
            while let finishedRun = try await tasks.next() {
                if finishedRun {
                    tasks.cancelAll()
                    break
                }
            }
        }
    }
}
