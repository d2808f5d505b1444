import CustomerIO
import EventQueue
import Foundation
import Hiredis
import Logging
import ServiceLifecycle
import Warehouse

/// The consumer loop of one worker in a consumer group: creates the group, then takes batches
/// (entries reclaimed from dead consumers first, then new ones), hands them to a processor and
/// repeats until shutdown. A batch in progress is finished before the loop stops.
public struct ConsumerLoop: Service {
    public let consumer: GroupConsumer
    public let reclaimInterval: Duration
    /// Pause after a batch that left entries for redelivery (the destination is unavailable).
    public let unavailablePause: Duration
    public let logger: Logger
    /// Runs once before the first read (and again after it failed): readies the destination.
    public let prepare: @Sendable () async throws -> Void
    /// Processes one batch; answers whether the destination was unavailable for some of it.
    public let process: @Sendable ([DeliveredEntry]) async throws -> Bool

    public init(
        consumer: GroupConsumer, reclaimInterval: Duration, unavailablePause: Duration, logger: Logger,
        prepare: @escaping @Sendable () async throws -> Void = {},
        process: @escaping @Sendable ([DeliveredEntry]) async throws -> Bool
    ) {
        self.consumer = consumer
        self.reclaimInterval = reclaimInterval
        self.unavailablePause = unavailablePause
        self.logger = logger
        self.prepare = prepare
        self.process = process
    }

    public func run() async throws {
        let group = consumer.configuration.group
        let metadata: Logger.Metadata = ["group": "\(group)", "consumer": "\(consumer.configuration.consumer)"]
        var lastReclaim: ContinuousClock.Instant?
        var groupReady = false
        logger.info("consumer started", metadata: metadata)
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                if !groupReady {
                    try await prepare()
                    try await consumer.createGroup()
                    groupReady = true
                }
                var batch: [DeliveredEntry] = []
                if lastReclaim.map({ ContinuousClock.now - $0 >= reclaimInterval }) ?? true {
                    batch = try await consumer.reclaim()
                    lastReclaim = .now
                    if !batch.isEmpty {
                        logger.notice("took over entries left pending", metadata: metadata.merging(["count": "\(batch.count)"]) { $1 })
                    }
                }
                if batch.isEmpty {
                    batch = try await consumer.readNew()
                }
                guard !batch.isEmpty else { continue }
                let start = ContinuousClock.now
                let unavailable = try await process(batch)
                logger.debug("batch processed", metadata: metadata.merging(["entries": "\(batch.count)", "elapsed": "\(ContinuousClock.now - start)"]) { $1 })
                if unavailable {
                    await pause(unavailablePause)
                }
            } catch {
                logger.error("consumer batch failed; its entries stay pending and are retried", metadata: metadata.merging(["error": "\(error)"]) { $1 })
                await pause(.seconds(1))
            }
        }
        await consumer.shutdown()
        logger.info("consumer stopped", metadata: metadata)
    }

    private func pause(_ duration: Duration) async {
        try? await cancelWhenGracefulShutdown {
            try await Task.sleep(for: duration)
        }
    }
}

/// Runs a piece of upkeep (trimming, refreshing gauges) at a fixed interval until shutdown.
public struct PeriodicService: Service {
    public let name: String
    public let interval: Duration
    public let logger: Logger
    public let work: @Sendable () async throws -> Void

    public init(name: String, interval: Duration, logger: Logger, work: @escaping @Sendable () async throws -> Void) {
        self.name = name
        self.interval = interval
        self.logger = logger
        self.work = work
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await work()
            } catch {
                logger.warning("\(name) failed; trying again in \(interval)", metadata: ["error": "\(error)"])
            }
            try? await cancelWhenGracefulShutdown {
                try await Task.sleep(for: interval)
            }
        }
    }
}

/// Closes a warehouse sink once the consumers that use it have stopped (it sits before them in the
/// `ServiceGroup`, which shuts services down in reverse order).
public struct SinkCloser: Service {
    public let sink: any EventSink

    public init(sink: any EventSink) {
        self.sink = sink
    }

    public func run() async throws {
        try? await gracefulShutdown()
        await sink.close()
    }
}

/// The workers of a process: a consumer loop per group it runs, plus stream upkeep.
public enum Workers {
    /// The services, in start order. The caller runs them and shuts the Redis client down after.
    public static func services(configuration: WorkerConfiguration, groups: [String], sink: (any EventSink)?, queue: EventQueue, logger: Logger) throws(RedisError) -> [any Service] {
        var services: [any Service] = []
        if let sink { services.append(SinkCloser(sink: sink)) }
        if groups.contains(ActionsWorker.group) {
            services.append(try ActionsWorker.loop(configuration: configuration, audit: sink, queue: queue, logger: logger))
        }
        if groups.contains(WarehouseWriter.group), let sink {
            // Several writers, each a consumer of its own in the group: while one waits for its
            // commit, the next batch is already being read and prepared.
            for index in 1...max(1, configuration.warehouseWriters) {
                var consumer = configuration.consumer
                consumer.group = WarehouseWriter.group
                consumer.batchSize = configuration.warehouseBatchSize
                if configuration.warehouseWriters > 1 { consumer.consumer += "-\(index)" }
                let writer = WarehouseWriter(consumer: try GroupConsumer(queue: queue, configuration: consumer), sink: sink, logger: logger)
                services.append(ConsumerLoop(consumer: writer.consumer, reclaimInterval: configuration.reclaimInterval, unavailablePause: configuration.unavailablePause, logger: logger) {
                    let applied = try await sink.migrate()
                    if !applied.isEmpty { logger.notice("warehouse schema migrated", metadata: ["versions": "\(applied)"]) }
                } process: { batch in
                    _ = try await writer.process(batch, now: Int64(Date().timeIntervalSince1970 * 1000))
                    return false  // the writer waits for the warehouse itself
                })
            }
        }
        return services + maintenance(queue: queue, configuration: configuration, logger: logger)
    }

    /// Trimming and the queue gauges; every worker runs them (they are idempotent).
    static func maintenance(queue: EventQueue, configuration: WorkerConfiguration, logger: Logger) -> [any Service] {
        [
            PeriodicService(name: "stream trim", interval: configuration.trimInterval, logger: logger) {
                let removed = try await queue.trimAcknowledged()
                if removed > 0 { logger.debug("trimmed acknowledged entries", metadata: ["count": "\(removed)"]) }
            },
            PeriodicService(name: "queue metrics", interval: configuration.monitorInterval, logger: logger) {
                let now = Int64(Date().timeIntervalSince1970 * 1000)
                for statistics in try await queue.groupStatistics() {
                    WorkerMetrics.record(statistics, nowMilliseconds: now)
                }
                WorkerMetrics.streamLengths(events: try await queue.length(of: queue.keys.events), dead: try await queue.length(of: queue.keys.dead))
            },
        ]
    }
}

/// The actions worker: policy, coalescing, Track API.
public enum ActionsWorker {
    public static let group = "actions"

    static func loop(configuration: WorkerConfiguration, audit: (any EventSink)?, queue: EventQueue, logger: Logger) throws(RedisError) -> ConsumerLoop {
        let consumer = try GroupConsumer(queue: queue, configuration: configuration.consumer)
        var clients: [String: TrackClient] = [:]
        for (workspace, track) in configuration.track {
            let budget = RateBudget(client: queue.client, prefix: queue.configuration.prefix, workspace: workspace, rate: configuration.rateLimit)
            clients[workspace] = TrackClient(configuration: track, gate: budget, logger: logger)
        }
        let processor = BatchProcessor(
            consumer: consumer,
            policy: configuration.policy,
            clients: clients,
            attributeGuard: AttributeGuard(client: queue.client, prefix: queue.configuration.prefix),
            audit: audit,
            logger: logger
        )
        return ConsumerLoop(consumer: consumer, reclaimInterval: configuration.reclaimInterval, unavailablePause: configuration.unavailablePause, logger: logger) { batch in
            let report = try await processor.process(batch, now: Int64(Date().timeIntervalSince1970 * 1000))
            return report.count(.retryLater) > 0
        }
    }
}
