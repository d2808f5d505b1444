import CustomerIO
import EventQueue
import Hiredis
import Logging
import Metrics
import ServiceLifecycle
import Warehouse

/// The `warehouse` consumer group's work: every event becomes one row. A batch is written in one
/// transaction and acknowledged only after the commit. While the warehouse is unreachable the
/// batch is retried in place with backoff (its entries stay pending, and no delivery is counted
/// against them); a row the database refuses goes to the dead letters, the rest of its batch lands.
public struct WarehouseWriter: Sendable {
    public static let group = "warehouse"

    public let consumer: GroupConsumer
    public let sink: any EventSink
    public let logger: Logger
    public let initialBackoff: Duration
    public let maximumBackoff: Duration
    /// How long one write of a batch may take before it is abandoned and tried again.
    public let writeTimeout: Duration
    let metrics: WarehouseMetrics

    public init(
        consumer: GroupConsumer, sink: any EventSink, logger: Logger, initialBackoff: Duration = .milliseconds(500),
        maximumBackoff: Duration = .seconds(30), writeTimeout: Duration = .seconds(60), metrics: WarehouseMetrics = WarehouseMetrics()
    ) {
        self.metrics = metrics
        self.writeTimeout = writeTimeout
        self.consumer = consumer
        self.sink = sink
        self.logger = logger
        self.initialBackoff = initialBackoff
        self.maximumBackoff = maximumBackoff
    }

    /// What became of a batch; empty when the process was stopped before the warehouse came back.
    public struct Report: Sendable, Hashable {
        public var written = 0
        public var duplicates = 0
        public var deadLettered = 0
        /// The warehouse never took the batch before shutdown: nothing acknowledged.
        public var interrupted = false
    }

    /// Writes a batch as rows in one transaction, then acknowledges it; rows the warehouse refuses
    /// for their content become dead letters, and a warehouse that does not answer leaves the whole
    /// batch pending.
    /// - Parameters:
    ///   - now: milliseconds since the Unix epoch, the received time of entries that carry none.
    public func process(_ batch: [DeliveredEntry], now: Int64) async throws(RedisError) -> Report {
        var report = Report()
        var rows: [WarehouseRow] = []
        var entries: [DeliveredEntry] = []
        for delivered in batch {
            let entry = delivered.entry
            if delivered.deliveries > consumer.configuration.maxDeliveries {
                try await deadLetter(
                    delivered, reason: .maxDeliveries,
                    error: "delivered \(delivered.deliveries) times without being stored (limit \(consumer.configuration.maxDeliveries))", now: now,
                    report: &report)
                continue
            }
            let queued = entry.event
            do {
                let event = try WebhookEvent.parse(queued.body)
                rows.append(
                    WarehouseRow(
                        event: event, workspace: queued.workspace, receivedAt: queued.receivedAt ?? entry.addedAt ?? now,
                        body: String(decoding: queued.body, as: UTF8.self)))
                entries.append(delivered)
            } catch {
                try await deadLetter(delivered, reason: .malformed, error: error.message, now: now, report: &report)
            }
        }
        guard let outcomes = await writeRetrying(rows) else {
            report.interrupted = true
            return report
        }
        var done: [String] = []
        for (delivered, outcome) in zip(entries, outcomes) {
            switch outcome {
            case .written:
                report.written += 1
                done.append(delivered.entry.id)
            case .duplicate:
                report.duplicates += 1
                done.append(delivered.entry.id)
            case .rejected(let message):
                try await deadLetter(delivered, reason: .warehouseRejected, error: message, now: now, report: &report)
            }
        }
        try await consumer.acknowledge(done)
        metrics.rows(.written, report.written)
        metrics.rows(.duplicate, report.duplicates)
        metrics.rows(.rejected, report.deadLettered)
        return report
    }

    /// Writes until the warehouse takes the batch; nil when shutdown came first.
    private func writeRetrying(_ rows: [WarehouseRow]) async -> [RowOutcome]? {
        var delay = initialBackoff
        while true {
            let start = ContinuousClock.now
            let sink = self.sink
            let written = await withDeadline(writeTimeout) { () -> Result<[RowOutcome], WarehouseError> in
                do throws(WarehouseError) {
                    return .success(try await sink.write(rows))
                } catch {
                    return .failure(error)
                }
            }
            let failure: String
            switch written {
            case .success(let outcomes)?:
                metrics.batchTimer.recordNanoseconds((ContinuousClock.now - start).nanoseconds)
                return outcomes
            case .failure(let error)?:
                failure = "\(error)"
            case nil:
                // Written again: a write that did land meanwhile makes its rows duplicates, not twice.
                failure = "the write did not finish within \(writeTimeout) (CIO_RELAY_WAREHOUSE_TIMEOUT); abandoned"
            }
            metrics.errorCounter.increment()
            logger.error(
                "warehouse unavailable; the batch stays pending and is retried",
                metadata: ["error": "\(failure)", "rows": "\(rows.count)", "retry_in": "\(delay)"])
            if Task.isShuttingDownGracefully || Task.isCancelled { return nil }
            let wait = delay
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: wait) }
            if Task.isShuttingDownGracefully || Task.isCancelled { return nil }
            delay = min(delay * 2, maximumBackoff)
        }
    }

    private func deadLetter(_ delivered: DeliveredEntry, reason: DeadLetterReason, error: String, now: Int64, report: inout Report)
        async throws(RedisError)
    {
        try await consumer.deadLetter(delivered, reason: reason, error: error, now: now)
        report.deadLettered += 1
        logger.error(
            "event moved to the dead letters",
            metadata: ["group": "\(consumer.configuration.group)", "entry": "\(delivered.entry.id)", "reason": "\(reason.rawValue)"])
    }
}
