import Hummingbird
import HTTPTypes
import NIOCore
import ServiceLifecycle
import TelemetryModel

/// `GET /api/v1/stream?machine=&include=frame`: new records and alert changes as Server-Sent
/// Events.
///
/// Events are `event: record` (the record's JSON, with frame statistics but not the frame
/// unless `include=frame`) and `event: alert` (the alert's JSON). An idle stream sends a
/// `: keep-alive` comment every ``ServerConfiguration/streamKeepAlive``. Streams end when the
/// client goes away or the server shuts down.
struct StreamRoutes {
    let server: ServerContext

    func register(on router: Router<BasicRequestContext>) {
        router.get("/api/v1/stream") { request, _ in try stream(request) }
    }

    func stream(_ request: Request) throws -> Response {
        let machine = try request.queryMachine("machine")
        let includeFrame = try request.includesFrame()
        let feed = server.feed
        let metrics = server.metrics
        let keepAlive = server.configuration.streamKeepAlive
        let body = ResponseBody { writer in
            let (id, events) = feed.subscribe(machine: machine)
            metrics.streamClients.record(Double(feed.subscriberCount))
            defer {
                feed.finish(id)
                metrics.streamClients.record(Double(feed.subscriberCount))
            }
            // Keep-alives come from a timer task that shares the writer through the event stream:
            // the writer is only ever used by this task.
            let (ticks, tick) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
            try await withGracefulShutdownHandler {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        while !Task.isCancelled {
                            try await Task.sleep(for: keepAlive)
                            tick.yield()
                        }
                    }
                    var hello = ByteBuffer()
                    hello.writeString(": sinter live stream\nretry: 2000\n\n")
                    try await writer.write(hello)
                    try await Self.pump(events: events, ticks: ticks, includeFrame: includeFrame) { buffer in
                        try await writer.write(buffer)
                    }
                    group.cancelAll()
                }
            } onGracefulShutdown: {
                feed.finish(id)
                tick.finish()
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [
            .contentType: "text/event-stream",
            .cacheControl: "no-cache",
        ], body: body)
    }

    /// Writes events as they come, and a keep-alive comment on each tick, until the event stream ends.
    static func pump(events: AsyncStream<LiveEvent>, ticks: AsyncStream<Void>, includeFrame: Bool,
                     write: (ByteBuffer) async throws -> Void) async throws {
        // Merge the two streams by polling both from child tasks into one channel.
        let (merged, input) = AsyncStream<LiveEvent?>.makeStream(bufferingPolicy: .bufferingNewest(1_024))
        let eventsTask = Task {
            for await e in events { input.yield(e) }
            input.finish()
        }
        let ticksTask = Task {
            for await _ in ticks { input.yield(nil) }
        }
        defer {
            eventsTask.cancel()
            ticksTask.cancel()
        }
        var sequence = 0
        for await item in merged {
            var out = ByteBuffer()
            guard let event = item else {
                out.writeString(": keep-alive\n\n")
                try await write(out)
                continue
            }
            sequence += 1
            switch event {
            case .record(var record):
                if let stats = record.frame?.statistics() {
                    for (k, v) in stats.channels { record.channels[k] = v }
                }
                var w = JSONWriter(capacity: includeFrame ? 80_000 : 512)
                w.record(record, includeFrame: includeFrame)
                out.writeString("id: \(sequence)\nevent: record\ndata: ")
                var json = w.buffer
                out.writeBuffer(&json)
            case .alert(_, let json):
                out.writeString("id: \(sequence)\nevent: alert\ndata: ")
                var copy = json
                out.writeBuffer(&copy)
            }
            out.writeString("\n\n")
            try await write(out)
        }
    }
}
