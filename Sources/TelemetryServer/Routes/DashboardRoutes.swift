import Hummingbird
import HTTPTypes
import NIOCore

/// `GET /` and `GET /dashboard/{file}`: the dashboard, a single page of plain HTML, CSS and
/// JavaScript compiled into the server (SwiftPM `embedInCode` resources), so the binary serves it
/// wherever it runs, with no files to install and no third-party code.
///
/// The page reads only the public API: `/api/v1/machines`, `/records`, `/series`,
/// `/records/{id}` (raw frames), `/alerts` and the live stream `/api/v1/stream`.
struct DashboardRoutes {
    /// One embedded file.
    struct Asset: Sendable {
        let contentType: String
        let bytes: [UInt8]
    }

    /// The files under `/dashboard/`, by name.
    static let assets: [String: Asset] = [
        "dashboard.js": Asset(contentType: "text/javascript; charset=utf-8", bytes: PackageResources.dashboard_js),
        "dashboard.css": Asset(contentType: "text/css; charset=utf-8", bytes: PackageResources.dashboard_css),
    ]
    static let index = Asset(contentType: "text/html; charset=utf-8", bytes: PackageResources.index_html)

    func register(on router: Router<BasicRequestContext>) {
        router.get("/") { _, _ in Self.response(Self.index) }
        router.get("/dashboard/{file}") { _, context in
            let name = context.parameters.get("file") ?? ""
            guard let asset = Self.assets[name] else {
                throw APIError(.notFound, code: "not_found", message: "no dashboard file named \(name)", field: "file")
            }
            return Self.response(asset)
        }
    }

    static func response(_ asset: Asset) -> Response {
        var out = ByteBuffer()
        out.writeBytes(asset.bytes)
        return Response(status: .ok, headers: [
            .contentType: asset.contentType,
            .cacheControl: "no-cache",
        ], body: .init(byteBuffer: out))
    }
}
