import Hummingbird
import HTTPTypes
import NIOCore
import StorageEngine
import TelemetryModel

/// The read side: machines, range queries (streamed), latest, one record (JSON, raw Float32 or
/// binary batch) and downsampled series.
struct QueryRoutes {
    let server: ServerContext

    func register(on router: Router<BasicRequestContext>) {
        router.get("/api/v1/machines") { _, _ in try await machines() }
        router.get("/api/v1/machines/{id}/records") { request, context in try await records(request, context: context) }
        router.get("/api/v1/machines/{id}/latest") { request, context in try await latest(request, context: context) }
        router.get("/api/v1/machines/{id}/series") { request, context in try await series(request, context: context) }
        router.get("/api/v1/records/{id}") { request, context in try await record(request, context: context) }
    }

    static func json(_ w: JSONWriter, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: w.buffer))
    }

    func machines() async throws -> Response {
        let store = server.store
        let list = try await server.blocking { store.machines() }
        var w = JSONWriter(capacity: 64 + list.count * 160)
        w.beginObject()
        w.key("machines")
        w.beginArray()
        for m in list { w.machine(m) }
        w.endArray()
        w.endObject()
        return Self.json(w)
    }

    func knownMachine(_ id: MachineID) async throws -> TelemetryStore.MachineSummary {
        let store = server.store
        guard let summary = try await server.blocking({ store.machine(id) }) else {
            throw APIError.notFound("no records for machine \(id.rawValue)", field: "machine_id")
        }
        return summary
    }

    /// `GET /api/v1/machines/{id}/records`: streams pages of records as they are read, so a large
    /// range is never buffered whole. `Accept: application/vnd.sinter.frames` answers a binary
    /// batch (frames included) instead of JSON.
    func records(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let machine = try context.parameters.machineID()
        let from = try request.queryTime("from") ?? .min
        let to = try request.queryTime("to") ?? .max
        guard from <= to else { throw APIError.badQuery("from", "from must not be after to") }
        let limit = try request.queryInt("limit", default: 1_000, range: 1...server.configuration.maximumQueryLimit)
        let order: TelemetryStore.Order
        switch request.queryString("order") ?? "asc" {
        case "asc", "ascending", "": order = .ascending
        case "desc", "descending": order = .descending
        case let other: throw APIError.badQuery("order", "order must be asc or desc; got \(MachineID.quoted(other))")
        }
        let binary = request.accepts(FrameBatch.mediaType)
        let includeFrame = try request.includesFrame() || binary
        _ = try await knownMachine(machine)

        // Pages as large as a store block: one store read answers a typical 100-frame query, and
        // a page with frames still holds only ~5 MB.
        let pageSize = includeFrame ? 128 : 512
        let store = server.store
        let server = self.server
        /// Reads the next page after `cursor` (exclusive), at most `count` records.
        @Sendable func page(after cursor: Timestamp?, count: Int, frames: Bool = includeFrame) async throws -> [TelemetryRecord] {
            var lo = from, hi = to
            if let cursor {
                switch order {
                case .ascending:
                    guard cursor < .max else { return [] }
                    lo = Swift.max(lo, cursor.advanced(byNanoseconds: 1))
                case .descending:
                    guard cursor > .min else { return [] }
                    hi = Swift.min(hi, cursor.advanced(byNanoseconds: -1))
                }
                if lo > hi { return [] }
            }
            let (l, h) = (lo, hi)
            return try await server.blocking {
                try store.records(machine: machine, from: l, to: h, limit: count, order: order, includeFrames: frames)
            }
        }
        /// A page with frames, decoded on both cores: the page's timestamps come from a cheap
        /// statistics read, then chunks of it are read with their frames concurrently on the
        /// thread pool and joined in order.
        @Sendable func framePage(after cursor: Timestamp?, count: Int) async throws -> [TelemetryRecord] {
            let stats = try await page(after: cursor, count: count, frames: false)
            let chunk = 32
            guard stats.count > chunk else { return try await page(after: cursor, count: count) }
            let bounds = stride(from: 0, to: stats.count, by: chunk).map { i in
                let j = Swift.min(i + chunk, stats.count) - 1
                let (a, b) = (stats[i].timestamp, stats[j].timestamp)
                return (lo: Swift.min(a, b), hi: Swift.max(a, b), n: j - i + 1)
            }
            let tasks = bounds.map { b in
                Task {
                    try await server.blocking {
                        try store.records(machine: machine, from: b.lo, to: b.hi, limit: b.n, order: order, includeFrames: true)
                    }
                }
            }
            var out: [TelemetryRecord] = []
            out.reserveCapacity(stats.count)
            for t in tasks { out += try await t.value }
            return out
        }

        if binary {
            let body = ResponseBody { writer in
                var sent = 0
                var cursor: Timestamp?
                var header = ByteBuffer()
                header.writeBytes(FrameBatch.streamingHeader())
                try await writer.write(header)
                while sent < limit {
                    let want = Swift.min(pageSize, limit - sent)
                    let batch = try await framePage(after: cursor, count: want)
                    guard let last = batch.last else { break }
                    // One copy into the buffer: the encoding minus its (non-streaming) header.
                    let encoded = FrameBatch.encode(batch)
                    var out = ByteBuffer()
                    out.writeBytes(encoded[FrameBatch.headerSize...])
                    try await writer.write(out)
                    sent += batch.count
                    cursor = last.timestamp
                    if batch.count < want { break }
                }
                try await writer.finish(nil)
            }
            return Response(status: .ok, headers: [.contentType: FrameBatch.mediaType], body: body)
        }

        let body = ResponseBody { writer in
            var w = JSONWriter(capacity: 256)
            w.beginObject()
            w.field("machine_id", machine.rawValue)
            w.field("order", order == .ascending ? "asc" : "desc")
            w.key("records")
            w.beginArray()
            var sent = 0
            var cursor: Timestamp?
            var more = false
            while sent < limit {
                let want = Swift.min(pageSize, limit - sent)
                // One extra record on the last page tells whether the range goes on.
                let batch = try await page(after: cursor, count: sent + want == limit ? want + 1 : want)
                let used = batch.prefix(want)
                for r in used { w.record(r, includeFrame: includeFrame) }
                sent += used.count
                cursor = used.last?.timestamp
                try await writer.write(w.buffer)
                w.buffer.clear()
                if batch.count > want { more = true; break }
                if batch.count < want { break }
            }
            w.endArray()
            w.field("count", sent)
            w.field("truncated", more)
            if more, let cursor {
                // Where to continue: the next page starts after the last record sent.
                let next = order == .ascending ? cursor.advanced(byNanoseconds: 1) : cursor.advanced(byNanoseconds: -1)
                w.field(order == .ascending ? "next_from" : "next_to", next)
            }
            w.endObject()
            try await writer.write(w.buffer)
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "application/json"], body: body)
    }

    func latest(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let machine = try context.parameters.machineID()
        let includeFrame = try request.includesFrame()
        let store = server.store
        guard let r = try await server.blocking({ try store.latest(machine: machine, includeFrame: includeFrame) }) else {
            throw APIError.notFound("no records for machine \(machine.rawValue)", field: "machine_id")
        }
        var w = JSONWriter(capacity: includeFrame ? 80_000 : 512)
        w.record(r, includeFrame: includeFrame)
        return Self.json(w)
    }

    /// `GET /api/v1/records/{id}`: JSON with the frame; `Accept: application/octet-stream` gives
    /// the raw Float32 little-endian frame; `Accept: application/vnd.sinter.frames` a batch of one.
    func record(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let text = context.parameters.decoded("id")
        let id: RecordID
        id = try mapping({ () throws(ModelError) in try RecordID(parsing: text) }) { error in APIError(.badRequest, code: "invalid_record_id",
                           message: error.message + " (for example dmls-01@1795255200000000000)",
                           field: "id")
        }
        let store = server.store
        guard let r = try await server.blocking({ try store.record(id: id, includeFrame: true) }) else {
            throw APIError.notFound("no record \(text)", field: "id")
        }
        if request.accepts("application/octet-stream") {
            guard let frame = r.frame else { throw APIError.notFound("record \(text) has no frame", field: "id") }
            var out = ByteBuffer()
            out.reserveCapacity(frame.values.count * 4)
            _ = frame.values.withUnsafeBytes { out.writeBytes($0) }
            return Response(status: .ok, headers: [
                .contentType: "application/octet-stream",
                HTTPField.Name("X-Frame-Width")!: String(frame.width),
                HTTPField.Name("X-Frame-Height")!: String(frame.height),
            ], body: .init(byteBuffer: out))
        }
        if request.accepts(FrameBatch.mediaType) {
            var out = ByteBuffer()
            out.writeBytes(FrameBatch.encode([r]))
            return Response(status: .ok, headers: [.contentType: FrameBatch.mediaType], body: .init(byteBuffer: out))
        }
        var w = JSONWriter(capacity: 80_000)
        w.record(r, includeFrame: true)
        return Self.json(w)
    }

    func series(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let machine = try context.parameters.machineID()
        guard let channel = request.queryString("channel"), !channel.isEmpty else {
            throw APIError.badQuery("channel", "channel is required (power_kw, vibration_mm_s, frame_mean, …)")
        }
        guard ChannelName.isValid(channel) else {
            throw APIError.badQuery("channel", "channel names are 1-64 characters of A-Z a-z 0-9 . _ -; got \(MachineID.quoted(channel))")
        }
        let summary = try await knownMachine(machine)
        let from = try request.queryTime("from") ?? summary.firstTimestamp
        let to = try request.queryTime("to") ?? summary.lastTimestamp
        guard from <= to else { throw APIError.badQuery("from", "from must not be after to") }
        let span = Double(to.nanoseconds) - Double(from.nanoseconds)
        let step: Duration
        if let text = request.queryString("step"), !text.isEmpty {
            guard let parsed = parseStep(text) else {
                throw APIError.badQuery("step", "step must be a positive duration such as 500ms, 10s, 5m, 1h, 1d or milliseconds; got \(MachineID.quoted(text))")
            }
            step = parsed
        } else {
            // About 500 buckets over the range, at least 1 ms.
            step = .nanoseconds(Swift.max(1_000_000, Int64(span / 500)))
        }
        let stepNs = Double(step.components.seconds) * 1e9 + Double(step.components.attoseconds) / 1e9
        let buckets = span / stepNs
        guard buckets <= Double(server.configuration.maximumSeriesBuckets) else {
            // `buckets` may be astronomically large: describe it without converting to Int.
            throw APIError.badQuery("step", "step \(request.queryString("step") ?? "") gives more than \(server.configuration.maximumSeriesBuckets) buckets over this range (the limit); use a larger step")
        }
        let store = server.store
        let result: [TelemetryStore.SeriesBucket]
        do {
            result = try await server.blocking { try store.series(machine: machine, channel: channel, from: from, to: to, step: step) }
        } catch let error as StorageError {
            throw APIError.storage(error)
        }
        var w = JSONWriter(capacity: 128 + result.count * 120)
        w.beginObject()
        w.field("machine_id", machine.rawValue)
        w.field("channel", channel)
        w.field("from", from)
        w.field("to", to)
        w.field("step_ms", stepNs / 1e6)
        w.key("buckets")
        w.beginArray()
        for b in result { w.bucket(b) }
        w.endArray()
        w.endObject()
        return Self.json(w)
    }
}
