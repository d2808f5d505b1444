import CustomerIO
import Foundation
import Receiver
import RelayMetrics
import RelaySettings
import Warehouse
import Worker

/// The reference tables of the docs, generated from the code's own tables so that they cannot
/// drift: `cio-relay config --markdown` writes the one of docs/configuration.md and
/// `cio-relay config --metrics-markdown` the one of docs/operations.md; a test compares both.
public enum ReferencePages {
    /// The settings table as Markdown. The default column shows what the settings hold when
    /// nothing is set, as loaded by the same code that reads a real environment.
    public static func configuration() -> String {
        let defaults = try? RelaySettings.load(environment: [:], roles: [.worker])
        var lines = [
            "| variable | YAML key | default | values | meaning |",
            "|---|---|---|---|---|",
        ]
        for setting in SettingsTable.all {
            let fallback = defaults.flatMap(setting.value).map { "`\($0)`" }
            let defaultText = setting.defaultNote ?? fallback ?? "—"
            lines.append(
                "| `\(setting.variable)` | \(setting.filePath.map { "`\($0.joined(separator: "."))`" } ?? "—") | \(defaultText) | \(setting.valuesDescription) | \(setting.summary.replacingOccurrences(of: "|", with: "\\|")) |"
            )
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Every metric family a process can export, by the component that records it.
    public static let metricDefinitions: [MetricDefinition] =
        ReceiverMetrics.definitions + WorkerMetrics.definitions + TrackMetrics.definitions + ForwardMetrics.definitions
        + WarehouseMetrics.definitions + BigQueryMetrics.definitions + [AdminRoutes.redisUpDefinition, BuildInfo.definition]
        + ProcessMetrics.definitions

    /// The metrics table as Markdown.
    public static func metrics() -> String {
        var lines = ["| metric | type | labels | meaning |", "|---|---|---|---|"]
        for definition in metricDefinitions {
            let labels = definition.labels.map { "`\($0)`" }.joined(separator: ", ")
            lines.append("| `\(definition.name)` | \(definition.kind.rawValue) | \(labels) | \(definition.help) |")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
