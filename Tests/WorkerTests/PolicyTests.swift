import CustomerIO
import Testing
import Worker

@Suite("Policy: the built-in default, the YAML form and its errors")
struct PolicyTests {
    private func event(_ metric: String, type: String = "email", timestamp: Int64? = 1_767_230_000) throws -> WebhookEvent {
        let time = timestamp.map { #","timestamp":\#($0)"# } ?? ""
        return try WebhookEvent.parse(
            Array(
                #"{"event_id":"01E","object_type":"\#(type)","metric":"\#(metric)"\#(time),"data":{"delivery_id":"d-1","identifiers":{"id":"u1"},"nested":{"x":7}}}"#
                    .utf8))
    }

    @Test func builtInPolicyFollowsTheDesign() throws {
        let policy = Policy.builtIn
        #expect(policy.rules.map(\.name) == ["email-bounced", "email-spammed", "unsubscribed", "resubscribed", "email-engagement"])
        let bounce = try #require(policy.plan(for: try event("bounced"), person: .id("u1"), fallbackTime: 0))
        #expect(
            bounce.attributes == [
                "email_bounced": .bool(true), "email_bounced_at": .number(1_767_230_000), "last_bounce_delivery_id": .string("d-1"),
            ])
        #expect(bounce.suppress && bounce.monotonicAttributes.isEmpty)
        let spam = try #require(policy.plan(for: try event("spammed"), person: .id("u1"), fallbackTime: 0))
        #expect(spam.attributes == ["spam_complaint": .bool(true), "spam_complaint_at": .number(1_767_230_000)] && spam.suppress)
        for type in ["customer", "email"] {
            let unsubscribe = try #require(policy.plan(for: try event("unsubscribed", type: type), person: .id("u1"), fallbackTime: 0))
            #expect(unsubscribe.attributes == ["unsubscribed": .bool(true), "unsubscribed_at": .number(1_767_230_000)] && !unsubscribe.suppress)
            #expect(unsubscribe.monotonicAttributes == ["unsubscribed", "unsubscribed_at"])
        }
        let subscribe = try #require(policy.plan(for: try event("subscribed", type: "customer"), person: .id("u1"), fallbackTime: 0))
        #expect(subscribe.attributes == ["unsubscribed": .bool(false), "subscribed_at": .number(1_767_230_000)])
        for metric in ["opened", "clicked"] {
            let engaged = try #require(policy.plan(for: try event(metric), person: .id("u1"), fallbackTime: 0))
            #expect(engaged.attributes == ["last_email_engaged_at": .number(1_767_230_000), "last_email_metric": .string(metric)])
            #expect(engaged.monotonicAttributes == ["last_email_engaged_at", "last_email_metric"])
        }
        for (metric, type) in [
            ("sent", "email"), ("delivered", "email"), ("bounced", "push"), ("opened", "push"), ("converted", "email"), ("anything_new", "thing"),
        ] {
            #expect(policy.plan(for: try event(metric, type: type), person: .id("u1"), fallbackTime: 0) == nil, "\(type)/\(metric) is warehouse only")
        }
        // No timestamp in the event: the time it was received stands in.
        #expect(policy.plan(for: try event("clicked", timestamp: nil), person: .id("u1"), fallbackTime: 42)?.eventTime == 42)
    }

    @Test func customRulesWildcardsTemplatesAndFirstMatchWins() throws {
        let policy = try PolicyParser.parse(
            yaml: """
                policy:
                  - name: ignore-test-sends
                    object_types: [email]
                    metrics: [clicked]
                    actions: []
                  - name: everything
                    metrics: "*"
                    actions:
                      - identify:
                          plan: gold
                          score: 3
                          ratio: 0.5
                          none: null
                          price: $$5
                          last_kind: $object_type
                          last_event: $event_id
                          nested: $data.nested.x
                          missing: $data.nope
                """, source: "test.yaml")
        #expect(policy.plan(for: try event("clicked"), person: .id("u1"), fallbackTime: 0) == nil)
        let update = try #require(policy.plan(for: try event("sent", type: "sms"), person: .id("u1"), fallbackTime: 0))
        #expect(
            update.attributes == [
                "plan": .string("gold"), "score": .number(3), "ratio": .number(0.5), "none": .null, "price": .string("$5"),
                "last_kind": .string("sms"), "last_event": .string("01E"), "nested": .number(7),
            ])
    }

    @Test(arguments: [
        ("policy: {}\n", 1, "must be a list of rules"),
        ("policy:\n  - metrics: [bounced]\n", 2, "'actions' is missing"),
        ("policy:\n  - metrics: [bounced]\n    actions:\n      - suppress\n      - identify:\n          a: 1\n", 5, "nothing may follow 'suppress'"),
        (
            "policy:\n  - metrics: [bounced]\n    actions:\n      - delete\n", 4,
            "an action is 'suppress', an 'esp_suppress:' or an 'identify:' mapping"
        ),
        ("policy:\n  - metrics: [bounced]\n    actions:\n      - identify:\n          a: $data\n", 5, "unknown reference '$data'"),
        ("policy:\n  - metrics: [bounced]\n    actions:\n      - identify:\n          a: $when\n", 5, "unknown reference"),
        ("policy:\n  - metrics: [bounced]\n    actoins: []\n", 3, "unknown key 'actoins'"),
        ("policy:\n  - metrics: []\n    actions: []\n", 2, "'metrics' is empty"),
        ("policy:\n  - actions: []\n", 2, "give 'metrics' and/or 'object_types'"),
        (
            "policy:\n  - metrics: [opened]\n    actions:\n      - identify:\n          a: 1\n        monotonic: sometimes\n", 6,
            "'monotonic' must be true or false"
        ),
        ("other: 1\n", 1, "no 'policy:' list"),
    ])
    func errorsNameTheLine(yaml: String, line: Int, message: String) {
        #expect {
            try PolicyParser.parse(yaml: yaml, source: "p.yaml")
        } throws: { error in
            guard let error = error as? PolicyError else { return false }
            return error.line == line && error.message.contains(message) && error.description.hasPrefix("p.yaml:\(line): ")
        }
    }

    @Test func invalidYAMLIsAnErrorNotACrash() {
        #expect(throws: PolicyError.self) { try PolicyParser.parse(yaml: "policy: [\n", source: "p.yaml") }
    }
}

@Suite("Coalescing per person")
struct PersonUpdatesTests {
    private func update(_ person: String, time: Int64, _ attributes: [String: JSONValue], monotonic: Bool = false, suppress: Bool = false)
        -> PlannedUpdate
    {
        PlannedUpdate(
            person: .id(person), eventTime: time, attributes: attributes, monotonicAttributes: monotonic ? Set(attributes.keys) : [],
            suppress: suppress)
    }

    @Test func manyEventsForOnePersonBecomeOneUpdate() {
        let merged = PersonUpdates.merge([
            (0, "ws", update("a", time: 10, ["last_email_engaged_at": .number(10), "last_email_metric": .string("opened")], monotonic: true)),
            (1, "ws", update("b", time: 11, ["x": .number(1)])),
            (2, "ws", update("a", time: 30, ["last_email_engaged_at": .number(30), "last_email_metric": .string("clicked")], monotonic: true)),
            (3, "ws", update("a", time: 20, ["last_email_engaged_at": .number(20), "last_email_metric": .string("opened")], monotonic: true)),
            (4, "ws", update("a", time: 25, ["email_bounced": .bool(true)], suppress: true)),
            (5, "other", update("a", time: 5, ["x": .number(2)])),
        ])
        #expect(merged.count == 3)
        let a = merged[0]
        #expect(a.person == .id("a") && a.workspace == "ws")
        #expect(a.entries == [0, 2, 3, 4])
        #expect(
            a.attributes == ["last_email_engaged_at": .number(30), "last_email_metric": .string("clicked"), "email_bounced": .bool(true)],
            "the older open (20) arriving after the newer click (30) does not win")
        #expect(a.monotonicTimes == ["last_email_engaged_at": 30, "last_email_metric": 30])
        #expect(a.suppress)
        #expect(a.operations.identify != nil && a.operations.suppress == .suppress(.id("a")))
        #expect(merged[1].entries == [1] && merged[2].workspace == "other")
    }

    @Test func plainAttributesTakeTheLaterEventInStreamOrder() {
        let merged = PersonUpdates.merge([
            (0, "ws", update("a", time: 50, ["plan": .string("gold")])),
            (1, "ws", update("a", time: 10, ["plan": .string("silver")])),
        ])
        #expect(merged.first?.attributes == ["plan": .string("silver")])
        #expect(merged.first?.operations.suppress == nil)
    }
}
