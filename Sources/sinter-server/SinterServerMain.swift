// Thin entry point: all logic lives in the TelemetryServer library.
import TelemetryServer

@main
enum SinterServerMain {
    static func main() async {
        await ServerCommand.main(nil)
    }
}
