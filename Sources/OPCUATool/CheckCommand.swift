// `sinter-opcua check`: placeholder until the client lands (replaced in this issue).
import ArgumentParser

struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "check", abstract: "Run the interoperability checks against an OPC UA server.")
    @Argument(help: "The server's endpoint URL (opc.tcp://HOST:PORT).") var url: String
    func run() async throws { throw ValidationError("check: the OPC UA client is not built yet") }
}
