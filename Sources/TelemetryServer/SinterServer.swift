public import Hummingbird
public import Logging
import NIOCore
import ServiceLifecycle
public import StorageEngine
import TelemetryModel

/// The Sinter HTTP server: ingest, queries, alerts, live stream and operations over one store.
///
/// `SinterServer` owns nothing but wiring: build an application over an open ``TelemetryStore``
/// and ``AlertStore`` with ``makeApplication(configuration:store:alerts:logger:onServerRunning:)``
/// (tests do this, with `app.test(.router)`), or let ``run(configuration:logger:)`` open the
/// store, serve, and on SIGINT/SIGTERM stop accepting requests, end live streams, then flush and
/// close the store (a swift-service-lifecycle `ServiceGroup`).
///
/// ```swift
/// var configuration = ServerConfiguration()
/// configuration.port = 8080
/// try await SinterServer.run(configuration: configuration, logger: Logger(label: "sinter"))
/// ```
public enum SinterServer {
    /// The application over already-open stores. The caller closes the stores.
    public static func makeApplication(
        configuration: ServerConfiguration, store: TelemetryStore, alerts: AlertStore, logger: Logger,
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let context = ServerContext(configuration: configuration, store: store, alerts: alerts,
                                    metrics: ServerMetrics(), logger: logger)
        return makeApplication(context: context, onServerRunning: onServerRunning)
    }

    static func makeApplication(context server: ServerContext,
                                onServerRunning: @escaping @Sendable (Int) async -> Void) -> some ApplicationProtocol {
        let router = makeRouter(server)
        let alertsFeed = server.feed
        server.alerts.setObserver { alert in
            var w = JSONWriter(capacity: 512)
            w.alert(alert)
            alertsFeed.publish(alertFor: alert.machineID, json: w.buffer)
        }
        return Application(
            router: router,
            configuration: .init(address: .hostname(server.configuration.host, port: server.configuration.port),
                                 serverName: "sinter"),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? 0) },
            logger: server.logger
        )
    }

    static func makeRouter(_ server: ServerContext) -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: RequestLogMiddleware(metrics: server.metrics))
        if let token = server.configuration.token, !token.isEmpty {
            router.add(middleware: BearerTokenMiddleware(token: Array(token.utf8), protectReads: server.configuration.protectReads))
        }
        IngestRoutes(server: server).register(on: router)
        QueryRoutes(server: server).register(on: router)
        AlertRoutes(server: server).register(on: router)
        StreamRoutes(server: server).register(on: router)
        OperationsRoutes(server: server).register(on: router)
        DashboardRoutes().register(on: router)
        return router
    }

    /// Opens the store in `configuration.dataDirectory`, serves until SIGINT or SIGTERM, then
    /// shuts down gracefully: the listener closes, in-flight requests finish, live streams end,
    /// the store is flushed and closed.
    public static func run(configuration: ServerConfiguration, storeConfiguration: StoreConfiguration = StoreConfiguration(),
                           logger: Logger, onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        let metrics = ServerMetrics()
        var storeConfiguration = storeConfiguration
        let fsync = metrics.walFsync
        storeConfiguration.walSyncObserver = { elapsed in
            fsync.recordNanoseconds(elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
        }
        let store = try TelemetryStore.open(at: configuration.dataDirectory, configuration: storeConfiguration, logger: logger)
        let alerts: AlertStore
        do {
            alerts = try AlertStore.open(at: configuration.dataDirectory, logger: logger)
        } catch {
            try? await store.close()
            throw error
        }
        for problem in store.problems + alerts.problems {
            logger.warning("store.problem", metadata: ["problem": .string(problem.description)])
        }
        let context = ServerContext(configuration: configuration, store: store, alerts: alerts, metrics: metrics, logger: logger)
        let app = makeApplication(context: context, onServerRunning: onServerRunning)
        let group = ServiceGroup(configuration: .init(
            services: [
                .init(service: StoreService(server: context)),
                .init(service: app),
            ],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        ))
        try await group.run()
    }
}

/// Keeps the stores open while the server runs; on graceful shutdown (after the HTTP server,
/// which the group stops first) ends live streams, then flushes and closes the stores.
struct StoreService: Service {
    let server: ServerContext

    func run() async throws {
        try? await gracefulShutdown()
        server.feed.finishAll()
        server.logger.info("store.closing")
        do {
            try await server.store.flush()
            try await server.store.close()
        } catch {
            server.logger.error("store.close_failed", metadata: ["error": .string(String(describing: error))])
        }
        server.alerts.close()
        server.logger.info("store.closed")
    }
}
