import Console
import EventQueue
import Hiredis
import Hummingbird
import Logging
import Metrics
import Receiver
import RelayMetrics
import RelaySettings
import ServiceLifecycle
import UnixSignals
import Warehouse
import Worker

/// Builds and runs `cio-relay serve`, `work` and `run`: the Redis client, the admin server, the
/// workers and the webhook server under one `ServiceGroup` that shuts down on SIGTERM or SIGINT
/// in reverse order: webhooks stop first, then the workers finish their batch, Redis closes last.
public enum RelayProcess {
    /// Installs JSON logging and the Prometheus registry, whose families carry the `HELP` text of
    /// their definitions, and records the build info; call once per process.
    public static func bootstrapObservability(level: Logger.Level) -> MetricsExposition {
        LoggingSystem.bootstrap { label in JSONLogHandler(label: label, level: level) }
        let exposition = MetricsExposition(definitions: ReferencePages.metricDefinitions)
        MetricsSystem.bootstrap(exposition.factory)
        BuildInfo.record(factory: exposition.factory)
        return exposition
    }

    /// Runs the services of `roles` until SIGTERM or SIGINT, then shuts them down in reverse order.
    /// - Parameters:
    ///   - settings: loaded and checked by `RelaySettings.load`.
    ///   - roles: `[.receiver]` for `serve`, `[.worker]` for `work`, both for `run`.
    ///   - exposition: the registry `bootstrapObservability` installed, served on `/metrics`.
    public static func run(settings: RelaySettings, roles: RelayRoles, exposition: MetricsExposition) async throws {
        let name = roles == [.receiver] ? "serve" : roles == [.worker] ? "work" : "run"
        let logger = Logger(label: "cio-relay")
        let client = try RedisClient(configuration: settings.redis)
        let queue = EventQueue(client: client, configuration: settings.queue)
        do {
            let version = try await RelayProcess.checkRedis(queue)
            logger.info("Redis \(version)", metadata: ["minimum": "\(RelayProcess.minimumRedis)", "layout": "\(RedisLayout.current)"])
        } catch let error as RedisError where error.code != .unknownMaster {
            // Redis may come later: the check is repeated before the groups are created. A master
            // name no Sentinel knows will not come: that stops start-up (below).
            logger.warning("could not check Redis yet", metadata: ["error": "\(error)"])
        } catch {
            await client.shutdown()
            throw error
        }
        // The worker's warehouse sink, made here so that the console can look events up in it.
        let sink = roles.contains(.worker) ? try settings.warehouse.makeSink(logger: logger) : nil
        let activity = ConsoleActivity(exposition: exposition)
        let console =
            settings.listeners.console
            ? ConsoleRoutes(
                queue: queue, groups: settings.groups, lookup: sink as? any EventLookup, warehouse: settings.warehouse,
                security: ConsoleSecurity(token: settings.listeners.adminToken), activity: activity, logger: logger
            ) : nil
        let adminServer = Application(
            router: AdminRoutes(redis: client, exposition: exposition, console: console).router(),
            configuration: .init(address: .hostname(settings.listeners.host, port: settings.listeners.adminPort), serverName: nil),
            logger: logger
        )
        var services: [any Service] = [
            client, activity, adminServer, GroupCreation(queue: queue, groups: settings.groups, retryInterval: .seconds(2), logger: logger),
        ]
        var metadata: Logger.Metadata = [
            "admin_port": "\(settings.listeners.adminPort)",
            "redis_tls": "\(settings.redis.tls.map(String.init(describing:)) ?? "off")",
            "redis": "\(SettingsTable.redisURL.value(settings) ?? "")",
            "key_prefix": "\(settings.queue.prefix)",
            "partitions": "\(settings.queue.partitions)",
            "min_replicas": "\(settings.redis.minReplicas)",
            "console": "\(!settings.listeners.console ? "off" : settings.listeners.adminToken == nil ? "read-only" : "token")",
            "groups": "\(settings.groups.joined(separator: ","))",
        ]
        if roles.contains(.worker) {
            let worker = settings.worker
            services += try Workers.services(configuration: worker, groups: settings.groups, sink: sink, queue: queue, logger: logger)
            metadata["warehouse"] = "\(settings.warehouse)"
            metadata["consumer"] = "\(worker.consumer.consumer)"
            metadata["policy"] = "\(settings.policySource)"
            metadata["track_rate_limit"] = "\(worker.rateLimit)"
            metadata["track_workspaces"] = "\(worker.track.keys.sorted().joined(separator: ","))"
            if worker.track["default"] == nil {
                logger.warning(
                    "no Track API credentials for the default workspace: the worker runs dry (logs and counts, sends nothing); set CUSTOMERIO_SITE_ID and CUSTOMERIO_TRACK_API_KEY to act"
                )
            }
        }
        if roles.contains(.receiver) {
            let webhooks = WebhookRoutes(configuration: settings.receiver, queue: queue, logger: logger)
            services.append(
                WebhookServer.make(
                    routes: webhooks, limits: settings.receiver.connections, host: settings.listeners.host, port: settings.listeners.webhookPort,
                    logger: logger))
            metadata["webhook_port"] = "\(settings.listeners.webhookPort)"
            metadata["workspaces"] = "\(settings.receiver.workspaces.keys.sorted().joined(separator: ","))"
            metadata["dedup_ttl_s"] = "\(settings.queue.dedupTTL.components.seconds)"
            metadata["timestamp_tolerance_s"] = "\(settings.receiver.timestampTolerance)"
            metadata["max_body_bytes"] = "\(settings.receiver.maxBodyBytes)"
            metadata["request_timeout"] = "\(settings.receiver.connections.requestTimeout)"
        }
        logger.info("cio-relay \(name) starting", metadata: metadata)
        let group = ServiceGroup(
            configuration: .init(
                // Shut down in reverse order: webhooks stop first, Redis closes last.
                services: services,
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            ))
        try await group.run()
        logger.info("cio-relay \(name) stopped")
    }
}
