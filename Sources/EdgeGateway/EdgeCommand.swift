public import ArgumentParser

/// `sinter-edge`: the OPC UA edge gateway.
public struct EdgeCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(commandName: "sinter-edge", abstract: "The OPC UA edge gateway (in progress).")
    public init() {}
    public func run() async throws {}
}
