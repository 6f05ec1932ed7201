import Foundation
import Testing
import StorageEngine

/// The `sinter-store` executable as a person would use it: help, flag errors, exit codes.
struct StoreToolCLITests {
    struct Run {
        var status: Int32
        var output: String
    }

    func run(_ arguments: [String]) throws -> Run {
        let executable = try #require(CrashTests.executable, "build sinter-store first (make test does)")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Run(status: process.terminationStatus, output: String(decoding: data, as: UTF8.self))
    }

    @Test func helpExplainsEveryCommand() throws {
        let help = try run(["--help"])
        #expect(help.status == 0)
        for command in ["info", "verify", "ingest", "crash-soak", "demo"] { #expect(help.output.contains(command)) }
        let verifyHelp = try run(["verify", "--help"])
        #expect(verifyHelp.output.contains("--directory"))
    }

    @Test func badFlagsAreNamedInTheError() throws {
        let r = try run(["ingest", "--directory", TemporaryDirectory().path, "--machines", "0"])
        #expect(r.status != 0)
        #expect(r.output.contains("--machines"))
        let unknown = try run(["ingest", "--frobnicate"])
        #expect(unknown.status != 0)
        #expect(unknown.output.contains("--frobnicate"))
    }

    @Test(arguments: ["info", "verify"])
    func aMistypedDirectoryIsAnErrorAndNothingIsCreated(command: String) throws {
        let parent = TemporaryDirectory()
        let missing = parent.path + "/no/such/store"
        let r = try run([command, "--directory", missing])
        #expect(r.status != 0)
        #expect(r.output.contains(missing) && r.output.contains("--directory"), "\(r.output)")
        #expect(!FileManager.default.fileExists(atPath: parent.path + "/no"))
        // An existing directory that holds no store: refused, left empty.
        let empty = parent.path + "/empty"
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: false)
        let e = try run([command, "--directory", empty])
        #expect(e.status != 0)
        #expect(e.output.contains("no store at"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: empty).isEmpty)
    }

    @Test func verifyExitsNonZeroOnDamageAndZeroOnAHealthyStore() async throws {
        let dir = TemporaryDirectory()
        let store = try openStore(dir)
        try await store.append((0..<32).map { sampleRecord("a", $0) })
        try await store.flush()
        try await store.close()
        let healthy = try run(["verify", "--directory", dir.path])
        #expect(healthy.status == 0, "\(healthy.output)")
        #expect(healthy.output.contains("verified 32 records"))
        try flipBit(dir.file("segments/000001.seg"), at: 100)
        let damaged = try run(["verify", "--directory", dir.path])
        #expect(damaged.status == 1)
        #expect(damaged.output.contains("damage:"))
        #expect(damaged.output.contains("segments/000001.seg"))
    }

    @Test func aLockedStoreIsReportedNotCorrupted() async throws {
        let dir = TemporaryDirectory()
        let store = try openStore(dir)
        let r = try run(["info", "--directory", dir.path])
        #expect(r.status != 0)
        #expect(r.output.contains("open in another process"))
        try await store.close()
    }
}
