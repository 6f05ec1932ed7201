import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import StorageEngine
import Testing
import TelemetryModel
@testable import TelemetryServer

struct AlertAndStreamTests {
    @Test func alertLifecycleOverHTTP() async throws {
        let server = try TestServer()
        try await server.withRouter { client in
            let raise = #"{"machine_id":"fdm-01","rule":"predictive_overheat","severity":"warning","message":"nozzle drifting up 2 K/min","details":{"slope_k_per_min":2.1}}"#
            let created = try await client.execute(uri: "/api/v1/alerts", method: .post, headers: jsonHeaders, body: buffer(raise))
            #expect(created.status == .created, "\(created.body.string)")
            let alert = try created.body.json()
            let id = try #require(alert["id"] as? String)
            #expect(alert["state"] as? String == "active")
            #expect((alert["details"] as? [String: Any])?["slope_k_per_min"] as? Double == 2.1)
            #expect(alert["updates"] as? Int == 0)
            #expect(alert["updated_at"] is NSNull)   // present, null: like acknowledged_at

            // Raising the same condition again returns the open alert (200), not a new one, unchanged.
            let again = try await client.execute(uri: "/api/v1/alerts", method: .post, headers: jsonHeaders, body: buffer(raise))
            #expect(again.status == .ok)
            #expect(try again.body.json()["id"] as? String == id)
            #expect(try again.body.json()["updates"] as? Int == 0)

            // Worse now: the open alert is updated (200, the same id), not repeated.
            let worse = #"{"machine_id":"fdm-01","rule":"predictive_overheat","severity":"critical","message":"nozzle at 262 °C","timestamp":"2026-11-21T10:05:00Z","details":{"nozzle_temp_c":262.5}}"#
            let updated = try await client.execute(uri: "/api/v1/alerts", method: .post, headers: jsonHeaders, body: buffer(worse))
            #expect(updated.status == .ok, "\(updated.body.string)")
            let updatedJSON = try updated.body.json()
            #expect(updatedJSON["id"] as? String == id)
            #expect(updatedJSON["state"] as? String == "active")
            #expect(updatedJSON["severity"] as? String == "critical")
            #expect(updatedJSON["message"] as? String == "nozzle at 262 °C")
            #expect(updatedJSON["details"] as? [String: Double] == ["nozzle_temp_c": 262.5])
            #expect(updatedJSON["updates"] as? Int == 1)
            #expect(updatedJSON["updated_at"] as? String == "2026-11-21T10:05:00Z")
            #expect(updatedJSON["raised_at"] as? String == alert["raised_at"] as? String)
            let retried = try await client.execute(uri: "/api/v1/alerts", method: .post, headers: jsonHeaders, body: buffer(worse))
            #expect(retried.status == .ok)
            #expect(try retried.body.json()["updates"] as? Int == 1)

            let ack = try await client.execute(uri: "/api/v1/alerts/\(id)/ack", method: .post, headers: jsonHeaders,
                                               body: buffer(#"{"by":"maria","note":"checking the hot end"}"#))
            #expect(ack.status == .ok)
            #expect(try ack.body.json()["state"] as? String == "acknowledged")
            #expect(try ack.body.json()["acknowledged_by"] as? String == "maria")
            #expect(try ack.body.json()["updates"] as? Int == 1)

            // An update of an acknowledged alert keeps it acknowledged; listing shows it.
            let settled = try await client.execute(uri: "/api/v1/alerts", method: .post, headers: jsonHeaders,
                                                   body: buffer(raise.replacingOccurrences(of: "warning", with: "info")))
            #expect(settled.status == .ok)
            #expect(try settled.body.json()["state"] as? String == "acknowledged")
            #expect(try settled.body.json()["updates"] as? Int == 2)
            let listed = try await client.execute(uri: "/api/v1/alerts?machine=fdm-01", method: .get)
            let listedAlert = try #require((try listed.body.json()["alerts"] as? [[String: Any]])?.first)
            #expect(listedAlert["updates"] as? Int == 2 && listedAlert["severity"] as? String == "info")
            #expect(listedAlert["updated_at"] is String)

            let active = try await client.execute(uri: "/api/v1/alerts?machine=fdm-01&active=true", method: .get)
            #expect((try active.body.json()["alerts"] as? [Any])?.count == 1)

            let resolved = try await client.execute(uri: "/api/v1/alerts/\(id)/resolve", method: .post)
            #expect(resolved.status == .ok)
            #expect(try resolved.body.json()["state"] as? String == "resolved")
            let none = try await client.execute(uri: "/api/v1/alerts?active=true", method: .get)
            #expect((try none.body.json()["alerts"] as? [Any])?.count == 0)
            let all = try await client.execute(uri: "/api/v1/alerts?machine=fdm-01", method: .get)
            #expect((try all.body.json()["alerts"] as? [Any])?.count == 1)

            // Acknowledging a resolved alert is a conflict; unknown ids are 404.
            #expect(try await client.execute(uri: "/api/v1/alerts/\(id)/ack", method: .post).status == .conflict)
            #expect(try await client.execute(uri: "/api/v1/alerts/999999/ack", method: .post).status == .notFound)
        }
    }

    @Test(arguments: [
        (#"{"rule":"x","severity":"warning","message":"m"}"#, HTTPResponse.Status.unprocessableContent, "machine_id"),
        (#"{"machine_id":"fdm-01","rule":"x","severity":"loud","message":"m"}"#, .unprocessableContent, "severity"),
        (#"{"machine_id":"bad id","rule":"x","severity":"info","message":"m"}"#, .unprocessableContent, "machine_id"),
        (#"{"machine_id":"fdm-01","rule":"bad rule!","severity":"info","message":"m"}"#, .unprocessableContent, "rule"),
        (#"{"machine_id":"fdm-01","rule":"x","severity":"info","message":7}"#, .unprocessableContent, "message"),
        (#"{"machine_id":"fdm-01","#, .badRequest, ""),
    ])
    func badAlertsAreRejected(body: String, status: HTTPResponse.Status, field: String) async throws {
        let server = try TestServer()
        try await server.withRouter { client in
            let response = try await client.execute(uri: "/api/v1/alerts", method: .post, headers: jsonHeaders, body: buffer(body))
            #expect(response.status == status, "\(response.body.string)")
            if !field.isEmpty { #expect(try response.body.json().errorField == field, "\(response.body.string)") }
            #expect(server.alerts.alerts().isEmpty)
        }
    }

    @Test func liveStreamCarriesRecordsAndAlertsForTheChosenMachine() async throws {
        let feed = LiveFeed(bufferEvents: 16)
        let (id, events) = feed.subscribe(machine: machine("dmls-01"))
        let (ticks, tick) = AsyncStream<Void>.makeStream()
        feed.publish(records: [dmlsRecord("dmls-02", 0), dmlsRecord("dmls-01", 1)])
        tick.yield()
        feed.publish(alertFor: machine("dmls-01"), json: ByteBuffer(string: #"{"id":"1"}"#))
        feed.finish(id)
        var out = ""
        try await StreamRoutes.pump(events: events, ticks: ticks, includeFrame: false) { out += String(buffer: $0) }
        let blocks = out.split(separator: "\n\n").map(String.init)
        let recordEvents = blocks.filter { $0.contains("event: record") }
        #expect(recordEvents.count == 1)
        #expect(recordEvents.first?.contains(#""machine_id":"dmls-01""#) == true)
        #expect(recordEvents.first?.contains("frame_mean") == true, "statistics, not frames")
        #expect(recordEvents.first?.contains(#""data""#) == false)
        #expect(blocks.contains { $0.contains("event: alert") && $0.contains(#"{"id":"1"}"#) })
        #expect(feed.subscriberCount == 0)
    }

    @Test func liveStreamAnnouncesAlertUpdates() async throws {
        let server = try TestServer()
        let (subscription, events) = server.context.feed.subscribe(machine: machine("fdm-07"))
        try await server.withRouter { client in
            let warm = #"{"machine_id":"fdm-07","rule":"predictive_overheat","severity":"warning","message":"warm","details":{"t":250}}"#
            let hot = #"{"machine_id":"fdm-07","rule":"predictive_overheat","severity":"critical","message":"hot","details":{"t":262}}"#
            var statuses: [HTTPResponse.Status] = []
            // Raised; the same again (no change, no event); worse (an update, an event); the same again (no change).
            for body in [warm, warm, hot, hot] {
                statuses.append(try await client.execute(uri: "/api/v1/alerts", method: .post, headers: jsonHeaders,
                                                         body: buffer(body)).status)
            }
            #expect(statuses == [.created, .ok, .ok, .ok])
        }
        server.context.feed.finish(subscription)
        let (ticks, _) = AsyncStream<Void>.makeStream()
        var out = ""
        try await StreamRoutes.pump(events: events, ticks: ticks, includeFrame: false) { out += String(buffer: $0) }
        let alerts = try out.split(separator: "\n\n").filter { $0.contains("event: alert") }.map { block in
            let data = try #require(block.split(separator: "\n").first { $0.hasPrefix("data: ") })
            return try JSONSerialization.jsonObject(with: Data(data.dropFirst(6).utf8)) as? [String: Any] ?? [:]
        }
        #expect(alerts.count == 2, "\(out)")
        #expect(alerts.map { $0["id"] as? String } == ["1", "1"])
        #expect(alerts.map { $0["severity"] as? String } == ["warning", "critical"])
        #expect(alerts.map { $0["updates"] as? Int } == [0, 1])
        #expect(alerts.last?["updated_at"] is String)
        #expect(alerts.last?["state"] as? String == "active")
    }

    @Test func slowStreamClientsLoseOldEventsNotMemory() {
        let feed = LiveFeed(bufferEvents: 4)
        let (_, events) = feed.subscribe(machine: nil)
        feed.publish(records: (0..<10).map { dmlsRecord("dmls-01", $0) })
        #expect(feed.droppedEvents == 6)
        _ = events
    }
}
