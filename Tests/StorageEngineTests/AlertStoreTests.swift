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

/// The alert lifecycle, idempotent raises and updates, queries, validation, durability, and damage to `alerts.log`.
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
        let first = try alerts.raise(newAlert(details: ["filament_flow": 0]))
        let size = fileSize(logPath(dir))
        clock.advance(seconds: 5)
        // A detector raising again on its next tick with the same content (at another time): the
        // same alert, unchanged, nothing written.
        let again = try alerts.raise(newAlert(at: clock.now, details: ["filament_flow": 0]))
        #expect(!again.created)
        #expect(again.alert == first.alert)
        #expect(again.alert.updates == 0 && again.alert.updatedAt == nil)
        #expect(fileSize(logPath(dir)) == size)
        // Another rule or another machine is another alert.
        #expect(try alerts.raise(newAlert("fdm-01", Alert.Rule.predictiveOverheat)).created)
        #expect(try alerts.raise(newAlert("fdm-02")).created)
        // Still the same while acknowledged.
        _ = try alerts.acknowledge(id: first.alert.id)
        #expect(try alerts.raise(newAlert(details: ["filament_flow": 0])).alert.id == first.alert.id)
        // Once resolved, the next raise is a new alert with a new id.
        _ = try alerts.resolve(id: first.alert.id)
        let next = try alerts.raise(newAlert())
        #expect(next.created)
        #expect(next.alert.id == AlertID(rawValue: 4))
        #expect(next.alert.state == .active)
        #expect(alerts.alerts().count == 4)
        alerts.close()
    }

    @Test func aRaiseWithOtherContentUpdatesTheOpenAlert() throws {
        let dir = TemporaryDirectory()
        let clock = ManualClock()
        let alerts = try openAlerts(dir, clock)
        let first = try alerts.raise(newAlert(severity: .warning, message: "filament flow low",
                                              details: ["filament_flow": 0.2, "nozzle_temp_c": 214])).alert
        #expect(first.updates == 0 && first.updatedAt == nil)
        let size = fileSize(logPath(dir))

        // Worse now: a higher severity, a new message, new details (one gone, one changed, one new).
        clock.advance(seconds: 30)
        let (updated, created) = try alerts.raise(newAlert(severity: .critical, message: "no filament flow for 30 s",
                                                           details: ["filament_flow": 0, "motor_current_a": 1.4]))
        #expect(!created)
        #expect(updated.id == first.id)
        #expect(updated.state == .active)
        #expect(updated.severity == .critical)
        #expect(updated.message == "no filament flow for 30 s")
        #expect(updated.details == ["filament_flow": 0, "motor_current_a": 1.4])   // replaced, not merged
        #expect(updated.updates == 1)
        #expect(updated.updatedAt == clock.now)   // no raisedAt given: the store's clock
        #expect(updated.raisedAt == first.raisedAt)
        #expect(alerts.alert(id: first.id) == updated)
        #expect(alerts.alerts().count == 1)
        #expect(alerts.alerts(active: true) == [updated])
        let sizeAfterUpdate = fileSize(logPath(dir))
        #expect(sizeAfterUpdate > size)

        // The same content again (a retry, the next tick): unchanged, nothing written.
        clock.advance(seconds: 1)
        let retry = try alerts.raise(newAlert(severity: .critical, message: "no filament flow for 30 s",
                                              details: ["motor_current_a": 1.4, "filament_flow": 0]))
        #expect(!retry.created)
        #expect(retry.alert == updated)
        #expect(fileSize(logPath(dir)) == sizeAfterUpdate)

        // Any one of the three differing is enough; a raisedAt given by the caller is the update's time.
        let observed = Timestamp(nanoseconds: 1_800_000_100_000_000_000)
        let detailOnly = try alerts.raise(newAlert(severity: .critical, message: "no filament flow for 30 s", at: observed,
                                                   details: ["filament_flow": 0, "motor_current_a": 1.5])).alert
        #expect(detailOnly.updates == 2 && detailOnly.updatedAt == observed && detailOnly.details["motor_current_a"] == 1.5)
        let messageOnly = try alerts.raise(newAlert(severity: .critical, message: "no filament flow for 60 s",
                                                    details: ["filament_flow": 0, "motor_current_a": 1.5])).alert
        #expect(messageOnly.updates == 3 && messageOnly.message == "no filament flow for 60 s")
        let lower = try alerts.raise(newAlert(severity: .info, message: "no filament flow for 60 s",
                                              details: ["filament_flow": 0, "motor_current_a": 1.5])).alert
        #expect(lower.updates == 4 && lower.severity == .info)   // a lower severity is an update too
        let noDetails = try alerts.raise(newAlert(severity: .info, message: "no filament flow for 60 s")).alert
        #expect(noDetails.updates == 5 && noDetails.details.isEmpty)
        #expect(alerts.alerts().map(\.id) == [first.id])
        #expect(alerts.problems.isEmpty)

        // An invalid raise is refused before anything is compared or written.
        let before = fileSize(logPath(dir))
        #expect(throws: ModelError.self) { try alerts.raise(newAlert(message: "")) }
        #expect(fileSize(logPath(dir)) == before)
        #expect(alerts.alert(id: first.id) == noDetails)
        alerts.close()
    }

    @Test func anUpdateKeepsTheAcknowledgementAndAResolvedAlertIsNeverUpdated() throws {
        let dir = TemporaryDirectory()
        let clock = ManualClock()
        let alerts = try openAlerts(dir, clock)
        let first = try alerts.raise(newAlert(severity: .warning, message: "chamber rising")).alert
        clock.advance(seconds: 60)
        let acknowledged = try alerts.acknowledge(id: first.id, by: "jane", note: "watching it")
        clock.advance(seconds: 60)
        let updated = try alerts.raise(newAlert(severity: .critical, message: "chamber over limit")).alert
        #expect(updated.id == first.id)
        #expect(updated.state == .acknowledged)   // still acknowledged: the operator already knows
        #expect(updated.acknowledgedAt == acknowledged.acknowledgedAt)
        #expect(updated.acknowledgedBy == "jane" && updated.note == "watching it")
        #expect(updated.severity == .critical && updated.updates == 1 && updated.updatedAt == clock.now)
        // Acknowledging again changes nothing, the update included.
        #expect(try alerts.acknowledge(id: first.id, by: "ali") == updated)

        clock.advance(seconds: 60)
        let resolved = try alerts.resolve(id: first.id, by: "ali")
        #expect(resolved.updates == 1 && resolved.severity == .critical)
        // After the resolution, the same raise is a new alert; the resolved one stays as it was.
        let next = try alerts.raise(newAlert(severity: .critical, message: "chamber over limit"))
        #expect(next.created)
        #expect(next.alert.id != first.id)
        #expect(next.alert.updates == 0 && next.alert.updatedAt == nil)
        #expect(alerts.alert(id: first.id) == resolved)
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

    @Test func concurrentRaisesWithTheSameNewContentUpdateOnce() async throws {
        let dir = TemporaryDirectory()
        let alerts = try openAlerts(dir)
        let id = try alerts.raise(newAlert(severity: .warning)).alert.id
        let results = try await withThrowingTaskGroup(of: (alert: Alert, created: Bool).self) { group in
            let worse = newAlert(severity: .critical, details: ["score": 0.9])
            for _ in 0..<16 { group.addTask { try alerts.raise(worse) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.allSatisfy { !$0.created && $0.alert.id == id && $0.alert.updates == 1 })
        #expect(alerts.alert(id: id)?.updates == 1)
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

    @Test func updatesSurviveReopen() throws {
        let dir = TemporaryDirectory()
        let clock = ManualClock()
        var alerts = try openAlerts(dir, clock)
        let jam = try alerts.raise(newAlert("fdm-01", Alert.Rule.filamentJam, severity: .warning, message: "flow low",
                                            details: ["filament_flow": 0.3])).alert
        let heat = try alerts.raise(newAlert("dmls-01", Alert.Rule.predictiveOverheat, severity: .info, message: "warm")).alert
        clock.advance(seconds: 10)
        _ = try alerts.raise(newAlert("fdm-01", Alert.Rule.filamentJam, severity: .critical, message: "no flow ✓",
                                      details: ["filament_flow": 0, "slope": -0.0]))
        clock.advance(seconds: 10)
        _ = try alerts.acknowledge(id: heat.id, by: "jane")
        let observed = Timestamp(nanoseconds: -5)   // any instant a caller gives, before the epoch too
        _ = try alerts.raise(newAlert("dmls-01", Alert.Rule.predictiveOverheat, severity: .warning, message: "hot", at: observed))
        clock.advance(seconds: 10)
        _ = try alerts.raise(newAlert("fdm-01", Alert.Rule.filamentJam, severity: .critical, message: "no flow for 20 s",
                                      details: ["filament_flow": 0, "slope": -0.0]))
        let before = alerts.alerts()
        #expect(alerts.alert(id: jam.id)?.updates == 2)
        alerts.close()

        alerts = try openAlerts(dir, clock)
        #expect(alerts.problems.isEmpty)
        #expect(alerts.alerts() == before)
        let jamAgain = try #require(alerts.alert(id: jam.id))
        #expect(jamAgain.updates == 2 && jamAgain.updatedAt == clock.now && jamAgain.message == "no flow for 20 s")
        #expect(jamAgain.details["slope"]?.sign == .minus)
        let heatAgain = try #require(alerts.alert(id: heat.id))
        #expect(heatAgain.state == .acknowledged && heatAgain.updates == 1 && heatAgain.updatedAt == observed)
        // After the replay, the same content still writes nothing, other content updates again.
        let size = fileSize(logPath(dir))
        #expect(try alerts.raise(newAlert("dmls-01", Alert.Rule.predictiveOverheat, severity: .warning, message: "hot")).alert
                == heatAgain)
        #expect(fileSize(logPath(dir)) == size)
        #expect(try alerts.raise(newAlert("dmls-01", Alert.Rule.predictiveOverheat, severity: .critical, message: "hot")).alert
                .updates == 2)
        alerts.close()
    }

    @Test func theFormatDocumentsExampleIsWhatTheStoreWrites() throws {
        // Storage/Format/alerts.md, "Example": raise, acknowledgement, update; 242 bytes.
        let hex = """
            53 4e 54 52 41 4c 52 00 01 00 00 00 01 00 00 00 00 00 00 00 d8 cc 89 58
            4f 00 00 00 6d e4 20 c2 01 01 00 00 00 00 00 00 00 00 40 2c bd 17 07 ea 18
            06 66 64 6d 2d 30 31 0c 66 69 6c 61 6d 65 6e 74 5f 6a 61 6d 03 10 00
            6e 6f 20 66 69 6c 61 6d 65 6e 74 20 66 6c 6f 77 01
            0d 66 69 6c 61 6d 65 6e 74 5f 66 6c 6f 77 00 00 00 00 00 00 00 00
            18 00 00 00 30 e6 60 26 02 01 00 00 00 00 00 00 00 00 98 73 b5 25 07 ea 18 01 04 6a 61 6e 65 00
            5b 00 00 00 2b f0 fe b3 04 01 00 00 00 00 00 00 00 00 f0 ba ad 33 07 ea 18 03 1a 00
            6e 6f 20 66 69 6c 61 6d 65 6e 74 20 66 6c 6f 77 20 66 6f 72 20 31 32 30 20 73 02
            0d 66 69 6c 61 6d 65 6e 74 5f 66 6c 6f 77 00 00 00 00 00 00 00 00
            0d 6e 6f 7a 7a 6c 65 5f 74 65 6d 70 5f 63 00 00 00 00 00 f0 6c 40
            """
        let expected = hex.split(whereSeparator: \.isWhitespace).map { UInt8($0, radix: 16)! }
        #expect(expected.count == 242)
        let dir = TemporaryDirectory()
        let tenOClock: Int64 = 1_795_255_200_000_000_000
        let clock = ManualClock(tenOClock + 60_000_000_000)
        var alerts = try openAlerts(dir, clock)
        let id = try alerts.raise(newAlert("fdm-01", Alert.Rule.filamentJam, severity: .critical, message: "no filament flow",
                                           at: Timestamp(nanoseconds: tenOClock), details: ["filament_flow": 0])).alert.id
        _ = try alerts.acknowledge(id: id, by: "jane")
        _ = try alerts.raise(newAlert("fdm-01", Alert.Rule.filamentJam, severity: .critical, message: "no filament flow for 120 s",
                                      at: Timestamp(nanoseconds: tenOClock + 120_000_000_000),
                                      details: ["filament_flow": 0, "nozzle_temp_c": 231.5]))
        alerts.close()
        #expect(try Array(Data(contentsOf: URL(fileURLWithPath: logPath(dir)))) == expected)

        // The first 143 bytes are a log from before updates existed: it opens as always.
        let old = TemporaryDirectory("oldlog")
        try Data(expected.prefix(143)).write(to: URL(fileURLWithPath: logPath(old)))
        alerts = try openAlerts(old)
        #expect(alerts.problems.isEmpty)
        let alert = try #require(alerts.alert(id: id))
        #expect(alert.state == .acknowledged && alert.updates == 0 && alert.updatedAt == nil && alert.message == "no filament flow")
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
            let seen = Mutex<[(id: UInt64, state: Alert.State, updates: Int, onDisk: Bool)]>([])
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
            recorder.seen.withLock { $0.append((alert.id.rawValue, alert.state, alert.updates, grew)) }
        }
        let id = try alerts.raise(newAlert(severity: .warning)).alert.id
        _ = try alerts.raise(newAlert(severity: .warning))    // no change: not reported
        _ = try alerts.raise(newAlert(severity: .critical))   // an update: reported
        _ = try alerts.raise(newAlert(severity: .critical))   // no change
        _ = try alerts.acknowledge(id: id)
        _ = try alerts.acknowledge(id: id)           // no change
        _ = try alerts.resolve(id: id)
        _ = try alerts.resolve(id: id)               // no change
        let events = recorder.seen.withLock { $0 }
        #expect(events.map(\.id) == [1, 1, 1, 1])
        #expect(events.map(\.state) == [.active, .active, .acknowledged, .resolved])
        #expect(events.map(\.updates) == [0, 1, 1, 1])
        #expect(events.allSatisfy { $0.onDisk })
        alerts.setObserver(nil)
        _ = try alerts.raise(newAlert("fdm-02"))
        #expect(recorder.seen.withLock { $0.count } == 4)
        alerts.close()
    }

    // MARK: Damage

    /// How ``history(_:endingIn:)`` ends.
    enum LastEntry: CaseIterable { case resolution, update }

    /// Three alerts, one acknowledged, one updated, then the last entry: alert 1 resolved with a
    /// note, or alert 3 (acknowledged) updated with a new severity, message and details.
    func history(_ dir: TemporaryDirectory, endingIn last: LastEntry) throws -> (before: [Alert], sizeBefore: Int, sizeAfter: Int) {
        let clock = ManualClock()
        let alerts = try openAlerts(dir, clock)
        let first = try alerts.raise(newAlert("dmls-01", Alert.Rule.hardFailure, details: ["error_code": 17])).alert
        _ = try alerts.raise(newAlert("fdm-01"))
        let third = try alerts.raise(newAlert("fdm-02", Alert.Rule.isolationForest, severity: .warning)).alert
        clock.advance(seconds: 30)
        _ = try alerts.acknowledge(id: third.id, by: "jane")
        _ = try alerts.raise(newAlert("fdm-01", message: "no filament flow for 60 s"))   // an update, not the last entry
        let before = alerts.alerts()
        let sizeBefore = fileSize(logPath(dir))
        clock.advance(seconds: 30)
        switch last {
        case .resolution:
            _ = try alerts.resolve(id: first.id, by: "ali", note: "power cycled")
        case .update:
            let updated = try alerts.raise(newAlert("fdm-02", Alert.Rule.isolationForest, severity: .critical,
                                                    message: "score 0.93", details: ["score": 0.93])).alert
            #expect(updated.id == third.id && updated.updates == 1)
        }
        let sizeAfter = fileSize(logPath(dir))
        alerts.close()
        return (before, sizeBefore, sizeAfter)
    }

    @Test(arguments: LastEntry.allCases)
    func aTornLastEntryIsCutOffAtEveryByteAndEverythingBeforeItSurvives(last: LastEntry) throws {
        let pristine = TemporaryDirectory()
        let (before, sizeBefore, sizeAfter) = try history(pristine, endingIn: last)
        #expect(sizeAfter - sizeBefore > 20)
        #expect(before.first { $0.machineID == machine("fdm-01") }?.updates == 1)
        for cut in sizeBefore..<sizeAfter {
            let dir = TemporaryDirectory("torn\(last)\(cut)")
            try FileManager.default.copyItem(atPath: logPath(pristine), toPath: logPath(dir))
            try truncateFile(logPath(dir), to: cut)
            var alerts = try openAlerts(dir)
            #expect(alerts.problems.isEmpty, "cut at \(cut): \(alerts.problems)")   // a torn tail was never acknowledged
            #expect(alerts.alerts() == before, "cut at \(cut)")
            #expect(fileSize(logPath(dir)) == sizeBefore, "cut at \(cut): the torn bytes are gone")
            // The log goes on after the last whole entry, and reads back clean.
            #expect(try alerts.resolve(id: AlertID(rawValue: 1)).state == .resolved)
            #expect(try alerts.raise(newAlert("fdm-03")).alert.id == AlertID(rawValue: 4))
            let updated = try alerts.raise(newAlert("fdm-02", Alert.Rule.isolationForest, message: "again")).alert
            #expect(updated.id == AlertID(rawValue: 3) && updated.updates == 1 && updated.state == .acknowledged, "cut at \(cut)")
            alerts.close()
            alerts = try openAlerts(dir)
            #expect(alerts.problems.isEmpty, "cut at \(cut), reopened: \(alerts.problems)")
            #expect(alerts.alerts().count == 4)
            #expect(alerts.alert(id: AlertID(rawValue: 3)) == updated, "cut at \(cut), reopened")
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
        let updateStart = fileSize(logPath(dir))
        _ = try alerts.raise(newAlert("m2", severity: .warning))   // an update of it too
        _ = try alerts.resolve(id: c.id)
        let updatedA = try alerts.raise(newAlert("m1", message: "worse")).alert   // an update after the damage
        alerts.close()

        try flipBit(logPath(dir), at: bStart + ChecksummedFrame.overhead + 12)
        alerts = try openAlerts(dir)
        let problems = alerts.problems
        #expect(problems.count == 3, "\(problems)")
        #expect(problems.allSatisfy { $0.code == .corruptLog && $0.file == FileNames.alertLog })
        #expect(problems.first?.offset == Int64(bStart))
        #expect(problems.first?.message.contains("CRC mismatch") == true)
        #expect(problems.first?.message.contains("alerts.log at offset \(bStart)") == true)
        #expect(problems.dropFirst().map(\.offset) == [Int64(ackStart), Int64(updateStart)])
        #expect(problems.dropFirst().allSatisfy { $0.message.contains("entry for alert 2") })
        // The entries before and after the damage are read.
        #expect(alerts.alert(id: a.id) == updatedA)
        #expect(alerts.alert(id: b.id) == nil)
        #expect(alerts.alert(id: c.id)?.state == .resolved)
        // Ids are not reused, even the damaged one's.
        #expect(try alerts.raise(newAlert("m2")).alert.id == AlertID(rawValue: 4))
        alerts.close()
        // The damaged bytes stay in the file (no rewrite), so each open reports them again.
        alerts = try openAlerts(dir)
        #expect(alerts.problems.count == 3)
        #expect(alerts.alerts().count == 3)
        alerts.close()
    }

    @Test func aDamagedUpdateIsSkippedAndTheUpdatesAfterItAreRead() throws {
        let dir = TemporaryDirectory()
        let clock = ManualClock()
        var alerts = try openAlerts(dir, clock)
        let id = try alerts.raise(newAlert(severity: .warning, message: "low flow", details: ["filament_flow": 0.4])).alert.id
        let firstUpdate = fileSize(logPath(dir))
        clock.advance(seconds: 10)
        _ = try alerts.raise(newAlert(severity: .critical, message: "no flow", details: ["filament_flow": 0]))
        let secondUpdate = fileSize(logPath(dir))
        clock.advance(seconds: 10)
        let last = try alerts.raise(newAlert(severity: .critical, message: "no flow for 20 s", details: ["filament_flow": 0])).alert
        let ackAt = fileSize(logPath(dir))
        _ = try alerts.acknowledge(id: id, by: "jane")
        alerts.close()

        // Damage in the first update's payload: the scan resyncs on the second update (type 4).
        try flipBit(logPath(dir), at: firstUpdate + ChecksummedFrame.overhead + 20)
        alerts = try openAlerts(dir)
        #expect(alerts.problems.count == 1, "\(alerts.problems)")
        #expect(alerts.problems.first?.offset == Int64(firstUpdate))
        #expect(alerts.problems.first?.message.contains("(\(secondUpdate - firstUpdate) bytes skipped)") == true)
        var alert = try #require(alerts.alert(id: id))
        #expect(alert.message == last.message && alert.severity == .critical && alert.updatedAt == last.updatedAt)
        #expect(alert.updates == 1)   // one update was lost
        #expect(alert.state == .acknowledged)
        alerts.close()

        // Damage in the last update instead (a fresh copy): the alert has the first update's content.
        let other = TemporaryDirectory("damagedlastupdate")
        try FileManager.default.copyItem(atPath: logPath(dir), toPath: logPath(other))
        try flipBit(logPath(other), at: firstUpdate + ChecksummedFrame.overhead + 20)   // undo
        try flipBit(logPath(other), at: secondUpdate + 2)   // the length field of the second update
        alerts = try openAlerts(other)
        #expect(alerts.problems.map(\.offset) == [Int64(secondUpdate)], "\(alerts.problems)")
        alert = try #require(alerts.alert(id: id))
        #expect(alert.message == "no flow" && alert.updates == 1 && alert.state == .acknowledged)
        #expect(fileSize(logPath(other)) > ackAt)   // damage in the middle is never cut off
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
        // Well-framed updates of alert 1 that do not decode, each its own way, then a good one.
        func update(_ id: UInt64 = 1, _ change: (inout [UInt8]) -> Void) -> [UInt8] {
            var w = ByteWriter()
            AlertEvent.updated(id: AlertID(rawValue: id), at: Timestamp(nanoseconds: 7), severity: .warning, message: "m",
                               details: ["d": 1]).encode(into: &w)
            var payload = w.bytes
            change(&payload)
            return payload
        }
        let severityByte = 1 + 8 + 8
        let countByte = severityByte + 1 + 2 + 1   // after the severity and the 1-byte message
        let badUpdates: [(payload: [UInt8], reason: String)] = [
            (update { $0[severityByte] = 0 }, "unknown severity"),
            (update { $0[countByte] = 65 }, "detail count 65 exceeds the limit 64"),
            (update { $0[countByte + 2] = UInt8(ascii: " ") }, "invalid detail name"),
            (update { $0.removeLast(3) }, "unexpected end of data"),
            (update { $0[severityByte + 1] = 0xff }, "unexpected end of data"),   // a message longer than the payload
            (update(0) { _ in }, "alert id 0"),
            (update { $0[0] = 5 }, "unknown alert entry type"),
        ]
        var badUpdateOffsets: [Int] = []
        for bad in badUpdates {
            badUpdateOffsets.append(bytes.count)
            ChecksummedFrame.append(bad.payload, to: &bytes)
        }
        ChecksummedFrame.append(update { _ in }, to: &bytes)
        w = ByteWriter()
        AlertEvent.resolved(id: AlertID(rawValue: 1), at: Timestamp(nanoseconds: 6), by: nil, note: nil).encode(into: &w)
        ChecksummedFrame.append(w.bytes, to: &bytes)
        try Data(bytes).write(to: URL(fileURLWithPath: logPath(dir)))
        alerts = try openAlerts(dir)
        #expect(alerts.problems.count == 1 + badUpdates.count)
        #expect(alerts.problems.first?.message.contains("unknown severity") == true)
        #expect(alerts.problems.first?.offset == Int64(badOffset))
        for (problem, (bad, offset)) in zip(alerts.problems.dropFirst(), zip(badUpdates, badUpdateOffsets)) {
            #expect(problem.code == .corruptLog)
            #expect(problem.offset == Int64(offset), "\(bad.reason)")
            #expect(problem.message.contains("undecodable entry (\(bad.reason)"), "\(problem.message)")
        }
        let one = try #require(alerts.alert(id: AlertID(rawValue: 1)))
        #expect(one.state == .resolved)
        #expect(one.updates == 1 && one.severity == .warning && one.message == "m" && one.details == ["d": 1])
        #expect(alerts.alert(id: AlertID(rawValue: 2)) == nil)
        #expect(try alerts.raise(newAlert("m2")).alert.id == AlertID(rawValue: 3))
        alerts.close()
    }

    @Test func decodingAnUpdateNeverTraps() throws {
        var w = ByteWriter()
        let event = AlertEvent.updated(id: AlertID(rawValue: 42), at: Timestamp(nanoseconds: -1), severity: .critical,
                                       message: "nozzle 262 °C", details: ["nozzle_temp_c": 262, "slope": 2.5])
        event.encode(into: &w)
        let payload = w.bytes
        #expect(payload.count == 17 + 1 + (2 + 14) + 1 + (1 + 13 + 8) + (1 + 5 + 8))   // "°" is 2 bytes
        func decode(_ bytes: [UInt8]) throws -> AlertEvent {
            try bytes.withUnsafeBytes { raw in
                var r = ByteReader(raw, context: FileNames.alertLog, fileOffset: 0, code: .corruptLog)
                return try AlertEvent(decoding: &r)
            }
        }
        #expect(try decode(payload) == event)
        #expect(payload.withUnsafeBytes { AlertEvent.isPlausiblePayload($0) })
        // Every truncation fails cleanly.
        for n in 0..<payload.count {
            #expect(throws: StorageError.self, "\(n) bytes") { try decode(Array(payload.prefix(n))) }
        }
        // Random bytes after a type-4 prefix: an error or an update, never a trap.
        var g = SeededRandom(seed: 44)
        for _ in 0..<2_000 {
            var bytes = payload
            for _ in 0..<Int(1 + g.next() % 4) {
                bytes[Int(g.next() % UInt64(bytes.count - 1)) + 1] = UInt8(truncatingIfNeeded: g.next())
            }
            switch try? decode(bytes) {
            case nil, .updated?: break
            case let decoded?: Issue.record("a type-4 payload decoded as \(decoded)")
            }
        }
        // The resync check knows type 4, and nothing above it.
        var other = payload
        other[0] = 5
        #expect(!other.withUnsafeBytes { AlertEvent.isPlausiblePayload($0) })
        #expect(!Array(payload.prefix(18)).withUnsafeBytes { AlertEvent.isPlausiblePayload($0) })
    }

    @Test func randomDamageIsNeverFatalAndNeverInventsAnAlert() throws {
        let pristine = TemporaryDirectory()
        let clock = ManualClock()
        var alerts = try openAlerts(pristine, clock)
        /// What an update can change.
        struct Content: Equatable {
            var severity: Alert.Severity, message: String, details: [String: Double]
            init(_ a: Alert) { (severity, message, details) = (a.severity, a.message, a.details) }
        }
        // Per alert: its content as raised, then after each update (index = number of updates).
        var versions: [AlertID: [Content]] = [:]
        func raise(_ new: NewAlert) throws -> AlertID {
            let alert = try alerts.raise(new).alert
            if versions[alert.id, default: []].count == alert.updates { versions[alert.id, default: []].append(Content(alert)) }
            return alert.id
        }
        for i in 0..<40 {
            clock.advance(seconds: 1)
            // The same machine and rule come back every 21 raises; an unresolved alert is then updated.
            let new = newAlert("m\(i % 7)", "r\(i % 3)", severity: i % 2 == 0 ? .warning : .critical, message: "alert \(i)",
                               details: ["i": Double(i)])
            let id = try raise(new)
            if i % 5 == 1 {
                clock.advance(seconds: 1)
                var worse = new
                worse.details["more"] = Double(i)
                _ = try raise(worse)
            }
            if i % 3 == 0 { _ = try alerts.acknowledge(id: id, by: "op\(i)") }
            if i % 4 == 0 { _ = try alerts.resolve(id: id, note: "done \(i)") }
        }
        let truth = Dictionary(uniqueKeysWithValues: alerts.alerts().map { ($0.id, $0) })
        #expect(truth.values.filter { $0.updates > 0 }.count >= 8)
        #expect(truth.values.contains { $0.updates >= 2 })
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
                #expect(alert.machineID == original.machineID && alert.rule == original.rule && alert.raisedAt == original.raisedAt,
                        "round \(round)")
                // Its content is the raise's or an update's, and at least as new as its count of
                // updates says (updates lost to damage are not counted).
                let history = try #require(versions[alert.id])
                #expect(alert.updates <= original.updates, "round \(round)")
                #expect(history.dropFirst(alert.updates).contains(Content(alert)), "round \(round): alert \(alert.id)")
                #expect((alert.updatedAt == nil) == (alert.updates == 0), "round \(round)")
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
