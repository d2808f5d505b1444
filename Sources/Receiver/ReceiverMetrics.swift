import CustomerIO
import Metrics

/// The receiver's Prometheus series (`cio_relay_` prefix, as DESIGN.md names them).
public struct ReceiverMetrics: Sendable {
    private let received: [IntakeOutcome: Counter]
    /// Time Redis took to dedup and enqueue (or dead-letter) one event.
    private let enqueueLatency: Timer

    public init(factory: any MetricsFactory = MetricsSystem.factory) {
        var received: [IntakeOutcome: Counter] = [:]
        for outcome in IntakeOutcome.allCases {
            received[outcome] = Counter(label: "cio_relay_webhooks_received_total", dimensions: [("outcome", outcome.rawValue)], factory: factory)
        }
        self.received = received
        self.enqueueLatency = Timer(label: "cio_relay_enqueue_duration_seconds", dimensions: [], factory: factory)
    }

    func recordEnqueue(since start: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - start
        enqueueLatency.recordNanoseconds(elapsed.nanoseconds)
    }

    func record(_ outcome: IntakeOutcome) {
        received[outcome]?.increment()
    }
}
