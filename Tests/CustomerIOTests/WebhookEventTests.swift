import CustomerIO
import Foundation
import TestSupport
import Testing

@Suite("Webhook envelope parsing")
struct WebhookEventTests {
    @Test func everyObjectTypeAndMetricOfTheVendorSpecParses() throws {
        let examples = try OpenAPIExamples(document: Fixtures.reportingWebhooksOpenAPI()).all()
        var seen: Set<String> = []
        for example in examples {
            let event = try WebhookEvent.parse(Array(example.body()))
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

    /// The scanner builds `data` itself in its one pass; Foundation's decoder is the reference.
    @Test func dataEqualsWhatJSONDecoderReads() throws {
        struct DataField: Decodable { let data: JSONValue }
        var bodies = try OpenAPIExamples(document: Fixtures.reportingWebhooksOpenAPI()).all().map { Array(try $0.body()) }
        for name in [
            "email_bounced.json", "email_clicked.json", "email_sent.json", "email_spammed.json", "customer_unsubscribed.json",
            "push_delivered_email_only_workspace.json",
        ] {
            bodies.append(try Fixtures.bytes(name))
        }
        bodies.append(
            Array(
                #"{"event_id":"e","object_type":"x","metric":"y","data":{"s":"tab\tquote\"uni\u00e9\ud83d\ude00","n":[-0.5,1e3,12345678901,0],"o":{"deep":[[[]]],"f":false,"z":null}}}"#
                    .utf8))
        for body in bodies {
            let reference = try JSONDecoder().decode(DataField.self, from: Data(body)).data
            #expect(try WebhookEvent.parse(body).data == reference, "\(String(decoding: body.prefix(80), as: UTF8.self))")
        }
    }

    @Test func surrogateEscapesMustComeInPairs() throws {
        func body(_ subject: String) -> [UInt8] {
            Array(#"{"event_id":"01A","object_type":"email","metric":"sent","data":{"subject":"\#(subject)"}}"#.utf8)
        }
        let paired = try WebhookEvent.parse(body(#"\ud83d\ude00"#))
        #expect(paired.data["subject"] == .string("😀"))
        // Found by the envelope fuzzer: Foundation and PostgreSQL's jsonb refuse these.
        for lone in [#"\ude00"#, #"\ud83d"#, #"\ud83dx"#, #"\ud83d\u0041"#, #"\ud41d\ude00"#] {
            #expect(throws: MalformedEventError.self, "\(lone)") { try WebhookEvent.parse(body(lone)) }
        }
    }

    @Test func fixturesParseWithIdentifiers() throws {
        let bounced = try WebhookEvent.parse(Fixtures.bytes("email_bounced.json"))
        #expect(bounced.eventID == "01JBX5F9Z1Y2X3W4V5T6S7R8Q9")
        #expect(bounced.objectType == .email)
        #expect(bounced.metric == .bounced)
        #expect(bounced.timestamp == 1_767_230_000)
        #expect(bounced.identifiers == Identifiers(id: "u_903", email: "old@corp.example", cioID: "a1b2c3000903"))
        let push = try WebhookEvent.parse(Fixtures.bytes("push_delivered_email_only_workspace.json"))
        #expect(push.identifiers == Identifiers(id: nil, email: "ana@example.com", cioID: "a1b2c3000301"))
    }

    @Test func unknownTypesMetricsAndFieldsAreKept() throws {
        let body = Array(
            #"{"event_id":"01X","object_type":"carrier_pigeon","metric":"landed","timestamp":1,"data":{"wing":"left","n":[1,{"a":null}]},"extra":true}"#
                .utf8)
        let event = try WebhookEvent.parse(body)
        #expect(event.objectType.rawValue == "carrier_pigeon")
        #expect(!event.objectType.isKnown)
        #expect(event.metric.rawValue == "landed")
        #expect(!event.metric.isDocumented(for: .email))
        #expect(event.data["wing"] == .string("left"))
        #expect(event.data["n"] == .array([.number(1), .object(["a": .null])]))
    }

    @Test func aTimestampInAnotherFormDoesNotCostTheEvent() throws {
        let envelope = try WebhookEnvelope.parse(Array(#"{"event_id":"01X","object_type":"email","metric":"sent","timestamp":"soon"}"#.utf8))
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
            _ = try WebhookEnvelope.parse(Array(body.utf8))
            Issue.record("\(body) must be malformed")
        } catch {
            #expect(error.message.contains(fragment), "\(error.message)")
        }
    }
}

@Suite("Envelope scanner agrees with a full JSON parser")
struct EnvelopeScannerTests {
    static let documents: [String] = [
        #"{"event_id":"01X","object_type":"email","metric":"sent"}"#,
        #" { "event_id" : "01X" , "object_type":"email","metric":"sent","data":{"a":[1,-2.5e+3,0.1,true,false,null,{}],"b":[]} } "#,
        #"{"event_id":"01X","object_type":"email","metric":"sent"} x"#,
        #"{"event_id":"01X","object_type":"email","metric":"sent""#,
        #"{"event_id":"01X","object_type":"email","metric":"sent","n":01}"#,
        #"{"event_id":"01X","object_type":"email","metric":"sent","n":1.}"#,
        #"{"event_id":"01X","object_type":"email","metric":"sent","n":-}"#,
        #"{"event_id":"01X","object_type":"email","metric":"sent","s":"bad \x escape"}"#,
        #"{"event_id":"01X","object_type":"email","metric":"sent","s":"\u12G4"}"#,
        #"{"event_id":"01X","object_type":"email","metric":"sent","t":tru}"#,
        #"{"event_id":"01X","object_type":"email","metric":"sent",1:2}"#,
        #"{"event_id":"01X" "object_type":"email","metric":"sent"}"#,
        "{\"event_id\":\"01\u{01}X\",\"object_type\":\"email\",\"metric\":\"sent\"}",
        #"["event_id"]"#,
        #""#,
        #"{}"#,
    ]

    @Test(arguments: documents)
    func validityMatchesJSONSerialization(document: String) {
        let bytes = Array(document.utf8)
        let reference = (try? JSONSerialization.jsonObject(with: Data(bytes))) is [String: Any]
        var scannerAccepts = true
        do {
            _ = try WebhookEnvelope.parse(bytes)
        } catch {
            // Missing fields are not syntax errors: only "not a JSON object" counts as invalid.
            scannerAccepts = !error.message.contains("not a JSON object")
        }
        #expect(scannerAccepts == reference, "\(document)")
    }

    /// Foundation tolerates trailing commas; RFC 8259 (and Customer.io) do not, so the scanner
    /// refuses them. Such a body is still kept, as a dead letter.
    @Test(arguments: [
        #"{"event_id":"01X","object_type":"email","metric":"sent",}"#,
        #"{"event_id":"01X","object_type":"email","metric":"sent","a":[1,]}"#,
    ])
    func trailingCommasAreRejected(document: String) {
        #expect(throws: MalformedEventError.self) { try WebhookEnvelope.parse(Array(document.utf8)) }
    }

    @Test func invalidUTF8AndDeepNestingAreRejected() {
        var invalid = Array(#"{"event_id":"01X","object_type":"email","metric":"sent","s":"x"}"#.utf8)
        invalid[invalid.count - 3] = 0xFF
        #expect(throws: MalformedEventError.self) { try WebhookEnvelope.parse(invalid) }
        let deep =
            #"{"event_id":"01X","object_type":"email","metric":"sent","d":"# + String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
            + "}"
        #expect(throws: MalformedEventError.self) { try WebhookEnvelope.parse(Array(deep.utf8)) }
    }

    @Test func keysAreMatchedAfterUnescapingAndTheLastOfARepeatedKeyWins() throws {
        let body = #"{"event\u005fid":"01A","object_type":"email","metric":"sent","metric":"opened","metricx":"clicked","data":{"event_id":"inner"}}"#
        let envelope = try WebhookEnvelope.parse(Array(body.utf8))
        #expect(envelope.eventID == "01A")
        #expect(envelope.metric == .opened)
        let event = try WebhookEvent.parse(Array(body.utf8))
        #expect(event.data["event_id"]?.stringValue == "inner")
    }

    @Test func escapedStringsAreDecoded() throws {
        let envelope = try WebhookEnvelope.parse(
            Array(#"{"event_id":"01\u00e9\ud83d\ude00\n\"x","object_type":"em\/ail","metric":"sent","timestamp":-12}"#.utf8))
        #expect(envelope.eventID == "01é😀\n\"x")
        #expect(envelope.objectType.rawValue == "em/ail")
        #expect(envelope.timestamp == -12)
    }

    @Test func theLastDuplicateKeyWinsAsInJSONSerialization() throws {
        let body = Array(#"{"event_id":"first","event_id":"second","object_type":"email","metric":"sent"}"#.utf8)
        let reference = try #require(try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any])
        #expect(try WebhookEnvelope.parse(body).eventID == reference["event_id"] as? String)
    }
}
