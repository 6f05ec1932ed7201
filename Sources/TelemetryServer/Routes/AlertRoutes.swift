import Foundation
import Hummingbird
import HTTPTypes
import NIOCore
import StorageEngine
import TelemetryModel

/// The alert lifecycle: raise (`POST /api/v1/alerts`), list, acknowledge, resolve.
///
/// Raising is idempotent: while an alert for the same machine and rule is open, raising it again
/// answers 200 with the open alert instead of 201 with a new one, so a detector may re-raise on
/// every tick and clients may retry. If the new severity, message or details differ, the open
/// alert is updated first (`updated_at`, `updates`) and the live stream announces it.
struct AlertRoutes {
    let server: ServerContext

    func register(on router: Router<BasicRequestContext>) {
        router.post("/api/v1/alerts") { request, _ in try await raise(request) }
        router.get("/api/v1/alerts") { request, _ in try await list(request) }
        router.post("/api/v1/alerts/{id}/ack") { request, context in try await change(request, context: context, resolve: false) }
        router.post("/api/v1/alerts/{id}/resolve") { request, context in try await change(request, context: context, resolve: true) }
    }

    /// The body of `POST /api/v1/alerts`.
    struct RaiseBody: Decodable {
        var machine_id: String
        var rule: String
        var severity: String
        var message: String
        var timestamp: String?
        var details: [String: Double]?
    }

    /// The optional body of ack and resolve.
    struct ChangeBody: Decodable {
        var by: String?
        var note: String?
    }

    static func decode<T: Decodable>(_ type: T.Type, from body: ByteBuffer) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(body.readableBytesView))
        } catch let DecodingError.keyNotFound(key, ctx) {
            let path = (ctx.codingPath + [key]).map(\.stringValue).joined(separator: ".")
            throw APIError(.unprocessableContent, code: "missing_field", message: "\(path) is required", field: path)
        } catch let DecodingError.typeMismatch(_, ctx), let DecodingError.valueNotFound(_, ctx) {
            let path = ctx.codingPath.map(\.stringValue).joined(separator: ".")
            throw APIError(.unprocessableContent, code: "invalid_field", message: "\(path) has the wrong type: \(ctx.debugDescription)", field: path)
        } catch {
            throw APIError(.badRequest, code: "malformed_body", message: "the body is not valid JSON: \(error)")
        }
    }

    static func requireJSON(_ request: Request, optional: Bool) throws {
        guard let raw = request.headers[.contentType] else {
            if optional { return }
            throw APIError(.unsupportedMediaType, code: "unsupported_media_type", message: "Content-Type must be application/json", field: "Content-Type")
        }
        guard raw.lowercased().hasPrefix("application/json") else {
            throw APIError(.unsupportedMediaType, code: "unsupported_media_type",
                           message: "Content-Type must be application/json; got \(MachineID.quoted(raw))", field: "Content-Type")
        }
    }

    func raise(_ request: Request) async throws -> Response {
        try Self.requireJSON(request, optional: false)
        let body = try await collect(request)
        let dto = try Self.decode(RaiseBody.self, from: body)
        let machine: MachineID
        machine = try mapping({ () throws(ModelError) in try MachineID(dto.machine_id) }, { APIError.invalid($0) })
        guard let severity = Alert.Severity(rawValue: dto.severity) else {
            throw APIError(.unprocessableContent, code: "invalid_field",
                           message: "severity must be info, warning or critical; got \(MachineID.quoted(dto.severity))", field: "severity")
        }
        var raisedAt: Timestamp?
        if let text = dto.timestamp {
            raisedAt = try mapping({ () throws(ModelError) in try Timestamp(parsing: text) }, { APIError.invalid($0) })
        }
        let new = NewAlert(machineID: machine, rule: dto.rule, severity: severity, message: dto.message,
                           raisedAt: raisedAt, details: dto.details ?? [:])
        try mapping({ () throws(ModelError) in try new.validate() }, { APIError.invalid($0) })
        let alerts = server.alerts
        let (alert, created) = try await mapStorage { try await server.blocking { try alerts.raise(new) } }
        var w = JSONWriter(capacity: 512)
        w.alert(alert)
        return QueryRoutes.json(w, status: created ? .created : .ok)
    }

    func list(_ request: Request) async throws -> Response {
        let machine = try request.queryMachine("machine")
        let active = try request.queryBool("active")
        let from = try request.queryTime("from")
        let to = try request.queryTime("to")
        let limit = try request.queryInt("limit", default: 1_000, range: 1...100_000)
        let alerts = server.alerts
        let list = alerts.alerts(machine: machine, active: active, from: from, to: to, limit: limit)
        var w = JSONWriter(capacity: 64 + list.count * 400)
        w.beginObject()
        w.key("alerts")
        w.beginArray()
        for a in list { w.alert(a) }
        w.endArray()
        w.endObject()
        return QueryRoutes.json(w)
    }

    func change(_ request: Request, context: BasicRequestContext, resolve: Bool) async throws -> Response {
        let text = context.parameters.decoded("id")
        guard let id = AlertID(text) else { throw APIError.notFound("no alert \(MachineID.quoted(text))", field: "id") }
        try Self.requireJSON(request, optional: true)
        let body = try await collect(request)
        let dto = body.readableBytes == 0 ? ChangeBody() : try Self.decode(ChangeBody.self, from: body)
        let alerts = server.alerts
        let alert = try await mapStorage {
            try await server.blocking {
                resolve ? try alerts.resolve(id: id, by: dto.by, note: dto.note)
                    : try alerts.acknowledge(id: id, by: dto.by, note: dto.note)
            }
        }
        var w = JSONWriter(capacity: 512)
        w.alert(alert)
        return QueryRoutes.json(w)
    }

    func collect(_ request: Request) async throws -> ByteBuffer {
        do {
            return try await request.body.collect(upTo: 64 << 10)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw APIError(.contentTooLarge, code: "body_too_large", message: "alert bodies are at most 64 KiB")
        } catch is NIOTooManyBytesError {
            throw APIError(.contentTooLarge, code: "body_too_large", message: "alert bodies are at most 64 KiB")
        }
    }

    func mapStorage<T>(_ body: () async throws -> T) async throws -> T {
        do { return try await body() } catch let error as StorageError {
            throw APIError.storage(error)
        } catch let error as ModelError {
            throw APIError.invalid(error)
        }
    }
}

extension JSONWriter {
    mutating func alert(_ a: Alert) {
        beginObject()
        field("id", a.id.description)
        field("machine_id", a.machineID.rawValue)
        field("rule", a.rule)
        field("severity", a.severity.rawValue)
        field("message", a.message)
        field("state", a.state.rawValue)
        field("active", a.state != .resolved)
        field("raised_at", a.raisedAt)
        field("acknowledged_at", a.acknowledgedAt)
        field("acknowledged_by", a.acknowledgedBy)
        field("resolved_at", a.resolvedAt)
        field("resolved_by", a.resolvedBy)
        field("note", a.note)
        field("updated_at", a.updatedAt)
        field("updates", a.updates)
        key("details")
        beginObject()
        for k in a.details.keys.sorted() { field(k, a.details[k] ?? .nan) }
        endObject()
        endObject()
    }
}
