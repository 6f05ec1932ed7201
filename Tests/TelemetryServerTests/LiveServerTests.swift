import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import StorageEngine
import Testing
import TelemetryModel
@testable import TelemetryServer

/// The server on a real loopback socket (HummingbirdTesting's `.live` client).
struct LiveServerTests {
    @Test func ingestAndQueryOverARealSocket() async throws {
        let server = try TestServer()
        try await server.app.test(.live) { client in
            let records = (0..<64).map { dmlsRecord("dmls-03", $0) }
            let post = try await client.execute(uri: "/api/v1/telemetry", method: .post, headers: batchHeaders,
                                                body: buffer(FrameBatch.encode(records)))
            #expect(post.status == .created)
            let seed = try await client.execute(uri: "/api/v1/telemetry", method: .post, headers: jsonHeaders,
                                                body: buffer(seedJSON(machine: "dmls-04", timestampMs: 1_795_255_200_000, nested: true)))
            #expect(seed.status == .created)
            let range = try await client.execute(uri: "/api/v1/machines/dmls-03/records?limit=64", method: .get,
                                                 headers: [.accept: FrameBatch.mediaType])
            let back = try range.body.readableBytesView.withUnsafeBytes { try FrameBatch.decode($0, allowReservedChannels: true) }
            #expect(back.map(\.frame) == records.map(\.frame))
            let json = try await client.execute(uri: "/api/v1/machines/dmls-03/records?limit=64&include=frame", method: .get)
            #expect(json.status == .ok)
            #expect((try json.body.json()["records"] as? [Any])?.count == 64)
            #expect(post.headers[HTTPField.Name("X-Request-ID")!] != nil)
            // Hummingbird's own 404 arrives in the API's error shape, body included.
            let missing = try await client.execute(uri: "/api/v1/nothing-here", method: .get)
            #expect(missing.status == .notFound)
            #expect(try missing.body.json().errorCode == "not_found")
        }
        try await server.store.close()
        server.alerts.close()
    }
}

/// Many concurrent clients against a tiny ingest queue.
struct OverloadTests {
    @Test func tinyQueueAnswers503AndEvery201IsStored() async throws {
        let bodySize = FrameBatch.encode((0..<8).map { dmlsRecord("dmls-05", $0) }).count
        let server = try TestServer {
            // Room for one request at a time.
            $0.ingestQueueBytes = bodySize + bodySize / 2
            $0.ingestQueueRequests = 1
        }
        let clients = 8, requestsPerClient = 12
        let outcomes = try await server.app.test(.ahc(.http)) { client in
            try await withThrowingTaskGroup(of: [(Int, HTTPResponse.Status, [String], String?)].self) { group in
                for c in 0..<clients {
                    group.addTask {
                        var results: [(Int, HTTPResponse.Status, [String], String?)] = []
                        for r in 0..<requestsPerClient {
                            let n = c * requestsPerClient + r
                            let records = (0..<8).map { dmlsRecord("dmls-05", n * 8 + $0) }
                            let response = try await client.execute(uri: "/api/v1/telemetry", method: .post, headers: batchHeaders,
                                                                    body: buffer(FrameBatch.encode(records)))
                            let ids = (try? response.body.json()["ids"] as? [String]) ?? []
                            results.append((n, response.status, ids, response.headers[.retryAfter]))
                        }
                        return results
                    }
                }
                var all: [(Int, HTTPResponse.Status, [String], String?)] = []
                for try await r in group { all += r }
                return all
            }
        }
        #expect(outcomes.count == clients * requestsPerClient)
        let created = outcomes.filter { $0.1 == .created }
        let refused = outcomes.filter { $0.1 == .serviceUnavailable }
        #expect(created.count + refused.count == outcomes.count, "only 201 or 503: \(Set(outcomes.map(\.1.code)))")
        #expect(!created.isEmpty)
        #expect(!refused.isEmpty, "8 clients over a one-request queue must meet a full queue")
        #expect(refused.allSatisfy { $0.3 == "1" }, "every 503 says when to retry")
        // Every acknowledged record is stored; no refused one is.
        let stored = try server.store.records(machine: machine("dmls-05"), limit: 10_000)
        let storedIDs = Set(stored.map(\.id.description))
        #expect(storedIDs == Set(created.flatMap(\.2)))
        #expect(stored.count == created.count * 8)
        #expect(server.context.gate.current == .init(bytes: 0, requests: 0))
        try await server.store.close()
        server.alerts.close()
    }
}
