import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import StorageEngine
import Testing
import TelemetryModel
@testable import TelemetryServer

struct IngestRouteTests {
    @Test func seedShapeFlatAndNestedAreStoredBitExact() async throws {
        let server = try TestServer()
        try await server.withRouter { client in
            for (i, nested) in [false, true].enumerated() {
                let body = seedJSON(machine: "dmls-01", timestampMs: 1_795_255_200_000 + Int64(i), nested: nested)
                let response = try await client.execute(uri: "/api/v1/telemetry", method: .post, headers: jsonHeaders, body: buffer(body))
                #expect(response.status == .created, "\(response.body.string)")
                let json = try response.body.json()
                let ids = try #require(json["ids"] as? [String])
                #expect(ids == ["dmls-01@\((1_795_255_200_000 + Int64(i)) * 1_000_000)"])

                // Read the frame back as raw Float32: equal to Float32 of the decimals sent.
                let raw = try await client.execute(uri: "/api/v1/records/\(ids[0])", method: .get,
                                                   headers: [.accept: "application/octet-stream"])
                #expect(raw.status == .ok)
                #expect(raw.body.readableBytes == 40_000)
                #expect(raw.headers[HTTPField.Name("X-Frame-Width")!] == "100")
                let values: [Float] = raw.body.readableBytesView.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
                let expected = (0..<10_000).map { k in Float(String(format: "%.2f", 20 + Double((k * 37) % 6000) / 100))! }
                #expect(values == expected)
            }
            let record = try await client.execute(uri: "/api/v1/records/dmls-01@1795255200000000000", method: .get)
            let json = try record.body.json()
            let channels = try #require(json["channels"] as? [String: Any])
            #expect(channels["power_kw"] as? Double == 3.25)
            #expect(channels["vibration_mm_s"] as? Double == 0.5)
            #expect(channels["frame_max"] != nil)
            #expect(json["kind"] as? String == "dmls")
            let frame = try #require(json["frame"] as? [String: Any])
            #expect((frame["data"] as? [Any])?.count == 10_000)
        }
    }

    @Test func fullRecordShapeAndArraysAndDuplicates() async throws {
        let server = try TestServer()
        try await server.withRouter { client in
            let body = """
                [{"machine_id":"fdm-01","timestamp":"2026-11-21T10:00:00Z","kind":"fdm","state":"printing",
                  "channels":{"nozzle_temp_c":215.5,"bed_temp_c":60,"filament_flow":0.98}},
                 {"machine_id":"fdm-01","timestamp":"2026-11-21T10:00:01Z","kind":"fdm","state":"anomaly",
                  "channels":{"nozzle_temp_c":231.25,"bed_temp_c":60.5,"filament_flow":0.97}}]
                """
            let first = try await client.execute(uri: "/api/v1/telemetry", method: .post, headers: jsonHeaders, body: buffer(body))
            #expect(first.status == .created)
            #expect(try first.body.json()["accepted"] as? Int == 2)
            #expect(try first.body.json()["duplicates"] as? Int == 0)
            // A retry is safe: the same ids, counted as duplicates, stored once.
            let retry = try await client.execute(uri: "/api/v1/telemetry", method: .post, headers: jsonHeaders, body: buffer(body))
            #expect(retry.status == .created)
            #expect(try retry.body.json()["duplicates"] as? Int == 2)
            #expect(try retry.body.json()["ids"] as? [String] == first.body.json()["ids"] as? [String])

            let machines = try await client.execute(uri: "/api/v1/machines", method: .get)
            let list = try #require(try machines.body.json()["machines"] as? [[String: Any]])
            #expect(list.count == 1)
            #expect(list.first?["record_count"] as? Int == 2)
            #expect(list.first?["kind"] as? String == "fdm")

            let latest = try await client.execute(uri: "/api/v1/machines/fdm-01/latest", method: .get)
            let json = try latest.body.json()
            #expect(json["state"] as? String == "anomaly")
            #expect((json["channels"] as? [String: Any])?["nozzle_temp_c"] as? Double == 231.25)
            #expect(json["timestamp"] as? String == "2026-11-21T10:00:01Z")
        }
    }

    @Test func binaryBatchIsStoredAndRoundTrips() async throws {
        let server = try TestServer()
        let records = (0..<16).map { dmlsRecord("dmls-07", $0) }
        try await server.withRouter { client in
            let response = try await client.execute(uri: "/api/v1/telemetry", method: .post, headers: batchHeaders,
                                                    body: buffer(FrameBatch.encode(records)))
            #expect(response.status == .created, "\(response.body.string)")
            #expect(try response.body.json()["accepted"] as? Int == 16)

            // The range query answers the same batch format, frames bit-exact.
            let range = try await client.execute(uri: "/api/v1/machines/dmls-07/records?limit=100", method: .get,
                                                 headers: [.accept: FrameBatch.mediaType])
            #expect(range.status == .ok)
            #expect(range.headers[.contentType] == FrameBatch.mediaType)
            let back = try range.body.readableBytesView.withUnsafeBytes { try FrameBatch.decode($0, allowReservedChannels: true) }
            #expect(back.count == 16)
            #expect(back.map(\.frame) == records.map(\.frame))
            #expect(back.map(\.timestamp) == records.map(\.timestamp))
        }
    }

    @Test func malformedJSONIs400WithBytePosition() async throws {
        let server = try TestServer()
        try await server.withRouter { client in
            let body = #"{"machine_id":"dmls-01","timestamp":1795255200000,"temperature_data":[1.0,2.0 3.0]}"#
            let response = try await client.execute(uri: "/api/v1/telemetry", method: .post, headers: jsonHeaders, body: buffer(body))
            #expect(response.status == .badRequest)
            let json = try response.body.json()
            let position = try #require(json.errorPosition)
            let offset = body.utf8.firstIndex(of: UInt8(ascii: "3")).map { body.utf8.distance(from: body.utf8.startIndex, to: $0) }
            #expect(position == offset || position == offset.map { $0 - 1 }, "position \(position) for \(body)")
            #expect(response.headers[HTTPField.Name("X-Request-ID")!] != nil)

            let empty = try await client.execute(uri: "/api/v1/telemetry", method: .post, headers: jsonHeaders, body: ByteBuffer())
            #expect(empty.status == .badRequest)
        }
    }

    @Test(arguments: [
        (#"{"machine_id":"dmls-01","timestamp":1795255200000,"temperature_data":[1,2,3]}"#, "temperature_data"),
        (#"{"machine_id":"bad id!","timestamp":1795255200000,"power_consumption":1}"#, "machine_id"),
        (#"{"timestamp":1795255200000,"power_consumption":1}"#, "machine_id"),
        (#"{"machine_id":"dmls-01","power_consumption":1}"#, "timestamp"),
        (#"{"machine_id":"dmls-01","timestamp":"yesterday","power_consumption":1}"#, "timestamp"),
        (#"{"machine_id":"dmls-01","timestamp":1795255200000,"power_consumption":1e400}"#, "power_consumption"),
        (#"{"machine_id":"fdm-01","timestamp":1795255200000,"channels":{"frame_max":1}}"#, "channels.frame_max"),
    ])
    func invalidFieldsAre422NamingTheField(body: String, field: String) async throws {
        let server = try TestServer()
        try await server.withRouter { client in
            let response = try await client.execute(uri: "/api/v1/telemetry", method: .post, headers: jsonHeaders, body: buffer(body))
            #expect(response.status == .unprocessableContent, "\(response.body.string)")
            let reported = try response.body.json().errorField ?? ""
            #expect(reported.hasPrefix(field) || reported.hasSuffix(field), "field \(reported) for \(body)")
            // Nothing was stored.
            #expect(server.store.machines().isEmpty)
        }
    }

    @Test func aBatchWithOneBadRecordStoresNothing() async throws {
        let server = try TestServer()
        try await server.withRouter { client in
            let good = seedJSON(machine: "dmls-01", timestampMs: 1_795_255_200_000)
            let bad = seedJSON(machine: "dmls-01", timestampMs: 1_795_255_200_001, count: 9_999)
            let response = try await client.execute(uri: "/api/v1/telemetry", method: .post, headers: jsonHeaders,
                                                    body: buffer("[\(good),\(bad)]"))
            #expect(response.status == .unprocessableContent)
            #expect(try response.body.json().errorField?.contains("records[1]") == true)
            #expect(server.store.machines().isEmpty)

            var records = (0..<4).map { dmlsRecord("dmls-02", $0) }
            records[3].channels["bad name!"] = 1
            let batch = try await client.execute(uri: "/api/v1/telemetry", method: .post, headers: batchHeaders,
                                                 body: buffer(FrameBatch.encode(records)))
            #expect(batch.status == .unprocessableContent)
            #expect(server.store.machines().isEmpty)
        }
    }

    @Test func unknownContentTypeIs415AndOversizeIs413() async throws {
        let server = try TestServer { $0.maximumBodySize = 50_000 }
        try await server.withRouter { client in
            let text = try await client.execute(uri: "/api/v1/telemetry", method: .post, headers: [.contentType: "text/plain"],
                                                body: buffer("hello"))
            #expect(text.status == .unsupportedMediaType)
            #expect(try text.body.json().errorField == "Content-Type")
            let none = try await client.execute(uri: "/api/v1/telemetry", method: .post, body: buffer("{}"))
            #expect(none.status == .unsupportedMediaType)

            let big = seedJSON(machine: "dmls-01", timestampMs: 1_795_255_200_000)
            #expect(big.utf8.count > 50_000)
            let response = try await client.execute(uri: "/api/v1/telemetry", method: .post, headers: jsonHeaders, body: buffer(big))
            #expect(response.status == .contentTooLarge)
            #expect(try response.body.json().errorCode == "body_too_large")
            #expect(server.store.machines().isEmpty)
        }
    }

    @Test func fullQueueAnswers503WithRetryAfter() async throws {
        let server = try TestServer {
            $0.ingestQueueRequests = 1
            $0.retryAfterSeconds = 3
        }
        // Hold the only slot, as a slow request would.
        let ticket = try #require(server.context.gate.tryAcquire(bytes: 1))
        try await server.withRouter { client in
            let body = seedJSON(machine: "dmls-01", timestampMs: 1_795_255_200_000)
            let refused = try await client.execute(uri: "/api/v1/telemetry", method: .post, headers: jsonHeaders, body: buffer(body))
            #expect(refused.status == .serviceUnavailable)
            #expect(refused.headers[.retryAfter] == "3")
            #expect(try refused.body.json().errorCode == "overloaded")
            server.context.gate.release(ticket)
            let accepted = try await client.execute(uri: "/api/v1/telemetry", method: .post, headers: jsonHeaders, body: buffer(body))
            #expect(accepted.status == .created)
            #expect(server.context.gate.current == .init(bytes: 0, requests: 0))
        }
    }

    @Test func tokenGuardsWritesAndOptionallyReads() async throws {
        let server = try TestServer { $0.token = "s3cret" }
        try await server.withRouter { client in
            let body = buffer(seedJSON(machine: "dmls-01", timestampMs: 1_795_255_200_000))
            let none = try await client.execute(uri: "/api/v1/telemetry", method: .post, headers: jsonHeaders, body: body)
            #expect(none.status == .unauthorized)
            #expect(none.headers[.wwwAuthenticate] != nil)
            var wrong = jsonHeaders
            wrong[.authorization] = "Bearer s3creT"
            #expect(try await client.execute(uri: "/api/v1/telemetry", method: .post, headers: wrong, body: body).status == .unauthorized)
            var right = jsonHeaders
            right[.authorization] = "Bearer s3cret"
            #expect(try await client.execute(uri: "/api/v1/telemetry", method: .post, headers: right, body: body).status == .created)
            // Reads stay open unless asked otherwise.
            #expect(try await client.execute(uri: "/api/v1/machines", method: .get).status == .ok)
        }
        let guarded = try TestServer { $0.token = "s3cret"; $0.protectReads = true }
        try await guarded.withRouter { client in
            let open = try await client.execute(uri: "/api/v1/machines", method: .get)
            #expect(open.status == .unauthorized)
            let authorised = try await client.execute(uri: "/api/v1/machines", method: .get, headers: [.authorization: "Bearer s3cret"])
            #expect(authorised.status == .ok)
            let health = try await client.execute(uri: "/healthz", method: .get)
            #expect(health.status == .ok)
        }
    }

    @Test func constantTimeComparison() {
        #expect(BearerTokenMiddleware.constantTimeEqual(Array("abc".utf8), Array("abc".utf8)))
        #expect(!BearerTokenMiddleware.constantTimeEqual(Array("abc".utf8), Array("abd".utf8)))
        #expect(!BearerTokenMiddleware.constantTimeEqual(Array("abc".utf8), Array("abcd".utf8)))
        #expect(!BearerTokenMiddleware.constantTimeEqual([], Array("a".utf8)))
        // Lengths differing by a multiple of 256 must not compare equal.
        #expect(!BearerTokenMiddleware.constantTimeEqual(Array(repeating: 0, count: 256), []))
    }
}
