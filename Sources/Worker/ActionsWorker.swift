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
            let budget = RateBudget(client: queue.client, keys: queue.keys, workspace: workspace, rate: configuration.rateLimit, metrics: metrics)
            clients[workspace] = TrackClient(configuration: track, gate: budget, logger: logger, metrics: trackMetrics)
        }
        // A person is leased for one request's worth of time and what may follow it in the
        // network: a worker that died or lost Redis holds others up no longer than that.
        let settleTime = configuration.track.values.map(\.requestTimeout).max() ?? .seconds(10)
        let processor = BatchProcessor(
            consumer: consumer,
            policy: configuration.policy,
            clients: clients,
            attributeGuard: AttributeGuard(client: queue.client, layout: queue.layout, lease: settleTime * 3),
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
