import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import StorageEngine
import Testing
import TelemetryModel
@testable import TelemetryServer

struct QueryRouteTests {
    /// A server holding 40 DMLS records 100 ms apart.
    static func loaded(_ label: String = #function) async throws -> TestServer {
        let server = try TestServer(label)
        _ = try await server.store.append((0..<40).map { dmlsRecord("dmls-01", $0) })
        return server
    }

    @Test func rangeQueryLimitsOrdersAndPages() async throws {
        let server = try await Self.loaded()
        try await server.withRouter { client in
            let all = try await client.execute(uri: "/api/v1/machines/dmls-01/records", method: .get)
            #expect(all.status == .ok)
            let json = try all.body.json()
            let records = try #require(json["records"] as? [[String: Any]])
            #expect(records.count == 40)
            #expect(json["truncated"] as? Bool == false)
            #expect(records.first?["frame"] == nil, "frames only when asked")
            #expect((records.first?["channels"] as? [String: Any])?["frame_mean"] != nil, "statistics without frames")

            // from/to (epoch ms and RFC 3339), limit, descending, and the continuation cursor.
            let fromMs = (t0 + 10 * 100_000_000) / 1_000_000
            let to = Timestamp(nanoseconds: t0 + 29 * 100_000_000).rfc3339
            let page = try await client.execute(
                uri: "/api/v1/machines/dmls-01/records?from=\(fromMs)&to=\(to)&limit=5&order=desc", method: .get)
            let pj = try page.body.json()
            let pr = try #require(pj["records"] as? [[String: Any]])
            #expect(pr.map { $0["timestamp_ns"] as? Int } == (25...29).reversed().map { Int(t0 + Int64($0) * 100_000_000) })
            #expect(pj["truncated"] as? Bool == true)
            let nextTo = try #require(pj["next_to"] as? String)
            let rest = try await client.execute(
                uri: "/api/v1/machines/dmls-01/records?from=\(fromMs)&to=\(nextTo)&limit=100&order=desc", method: .get)
            let rr = try #require(try rest.body.json()["records"] as? [[String: Any]])
            #expect(rr.count == 15)

            let frames = try await client.execute(uri: "/api/v1/machines/dmls-01/records?limit=3&include=frame", method: .get)
            let fr = try #require(try frames.body.json()["records"] as? [[String: Any]])
            #expect(fr.count == 3)
            let data = try #require((fr[0]["frame"] as? [String: Any])?["data"] as? [Double])
            #expect(data.map { Float($0) } == dmlsRecord("dmls-01", 0).frame?.values)
        }
    }

    @Test func largeRangesStreamAcrossPages() async throws {
        let server = try TestServer()
        let records = (0..<1_500).map { i in
            TelemetryRecord(machineID: machine("fdm-02"), timestamp: Timestamp(nanoseconds: t0 + Int64(i) * 1_000_000_000),
                            kind: "fdm", channels: ["nozzle_temp_c": 200 + Float(i % 30)], state: "printing")
        }
        _ = try await server.store.append(records)
        try await server.withRouter { client in
            let response = try await client.execute(uri: "/api/v1/machines/fdm-02/records?limit=1400", method: .get)
            let json = try response.body.json()
            let got = try #require(json["records"] as? [[String: Any]])
            #expect(got.count == 1_400)
            #expect(json["count"] as? Int == 1_400)
            #expect(got.map { $0["timestamp_ns"] as? Int } == records.prefix(1_400).map { Int($0.timestamp.nanoseconds) })
        }
    }

    @Test func binaryRangesStreamAcrossPages() async throws {
        let server = try TestServer()
        let records = (0..<300).map { dmlsRecord("dmls-06", $0) }
        _ = try await server.store.append(records)
        try await server.withRouter { client in
            // 290 frames: three pages of up to 128, the last one partial.
            let response = try await client.execute(uri: "/api/v1/machines/dmls-06/records?limit=290&order=desc", method: .get,
                                                    headers: [.accept: FrameBatch.mediaType])
            let back = try response.body.readableBytesView.withUnsafeBytes { try FrameBatch.decode($0, allowReservedChannels: true) }
            #expect(back.count == 290)
            #expect(back.map(\.timestamp) == records.reversed().prefix(290).map(\.timestamp))
            #expect(back.map(\.frame) == records.reversed().prefix(290).map(\.frame))
        }
    }

    @Test func queryErrorsNameTheParameter() async throws {
        let server = try await Self.loaded()
        try await server.withRouter { client in
            let cases: [(String, HTTPResponse.Status, String?)] = [
                ("/api/v1/machines/bad%20id/records", .badRequest, "machine_id"),
                ("/api/v1/machines/dmls-01/records?from=yesterday", .badRequest, "from"),
                ("/api/v1/machines/dmls-01/records?limit=0", .badRequest, "limit"),
                ("/api/v1/machines/dmls-01/records?limit=ten", .badRequest, "limit"),
                ("/api/v1/machines/dmls-01/records?order=sideways", .badRequest, "order"),
                ("/api/v1/machines/dmls-01/records?include=everything", .badRequest, "include"),
                ("/api/v1/machines/dmls-01/records?from=2030-01-01T00:00:00Z&to=2020-01-01T00:00:00Z", .badRequest, "from"),
                ("/api/v1/machines/nobody/records", .notFound, "machine_id"),
                ("/api/v1/machines/nobody/latest", .notFound, "machine_id"),
                ("/api/v1/machines/dmls-01/series", .badRequest, "channel"),
                ("/api/v1/machines/dmls-01/series?channel=power_kw&step=soon", .badRequest, "step"),
                ("/api/v1/machines/dmls-01/series?channel=power_kw&step=1ms&from=2020-01-01T00:00:00Z&to=2030-01-01T00:00:00Z", .badRequest, "step"),
                // A step that makes an astronomical bucket count is a 400, not a trap.
                ("/api/v1/machines/dmls-01/series?channel=power_kw&from=-9223372036853&to=9223372036853&step=0.000001ms", .badRequest, "step"),
                ("/api/v1/alerts?from=2026-11-21T10:00:00.1234567890Z", .ok, nil),
                ("/api/v1/records/not-an-id", .badRequest, "id"),
                ("/api/v1/records/dmls-01@5", .notFound, "id"),
                ("/api/v1/nothing-here", .notFound, nil),
            ]
            for (uri, status, field) in cases {
                let response = try await client.execute(uri: uri, method: .get)
                #expect(response.status == status, "\(uri): \(response.body.string)")
                guard status != .ok else { continue }
                let json = try response.body.json()
                #expect(json.errorCode != nil, "\(uri) answers the JSON error shape")
                if let field { #expect(json.errorField == field, "\(uri): \(response.body.string)") }
            }
        }
    }

    @Test func seriesBucketsMatchTheRecords() async throws {
        let server = try await Self.loaded()
        try await server.withRouter { client in
            let from = Timestamp(nanoseconds: t0).rfc3339
            let to = Timestamp(nanoseconds: t0 + 39 * 100_000_000).rfc3339
            let response = try await client.execute(
                uri: "/api/v1/machines/dmls-01/series?channel=power_kw&from=\(from)&to=\(to)&step=1s", method: .get)
            #expect(response.status == .ok, "\(response.body.string)")
            let buckets = try #require(try response.body.json()["buckets"] as? [[String: Any]])
            #expect(buckets.count == 4)
            #expect(buckets.map { $0["count"] as? Int } == [10, 10, 10, 10])
            #expect(buckets.first?["min"] as? Double == 0)
            #expect((buckets.last?["max"] as? Double).map { Float($0) } == Float(39) / 10)
            // Frame statistics are channels too.
            let stats = try await client.execute(uri: "/api/v1/machines/dmls-01/series?channel=frame_max&step=10s", method: .get)
            let sb = try #require(try stats.body.json()["buckets"] as? [[String: Any]])
            #expect(sb.reduce(0) { $0 + ($1["count"] as? Int ?? 0) } == 40)
        }
    }

    @Test func recordByIdInEveryRepresentation() async throws {
        let server = try await Self.loaded()
        let record = dmlsRecord("dmls-01", 7)
        try await server.withRouter { client in
            let uri = "/api/v1/records/\(record.id)"
            let json = try await client.execute(uri: uri, method: .get).body.json()
            #expect(json["id"] as? String == record.id.description)
            let raw = try await client.execute(uri: uri, method: .get, headers: [.accept: "application/octet-stream"])
            let values: [Float] = raw.body.readableBytesView.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            #expect(values == record.frame?.values)
            let batch = try await client.execute(uri: uri, method: .get, headers: [.accept: FrameBatch.mediaType])
            let back = try batch.body.readableBytesView.withUnsafeBytes { try FrameBatch.decode($0, allowReservedChannels: true) }
            #expect(back.first?.frame == record.frame)
            // Percent-encoded as browsers send it (`encodeURIComponent`): the same record.
            let encoded = "/api/v1/records/" + record.id.description.replacingOccurrences(of: "@", with: "%40")
            let again = try await client.execute(uri: encoded, method: .get)
            #expect(again.status == .ok)
            #expect(try again.body.json()["id"] as? String == record.id.description)
            let machine = try await client.execute(uri: "/api/v1/machines/dmls%2D01/latest", method: .get)
            #expect(try machine.body.json()["machine_id"] as? String == "dmls-01")
            // A malformed escape is named, not trapped on.
            let bad = try await client.execute(uri: "/api/v1/records/dmls-01%4", method: .get)
            #expect(bad.status == .badRequest)
            #expect(try (bad.body.json()["error"] as? [String: Any])?["field"] as? String == "id")
        }
    }

    @Test func theDashboardIsServedFromTheBinary() async throws {
        let server = try await Self.loaded()
        try await server.withRouter { client in
            let page = try await client.execute(uri: "/", method: .get)
            #expect(page.status == .ok)
            #expect(page.headers[.contentType] == "text/html; charset=utf-8")
            let html = page.body.string
            #expect(html.contains("<canvas id=\"heatmap\""))
            // Before its script has read any data the page claims nothing: "all normal" is hidden,
            // the panels say they are loading (the browser tests check the states that follow).
            #expect(html.contains("<p id=\"alerts-empty\" class=\"alert-normal\" hidden>"))
            #expect(html.contains(">loading alerts…</p>"))
            #expect(html.contains(">loading machines…</p>"))
            // Every file the page loads is served, with its type.
            for (path, type) in [("/dashboard/dashboard.js", "text/javascript"), ("/dashboard/dashboard.css", "text/css")] {
                #expect(html.contains(path))
                let file = try await client.execute(uri: path, method: .get)
                #expect(file.status == .ok)
                #expect(file.headers[.contentType]?.hasPrefix(type) == true)
                #expect(file.body.readableBytes > 1_000)
            }
            let missing = try await client.execute(uri: "/dashboard/secrets.txt", method: .get)
            #expect(missing.status == .notFound)
            #expect(try (missing.body.json()["error"] as? [String: Any])?["field"] as? String == "file")
        }
    }

    @Test func healthMetricsAndOpenAPI() async throws {
        let server = try await Self.loaded()
        try await server.withRouter { client in
            let health = try await client.execute(uri: "/healthz", method: .get)
            #expect(health.status == .ok)
            #expect(try health.body.json()["status"] as? String == "ok")
            #expect(try health.body.json()["records"] as? Int == 40)

            _ = try await client.execute(uri: "/api/v1/telemetry", method: .post, headers: jsonHeaders,
                                         body: buffer(seedJSON(machine: "dmls-09", timestampMs: 1_795_255_200_000)))
            let metrics = try await client.execute(uri: "/metrics", method: .get).body.string
            #expect(metrics.contains("sinter_ingest_records_total 1"))
            #expect(metrics.contains("sinter_http_request_duration_seconds_bucket"))
            #expect(metrics.contains("route=\"/api/v1/telemetry\""))
            #expect(metrics.contains("sinter_store_records 41"))
            #expect(metrics.contains("sinter_ingest_queue_bytes"))

            let openapi = try await client.execute(uri: "/openapi.json", method: .get)
            #expect(openapi.status == .ok)
            #expect(try openapi.body.json()["openapi"] as? String != nil)
        }
    }

    /// The OpenAPI document lists exactly the routes the router serves, with the same methods.
    @Test func openAPIDocumentMatchesTheRouter() async throws {
        let server = try TestServer()
        let router = SinterServer.makeRouter(server.context)
        let served = Set(router.routes.map { "\($0.method.rawValue.lowercased()) \(Self.normalise("\($0.path)"))" })
        let document = try #require(try JSONSerialization.jsonObject(with: Data(OpenAPIDocument.json.utf8)) as? [String: Any])
        let paths = try #require(document["paths"] as? [String: [String: Any]])
        var described = Set<String>()
        for (path, operations) in paths {
            for method in operations.keys where ["get", "post", "put", "delete", "patch"].contains(method) {
                described.insert("\(method) \(Self.normalise(path))")
            }
        }
        try await server.store.close()
        server.alerts.close()
        #expect(served == described, "served but not described: \(served.subtracting(described)); described but not served: \(described.subtracting(served))")
    }

    static func normalise(_ path: String) -> String {
        // `{id}` and `:id` both become `{}`.
        path.split(separator: "/").map { $0.hasPrefix("{") || $0.hasPrefix(":") ? "{}" : String($0) }.joined(separator: "/")
    }
}
