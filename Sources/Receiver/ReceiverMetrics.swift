import CustomerIO
import Metrics
import RelayMetrics

/// The receiver's Prometheus series (`cio_relay_` prefix, as DESIGN.md names them).
public struct ReceiverMetrics: Sendable {
    public static let webhooksReceived = MetricDefinition(
        "cio_relay_webhooks_received_total", .counter, labels: ["outcome"],
        "Webhook requests by outcome: \(IntakeOutcome.allCases.map(\.rawValue).joined(separator: ", "))")
    public static let enqueueDuration = MetricDefinition(
        "cio_relay_enqueue_duration_seconds", .histogram, "Time Redis took to dedup and enqueue (or dead-letter) one event")
    public static let definitions = [webhooksReceived, enqueueDuration]

    private let received: [IntakeOutcome: Counter]
    /// Time Redis took to dedup and enqueue (or dead-letter) one event.
    private let enqueueLatency: Timer

    public init(factory: any MetricsFactory = MetricsSystem.factory) {
        var received: [IntakeOutcome: Counter] = [:]
        for outcome in IntakeOutcome.allCases {
            received[outcome] = Self.webhooksReceived.counter(outcome.rawValue, factory: factory)
        }
        self.received = received
        self.enqueueLatency = Self.enqueueDuration.timer(factory: factory)
    }

    func recordEnqueue(since start: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - start
        enqueueLatency.recordNanoseconds(elapsed.nanoseconds)
    }

    func record(_ outcome: IntakeOutcome) {
        received[outcome]?.increment()
    }
}
