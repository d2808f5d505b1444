import CustomerIO
import Foundation
import Testing
import TestSupport

@Suite("Webhook envelope parsing")
struct WebhookEventTests {
    @Test func everyObjectTypeAndMetricOfTheVendorSpecParses() throws {
        let examples = try OpenAPIExamples(document: Fixtures.reportingWebhooksOpenAPI()).all()
        var seen: Set<String> = []
        for example in examples {
            let event = try WebhookEvent.parse(example.body())
            #expect(event.objectType.rawValue == example.objectType, "\(example.schema)")
            #expect(event.metric.rawValue == example.metric, "\(example.schema)")
            #expect(event.objectType.isKnown, "\(example.schema): object type \(event.objectType) unknown to ObjectType")
            #expect(event.metric.isDocumented(for: event.objectType), "\(example.schema): \(event.metric) not in the table for \(event.objectType)")
            #expect(!event.eventID.isEmpty)
            #expect(event.data != .null, "\(example.schema) has data")
            seen.insert("\(example.objectType)/\(example.metric)")
        }
        // The spec and our table list exactly the same pairs: nothing missing on either side.
        let documented = Set(ObjectType.documentedMetrics.flatMap { type, metrics in metrics.map { "\(type)/\($0)" } })
        #expect(seen == documented)
        #expect(examples.count == 69)
        // One known slip in the vendor file: `push_drafted` declares metric `attempted`.
        #expect(examples.filter(\.metricCorrected).map(\.schema) == ["push_drafted"])
    }

    @Test func fixturesParseWithIdentifiers() throws {
        let bounced = try WebhookEvent.parse(Data(Fixtures.bytes("email_bounced.json")))
        #expect(bounced.eventID == "01JBX5F9Z1Y2X3W4V5T6S7R8Q9")
        #expect(bounced.objectType == .email)
        #expect(bounced.metric == .bounced)
        #expect(bounced.timestamp == 1767230000)
        #expect(bounced.identifiers == Identifiers(id: "u_903", email: "old@corp.example", cioID: "a1b2c3000903"))
        let push = try WebhookEvent.parse(Data(Fixtures.bytes("push_delivered_email_only_workspace.json")))
        #expect(push.identifiers == Identifiers(id: nil, email: "ana@example.com", cioID: "a1b2c3000301"))
    }

    @Test func unknownTypesMetricsAndFieldsAreKept() throws {
        let body = Data(#"{"event_id":"01X","object_type":"carrier_pigeon","metric":"landed","timestamp":1,"data":{"wing":"left","n":[1,{"a":null}]},"extra":true}"#.utf8)
        let event = try WebhookEvent.parse(body)
        #expect(event.objectType.rawValue == "carrier_pigeon")
        #expect(!event.objectType.isKnown)
        #expect(event.metric.rawValue == "landed")
        #expect(!event.metric.isDocumented(for: .email))
        #expect(event.data["wing"] == .string("left"))
        #expect(event.data["n"] == .array([.number(1), .object(["a": .null])]))
    }

    @Test func aTimestampInAnotherFormDoesNotCostTheEvent() throws {
        let envelope = try WebhookEnvelope.parse(Data(#"{"event_id":"01X","object_type":"email","metric":"sent","timestamp":"soon"}"#.utf8))
        #expect(envelope.timestamp == nil)
        #expect(envelope.metric == .sent)
    }

    @Test(arguments: [
        ("not json", "not a JSON object"),
        ("[1,2]", "not a JSON object"),
        (#"{"object_type":"email","metric":"sent"}"#, "no \"event_id\""),
        (#"{"event_id":7,"object_type":"email","metric":"sent"}"#, "event_id"),
        (#"{"event_id":"","object_type":"email","metric":"sent"}"#, "empty"),
        (#"{"event_id":null,"object_type":"email","metric":"sent"}"#, "event_id"),
        (#"{"event_id":"01X","metric":"sent"}"#, "no \"object_type\""),
        (#"{"event_id":"01X","object_type":"email"}"#, "no \"metric\""),
        (#"{"event_id":"\#(String(repeating: "x", count: 129))","object_type":"email","metric":"sent"}"#, "longer than"),
    ])
    func malformedBodiesSayWhatIsWrong(body: String, fragment: String) {
        do {
            _ = try WebhookEnvelope.parse(Data(body.utf8))
            Issue.record("\(body) must be malformed")
        } catch {
            #expect(error.message.contains(fragment), "\(error.message)")
        }
    }
}
