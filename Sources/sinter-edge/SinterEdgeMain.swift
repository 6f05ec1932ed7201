import EdgeGateway

@main
struct SinterEdgeMain {
    static func main() async {
        await EdgeCommand.main()
    }
}
