import Metrics
import RelayMetrics

/// What the BigQuery sink sends: insertAll requests and their bytes (BigQuery bills streaming
/// inserts by volume, so the byte counter is also the ingestion bill's meter).
public struct BigQueryMetrics: Sendable {
    public static let requests = MetricDefinition(
        "cio_relay_bigquery_insert_requests_total", .counter, labels: ["status"],
        "BigQuery insertAll requests by HTTP status (transport_error when there was no answer)")
    public static let bytes = MetricDefinition(
        "cio_relay_bigquery_insert_bytes_total", .counter, "Bytes of insertAll request bodies sent to BigQuery")
    public static let definitions = [requests, bytes]

    private let factory: any MetricsFactory
    private let sent: Counter

    public init(factory: any MetricsFactory = MetricsSystem.factory) {
        self.factory = factory
        sent = Self.bytes.counter(factory: factory)
    }

    func request(status: Int?, bytes: Int) {
        Self.requests.counter(status.map(String.init) ?? "transport_error", factory: factory).increment()
        sent.increment(by: bytes)
    }
}
