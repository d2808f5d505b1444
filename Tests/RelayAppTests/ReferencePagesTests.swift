import CustomerIO
import Foundation
import Receiver
import RelayMetrics
import RelaySettings
import Testing
import Warehouse
import Worker

@testable import RelayApp

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
}
