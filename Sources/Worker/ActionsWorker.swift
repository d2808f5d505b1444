import CustomerIO
import EventQueue
import Foundation
import Hiredis
import Logging
import ServiceLifecycle
import Warehouse

/// The actions worker: policy, coalescing, Track API.
public enum ActionsWorker {
    public static let group = "actions"

    static func loop(
        configuration: WorkerConfiguration, audit: (any EventSink)?, queue: EventQueue, logger: Logger, metrics: WorkerMetrics,
        trackMetrics: TrackMetrics
    ) throws(RedisError) -> ConsumerLoop {
        let consumer = try GroupConsumer(queue: queue, configuration: configuration.consumer)
        var clients: [String: TrackClient] = [:]
        for (workspace, track) in configuration.track {
            let budget = RateBudget(
                client: queue.client, key: queue.keys.rateBudget(workspace: workspace), rate: configuration.rateLimit, metrics: metrics)
            clients[workspace] = TrackClient(configuration: track, gate: budget, logger: logger, metrics: trackMetrics)
        }
        var appClients: [String: ESPSuppressionClient] = [:]
        for (workspace, app) in configuration.appAPI {
            let budget = RateBudget(
                client: queue.client, key: queue.keys.appAPIRateBudget(workspace: workspace), rate: configuration.appAPIRateLimit, metrics: metrics)
            appClients[workspace] = ESPSuppressionClient(configuration: app, gate: budget, logger: logger, metrics: trackMetrics)
        }
        if configuration.policy.suppressesAtTheESP {
            for workspace in configuration.track.keys.sorted() where appClients[workspace] == nil {
                logger.warning(
                    "the policy suppresses addresses at the ESP (esp_suppress), but this workspace has no App API key: those suppressions run dry",
                    metadata: ["workspace": "\(workspace)"])
            }
        }
        // A person is leased for one request's worth of time and what may follow it in the
        // network: a worker that died or lost Redis holds others up no longer than that.
        let settleTime = configuration.track.values.map(\.requestTimeout).max() ?? .seconds(10)
        let attributeGuard = AttributeGuard(client: queue.client, layout: queue.layout, lease: settleTime * 3)
        let processor = BatchProcessor(
            consumer: consumer,
            policy: configuration.policy,
            clients: clients,
            appClients: appClients,
            attributeGuard: attributeGuard,
            unchangedAttributes: UnchangedAttributes(client: queue.client, attributeGuard: attributeGuard, window: configuration.unchangedWindow),
            audit: audit,
            settleTime: settleTime,
            lateWindow: configuration.trackLateWindow,
            logger: logger,
            metrics: metrics
        )
        return ConsumerLoop(
            consumer: consumer, reclaimInterval: configuration.reclaimInterval, unavailablePause: configuration.unavailablePause, logger: logger
        ) { batch in
            let report = try await processor.process(batch, now: Int64(Date().timeIntervalSince1970 * 1000))
            return report.count(.retryLater) > 0
        }
    }
}
