import Metrics

/// One metric family: its name, type, labels and meaning. Every component declares its families
/// as definitions and creates its series through them, so the name in `/metrics` and the row of
/// the metrics reference (docs/operations.md, generated) come from one place.
public struct MetricDefinition: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable {
        case counter
        case gauge
        /// A histogram of durations, in seconds.
        case histogram
    }

    public let name: String
    public let kind: Kind
    /// Label names, in the order the series carry them.
    public let labels: [String]
    /// What the family measures, as the reference and Prometheus' `HELP` show it.
    public let help: String

    public init(_ name: String, _ kind: Kind, labels: [String] = [], _ help: String) {
        self.name = name
        self.kind = kind
        self.labels = labels
        self.help = help
    }

    /// A counter of this family with the given label values, in the order of `labels`.
    public func counter(_ values: String..., factory: any MetricsFactory) -> Counter {
        Counter(label: name, dimensions: dimensions(values), factory: factory)
    }

    /// A gauge of this family with the given label values, in the order of `labels`.
    public func gauge(_ values: String..., factory: any MetricsFactory) -> Gauge {
        Gauge(label: name, dimensions: dimensions(values), factory: factory)
    }

    /// A duration histogram of this family with the given label values, in the order of `labels`.
    public func timer(_ values: String..., factory: any MetricsFactory) -> Metrics.Timer {
        Metrics.Timer(label: name, dimensions: dimensions(values), factory: factory)
    }

    private func dimensions(_ values: [String]) -> [(String, String)] {
        precondition(values.count == labels.count, "\(name) has labels \(labels), given \(values.count) values")
        return Array(zip(labels, values))
    }
}
