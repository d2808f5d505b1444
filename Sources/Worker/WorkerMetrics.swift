import CustomerIO
import EventQueue
import Metrics

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
}

/// The worker's metrics, named as DESIGN.md lists them.
public enum WorkerMetrics {
    static let budgetWaits = Counter(label: "cio_relay_track_budget_waits_total")

    struct ProcessedKey: Hashable {
        let objectType: String
        let metric: String
        let outcome: ProcessingOutcome
    }

    static func processed(_ counts: [ProcessedKey: Int], group: String) {
        for (key, count) in counts {
            // Unknown types and metrics are folded into "other" to keep the label set bounded.
            let knownMetrics = ObjectType.documentedMetrics[ObjectType(key.objectType)]
            let typeLabel = knownMetrics == nil ? "other" : key.objectType
            let metricLabel = knownMetrics?.contains(Metric(key.metric)) == true ? key.metric : "other"
            Counter(label: "cio_relay_events_processed_total", dimensions: [
                ("group", group), ("object_type", typeLabel), ("metric", metricLabel), ("outcome", key.outcome.rawValue),
            ]).increment(by: count)
        }
    }

    static func dryRunOperation(_ action: String) {
        Counter(label: "cio_relay_track_dry_run_operations_total", dimensions: [("action", action)]).increment()
    }

    static func record(_ statistics: GroupStatistics, nowMilliseconds: Int64) {
        let dimensions = [("group", statistics.name)]
        Gauge(label: "cio_relay_group_lag", dimensions: dimensions).record(statistics.lag)
        Gauge(label: "cio_relay_group_pending", dimensions: dimensions).record(statistics.pending)
        let age = statistics.oldestUnprocessedAt.map { max(0, Double(nowMilliseconds - $0) / 1000) } ?? 0
        Gauge(label: "cio_relay_group_oldest_unprocessed_age_seconds", dimensions: dimensions).record(age)
    }

    static func streamLengths(events: Int, dead: Int) {
        Gauge(label: "cio_relay_stream_length").record(events)
        Gauge(label: "cio_relay_dead_letter_length").record(dead)
    }
}
