import Foundation
import Testing
import StoreTool

/// A child process ingests and is killed with SIGKILL at random moments; after every kill the
/// store opens, every acknowledged record is present and bit-identical, and nothing is corrupt.
/// (`make soak` runs the same loop with hundreds of kills.)
struct CrashTests {
    /// The `sinter-store` executable built next to this test bundle.
    static var executable: String? {
        let bundle = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        let candidate = bundle.appendingPathComponent("sinter-store").path
        return FileManager.default.isExecutableFile(atPath: candidate) ? candidate : nil
    }

    @Test func everyAcknowledgedRecordSurvivesRepeatedSIGKILL() async throws {
        let executable = try #require(Self.executable, "build sinter-store first (make test does)")
        let dir = TemporaryDirectory()
        var soak = CrashSoak(executable: executable, directory: dir.path, kills: 24)
        soak.childTimeoutSeconds = 120
        let report = try await soak.run()
        #expect(report.failures.isEmpty, "\(report.failures.prefix(5)) (seed \(soak.seed))")
        #expect(report.kills == 24)
        #expect(report.acknowledged > 0)
        #expect(report.verified >= report.acknowledged)
    }

    @Test func relaxedModeLosesNothingOnAProcessCrash() async throws {
        let executable = try #require(Self.executable)
        let dir = TemporaryDirectory()
        var soak = CrashSoak(executable: executable, directory: dir.path, kills: 6)
        soak.durability = "relaxed"
        let report = try await soak.run()
        #expect(report.failures.isEmpty, "\(report.failures.prefix(5)) (seed \(soak.seed))")
    }
}
