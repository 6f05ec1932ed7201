// `sinter-bench`: the logic is in the SinterBench library.
import SinterBench

await SinterBenchCommand.mainAsync()
