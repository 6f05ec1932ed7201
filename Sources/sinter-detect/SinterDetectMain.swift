import AnomalyDetection

@main
struct SinterDetectMain {
    static func main() async {
        await DetectCommand.main()
    }
}
