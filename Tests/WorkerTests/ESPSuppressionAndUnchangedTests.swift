import CustomerIO
import Foundation
import Testing
import Worker

@Suite("esp_suppress, if_changed and the unchanged-value rule, without a network")
struct ESPSuppressionAndUnchangedTests {
    private func event(_ metric: String, data: String = #""identifiers":{"id":"u1","email":"u1@example.org"}"#) throws -> WebhookEvent {
        try WebhookEvent.parse(
            Array(#"{"event_id":"01E","object_type":"email","metric":"\#(metric)","timestamp":1767230000,"data":{\#(data)}}"#.utf8))
    }

    private func parse(_ actions: String) throws(PolicyError) -> Policy {
        try PolicyParser.parse(yaml: "policy:\n  - name: r\n    metrics: [bounced]\n    actions:\n" + actions, source: "test.yaml")
    }

    @Test func espSuppressPlansTheAddressTheMessageWentTo() throws {
        let policy = try parse("      - identify:\n          email_bounced: true\n      - esp_suppress: bounces\n")
        #expect(policy.rules.first?.actions.last == .espSuppress(.bounces))
        #expect(policy.suppressesAtTheESP)
        // data.recipient first: the address that bounced, which may not be the profile's email.
        let bounced = try event("bounced", data: #""identifiers":{"id":"u1","email":"new@example.org"},"recipient":"old@example.org""#)
        let update = try #require(policy.plan(for: bounced, person: .id("u1"), fallbackTime: 0))
        #expect(update.espSuppression == ESPSuppression(type: .bounces, address: "old@example.org"))
        #expect(!update.suppress, "esp_suppress keeps the profile: no Track API suppress")
        // Without a recipient, the person's email; without either, nothing to suppress.
        #expect(policy.plan(for: try event("bounced"), person: .id("u1"), fallbackTime: 0)?.espSuppression?.address == "u1@example.org")
        let anonymous = try event("bounced", data: #""identifiers":{"id":"u1"}"#)
        #expect(policy.plan(for: anonymous, person: .id("u1"), fallbackTime: 0)?.espSuppression == nil)
        #expect(!Policy.builtIn.suppressesAtTheESP, "the built-in policy keeps Track API suppress")
    }

    @Test func espSuppressErrorsNameTheLine() throws {
        func failure(_ actions: String) -> PolicyError? {
            do {
                _ = try parse(actions)
                return nil
            } catch {
                return error
            }
        }
        let unknownType = try #require(failure("      - esp_suppress: hard_bounces\n"))
        #expect(unknownType.line == 5 && unknownType.message.contains("one of blocks, bounces, spam_reports, invalid_emails"))
        let twice = try #require(failure("      - esp_suppress: bounces\n      - esp_suppress: blocks\n"))
        #expect(twice.line == 6 && twice.message.contains("one 'esp_suppress' per rule"))
        let mixed = try #require(failure("      - esp_suppress: bounces\n        monotonic: true\n"))
        #expect(mixed.message.contains("stands alone"))
        // After suppress it is allowed: it concerns the address, not the deleted profile.
        #expect(try parse("      - suppress\n      - esp_suppress: spam_reports\n").rules.first?.actions == [.suppress, .espSuppress(.spamReports)])
        let gateElsewhere = try #require(failure("      - identify:\n          a: 1\n        if_changed: b\n"))
        #expect(gateElsewhere.line == 7 && gateElsewhere.message.contains("'if_changed' names 'b'"))
    }

    @Test func theShippedKeepProfilesPolicyParsesAndSuppressesOnlyAtTheESP() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("examples/policy-keep-profiles.yaml").path
        let policy = try PolicyParser.parse(yaml: try String(contentsOfFile: path, encoding: .utf8), source: path)
        let actions = policy.rules.flatMap(\.actions)
        #expect(!actions.contains(.suppress), "the example never deletes a profile")
        #expect(actions.filter(\.isESPSuppression) == [.espSuppress(.bounces), .espSuppress(.spamReports)])
        // Apart from the suppression, it is the built-in policy.
        let builtIn = Policy.builtIn.rules.map { rule in rule.actions.filter { $0 != .suppress } }
        #expect(policy.rules.map { rule in rule.actions.filter { !$0.isESPSuppression } } == builtIn)
    }

    @Test func mergingKeepsEachAddressOnceAndTheGatesOfTheValueKept() {
        let merged = PersonUpdates.merge([
            (
                0, "ws",
                PlannedUpdate(
                    person: .id("a"), eventTime: 1, attributes: ["unsubscribed": .bool(true), "unsubscribed_at": .number(1)],
                    monotonicAttributes: [], gates: ["unsubscribed": ["unsubscribed"], "unsubscribed_at": ["unsubscribed"]], suppress: false,
                    espSuppression: ESPSuppression(type: .bounces, address: "a@example.org"))
            ),
            (
                1, "ws",
                PlannedUpdate(
                    person: .id("a"), eventTime: 2, attributes: ["unsubscribed_at": .number(2)], monotonicAttributes: [], suppress: false,
                    espSuppression: ESPSuppression(type: .bounces, address: "a@example.org"))
            ),
        ])
        #expect(merged.count == 1)
        #expect(merged[0].espSuppressions == [ESPSuppression(type: .bounces, address: "a@example.org")])
        #expect(merged[0].gates == ["unsubscribed": ["unsubscribed"]], "the later, ungated value of unsubscribed_at is written as it is")
    }

    @Test func unchangedValuesAndGatesAreLeftOut() {
        let attributes: [String: JSONValue] = ["unsubscribed": .bool(true), "unsubscribed_at": .number(20), "plan": .string("gold")]
        let gates: [String: Set<String>] = ["unsubscribed": ["unsubscribed"], "unsubscribed_at": ["unsubscribed"]]
        // unsubscribed was already true: it and the time gated on it are left out; plan changed.
        #expect(
            UnchangedAttributes.unchanged(attributes, gates: gates, lastWritten: ["unsubscribed": "true", "unsubscribed_at": "10"])
                == ["unsubscribed", "unsubscribed_at"])
        // unsubscribed changes: everything is written, even a time equal to the last one.
        #expect(UnchangedAttributes.unchanged(attributes, gates: gates, lastWritten: ["unsubscribed": "false", "unsubscribed_at": "20"]).isEmpty)
        // Nothing remembered: everything is written.
        #expect(UnchangedAttributes.unchanged(attributes, gates: gates, lastWritten: [:]).isEmpty)
        // Equal JSON, whatever the attribute: an ungated value equal to the last one is left out.
        #expect(
            UnchangedAttributes.unchanged(attributes, gates: [:], lastWritten: ["plan": #""gold""#, "unsubscribed": "true"]) == [
                "plan", "unsubscribed",
            ])
        // A gate the update does not write (an older event's, dropped by the guard) does not change.
        #expect(UnchangedAttributes.unchanged(["unsubscribed_at": .number(5)], gates: gates, lastWritten: [:]) == ["unsubscribed_at"])
    }

    @Test func anAddressIsOnePathSegment() {
        #expect(ESPSuppression(type: .spamReports, address: "a+b/c@example.org").path == "/v1/esp/suppression/spam_reports/a%2Bb%2Fc@example.org")
        #expect("\(AppAPICredentials(apiKey: "secret-key"))" == "AppAPICredentials(key redacted)")
    }
}
