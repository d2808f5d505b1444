import CustomerIO
import EventQueue
import Metrics
import RelayMetrics
import Warehouse

/// What happened to one event in the worker.
public enum ProcessingOutcome: String, Sendable, Hashable, CaseIterable {
    /// Its updates reached Customer.io.
    case applied
    /// The policy asks nothing for it (sent, delivered…), or a newer event already wrote everything.
    case noAction = "no_action"
    /// The event names no usable person (no cio_id, id or email).
    case skipped
    /// Dry run: logged and counted, not sent.
    case dryRun = "dry_run"
    /// Kept on the dead-letter stream (permanent failure, malformed, or delivered too often).
    case deadLettered = "dead_lettered"
    /// Customer.io unavailable: left pending, retried by redelivery.
    case retryLater = "retry_later"
    /// Another worker was writing the person, or a request of theirs without an answer may still
    /// land: left pending, retried by redelivery, without pausing the worker.
    case deferred
    /// Everything its updates would write is what cio-relay last wrote (within
    /// `CIO_RELAY_UNCHANGED_WINDOW`): no request was sent.
    case unchanged
}

/// The actions worker's and the queue upkeep's metrics, created through the factory they are given.
public struct WorkerMetrics: Sendable {
    public static let eventsProcessed = MetricDefinition(
        "cio_relay_events_processed_total", .counter, labels: ["group", "object_type", "metric", "outcome"],
        "Events the actions worker finished, by its consumer group, type, metric (unknown ones as other) and outcome: \(ProcessingOutcome.allCases.map(\.rawValue).joined(separator: ", "))"
    )
    public static let budgetWaits = MetricDefinition(
        "cio_relay_track_budget_waits_total", .counter, "Times a worker waited for a shared budget: the Track API's or the App API's")
    public static let unchangedAttributes = MetricDefinition(
        "cio_relay_unchanged_attributes_total", .counter,
        "Attribute writes left out because the value is the one cio-relay last wrote for the person (CIO_RELAY_UNCHANGED_WINDOW)")
    public static let personLeaseWaits = MetricDefinition(
        "cio_relay_person_lease_waits_total", .counter,
        "Times a worker waited because another worker was writing the same person (one write per person is in flight at a time)")
    public static let dryRunOperations = MetricDefinition(
        "cio_relay_track_dry_run_operations_total", .counter, labels: ["action"],
        "Track API operations a dry run logged instead of sending, by action")
    public static let groupLag = MetricDefinition(
        "cio_relay_group_lag", .gauge, labels: ["group"], "Stream entries not yet delivered to the consumer group")
    public static let groupPending = MetricDefinition(
        "cio_relay_group_pending", .gauge, labels: ["group"], "Entries delivered to the consumer group and not yet acknowledged")
    public static let oldestUnprocessedAge = MetricDefinition(
        "cio_relay_group_oldest_unprocessed_age_seconds", .gauge, labels: ["group"],
        "Age of the oldest event the consumer group has not finished, from its stream entry id")
    public static let streamLength = MetricDefinition(
        "cio_relay_stream_length", .gauge, "Entries on the events streams of every partition")
    public static let deadLetterLength = MetricDefinition(
        "cio_relay_dead_letter_length", .gauge, "Entries on the dead-letter streams of every partition")
    public static let partitionLag = MetricDefinition(
        "cio_relay_partition_lag", .gauge, labels: ["group", "partition"], "Entries of one partition's stream not yet delivered to the consumer group"
    )
    public static let partitionPending = MetricDefinition(
        "cio_relay_partition_pending", .gauge, labels: ["group", "partition"],
        "Entries of one partition delivered to the consumer group and not yet acknowledged")
    public static let partitionOldestUnprocessedAge = MetricDefinition(
        "cio_relay_partition_oldest_unprocessed_age_seconds", .gauge, labels: ["group", "partition"],
        "Age of the oldest event of one partition the consumer group has not finished")
    public static let partitionStreamLength = MetricDefinition(
        "cio_relay_partition_stream_length", .gauge, labels: ["partition"], "Entries on one partition's events stream")
    public static let fewestReplicas = MetricDefinition(
        "cio_relay_redis_fewest_replicas", .gauge,
        "The fewest replicas connected to any Redis primary the queue lives on (INFO replication); below cio_relay_redis_min_replicas, that primary's events are answered 503 (cio-relay status names it)"
    )
    public static let minReplicas = MetricDefinition(
        "cio_relay_redis_min_replicas", .gauge,
        "CIO_RELAY_REDIS_MIN_REPLICAS in force: replicas that must confirm each event before it is answered 200")
    public static let definitions = [
        eventsProcessed, budgetWaits, personLeaseWaits, unchangedAttributes, dryRunOperations, groupLag, groupPending, oldestUnprocessedAge,
        streamLength,
        deadLetterLength,
        partitionLag, partitionPending, partitionOldestUnprocessedAge, partitionStreamLength, fewestReplicas, minReplicas,
    ]

    private let factory: any MetricsFactory
    let budgetWaited: Counter
    private let personLeaseWaited: Counter
    private let unchangedAttributeWrites: Counter

    public init(factory: any MetricsFactory = MetricsSystem.factory) {
        self.factory = factory
        self.budgetWaited = Self.budgetWaits.counter(factory: factory)
        self.personLeaseWaited = Self.personLeaseWaits.counter(factory: factory)
        self.unchangedAttributeWrites = Self.unchangedAttributes.counter(factory: factory)
    }

    struct ProcessedKey: Hashable {
        let objectType: String
        let metric: String
        let outcome: ProcessingOutcome
    }

    func processed(_ counts: [ProcessedKey: Int], group: String) {
        for (key, count) in counts {
            // Unknown types and metrics are folded into "other" to keep the label set bounded.
            let knownMetrics = ObjectType.documentedMetrics[ObjectType(key.objectType)]
            let typeLabel = knownMetrics == nil ? "other" : key.objectType
            let metricLabel = knownMetrics?.contains(Metric(key.metric)) == true ? key.metric : "other"
            Self.eventsProcessed.counter(group, typeLabel, metricLabel, key.outcome.rawValue, factory: factory).increment(by: count)
        }
    }

    func unchanged(attributes count: Int) {
        if count > 0 { unchangedAttributeWrites.increment(by: count) }
    }

    func personLeaseWait() {
        personLeaseWaited.increment()
    }

    func dryRunOperation(_ action: String) {
        Self.dryRunOperations.counter(action, factory: factory).increment()
    }

    /// A group's totals, and each partition's figures.
    func record(_ statistics: GroupStatistics, nowMilliseconds: Int64) {
        func age(_ at: Int64?) -> Double { at.map { max(0, Double(nowMilliseconds - $0) / 1000) } ?? 0 }
        Self.groupLag.gauge(statistics.name, factory: factory).record(statistics.lag)
        Self.groupPending.gauge(statistics.name, factory: factory).record(statistics.pending)
        Self.oldestUnprocessedAge.gauge(statistics.name, factory: factory).record(age(statistics.oldestUnprocessedAt))
        for (partition, figures) in statistics.partitions.enumerated() {
            Self.partitionLag.gauge(statistics.name, "\(partition)", factory: factory).record(figures.lag)
            Self.partitionPending.gauge(statistics.name, "\(partition)", factory: factory).record(figures.pending)
            Self.partitionOldestUnprocessedAge.gauge(statistics.name, "\(partition)", factory: factory).record(age(figures.oldestUnprocessedAt))
        }
    }

    /// Stream lengths per partition (events) and in total (events and dead letters).
    func streamLengths(events: [Int], dead: Int) {
        Self.streamLength.gauge(factory: factory).record(events.reduce(0, +))
        for (partition, length) in events.enumerated() {
            Self.partitionStreamLength.gauge("\(partition)", factory: factory).record(length)
        }
        Self.deadLetterLength.gauge(factory: factory).record(dead)
    }

    /// The fewest connected replicas of any primary, beside the minimum in force.
    func replicas(_ primaries: [PrimaryReplicas], minimum: Int) {
        if let fewest = primaries.map(\.connectedReplicas).min() {
            Self.fewestReplicas.gauge(factory: factory).record(fewest)
        }
        Self.minReplicas.gauge(factory: factory).record(minimum)
    }
}

/// The warehouse writers' metrics: rows by outcome, batch latency, errors.
public struct WarehouseMetrics: Sendable {
    public static let rows = MetricDefinition(
        "cio_relay_warehouse_rows_total", .counter, labels: ["outcome"],
        "Warehouse rows by outcome: written, duplicate (the event_id was there already), rejected (dead-lettered)")
    public static let batchDuration = MetricDefinition(
        "cio_relay_warehouse_batch_duration_seconds", .histogram, "Time one warehouse batch took to commit")
    public static let errors = MetricDefinition(
        "cio_relay_warehouse_errors_total", .counter, "Warehouse batches that failed and were retried")
    public static let definitions = [rows, batchDuration, errors]

    private let factory: any MetricsFactory
    let batchTimer: Metrics.Timer
    let errorCounter: Counter

    public init(factory: any MetricsFactory = MetricsSystem.factory) {
        self.factory = factory
        self.batchTimer = Self.batchDuration.timer(factory: factory)
        self.errorCounter = Self.errors.counter(factory: factory)
    }

    func rows(_ outcome: RowOutcome.Kind, _ count: Int) {
        guard count > 0 else { return }
        Self.rows.counter(outcome.rawValue, factory: factory).increment(by: count)
    }
}
