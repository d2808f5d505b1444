import CustomerIO
import Foundation
import Receiver
import TestSupport
import Testing
import Warehouse
import Worker

@testable import RelaySettings

/// The repository's root, from this file's place in it.
private let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

@Suite("Every key of the YAML file, and the documented example")
struct SettingsFileTests {
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
        let text = try String(contentsOf: repositoryRoot.appendingPathComponent("docs/configuration.md"), encoding: .utf8)
        let section = try #require(text.range(of: "## The YAML file"))
        let start = try #require(text.range(of: "```yaml\n", range: section.upperBound..<text.endIndex))
        let end = try #require(text.range(of: "```", range: start.upperBound..<text.endIndex))
        let file = try writeConfigFile(String(text[start.upperBound..<end.lowerBound]))
        let settings = try RelaySettings.load(environment: [
            "CIO_RELAY_CONFIG": file, "CUSTOMERIO_WEBHOOK_SECRET": "current", "EU_TRACK_API_KEY": "key", "EU_APP_API_KEY": "app-key",
            "ANALYTICS_WEBHOOK_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        ])
        #expect(settings.worker.appAPI["eu-brand"]?.baseURL == "https://api-eu.customer.io")
        #expect(settings.groups == ["actions", "warehouse", "forward:analytics"] && settings.worker.forward.map(\.name) == ["analytics"])
        #expect(settings.receiver.workspaces.keys.sorted() == ["default", "eu-brand"])
        #expect(settings.worker.track["eu-brand"]?.baseURL == "https://track-eu.customer.io")
        #expect(settings.worker.policy.rules.map(\.name) == ["email-bounced"])
        #expect(settings.warehouse == .postgres(url: "postgres://relay:secret@db:5432/events?sslmode=require"))
    }
}
