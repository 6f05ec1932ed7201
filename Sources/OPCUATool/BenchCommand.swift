// `sinter-opcua bench`: placeholder until the client lands (replaced in this issue).
import ArgumentParser

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench", abstract: "Measure matrix writes per second and write-to-notification latency.")
    @Argument(help: "The server's endpoint URL (opc.tcp://HOST:PORT).") var url: String
    func run() async throws { throw ValidationError("bench: the OPC UA client is not built yet") }
}
