import PrinterSimulation

/// `sinter-sim`: all logic lives in the PrinterSimulation library (`SimulatorCommand`).
@main
enum SinterSimMain {
    static func main() async {
        await SimulatorCommand.main(nil)
    }
}
