import EventQueue
import Hiredis
import Hummingbird
import Logging
import Metrics
import Prometheus
import Receiver
import ServiceLifecycle

/// Builds and runs `cio-relay serve`: the webhook server, the admin server and the Redis client,
/// under one `ServiceGroup` that shuts down on SIGTERM or SIGINT: HTTP first, Redis last.
public enum RelayServer {
    /// Installs JSON logging and the Prometheus registry; call once per process.
    public static func bootstrapObservability(level: Logger.Level) -> PrometheusCollectorRegistry {
        LoggingSystem.bootstrap { label in JSONLogHandler(label: label, level: level) }
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
            .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
            .milliseconds(500), .seconds(1), .seconds(2), .seconds(5),
        ]
        MetricsSystem.bootstrap(factory)
        return registry
    }

    public static func serve(settings: RelaySettings, registry: PrometheusCollectorRegistry) async throws {
        let logger = Logger(label: "cio-relay")
        let client = try RedisClient(configuration: settings.redis)
        let queue = EventQueue(client: client, configuration: settings.queue)
        let webhooks = WebhookRoutes(configuration: settings.receiver, queue: queue)
        let webhookServer = Application(
            router: webhooks.router(),
            configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: nil),
            logger: logger
        )
        let adminServer = Application(
            router: AdminRoutes(redis: client, registry: registry).router(),
            configuration: .init(address: .hostname(settings.host, port: settings.adminPort), serverName: nil),
            logger: logger
        )
        logger.info("cio-relay serve starting", metadata: [
            "webhook_port": "\(settings.port)",
            "admin_port": "\(settings.adminPort)",
            "redis": "\(settings.redis.host):\(settings.redis.port)/\(settings.redis.database)",
            "workspaces": "\(settings.receiver.workspaces.keys.sorted().joined(separator: ","))",
            "dedup_ttl_s": "\(settings.queue.dedupTTL.components.seconds)",
            "timestamp_tolerance_s": "\(settings.receiver.timestampTolerance)",
            "max_body_bytes": "\(settings.receiver.maxBodyBytes)",
        ])
        let group = ServiceGroup(configuration: .init(
            // Shut down in reverse order: webhooks stop first, Redis closes last.
            services: [RedisClientService(client: client), adminServer, webhookServer],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        ))
        try await group.run()
        logger.info("cio-relay serve stopped")
    }
}
