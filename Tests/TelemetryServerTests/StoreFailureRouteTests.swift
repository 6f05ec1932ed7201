// The server over a store whose disk fails: fail-stop answers 503 store_failed (ingest and
// /healthz, the metric set), a full disk answers 503 no_space with Retry-After and recovers.
import DurableFiles
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import StorageEngine
import Testing
import TelemetryModel
@testable import TelemetryServer

#if canImport(Glibc)
import Glibc
#endif

struct StoreFailureRouteTests {
    func post(_ client: any TestClientProtocol, _ i: Int) async throws -> TestResponse {
        let body = ByteBuffer(bytes: FrameBatch.encode([dmlsRecord("dmls-01", i)]))
        return try await client.execute(uri: "/api/v1/telemetry", method: .post,
                                        headers: [.contentType: FrameBatch.mediaType], body: body)
    }

    @Test func aFailedWALFsyncAnswers503StoreFailedUntilRestartAndHealthSaysWhy() async throws {
        let fs = FaultInjectingFileSystem()
        let server = try TestServer(configureStore: { $0.fileSystem = fs })
        try await server.app.test(.router) { client in
            #expect(try await post(client, 0).status == .created)
            fs.inject(.init(site: .sync, occurrence: 1, errno: EIO, pathContains: ".wal"))
            let failed = try await post(client, 1)
            #expect(failed.status == .serviceUnavailable)
            let error = try #require(try failed.body.json()["error"] as? [String: Any])
            #expect(error["code"] as? String == "store_failed")
            let message = try #require(error["message"] as? String)
            #expect(message.contains(".wal") && message.contains("errno 5"), "\(message)")
            // Refused afterwards although the disk "works" again.
            let again = try await post(client, 2)
            #expect(again.status == .serviceUnavailable)
            #expect((try again.body.json()["error"] as? [String: Any])?["code"] as? String == "store_failed")

            let health = try await client.execute(uri: "/healthz", method: .get)
            #expect(health.status == .serviceUnavailable)
            let body = try health.body.json()
            #expect(body["status"] as? String == "failed")
            #expect((body["error"] as? [String: Any])?["code"] as? String == "store_failed")
            let metrics = try await client.execute(uri: "/metrics", method: .get)
            #expect(metrics.body.string.contains("sinter_store_failed 1"))
            // Reads still answer: the record stored before the failure is there.
            let read = try await client.execute(uri: "/api/v1/machines/dmls-01/records", method: .get)
            #expect(read.status == .ok)
        }
        // Closing a stopped store reports why it stopped.
        await #expect(throws: StorageError.self) { try await server.store.close() }
        server.alerts.close()
    }

    @Test func aFullDiskAnswers503NoSpaceWithRetryAfterAndRecoversInPlace() async throws {
        let fs = FaultInjectingFileSystem()
        let server = try TestServer(configureStore: { $0.fileSystem = fs })
        try await server.withRouter { client in
            fs.inject(.init(site: .write, occurrence: 1, errno: ENOSPC, persistent: true, pathContains: ".wal"))
            let full = try await post(client, 0)
            #expect(full.status == .serviceUnavailable)
            #expect(full.headers[.retryAfter] == "30")
            let error = try #require(try full.body.json()["error"] as? [String: Any])
            #expect(error["code"] as? String == "no_space")
            #expect((error["message"] as? String)?.contains("No space left on device") == true)
            let health = try await client.execute(uri: "/healthz", method: .get)
            #expect(health.status == .ok)
            fs.clearFaults()
            #expect(try await post(client, 1).status == .created)
            let read = try await client.execute(uri: "/api/v1/machines/dmls-01/records", method: .get)
            #expect(read.body.string.contains("dmls-01@"))
        }
    }
}
