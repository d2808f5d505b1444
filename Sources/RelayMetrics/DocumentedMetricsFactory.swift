import CoreMetrics
import Prometheus

/// The swift-metrics factory of a process: a `PrometheusMetricsFactory` that also gives every family
/// the `HELP` text of its ``MetricDefinition``.
///
/// swift-prometheus's own factory registers every family with an empty `HELP`, and its registry
/// refuses a second registration of a name with another `HELP`, so the text cannot be added
/// afterwards: it has to go in at the first registration, which is what this factory does. A name
/// without a definition gets no `HELP`; `promtool check metrics` in the test command catches it.
public struct DocumentedMetricsFactory: Sendable {
    public let registry: PrometheusCollectorRegistry
    /// The `HELP` text of each family, by name.
    private let help: [String: String]
    /// The buckets of every duration histogram (`Timer`).
    private let durationBuckets: [Duration]
    /// Unregisters series; it holds the same registry.
    private let prometheus: PrometheusMetricsFactory

    public init(registry: PrometheusCollectorRegistry, definitions: [MetricDefinition], durationBuckets: [Duration] = Self.durationBuckets) {
        self.registry = registry
        self.help = Dictionary(definitions.map { ($0.name, $0.help) }, uniquingKeysWith: { first, _ in first })
        self.durationBuckets = durationBuckets
        self.prometheus = PrometheusMetricsFactory(registry: registry)
    }

    /// From 250 µs (a Redis round trip on loopback) to 5 s (a slow Track API call or warehouse batch).
    public static let durationBuckets: [Duration] = [
        .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
        .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
        .milliseconds(500), .seconds(1), .seconds(2), .seconds(5),
    ]

    /// The family `name` with its `HELP` text; names carry their unit already (`_seconds`,
    /// `_total`), so the descriptor adds none.
    private func descriptor(_ name: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help[name] ?? "")
    }
}

extension DocumentedMetricsFactory: CoreMetrics.MetricsFactory {
    public func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        registry.makeCounter(descriptor: descriptor(label), labels: dimensions)
    }

    public func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        registry.makeCounter(descriptor: descriptor(label), labels: dimensions)
    }

    public func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        guard aggregate else {
            return registry.makeGauge(descriptor: descriptor(label), labels: dimensions)
        }
        return registry.makeValueHistogram(descriptor: descriptor(label), labels: dimensions, buckets: prometheus.defaultValueHistogramBuckets)
    }

    public func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        registry.makeGauge(descriptor: descriptor(label), labels: dimensions)
    }

    public func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        registry.makeDurationHistogram(descriptor: descriptor(label), labels: dimensions, buckets: durationBuckets)
    }

    public func destroyCounter(_ handler: any CounterHandler) { prometheus.destroyCounter(handler) }
    public func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) { prometheus.destroyFloatingPointCounter(handler) }
    public func destroyRecorder(_ handler: any RecorderHandler) { prometheus.destroyRecorder(handler) }
    public func destroyMeter(_ handler: any MeterHandler) { prometheus.destroyMeter(handler) }
    public func destroyTimer(_ handler: any TimerHandler) { prometheus.destroyTimer(handler) }
}
