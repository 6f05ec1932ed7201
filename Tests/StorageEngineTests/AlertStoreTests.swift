import Foundation
import Synchronization
import Testing
@testable import StorageEngine
import SyntheticData
import TelemetryModel

/// A clock that moves only when the test says so.
final class ManualClock: Sendable {
    private let nanoseconds: Mutex<Int64>

    init(_ start: Int64 = 1_800_000_000_000_000_000) { nanoseconds = Mutex(start) }

    var now: Timestamp { Timestamp(nanoseconds: nanoseconds.withLock { $0 }) }
    func advance(seconds: Int64) { nanoseconds.withLock { $0 += seconds * 1_000_000_000 } }
    var function: @Sendable () -> Timestamp { { self.now } }
}

/// The alert lifecycle, idempotent raises, queries, validation, durability, and damage to `alerts.log`.
struct AlertStoreTests {
    func openAlerts(_ dir: TemporaryDirectory, _ clock: ManualClock = ManualClock()) throws -> AlertStore {
        try AlertStore.open(at: dir.path, logger: quietLogger, now: clock.function)
    }

    func newAlert(_ m: String = "fdm-01", _ rule: String = Alert.Rule.filamentJam, severity: Alert.Severity = .critical,
                  message: String = "no filament flow for 30 s", at: Timestamp? = nil,
                  details: [String: Double] = [:]) -> NewAlert {
        NewAlert(machineID: machine(m), rule: rule, severity: severity, message: message, raisedAt: at, details: details)
    }

    func logPath(_ dir: TemporaryDirectory) -> String { dir.file(FileNames.alertLog) }

    // MARK: Lifecycle

    @Test func raiseAcknowledgeResolve() throws {
        let dir = TemporaryDirectory()
        let clock = ManualClock()
        let alerts = try openAlerts(dir, clock)
        let raisedAt = clock.now
        let (raised, created) = try alerts.raise(newAlert(details: ["filament_flow": 0, "nozzle_temp_c": 212.5]))
        #expect(created)
        #expect(raised.id == AlertID(rawValue: 1))
        #expect(raised.state == .active && raised.isActive)
        #expect(raised.raisedAt == raisedAt)   // no raisedAt given: the store's clock
        #expect(raised.details == ["filament_flow": 0, "nozzle_temp_c": 212.5])
        #expect(raised.acknowledgedAt == nil && raised.resolvedAt == nil && raised.note == nil)

        clock.advance(seconds: 60)
        let acknowledged = try alerts.acknowledge(id: raised.id, by: "jane", note: "on my way")
        #expect(acknowledged.state == .acknowledged && acknowledged.isActive)
        #expect(acknowledged.acknowledgedAt == clock.now)
        #expect(acknowledged.acknowledgedBy == "jane")
        #expect(acknowledged.note == "on my way")

        clock.advance(seconds: 600)
        let resolved = try alerts.resolve(id: raised.id, by: "ali", note: "nozzle cleared")
        #expect(resolved.state == .resolved && !resolved.isActive)
        #expect(resolved.resolvedAt == clock.now)
        #expect(resolved.resolvedBy == "ali")
        #expect(resolved.acknowledgedBy == "jane")
        #expect(resolved.note == "nozzle cleared")   // the later note replaces the earlier
        #expect(alerts.alert(id: raised.id) == resolved)

        // Resolving without acknowledging first, and without a note (the acknowledgement's would stay).
        let other = try alerts.raise(newAlert("dmls-01", Alert.Rule.hardFailure)).alert
        let direct = try alerts.resolve(id: other.id)
        #expect(direct.state == .resolved && direct.acknowledgedAt == nil && direct.resolvedBy == nil && direct.note == nil)
        alerts.close()
    }

    @Test func raiseIsIdempotentWhileTheAlertIsUnresolved() throws {
        let dir = TemporaryDirectory()
        let clock = ManualClock()
        let alerts = try openAlerts(dir, clock)
        let first = try alerts.raise(newAlert())
        let size = fileSize(logPath(dir))
        clock.advance(seconds: 5)
        // A detector raising again on its next tick, even with other text: the same alert, nothing written.
        let again = try alerts.raise(newAlert(severity: .warning, message: "still jammed"))
        #expect(!again.created)
        #expect(again.alert == first.alert)
        #expect(fileSize(logPath(dir)) == size)
        // Another rule or another machine is another alert.
        #expect(try alerts.raise(newAlert("fdm-01", Alert.Rule.predictiveOverheat)).created)
        #expect(try alerts.raise(newAlert("fdm-02")).created)
        // Still the same while acknowledged.
        _ = try alerts.acknowledge(id: first.alert.id)
        #expect(try alerts.raise(newAlert()).alert.id == first.alert.id)
        // Once resolved, the next raise is a new alert with a new id.
        _ = try alerts.resolve(id: first.alert.id)
        let next = try alerts.raise(newAlert())
        #expect(next.created)
        #expect(next.alert.id == AlertID(rawValue: 4))
        #expect(next.alert.state == .active)
        #expect(alerts.alerts().count == 4)
        alerts.close()
    }

    @Test func concurrentRaisesOfOneConditionCreateOneAlert() async throws {
        let dir = TemporaryDirectory()
        let alerts = try openAlerts(dir)
        let results = try await withThrowingTaskGroup(of: (alert: Alert, created: Bool).self) { group in
            let new = newAlert()
            for _ in 0..<16 { group.addTask { try alerts.raise(new) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.filter(\.created).count == 1)
        #expect(Set(results.map(\.alert.id)).count == 1)
        #expect(alerts.alerts().count == 1)
        alerts.close()
    }

    @Test func acknowledgingOrResolvingTwiceChangesNothing() throws {
        let dir = TemporaryDirectory()
        let clock = ManualClock()
        let alerts = try openAlerts(dir, clock)
        let id = try alerts.raise(newAlert()).alert.id
        let acknowledged = try alerts.acknowledge(id: id, by: "jane", note: "first")
        clock.advance(seconds: 10)
        #expect(try alerts.acknowledge(id: id, by: "ali", note: "second") == acknowledged)
        let resolved = try alerts.resolve(id: id, by: "jane")
        let size = fileSize(logPath(dir))
        clock.advance(seconds: 10)
        #expect(try alerts.resolve(id: id, by: "ali", note: "again") == resolved)
        #expect(fileSize(logPath(dir)) == size)
        alerts.close()
    }

    @Test func unknownIDIsNotFoundAndAcknowledgingAResolvedAlertIsAConflict() throws {
        let dir = TemporaryDirectory()
        let alerts = try openAlerts(dir)
        let missing = AlertID(rawValue: 99)
        let ackError = #expect(throws: StorageError.self) { try alerts.acknowledge(id: missing) }
        #expect(ackError?.code == .notFound)
        #expect(ackError?.message.contains("99") == true)
        #expect((#expect(throws: StorageError.self) { try alerts.resolve(id: missing) })?.code == .notFound)
        #expect(alerts.alert(id: missing) == nil)
        // The text form of a URL: not an id at all is not found either.
        for text in ["99", "abc", "", "007"] {
            #expect((#expect(throws: StorageError.self) { try alerts.acknowledge(id: text) })?.code == .notFound, "\(text)")
            #expect((#expect(throws: StorageError.self) { try alerts.resolve(id: text) })?.code == .notFound, "\(text)")
        }

        let id = try alerts.raise(newAlert()).alert.id
        #expect(try alerts.acknowledge(id: "1").state == .acknowledged)
        #expect(try alerts.resolve(id: "1").state == .resolved)
        let conflict = #expect(throws: StorageError.self) { try alerts.acknowledge(id: id, by: "jane") }
        #expect(conflict?.code == .conflict)
        #expect(alerts.alert(id: id)?.state == .resolved)
        alerts.close()
    }

    // MARK: Validation

    @Test func validationErrorsNameTheField() throws {
        func field(_ body: () throws -> Void) -> String? {
            do {
                try body()
                return nil
            } catch let error as ModelError {
                return error.field
            } catch {
                return "not a ModelError: \(error)"
            }
        }
        #expect(field { _ = try MachineID("fdm 01") } == "machine_id")
        #expect(field { _ = try Alert.Severity(parsing: "urgent") } == "severity")
        #expect(try Alert.Severity(parsing: "warning") == .warning)
        #expect(field { try newAlert("fdm-01", "").validate() } == "rule")
        #expect(field { try newAlert("fdm-01", "filament jam").validate() } == "rule")
        #expect(field { try newAlert("fdm-01", String(repeating: "r", count: 65)).validate() } == "rule")
        #expect(field { try newAlert(message: "").validate() } == "message")
        #expect(field { try newAlert(message: String(repeating: "é", count: 513)).validate() } == "message")   // 1026 bytes
        #expect(field { try newAlert(message: String(repeating: "m", count: 1024)).validate() } == nil)
        let tooMany = Dictionary(uniqueKeysWithValues: (0...64).map { ("d\($0)", Double($0)) })
        #expect(field { try newAlert(details: tooMany).validate() } == "details")
        #expect(field { try newAlert(details: ["bad name": 1]).validate() } == "details")
        #expect(field { try newAlert(details: ["score": .nan]).validate() } == "details")
        #expect(field { try newAlert(details: ["score": .infinity]).validate() } == "details")

        // The store validates before it writes anything.
        let dir = TemporaryDirectory()
        let alerts = try openAlerts(dir)
        #expect(field { _ = try alerts.raise(newAlert("fdm-01", "no/slashes")) } == "rule")
        #expect(alerts.alerts().isEmpty)
        let id = try alerts.raise(newAlert()).alert.id
        #expect(field { _ = try alerts.acknowledge(id: id, by: "") } == "by")
        #expect(field { _ = try alerts.acknowledge(id: id, by: String(repeating: "b", count: 129)) } == "by")
        #expect(field { _ = try alerts.resolve(id: id, note: String(repeating: "n", count: 1025)) } == "note")
        #expect(alerts.alert(id: id)?.state == .active)
        alerts.close()
    }

    @Test func alertIDTextForm() {
        #expect(AlertID("42") == AlertID(rawValue: 42))
        #expect(AlertID(rawValue: 42).description == "42")
        for bad in ["", "0", "007", "+7", "-1", "4 2", "a1", "18446744073709551616"] { #expect(AlertID(bad) == nil, "\(bad)") }
    }

    // MARK: Queries

    @Test func queriesFilterByMachineStateAndTimeNewestFirst() throws {
        let dir = TemporaryDirectory()
        let alerts = try openAlerts(dir)
        let t0: Int64 = 1_800_000_000_000_000_000
        func at(_ s: Int64) -> Timestamp { Timestamp(nanoseconds: t0 + s * 1_000_000_000) }
        // Raised out of raisedAt order on purpose (a detector reporting late), and one tie.
        let a = try alerts.raise(newAlert("m1", "r1", at: at(30))).alert
        let b = try alerts.raise(newAlert("m2", "r1", at: at(10))).alert
        let c = try alerts.raise(newAlert("m1", "r2", at: at(20))).alert
        let d = try alerts.raise(newAlert("m1", "r3", at: at(40))).alert
        let e = try alerts.raise(newAlert("m2", "r2", at: at(20))).alert
        _ = try alerts.resolve(id: c.id)
        _ = try alerts.acknowledge(id: d.id)
        func ids(_ list: [Alert]) -> [UInt64] { list.map(\.id.rawValue) }

        #expect(ids(alerts.alerts()) == ids([d, a, e, c, b]))   // raisedAt descending; the tie at 20 s by id descending
        #expect(ids(alerts.alerts(machine: machine("m1"))) == ids([d, a, c]))
        #expect(ids(alerts.alerts(active: true)) == ids([d, a, e, b]))   // acknowledged counts as active
        #expect(ids(alerts.alerts(active: false)) == ids([c]))
        #expect(ids(alerts.alerts(machine: machine("m1"), active: true)) == ids([d, a]))
        #expect(ids(alerts.alerts(from: at(20), to: at(30))) == ids([a, e, c]))   // both ends inclusive
        #expect(ids(alerts.alerts(active: true, from: at(20), to: at(30))) == ids([a, e]))
        #expect(ids(alerts.alerts(from: at(35))) == ids([d]))
        #expect(ids(alerts.alerts(to: at(10))) == ids([b]))
        #expect(ids(alerts.alerts(limit: 2)) == ids([d, a]))
        #expect(ids(alerts.alerts(active: true, limit: 3)) == ids([d, a, e]))
        #expect(alerts.alerts(limit: 0).isEmpty)
        #expect(alerts.alerts(from: at(30), to: at(20)).isEmpty)
        #expect(alerts.alerts(machine: machine("m3")).isEmpty)
        alerts.close()
    }

    // MARK: Durability

    @Test func everyFieldSurvivesReopen() throws {
        let dir = TemporaryDirectory()
        let clock = ManualClock()
        var alerts = try openAlerts(dir, clock)
        let one = try alerts.raise(newAlert("dmls-01", Alert.Rule.predictiveOverheat, severity: .warning,
                                            message: "chamber rising 2 °C/min — check the chiller ✓",
                                            at: Timestamp(nanoseconds: -1_234_567_891),
                                            details: ["chamber_temp_c": 71.5, "slope_c_per_min": -0.0, "score": 1e-300])).alert
        clock.advance(seconds: 1)
        let two = try alerts.raise(newAlert("fdm-01", Alert.Rule.filamentJam, severity: .critical)).alert
        clock.advance(seconds: 1)
        let three = try alerts.raise(newAlert("fdm-02", Alert.Rule.frameHotSpot, severity: .info, message: "x")).alert
        clock.advance(seconds: 1)
        _ = try alerts.acknowledge(id: one.id, by: "Jane Doe <jane@example.com>", note: "watching it")
        clock.advance(seconds: 1)
        _ = try alerts.acknowledge(id: two.id)
        clock.advance(seconds: 1)
        _ = try alerts.resolve(id: two.id, by: "ali", note: String(repeating: "n", count: 1024))
        _ = try alerts.resolve(id: three.id, note: "self-cleared")
        let before = alerts.alerts()
        #expect(before.count == 3)
        alerts.close()

        alerts = try openAlerts(dir, clock)
        #expect(alerts.problems.isEmpty)
        #expect(alerts.alerts() == before)
        #expect(alerts.alert(id: one.id)?.details["slope_c_per_min"]?.sign == .minus)
        // Ids continue after the last one, and idempotency still sees the unresolved alert.
        #expect(try alerts.raise(newAlert("dmls-01", Alert.Rule.predictiveOverheat)).alert.id == one.id)
        #expect(try alerts.raise(newAlert("fdm-01", Alert.Rule.filamentJam)).alert.id == AlertID(rawValue: 4))
        alerts.close()
    }

    @Test func anotherOpenOfTheSameDirectoryIsLockedOut() throws {
        let dir = TemporaryDirectory()
        let alerts = try openAlerts(dir)
        let error = #expect(throws: StorageError.self) { try openAlerts(dir) }
        #expect(error?.code == .locked)
        alerts.close()
        alerts.close()   // a second close does nothing
        let again = try openAlerts(dir)
        again.close()
    }

    @Test func changesAfterCloseFailButReadsStillAnswer() throws {
        let dir = TemporaryDirectory()
        let alerts = try openAlerts(dir)
        let id = try alerts.raise(newAlert()).alert.id
        alerts.close()
        #expect((#expect(throws: StorageError.self) { try alerts.raise(newAlert("fdm-09")) })?.code == .closed)
        #expect((#expect(throws: StorageError.self) { try alerts.acknowledge(id: id) })?.code == .closed)
        #expect((#expect(throws: StorageError.self) { try alerts.resolve(id: id) })?.code == .closed)
        #expect(alerts.alert(id: id)?.state == .active)
    }

    @Test func livesBesideATelemetryStoreInOneDirectory() async throws {
        let dir = TemporaryDirectory()
        let store = try openStore(dir)
        let alerts = try openAlerts(dir)
        try await store.append(sampleRecord("fdm-01", 1))
        _ = try alerts.raise(newAlert())
        try await store.close()
        alerts.close()
        let reopened = try openStore(dir)
        #expect(reopened.problems.isEmpty)
        #expect(reopened.machines().map(\.recordCount) == [1])
        try await reopened.close()
        let alertsAgain = try openAlerts(dir)
        #expect(alertsAgain.alerts().count == 1)
        alertsAgain.close()
    }

    @Test func observerSeesEveryChangeOnceItIsDurable() throws {
        let dir = TemporaryDirectory()
        let alerts = try openAlerts(dir)
        final class Recorder: Sendable {
            let seen = Mutex<[(id: UInt64, state: Alert.State, onDisk: Bool)]>([])
            let sizes = Mutex<[Int]>([])
        }
        let recorder = Recorder()
        let path = logPath(dir)
        alerts.setObserver { alert in
            // Durable before the call: the entry is already in the file.
            let size = fileSize(path)
            let grew = recorder.sizes.withLock { s in
                defer { s.append(size) }
                return size > (s.last ?? FileHeader.size)
            }
            recorder.seen.withLock { $0.append((alert.id.rawValue, alert.state, grew)) }
        }
        let id = try alerts.raise(newAlert()).alert.id
        _ = try alerts.raise(newAlert())             // no change: not reported
        _ = try alerts.acknowledge(id: id)
        _ = try alerts.acknowledge(id: id)           // no change
        _ = try alerts.resolve(id: id)
        _ = try alerts.resolve(id: id)               // no change
        let events = recorder.seen.withLock { $0 }
        #expect(events.map(\.id) == [1, 1, 1])
        #expect(events.map(\.state) == [.active, .acknowledged, .resolved])
        #expect(events.allSatisfy { $0.onDisk })
        alerts.setObserver(nil)
        _ = try alerts.raise(newAlert("fdm-02"))
        #expect(recorder.seen.withLock { $0.count } == 3)
        alerts.close()
    }

    // MARK: Damage

    /// Three alerts, one acknowledged, then one resolved with a note: the last entry is the resolution.
    func historyEndingInAResolution(_ dir: TemporaryDirectory) throws -> (before: [Alert], sizeBefore: Int, sizeAfter: Int) {
        let clock = ManualClock()
        let alerts = try openAlerts(dir, clock)
        let first = try alerts.raise(newAlert("dmls-01", Alert.Rule.hardFailure, details: ["error_code": 17])).alert
        _ = try alerts.raise(newAlert("fdm-01"))
        let third = try alerts.raise(newAlert("fdm-02", Alert.Rule.isolationForest, severity: .warning)).alert
        clock.advance(seconds: 30)
        _ = try alerts.acknowledge(id: third.id, by: "jane")
        let before = alerts.alerts()
        let sizeBefore = fileSize(logPath(dir))
        clock.advance(seconds: 30)
        _ = try alerts.resolve(id: first.id, by: "ali", note: "power cycled")
        let sizeAfter = fileSize(logPath(dir))
        alerts.close()
        return (before, sizeBefore, sizeAfter)
    }

    @Test func aTornLastEntryIsCutOffAtEveryByteAndEverythingBeforeItSurvives() throws {
        let pristine = TemporaryDirectory()
        let (before, sizeBefore, sizeAfter) = try historyEndingInAResolution(pristine)
        #expect(sizeAfter - sizeBefore > 20)
        for cut in sizeBefore..<sizeAfter {
            let dir = TemporaryDirectory("torn\(cut)")
            try FileManager.default.copyItem(atPath: logPath(pristine), toPath: logPath(dir))
            try truncateFile(logPath(dir), to: cut)
            var alerts = try openAlerts(dir)
            #expect(alerts.problems.isEmpty, "cut at \(cut): \(alerts.problems)")   // a torn tail was never acknowledged
            #expect(alerts.alerts() == before, "cut at \(cut)")
            #expect(fileSize(logPath(dir)) == sizeBefore, "cut at \(cut): the torn bytes are gone")
            // The log goes on after the last whole entry, and reads back clean.
            #expect(try alerts.resolve(id: AlertID(rawValue: 1)).state == .resolved)
            #expect(try alerts.raise(newAlert("fdm-03")).alert.id == AlertID(rawValue: 4))
            alerts.close()
            alerts = try openAlerts(dir)
            #expect(alerts.problems.isEmpty, "cut at \(cut), reopened: \(alerts.problems)")
            #expect(alerts.alerts().count == 4)
            alerts.close()
        }
    }

    @Test func aDamagedEntryInTheMiddleIsReportedAndTheRestIsRead() throws {
        let dir = TemporaryDirectory()
        var alerts = try openAlerts(dir)
        let a = try alerts.raise(newAlert("m1")).alert
        let bStart = fileSize(logPath(dir))
        let b = try alerts.raise(newAlert("m2")).alert
        let c = try alerts.raise(newAlert("m3")).alert
        let ackStart = fileSize(logPath(dir))
        _ = try alerts.acknowledge(id: b.id, by: "jane")   // refers to the alert whose raise gets damaged
        _ = try alerts.resolve(id: c.id)
        alerts.close()

        try flipBit(logPath(dir), at: bStart + ChecksummedFrame.overhead + 12)
        alerts = try openAlerts(dir)
        let problems = alerts.problems
        #expect(problems.count == 2, "\(problems)")
        #expect(problems.allSatisfy { $0.code == .corruptLog && $0.file == FileNames.alertLog })
        #expect(problems.first?.offset == Int64(bStart))
        #expect(problems.first?.message.contains("CRC mismatch") == true)
        #expect(problems.first?.message.contains("alerts.log at offset \(bStart)") == true)
        #expect(problems.last?.offset == Int64(ackStart))
        #expect(problems.last?.message.contains("alert 2") == true)
        // The entries before and after the damage are read.
        #expect(alerts.alert(id: a.id)?.state == .active)
        #expect(alerts.alert(id: b.id) == nil)
        #expect(alerts.alert(id: c.id)?.state == .resolved)
        // Ids are not reused, even the damaged one's.
        #expect(try alerts.raise(newAlert("m2")).alert.id == AlertID(rawValue: 4))
        alerts.close()
        // The damaged bytes stay in the file (no rewrite), so each open reports them again.
        alerts = try openAlerts(dir)
        #expect(alerts.problems.count == 2)
        #expect(alerts.alerts().count == 3)
        alerts.close()
    }

    @Test func anUndecodableEntryIsSkipped() throws {
        let dir = TemporaryDirectory()
        var alerts = try openAlerts(dir)
        _ = try alerts.raise(newAlert("m1"))
        alerts.close()
        // A well-framed entry (valid CRC) with an unknown severity, then a good one after it.
        var bytes = try Array(Data(contentsOf: URL(fileURLWithPath: logPath(dir))))
        let badOffset = bytes.count
        var w = ByteWriter()
        AlertEvent.raised(Alert(id: AlertID(rawValue: 2), machineID: machine("m2"), rule: "r", severity: .info, message: "m",
                                raisedAt: Timestamp(nanoseconds: 5))).encode(into: &w)
        w.bytes[1 + 8 + 8 + 3 + 2] = 9   // the severity byte: after type, id, at, "m2" and "r"
        ChecksummedFrame.append(w.bytes, to: &bytes)
        w = ByteWriter()
        AlertEvent.resolved(id: AlertID(rawValue: 1), at: Timestamp(nanoseconds: 6), by: nil, note: nil).encode(into: &w)
        ChecksummedFrame.append(w.bytes, to: &bytes)
        try Data(bytes).write(to: URL(fileURLWithPath: logPath(dir)))
        alerts = try openAlerts(dir)
        #expect(alerts.problems.count == 1)
        #expect(alerts.problems.first?.message.contains("unknown severity") == true)
        #expect(alerts.problems.first?.offset == Int64(badOffset))
        #expect(alerts.alert(id: AlertID(rawValue: 1))?.state == .resolved)
        #expect(alerts.alert(id: AlertID(rawValue: 2)) == nil)
        #expect(try alerts.raise(newAlert("m2")).alert.id == AlertID(rawValue: 3))
        alerts.close()
    }

    @Test func randomDamageIsNeverFatalAndNeverInventsAnAlert() throws {
        let pristine = TemporaryDirectory()
        let clock = ManualClock()
        var alerts = try openAlerts(pristine, clock)
        for i in 0..<40 {
            clock.advance(seconds: 1)
            let id = try alerts.raise(newAlert("m\(i % 7)", "r\(i % 3)", message: "alert \(i)", details: ["i": Double(i)])).alert.id
            if i % 3 == 0 { _ = try alerts.acknowledge(id: id, by: "op\(i)") }
            if i % 4 == 0 { _ = try alerts.resolve(id: id, note: "done \(i)") }
        }
        let truth = Dictionary(uniqueKeysWithValues: alerts.alerts().map { ($0.id, $0) })
        alerts.close()
        let size = fileSize(logPath(pristine))
        var g = SeededRandom(seed: 7)
        var reported = 0
        for round in 0..<100 {
            let dir = TemporaryDirectory("alertdamage\(round)")
            try FileManager.default.copyItem(atPath: logPath(pristine), toPath: logPath(dir))
            let handle = try Foundation.FileHandle(forUpdatingAtPath: logPath(dir)).unwrap(logPath(dir))
            switch g.next() % 3 {
            case 0:   // a few bit flips anywhere after the header
                for _ in 0..<Int(1 + g.next() % 3) {
                    let at = FileHeader.size + Int(g.next() % UInt64(size - FileHeader.size))
                    try handle.close()
                    try flipBit(logPath(dir), at: at, bit: UInt8(1 << (g.next() % 8)))
                }
            case 1:   // a cut anywhere after the header
                try handle.truncate(atOffset: UInt64(FileHeader.size) + g.next() % UInt64(size - FileHeader.size))
            default:  // a run of garbage
                let at = FileHeader.size + Int(g.next() % UInt64(size - FileHeader.size))
                try handle.seek(toOffset: UInt64(at))
                try handle.write(contentsOf: Data((0..<min(48, size - at)).map { _ in UInt8(truncatingIfNeeded: g.next()) }))
            }
            try? handle.close()
            alerts = try openAlerts(dir)
            if !alerts.problems.isEmpty { reported += 1 }
            for alert in alerts.alerts() {
                // Every alert read back was written, with the fields it was raised with.
                let original = try #require(truth[alert.id], "round \(round): alert \(alert.id) was never raised")
                #expect(alert.machineID == original.machineID && alert.rule == original.rule && alert.message == original.message
                        && alert.details == original.details && alert.raisedAt == original.raisedAt, "round \(round)")
                // Its lifecycle can only lag behind the truth (later entries lost), never run ahead.
                if alert.state == .resolved { #expect(original.state == .resolved, "round \(round)") }
                if alert.acknowledgedAt != nil { #expect(alert.acknowledgedAt == original.acknowledgedAt, "round \(round)") }
            }
            // The damaged log still takes new alerts, with an id above every one it holds. (An id
            // lost with a cut-off tail can come again: a cut looks like a torn write.)
            let known = alerts.alerts().map(\.id)
            let next = try alerts.raise(newAlert("fresh")).alert.id
            #expect(known.allSatisfy { $0 < next }, "round \(round): id \(next) reused")
            alerts.close()
        }
        #expect(reported >= 20, "only \(reported) of 100 damaged logs reported anything")
    }

    @Test func aBadHeaderRefusesToOpenAndLeavesTheFileAlone() throws {
        func openError(_ header: [UInt8]) throws -> StorageError? {
            let dir = TemporaryDirectory()
            try Data(header).write(to: URL(fileURLWithPath: logPath(dir)))
            let error = #expect(throws: StorageError.self) { try openAlerts(dir) }
            #expect(try Data(contentsOf: URL(fileURLWithPath: logPath(dir))) == Data(header), "the file is not rewritten")
            return error
        }
        let good = AlertLogFile.header(nextID: 1)
        // Damage: a flipped magic bit (the header CRC catches it), a short file, an empty file.
        var flipped = good
        flipped[2] ^= 0x01
        for damaged in [flipped, Array(good.prefix(10)), []] {
            let error = try openError(damaged)
            #expect(error?.code == .corruptBlock)
            #expect(error?.message.contains("alerts.log") == true)
        }
        // Intact, but not this build's: another file kind, another version.
        let wrongKind = try openError(FileHeader(kind: .wal, number: 1).encoded())
        #expect(wrongKind?.code == .unsupportedFormat)
        var newer = good
        newer[8] = 2
        let crc = crc32c(Array(newer[0..<20]))
        newer.replaceSubrange(20..<24, with: withUnsafeBytes(of: crc.littleEndian, Array.init))
        let version = try openError(newer)
        #expect(version?.code == .unsupportedFormat)
        #expect(version?.message.contains("version 2") == true)
    }

    @Test func theHeaderNumberIsAFloorForNewIDs() throws {
        let dir = TemporaryDirectory()
        try Data(AlertLogFile.header(nextID: 500)).write(to: URL(fileURLWithPath: logPath(dir)))
        let alerts = try openAlerts(dir)
        #expect(try alerts.raise(newAlert()).alert.id == AlertID(rawValue: 500))
        alerts.close()
        // At the very end of the id space, raising fails instead of wrapping around.
        let full = TemporaryDirectory()
        try Data(AlertLogFile.header(nextID: .max)).write(to: URL(fileURLWithPath: logPath(full)))
        let exhausted = try openAlerts(full)
        #expect((#expect(throws: StorageError.self) { try exhausted.raise(newAlert()) })?.code == .corruptLog)
        exhausted.close()
    }
}
