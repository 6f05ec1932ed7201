// `sinter-opcua`: run Sinter's OPC UA server, check any OPC UA server, measure write rates.
public import ArgumentParser

/// The `sinter-opcua` command: `serve`, `check` and `bench` subcommands.
public struct OPCUACommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "sinter-opcua",
        abstract: "Sinter's OPC UA stack on the command line: a printer server, an interoperability check, a benchmark.",
        discussion: """
            OPC UA Binary over TCP (opc.tcp://), SecurityPolicy None. The server exposes printers under \
            Objects/Printers in namespace urn:sinter:printers: DMLS printers (dmls-…) with a 100×100 Float \
            Temperature matrix, PowerKW, VibrationMmS, PlateTempC, ChamberTempC, Layer and State; FDM printers \
            (fdm-…) with NozzleTempC, BedTempC, FilamentFlow, ExtruderLoad, PrintProgress, PowerKW and State.

            Examples (each fits one line, so it can be pasted):
              sinter-opcua serve --printers dmls-01,fdm-01
              sinter-opcua check opc.tcp://127.0.0.1:4840 --printer dmls-01
              sinter-opcua bench opc.tcp://127.0.0.1:4840 --writes 20000
            """,
        subcommands: [ServeCommand.self, CheckCommand.self, BenchCommand.self]
    )

    public init() {}
}
