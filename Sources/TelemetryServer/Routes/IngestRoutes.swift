import Hummingbird
import HTTPTypes
import NIOCore
import StorageEngine
import TelemetryModel

/// `POST /api/v1/telemetry`: JSON (seed 000's shape or the full record shape, one object or an
/// array) or the binary batch `application/vnd.sinter.frames`.
///
/// The request holds an ingest-queue ticket from before its body is read until the store has
/// made the batch durable; the batch is stored all-or-nothing; duplicates are accepted and
/// stored once.
struct IngestRoutes {
    let server: ServerContext

    enum BodyFormat { case json, batch }

    func register(on router: Router<BasicRequestContext>) {
        router.post("/api/v1/telemetry") { request, context in
            try await ingest(request, context: context)
        }
    }

    static func bodyFormat(_ request: Request) throws -> BodyFormat {
        guard let raw = request.headers[.contentType] else {
            throw APIError(.unsupportedMediaType, code: "unsupported_media_type",
                           message: "Content-Type is required: application/json or \(FrameBatch.mediaType)",
                           field: "Content-Type")
        }
        let media = (raw.split(separator: ";").first.map(String.init) ?? "").filter { $0 != " " && $0 != "\t" }.lowercased()
        switch media {
        case "application/json", "text/json": return .json
        case FrameBatch.mediaType: return .batch
        default:
            throw APIError(.unsupportedMediaType, code: "unsupported_media_type",
                           message: "unsupported Content-Type \(MachineID.quoted(raw)); send application/json or \(FrameBatch.mediaType)",
                           field: "Content-Type")
        }
    }

    func ingest(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let format = try Self.bodyFormat(request)
        let limit = server.configuration.maximumBodySize
        var announced: Int?
        if let text = request.headers[.contentLength] {
            guard let n = Int(text), n >= 0 else {
                throw APIError(.badRequest, code: "invalid_header", message: "Content-Length is not a number", field: "Content-Length")
            }
            guard n <= limit else { throw Self.tooLarge(limit) }
            announced = n
        }
        guard let ticket = server.gate.tryAcquire(bytes: announced ?? limit) else {
            server.metrics.ingestRejected.increment()
            throw APIError(.serviceUnavailable, code: "overloaded",
                           message: "the ingest queue is full; retry after \(server.configuration.retryAfterSeconds) s",
                           headers: [.retryAfter: String(server.configuration.retryAfterSeconds)])
        }
        defer { server.gate.release(ticket) }
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: limit)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw Self.tooLarge(limit)
        } catch is NIOTooManyBytesError {
            // A chunked body (no Content-Length) that grew past the limit.
            throw Self.tooLarge(limit)
        }
        if body.readableBytes == 0 {
            throw APIError(.badRequest, code: "malformed_body", message: "the request body is empty", position: 0)
        }
        let maxRecords = server.configuration.maximumRecordsPerRequest
        let records: [TelemetryRecord] = try body.withUnsafeReadableBytes { bytes in
            switch format {
            case .json:
                return try mapping({ () throws(IngestError) in try JSONIngestParser.parse(bytes, maximumRecords: maxRecords) }) { APIError($0) }
            case .batch:
                return try mapping({ () throws(FrameBatchError) in try FrameBatch.decode(bytes, maximumRecords: maxRecords) }) { APIError($0) }
            }
        }
        guard !records.isEmpty else {
            throw APIError(.unprocessableContent, code: "no_records", message: "the request holds no records", field: "records")
        }
        let result: AppendResult
        do {
            result = try await server.store.append(records)
        } catch let error as ModelError {
            throw APIError.invalid(error)
        } catch let error as StorageError {
            throw APIError.storage(error)
        }
        server.metrics.ingestRecords.increment(by: Int64(records.count - result.duplicateCount))
        server.metrics.ingestDuplicates.increment(by: Int64(result.duplicateCount))
        server.metrics.ingestBytes.increment(by: Int64(body.readableBytes))
        server.feed.publish(records: records)

        var w = JSONWriter(capacity: 64 + result.ids.count * 40)
        w.beginObject()
        w.field("accepted", records.count)
        w.field("duplicates", result.duplicateCount)
        w.key("ids")
        w.beginArray()
        for id in result.ids { w.string(id.description) }
        w.endArray()
        w.endObject()
        return Response(status: .created, headers: [.contentType: "application/json"], body: .init(byteBuffer: w.buffer))
    }

    static func tooLarge(_ limit: Int) -> APIError {
        APIError(.contentTooLarge, code: "body_too_large",
                 message: "the request body is larger than the server's limit of \(limit) bytes; send smaller batches")
    }
}

extension APIError {
    init(_ error: IngestError) {
        switch error.kind {
        case .malformed:
            self.init(.badRequest, code: error.code, message: error.message, field: error.field, position: error.offset)
        case .invalid:
            self.init(.unprocessableContent, code: error.code, message: error.message, field: error.field, position: error.offset)
        }
    }

    init(_ error: FrameBatchError) {
        switch error.kind {
        case .malformed:
            self.init(.badRequest, code: error.code, message: error.message, field: error.field, position: error.offset)
        case .invalid:
            self.init(.unprocessableContent, code: error.code, message: error.message, field: error.field, position: error.offset)
        }
    }
}
