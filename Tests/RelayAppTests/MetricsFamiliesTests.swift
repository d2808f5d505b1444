import Metrics
import RelayApp
import RelayMetrics
import Testing

@Suite("Metric families")
struct MetricsFamiliesTests {
    @Test func everyFamilyIsDocumentedAndHasHelpAndType() throws {
        let exposition = MetricsExposition(definitions: ReferencePages.metricDefinitions)
        for definition in ReferencePages.metricDefinitions where !definition.name.hasPrefix("process_") {
            let values = definition.labels.map { _ in "x" }
            switch definition.kind {
            case .counter: Counter(label: definition.name, dimensions: Array(zip(definition.labels, values)), factory: exposition.factory).increment()
            case .gauge: Gauge(label: definition.name, dimensions: Array(zip(definition.labels, values)), factory: exposition.factory).record(1)
            case .histogram:
                Metrics.Timer(label: definition.name, dimensions: Array(zip(definition.labels, values)), factory: exposition.factory).recordSeconds(1)
            }
        }
        let lines = String(decoding: exposition.render(), as: UTF8.self).split(separator: "\n")
        var types: [String: String] = [:]
        var helped: Set<String> = []
        for line in lines where line.hasPrefix("# ") {
            let parts = line.split(separator: " ", maxSplits: 3).map(String.init)
            if parts[1] == "TYPE" { types[parts[2]] = parts[3] }
            if parts[1] == "HELP", parts.count == 4, !parts[3].isEmpty { helped.insert(parts[2]) }
        }
        let documented = Dictionary(uniqueKeysWithValues: ReferencePages.metricDefinitions.map { ($0.name, $0.kind.rawValue) })
        #expect(types == documented, "exported families and types differ from the reference")
        #expect(helped == Set(documented.keys), "families without HELP: \(Set(documented.keys).subtracting(helped).sorted())")
    }
}
