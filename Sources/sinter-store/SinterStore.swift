// Thin entry point: all logic lives in the StoreTool library.
import StoreTool

@main
enum SinterStore {
    static func main() async {
        await StoreCommand.main(nil)
    }
}
