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
    /// How long the claim on a batch in progress is renewed at most: a batch that has not ended
    /// by then is presumed hung, and its entries are left for another consumer to take over.
    public let maximumClaimRenewal: Duration
    public let logger: Logger
    /// Runs once before the first read (and again after it failed): readies the destination.
    public let prepare: @Sendable () async throws -> Void
    /// Processes one batch; answers whether the destination was unavailable for some of it.
    public let process: @Sendable ([DeliveredEntry]) async throws -> Bool

    public init(
        consumer: GroupConsumer, reclaimInterval: Duration, unavailablePause: Duration, logger: Logger,
        maximumClaimRenewal: Duration = .seconds(900),
        prepare: @escaping @Sendable () async throws -> Void = {},
        process: @escaping @Sendable ([DeliveredEntry]) async throws -> Bool
    ) {
        self.consumer = consumer
        self.reclaimInterval = reclaimInterval
        self.unavailablePause = unavailablePause
        self.maximumClaimRenewal = maximumClaimRenewal
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
                try RedisLayout.checkReadable(batch.lazy.map(\.entry))
                let start = ContinuousClock.now
                let unavailable = try await processKeepingClaims(batch, metadata: metadata)
                logger.debug(
                    "batch processed", metadata: metadata.merging(["entries": "\(batch.count)", "elapsed": "\(ContinuousClock.now - start)"]) { $1 })
                if unavailable {
                    await pause(unavailablePause)
                }
            } catch  where Self.writtenByANewerRelease(error) {
                // Retrying cannot help, and going on could misread entries or corrupt the
                // warehouse: stop the process. The batch stays pending for a newer worker.
                logger.critical("data written by a newer release", metadata: metadata.merging(["error": "\(error)"]) { $1 })
                await consumer.shutdown()
                throw error
            } catch {
                logger.error(
                    "consumer batch failed; its entries stay pending and are retried", metadata: metadata.merging(["error": "\(error)"]) { $1 })
                await pause(.seconds(1))
            }
        }
        await consumer.shutdown()
        logger.info("consumer stopped", metadata: metadata)
    }

    /// Processes a batch while renewing this consumer's claim on its entries every third of
    /// `reclaimIdle`, so that however long the destination makes it wait (up to
    /// `maximumClaimRenewal`), no other consumer takes the entries over while they are still being
    /// worked (they would be worked twice).
    private func processKeepingClaims(_ batch: [DeliveredEntry], metadata: Logger.Metadata) async throws -> Bool {
        let ids = batch.map(\.entry.id)
        let interval = consumer.configuration.reclaimIdle / 3
        let renewUntil = ContinuousClock.now + maximumClaimRenewal
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask {
                while true {
                    guard ContinuousClock.now + interval < renewUntil else {
                        logger.error(
                            "a batch is still in progress after \(maximumClaimRenewal): no longer keeping its claim, so that another consumer can take its entries over",
                            metadata: metadata)
                        return
                    }
                    try await Task.sleep(for: interval)
                    do {
                        let held = try await consumer.keepClaimed(ids)
                        if held < ids.count {
                            logger.warning(
                                "another consumer took over entries of a batch in progress",
                                metadata: metadata.merging(["lost": "\(ids.count - held)"]) { $1 })
                        }
                    } catch {
                        logger.warning("could not renew the claim on a batch in progress", metadata: metadata.merging(["error": "\(error)"]) { $1 })
                    }
                }
            }
            defer { tasks.cancelAll() }
            return try await process(batch)
        }
    }

    /// A warehouse schema or a Redis layout newer than this release.
    static func writtenByANewerRelease(_ error: any Error) -> Bool {
        switch error {
        case let error as WarehouseError: error.code == .schemaTooNew
        case is QueueLayoutError: true
        default: false
        }
    }

    private func pause(_ duration: Duration) async {
        try? await cancelWhenGracefulShutdown {
            try await Task.sleep(for: duration)
        }
    }
}
