import CustomerIO
import EventQueue
import Foundation
import Hiredis
import Prometheus
import TestSupport
import Testing
import Warehouse
import Worker

/// The policy of `examples/policy-keep-profiles.yaml`.
private func keepProfilesPolicy() throws -> Policy {
    let path = TestBigQuery.root.appendingPathComponent("examples/policy-keep-profiles.yaml").path
    return try PolicyParser.parse(yaml: try String(contentsOfFile: path, encoding: .utf8), source: path)
}

/// An event for `person` with `data.recipient`.
private func emailEvent(_ metric: String, type: String = "email", person: String = "p1", timestamp: Int64 = 1_767_230_000) -> [UInt8] {
    let id = Fixtures.newEventID()
    return Array(
        #"{"event_id":"\#(id)","object_type":"\#(type)","metric":"\#(metric)","timestamp":\#(timestamp),"data":{"delivery_id":"d-\#(id)","identifiers":{"id":"\#(person)","email":"\#(person)+tag@example.org","cio_id":"cio-\#(person)"},"recipient":"\#(person)+tag@example.org"}}"#
            .utf8)
}

@Suite("ESP suppression through the App API (a stand-in that checks Customer.io's OpenAPI description)", .serialized)
struct ESPSuppressionIntegrationTests {
    @Test func bouncesAndComplaintsAreSuppressedAtTheESPAndTheProfileIsKept() async throws {
        try await withShutdown(try await AppAPIStandIn()) { app in
            try await withShutdown(try await WorkerHarness.make(policy: try keepProfilesPolicy(), appAPIURL: app.baseURL)) { harness in
                try await harness.add(emailEvent("bounced", person: "b1"))
                try await harness.add(emailEvent("spammed", person: "s1"))
                let report = try await harness.runOnce()
                #expect(report.count(.applied) == 2)
                #expect(try await harness.pending() == 0)
                // The Track API got the attributes and no suppress: the profiles stay.
                let actions = harness.server.requests.flatMap(\.batch).map { $0["action"] as? String }
                #expect(actions == ["identify", "identify"])
                let received = try app.received()
                #expect(
                    Set(received.map { "\($0.method) \($0.suppressionType ?? "?") \($0.address ?? "?")" }) == [
                        "POST bounces b1+tag@example.org", "POST spam_reports s1+tag@example.org",
                    ])
                for request in received {
                    #expect(request.problems.isEmpty, "the request does not match Customer.io's App API description: \(request.problems)")
                }
                let metrics = harness.registry.emitToString()
                #expect(metrics.contains(#"cio_relay_track_requests_total{status="200",route="/v1/esp/suppression/bounces/{email_address}"} 1"#))
            }
        }
    }

    @Test func aThrottleIsWaitedOutAndARefusalIsADeadLetterWithItsReason() async throws {
        try await withShutdown(try await AppAPIStandIn()) { app in
            try await withShutdown(try await WorkerHarness.make(policy: try keepProfilesPolicy(), appAPIURL: app.baseURL)) { harness in
                // 429 with Retry-After: 1, then 200.
                try app.script([(429, ["Retry-After": "1"])])
                try await harness.add(emailEvent("bounced", person: "t1"))
                let start = ContinuousClock.now
                #expect(try await harness.runOnce().count(.applied) == 1)
                #expect(ContinuousClock.now - start >= .seconds(1), "Retry-After was waited out")
                #expect(try app.received().count == 2)
                #expect(harness.registry.emitToString().contains("cio_relay_track_throttled_total 1"))

                // 400: permanent; a dead letter with the App API named.
                try app.script([(400, [:])])
                try await harness.add(emailEvent("bounced", person: "t2"))
                #expect(try await harness.runOnce().count(.deadLettered) == 1)
                let letters = try await harness.queue.deadLetters()
                #expect(letters.map(\.reason) == [DeadLetterReason.appAPIRejected.rawValue])
                #expect(letters.first?.error.contains("POST /v1/esp/suppression/bounces/{email_address} answered HTTP 400") == true)
                #expect(try app.received().allSatisfy { $0.problems.isEmpty })
            }
        }
    }

    @Test func withoutAnAppAPIKeyESPSuppressionRunsDry() async throws {
        try await withShutdown(try await WorkerHarness.make(policy: try keepProfilesPolicy())) { harness in
            try await harness.add(emailEvent("bounced", person: "d1"))
            #expect(try await harness.runOnce().count(.applied) == 1, "the attributes are written")
            #expect(harness.registry.emitToString().contains(#"cio_relay_track_dry_run_operations_total{action="esp_suppress"} 1"#))
            #expect(try await harness.pending() == 0)
        }
    }
}

/// The built-in subscription rules with `if_changed: unsubscribed`, as docs/actions.md shows them.
private func subscriptionPolicy() throws -> Policy {
    try PolicyParser.parse(
        yaml: """
            policy:
              - name: unsubscribed
                metrics: [unsubscribed]
                actions:
                  - identify:
                      unsubscribed: true
                      unsubscribed_at: $timestamp
                    monotonic: true
                    if_changed: unsubscribed
              - name: resubscribed
                object_types: [customer]
                metrics: [subscribed]
                actions:
                  - identify:
                      unsubscribed: false
                      subscribed_at: $timestamp
                    monotonic: true
                    if_changed: unsubscribed
            """, source: "test")
}

@Suite("Writes that change nothing are left out (real Redis)", .serialized)
struct UnchangedWritesIntegrationTests {
    @Test func theSameUnsubscribeAsAnEmailThenACustomerEventWritesOnce() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("unchanged-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        try await SQLiteSink(path: directory.appendingPathComponent("audit.sqlite").path).withRunning { audit in
            _ = try await audit.migrate()
            try await withShutdown(try await WorkerHarness.make(policy: try subscriptionPolicy(), unchangedWindow: .seconds(3600), audit: audit)) {
                harness in
                // In separate batches: Customer.io sends email/unsubscribed, then customer/unsubscribed.
                try await harness.add(emailEvent("unsubscribed", person: "u1", timestamp: 1_767_230_000))
                #expect(try await harness.runOnce().count(.applied) == 1)
                try await harness.add(emailEvent("unsubscribed", type: "customer", person: "u1", timestamp: 1_767_230_002))
                let second = try await harness.runOnce()
                #expect(second.count(.unchanged) == 1)
                #expect(harness.server.requests.count == 1, "one Track API request for the one change")
                let written = try #require(harness.server.requests.first?.batch.first?["attributes"] as? [String: Any])
                #expect(written["unsubscribed"] as? Bool == true && written["unsubscribed_at"] as? Int == 1_767_230_000)

                // In one batch, for another person: one identify.
                harness.server.reset()
                try await harness.add(emailEvent("unsubscribed", person: "u2"))
                try await harness.add(emailEvent("unsubscribed", type: "customer", person: "u2", timestamp: 1_767_230_001))
                _ = try await harness.runOnce()
                #expect(harness.server.requests.flatMap(\.batch).count == 1)

                // A resubscribe is a change, and so is the unsubscribe after it; its echo is not.
                harness.server.reset()
                try await harness.add(emailEvent("subscribed", type: "customer", person: "u1", timestamp: 1_767_230_100))
                _ = try await harness.runOnce()
                try await harness.add(emailEvent("unsubscribed", person: "u1", timestamp: 1_767_230_200))
                _ = try await harness.runOnce()
                try await harness.add(emailEvent("unsubscribed", type: "customer", person: "u1", timestamp: 1_767_230_201))
                #expect(try await harness.runOnce().count(.unchanged) == 1)
                let values = harness.server.requests.compactMap { ($0.batch.first?["attributes"] as? [String: Any])?["unsubscribed"] as? Bool }
                #expect(values == [false, true])

                #expect(harness.registry.emitToString().contains("cio_relay_unchanged_attributes_total"))
                let rows = try await audit.rows("SELECT action, outcome, detail FROM customerio_actions WHERE outcome = 'unchanged' ORDER BY rowid")
                #expect(rows.first == ["identify", "unchanged", "unsubscribed,unsubscribed_at"])
            }
        }
    }

    @Test func theBuiltInPolicyLeavesOutTheRepeatedFlagAndWritesTheNewerTime() async throws {
        try await withShutdown(try await WorkerHarness.make(unchangedWindow: .seconds(3600))) { harness in
            try await harness.add(emailEvent("unsubscribed", person: "b1", timestamp: 1_767_230_000))
            _ = try await harness.runOnce()
            try await harness.add(emailEvent("unsubscribed", type: "customer", person: "b1", timestamp: 1_767_230_002))
            #expect(try await harness.runOnce().count(.applied) == 1)
            let second = try #require(harness.server.requests.last?.batch.first?["attributes"] as? [String: Any])
            #expect(second.keys.sorted() == ["unsubscribed_at"] && second["unsubscribed_at"] as? Int == 1_767_230_002)
        }
    }

    @Test func aRepeatWithinTheWindowIsLeftOutAndAfterItWrittenAgain() async throws {
        try await withShutdown(try await WorkerHarness.make(unchangedWindow: .seconds(1))) { harness in
            // A replay: the same open (same time, same values) under a new event id.
            try await harness.add(emailEvent("opened", person: "r1"))
            #expect(try await harness.runOnce().count(.applied) == 1)
            try await harness.add(emailEvent("opened", person: "r1"))
            #expect(try await harness.runOnce().count(.unchanged) == 1)
            #expect(harness.server.requests.count == 1)
            // After the window, Customer.io may hold something else: written again.
            try await Task.sleep(for: .milliseconds(1200))
            try await harness.add(emailEvent("opened", person: "r1"))
            #expect(try await harness.runOnce().count(.applied) == 1)
            #expect(harness.server.requests.count == 2)
            #expect(harness.registry.emitToString().contains("cio_relay_unchanged_attributes_total 2"))
        }
    }

    @Test func withTheWindowZeroEveryValueIsWritten() async throws {
        try await withShutdown(try await WorkerHarness.make(unchangedWindow: .zero)) { harness in
            for _ in 0..<2 {
                try await harness.add(emailEvent("opened", person: "z1"))
                #expect(try await harness.runOnce().count(.applied) == 1)
            }
            #expect(harness.server.requests.count == 2)
        }
    }
}
