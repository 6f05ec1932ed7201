import Hummingbird
import HTTPTypes
import NIOCore
import StorageEngine

/// `/healthz`, `/metrics` and `/openapi.json`.
struct OperationsRoutes {
    let server: ServerContext

    func register(on router: Router<BasicRequestContext>) {
        router.get("/healthz") { _, _ in try await health() }
        router.get("/metrics") { _, _ in try await metrics() }
        router.get("/openapi.json") { _, _ in
            var out = ByteBuffer()
            out.writeString(OpenAPIDocument.json)
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: out))
        }
    }

    /// 200 with the store's size and any problems found at open (status `degraded` when there
    /// are some); 503 with status `failed` and `{"error":{"code":"store_failed",…}}` naming the
    /// file and the cause when the store or the alert store no longer accepts writes.
    func health() async throws -> Response {
        let store = server.store
        let (stats, problems) = try await server.blocking { (store.statistics(), store.problems) }
        let failure = store.failure ?? server.alerts.failure
        let queue = server.gate.current
        var w = JSONWriter(capacity: 512)
        w.beginObject()
        w.field("status", failure != nil ? "failed" : problems.isEmpty ? "ok" : "degraded")
        if let failure {
            w.key("error")
            w.beginObject()
            w.field("code", "store_failed")
            w.field("message", failure.message)
            if let file = failure.file { w.field("field", file) }
            w.endObject()
        }
        w.field("uptime_s", Double((ContinuousClock.now - server.startedAt).components.seconds))
        w.field("machines", stats.machines)
        w.field("records", stats.records)
        w.field("segment_bytes", Int(stats.segmentBytes))
        w.field("wal_bytes", Int(stats.walBytes))
        w.field("ingest_queue_bytes", queue.bytes)
        w.field("ingest_queue_requests", queue.requests)
        w.field("stream_clients", server.feed.subscriberCount)
        w.key("problems")
        w.beginArray()
        for p in problems.prefix(100) { w.string(p.description) }
        w.endArray()
        w.key("alert_problems")
        w.beginArray()
        for p in server.alerts.problems.prefix(100) { w.string(p.description) }
        w.endArray()
        w.endObject()
        var response = QueryRoutes.json(w)
        if failure != nil { response.status = .serviceUnavailable }
        return response
    }

    func metrics() async throws -> Response {
        let store = server.store
        let (stats, problems) = try await server.blocking { (store.statistics(), store.problems.count) }
        server.metrics.updateStore(stats, problems: problems, failed: store.failure != nil || server.alerts.failure != nil)
        let queue = server.gate.current
        server.metrics.queueBytes.record(Double(queue.bytes))
        server.metrics.queueRequests.record(Double(queue.requests))
        server.metrics.streamClients.record(Double(server.feed.subscriberCount))
        var out = ByteBuffer()
        out.writeBytes(server.metrics.exposition())
        return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                        body: .init(byteBuffer: out))
    }
}
