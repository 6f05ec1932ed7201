import OPCUATool

@main
struct SinterOPCUAMain {
    static func main() async {
        await OPCUACommand.main(nil)
    }
}
