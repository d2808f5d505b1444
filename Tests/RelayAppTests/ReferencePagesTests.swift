import CustomerIO
import Foundation
import Receiver
import RelayMetrics
@testable import RelayApp
import Testing
import Warehouse
import Worker

@Suite("Reference pages generated from the code")
struct ReferencePagesTests {
    /// The repository's root, from this file's place in it.
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The generated block of a docs page, between its markers.
    static func generatedBlock(of page: String, flag: String) throws -> String {
        let text = try String(contentsOf: root.appendingPathComponent(page), encoding: .utf8)
        let begin = "<!-- BEGIN GENERATED: cio-relay config \(flag) -->\n"
        let start = try #require(text.range(of: begin), "\(page) has no \(begin) marker")
        let end = try #require(text.range(of: "<!-- END GENERATED -->", range: start.upperBound..<text.endIndex))
        return String(text[start.upperBound..<end.lowerBound])
    }

    @Test func theConfigurationPageListsEverySettingAsTheCodeReadsIt() throws {
        let block = try Self.generatedBlock(of: "docs/configuration.md", flag: "--markdown")
        #expect(block == ReferencePages.configuration(), "docs/configuration.md is stale: run scripts/update-reference.sh")
    }

    @Test func theOperationsPageListsEveryMetric() throws {
        let block = try Self.generatedBlock(of: "docs/operations.md", flag: "--metrics-markdown")
        #expect(block == ReferencePages.metrics(), "docs/operations.md is stale: run scripts/update-reference.sh")
    }

    @Test func everySettingHasOneVariableAndOneFileKey() {
        let variables = SettingsTable.all.map(\.variable)
        #expect(Set(variables).count == variables.count)
        let paths = SettingsTable.all.compactMap(\.filePath).map { $0.joined(separator: ".") }
        #expect(Set(paths).count == paths.count)
        let names = ReferencePages.metricDefinitions.map(\.name)
        #expect(Set(names).count == names.count && names.allSatisfy { $0.hasPrefix("cio_relay_") || $0.hasPrefix("process_") })
    }

    /// Every setting that the file can set is read from the file: a value out of range in the file
    /// is refused with its line, so no table entry is documented but ignored.
    @Test(arguments: SettingsTable.all.filter { $0.filePath != nil })
    func everyFileKeyIsRead(setting: Setting) throws {
        let path = try #require(setting.filePath)
        let bad: String
        switch setting.kind {
        case .integer, .seconds, .number, .choice: bad = "not-valid"
        case .text, .secret: bad = "two words { }"
        }
        var yaml = "workspaces:\n  a:\n    signing_keys: [k]\n"
        var indent = ""
        for (index, key) in path.enumerated() {
            yaml += "\(indent)\(key):" + (index == path.count - 1 ? " \"\(bad)\"\n" : "\n")
            indent += "  "
        }
        let file = try writeConfigFile(yaml)
        let failure = settingsError(["CIO_RELAY_CONFIG": file])
        #expect(failure?.source.contains(path.joined(separator: ".")) == true, "\(setting.variable): \(String(describing: failure))")
    }

    @Test func theYAMLExampleOfTheConfigurationPageLoads() throws {
        let text = try String(contentsOf: Self.root.appendingPathComponent("docs/configuration.md"), encoding: .utf8)
        let section = try #require(text.range(of: "## The YAML file"))
        let start = try #require(text.range(of: "```yaml\n", range: section.upperBound..<text.endIndex))
        let end = try #require(text.range(of: "```", range: start.upperBound..<text.endIndex))
        let file = try writeConfigFile(String(text[start.upperBound..<end.lowerBound]))
        let settings = try RelaySettings.load(environment: [
            "CIO_RELAY_CONFIG": file, "CUSTOMERIO_WEBHOOK_SECRET": "current", "EU_TRACK_API_KEY": "key",
        ])
        #expect(settings.receiver.workspaces.keys.sorted() == ["default", "eu-brand"])
        #expect(settings.worker.track["eu-brand"]?.baseURL == "https://track-eu.customer.io")
        #expect(settings.worker.policy.rules.map(\.name) == ["email-bounced"])
        #expect(settings.warehouse == .postgres(url: "postgres://relay:secret@db:5432/events?sslmode=require"))
    }
}
