import Prometheus

/// A process's metrics: the registry its components record into, through a factory that gives
/// every family its `HELP` text, and what `/metrics` serves: the registry's families, then the
/// process metrics read from `/proc` at the moment of the scrape.
public struct MetricsExposition: Sendable {
    public let registry: PrometheusCollectorRegistry
    /// The factory to record through (the process bootstraps swift-metrics with it).
    public let factory: DocumentedMetricsFactory
    private let process = ProcessMetrics()

    /// - Parameter definitions: every family the process can record, for their `HELP` text.
    public init(definitions: [MetricDefinition]) {
        registry = PrometheusCollectorRegistry()
        factory = DocumentedMetricsFactory(registry: registry, definitions: definitions)
    }

    /// The Prometheus text format (version 0.0.4).
    public func render() -> [UInt8] {
        var bytes = registry.emitToBuffer()
        if let sample = process.read() {
            bytes.append(contentsOf: ProcessMetrics.exposition(sample).utf8)
        }
        return bytes
    }
}
