import CustomerIO
import EventQueue
import Foundation
import Hiredis
import Logging
import Metrics
import ServiceLifecycle
import Warehouse

/// The workers of a process: a consumer loop per group it runs, plus stream upkeep.
public enum Workers {
    /// The services, in start order: the sink first, so that the `ServiceGroup`, which shuts down
    /// in reverse order, closes it after the consumers that use it. The caller runs the Redis client.
    public static func services(
        configuration: WorkerConfiguration, groups: [String], sink: (any EventSink)?, queue: EventQueue, logger: Logger,
        metricsFactory: any MetricsFactory = MetricsSystem.factory
    ) throws(RedisError) -> [any Service] {
        var services: [any Service] = []
        if let sink { services.append(sink) }
        let metrics = WorkerMetrics(factory: metricsFactory)
        if groups.contains(ActionsWorker.group) {
            services.append(
                try ActionsWorker.loop(
                    configuration: configuration, audit: sink, queue: queue, logger: logger,
                    metrics: metrics, trackMetrics: TrackMetrics(factory: metricsFactory)
                ))
        }
        let warehouseMetrics = WarehouseMetrics(factory: metricsFactory)
        if groups.contains(WarehouseWriter.group), let sink {
            // Several writers, each a consumer of its own in the group: while one waits for its
            // commit, the next batch is already being read and prepared.
            for index in 1...max(1, configuration.warehouseWriters) {
                var consumer = configuration.consumer
                consumer.group = WarehouseWriter.group
                consumer.batchSize = configuration.warehouseBatchSize
                if configuration.warehouseWriters > 1 { consumer.consumer += "-\(index)" }
                let writer = WarehouseWriter(
                    consumer: try GroupConsumer(queue: queue, configuration: consumer), sink: sink, logger: logger,
                    writeTimeout: configuration.warehouseTimeout, metrics: warehouseMetrics)
                services.append(
                    ConsumerLoop(
                        consumer: writer.consumer, reclaimInterval: configuration.reclaimInterval, unavailablePause: configuration.unavailablePause,
                        logger: logger
                    ) {
                        let applied = try await sink.migrate()
                        if !applied.isEmpty { logger.notice("warehouse schema migrated", metadata: ["versions": "\(applied)"]) }
                    } process: { batch in
                        _ = try await writer.process(batch, now: Int64(Date().timeIntervalSince1970 * 1000))
                        return false  // the writer waits for the warehouse itself
                    })
            }
        }
        let forwardMetrics = ForwardMetrics(factory: metricsFactory)
        for destination in configuration.forward where groups.contains(destination.group) {
            var consumer = configuration.consumer
            consumer.group = destination.group
            let forwarder = Forwarder(
                destination: destination, consumer: try GroupConsumer(queue: queue, configuration: consumer), logger: logger, metrics: forwardMetrics)
            forwardMetrics.circuit(open: false, destination: destination.name)
            services.append(
                ConsumerLoop(
                    consumer: forwarder.consumer, reclaimInterval: configuration.reclaimInterval, unavailablePause: configuration.unavailablePause,
                    logger: logger
                ) { batch in
                    // Failed deliveries wait for redelivery; the pause spares a failing destination.
                    try await forwarder.process(batch, now: Int64(Date().timeIntervalSince1970 * 1000)).count(.failed) > 0
                })
        }
        return services + maintenance(queue: queue, configuration: configuration, logger: logger, metrics: metrics)
    }

    /// Trimming, clean-up of consumers left behind and the queue gauges; every worker runs them
    /// (they are idempotent).
    static func maintenance(queue: EventQueue, configuration: WorkerConfiguration, logger: Logger, metrics: WorkerMetrics) -> [any Service] {
        [
            PeriodicService(name: "stream trim", interval: configuration.trimInterval, logger: logger) {
                let removed = try await queue.trimAcknowledged()
                if removed > 0 { logger.debug("trimmed acknowledged entries", metadata: ["count": "\(removed)"]) }
                let repaired = try await queue.repairLagCounters()
                if !repaired.isEmpty {
                    logger.notice(
                        "repaired Redis' lag counter of groups that had read everything", metadata: ["groups": "\(repaired.joined(separator: ","))"])
                }
                let consumers = try await queue.removeIdleConsumers(idleLongerThan: configuration.staleConsumerIdle)
                if !consumers.isEmpty {
                    logger.notice("removed idle consumers without pending entries", metadata: ["consumers": "\(consumers.joined(separator: ","))"])
                }
            },
            PeriodicService(name: "queue metrics", interval: configuration.monitorInterval, logger: logger) {
                let now = Int64(Date().timeIntervalSince1970 * 1000)
                for statistics in try await queue.groupStatistics() {
                    metrics.record(statistics, nowMilliseconds: now)
                }
                let lengths = try await queue.eachPartition { keys throws(RedisError) in try await queue.length(of: keys.events) }
                metrics.streamLengths(events: lengths, dead: try await queue.deadLetterCount())
                metrics.replicas(try await queue.primaryReplicas(), minimum: queue.client.configuration.minReplicas)
            },
        ]
    }
}
