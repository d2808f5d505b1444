import CustomerIO
import EventQueue
import Foundation
import Hiredis
import Logging
import Prometheus
import TestSupport
import Testing
import Warehouse
import Worker

/// A worker wired to real Redis and the Track API test server.
struct WorkerHarness: ShutdownAfterTest {
    let queue: EventQueue
    let server: ScriptedHTTPServer
    let consumer: GroupConsumer
    let processor: BatchProcessor
    /// The worker's and the Track client's metrics, in a registry of this harness's own.
    let registry: PrometheusCollectorRegistry

    static func make(
        queue: EventQueue? = nil, server: ScriptedHTTPServer? = nil, name: String = "w1", dryRun: Bool = false,
        attempts: Int = 3, maxDeliveries: Int = 3, reclaimIdle: Duration = .seconds(60), policy: Policy = .builtIn,
        settleTime: Duration = .seconds(3), requestTimeout: Duration = .seconds(5), lateWindow: Duration = .zero, lease: Duration = .seconds(30),
        unchangedWindow: Duration? = nil, appAPIURL: String? = nil, audit: (any EventSink)? = nil
    ) async throws -> WorkerHarness {
        let queue = try queue ?? EventQueue(client: TestRedis.client(), configuration: EventQueueConfiguration(prefix: TestRedis.uniquePrefix("wk")))
        let server = if let server { server } else { try await ScriptedHTTPServer() }
        let consumer = try GroupConsumer(
            queue: queue,
            configuration: ConsumerConfiguration(
                group: "actions", consumer: name, batchSize: 500, blockTime: .milliseconds(50), reclaimIdle: reclaimIdle, maxDeliveries: maxDeliveries
            ))
        try await consumer.createGroup()
        let track = TrackClientConfiguration(
            baseURL: server.baseURL, credentials: TrackCredentials(siteID: "site", apiKey: "key"),
            requestTimeout: requestTimeout,
            retry: TrackRetryPolicy(maximumAttempts: attempts, initialBackoff: .milliseconds(10), maximumBackoff: .milliseconds(50)))
        let registry = PrometheusCollectorRegistry()
        let factory = PrometheusMetricsFactory(registry: registry)
        let clients = dryRun ? [:] : ["default": TrackClient(configuration: track, metrics: TrackMetrics(factory: factory))]
        var logger = Logger(label: "worker-test")
        logger.logLevel = .critical
        let attributeGuard = AttributeGuard(client: queue.client, layout: queue.layout, lease: lease)
        let appClients = appAPIURL.map { url in
            let app = AppAPIClientConfiguration(
                baseURL: url, credentials: AppAPICredentials(apiKey: "app-key"), requestTimeout: requestTimeout,
                retry: TrackRetryPolicy(maximumAttempts: attempts, initialBackoff: .milliseconds(10), maximumBackoff: .milliseconds(50)))
            return ["default": ESPSuppressionClient(configuration: app, metrics: TrackMetrics(factory: factory))]
        }
        let processor = BatchProcessor(
            consumer: consumer, policy: policy, clients: clients, appClients: appClients ?? [:], attributeGuard: attributeGuard,
            unchangedAttributes: unchangedWindow.map { UnchangedAttributes(client: queue.client, attributeGuard: attributeGuard, window: $0) },
            audit: audit, settleTime: settleTime, lateWindow: lateWindow, logger: logger, metrics: WorkerMetrics(factory: factory))
        return WorkerHarness(queue: queue, server: server, consumer: consumer, processor: processor, registry: registry)
    }

    @discardableResult
    func add(_ body: [UInt8]) async throws -> String {
        let envelope = try WebhookEnvelope.parse(body)
        let event = IncomingEvent(
            eventID: envelope.eventID, body: body, workspace: "default", receivedAt: 1_767_235_000_000, objectType: envelope.objectType.rawValue,
            metric: envelope.metric.rawValue)
        guard case .accepted(let id) = try await queue.enqueue(event) else { throw TestSetupError("not accepted") }
        return id
    }

    /// Reads what is new and processes it as one batch.
    func runOnce() async throws -> BatchReport {
        try await processor.process(try await consumer.readNew(), now: 1_767_235_100_000)
    }

    func pending() async throws -> Int {
        try await queue.groupStatistics().first { $0.name == "actions" }?.pending ?? -1
    }

    func shutdown() async {
        await consumer.shutdown()
        await server.shutdown()
        await queue.shutdown()
    }
}

/// An event body for one person at a given time.
func event(_ metric: String, type: String = "email", person: String = "p1", email: String? = nil, timestamp: Int64 = 1_767_230_000) -> [UInt8] {
    let id = Fixtures.newEventID()
    let identifiers =
        email.map { #"{"id":null,"email":"\#($0)","cio_id":null}"# }
        ?? #"{"id":"\#(person)","email":"\#(person)@example.org","cio_id":"cio-\#(person)"}"#
    return Array(
        #"{"event_id":"\#(id)","object_type":"\#(type)","metric":"\#(metric)","timestamp":\#(timestamp),"data":{"delivery_id":"d-\#(id)","identifiers":\#(identifiers)}}"#
            .utf8)
}

@Suite("Actions worker against real Redis and a Track API test server")
struct WorkerIntegrationTests {
    @Test func eachFixtureProducesExactlyTheExpectedRequests() async throws {
        try await withShutdown(try await WorkerHarness.make()) { harness in
            func requests(for body: [UInt8]) async throws -> [ScriptedHTTPServer.RecordedRequest] {
                harness.server.reset()
                try await harness.add(body)
                let report = try await harness.runOnce()
                #expect(report.outcomes.count == 1)
                return harness.server.requests
            }
            // Bounce: attributes, then suppress, addressed by cio_id.
            let bounce = try await requests(for: try Fixtures.bytes("email_bounced.json"))
            #expect(bounce.count == 2)
            #expect(bounce.map(\.path) == ["/api/v2/batch", "/api/v2/batch"])
            let bounceItem = try #require(bounce.first?.batch.first)
            #expect(bounceItem["action"] as? String == "identify")
            #expect(bounceItem["identifiers"] as? [String: String] == ["cio_id": "a1b2c3000903"])
            let bounceAttributes = try #require(bounceItem["attributes"] as? [String: Any])
            #expect(bounceAttributes["email_bounced"] as? Bool == true)
            #expect(bounceAttributes["email_bounced_at"] as? Int == 1_767_230_000)
            #expect(bounceAttributes["last_bounce_delivery_id"] as? String == "dgXkAQEBpQ1k2m3n4o5p6q==")
            #expect(bounce.last?.batch.count == 1)
            #expect(bounce.last?.batch.first?["action"] as? String == "suppress")
            #expect(bounce.last?.batch.first?["identifiers"] as? [String: String] == ["cio_id": "a1b2c3000903"])

            // Spam complaint: attributes, then suppress.
            let spam = try await requests(for: try Fixtures.bytes("email_spammed.json"))
            #expect(spam.map { $0.batch.first?["action"] as? String } == ["identify", "suppress"])
            #expect((spam.first?.batch.first?["attributes"] as? [String: Any])?["spam_complaint"] as? Bool == true)

            // Unsubscribe: attributes only.
            let unsubscribe = try await requests(for: try Fixtures.bytes("customer_unsubscribed.json"))
            #expect(unsubscribe.count == 1)
            let unsubscribeAttributes = try #require(unsubscribe.first?.batch.first?["attributes"] as? [String: Any])
            #expect(unsubscribeAttributes["unsubscribed"] as? Bool == true)
            #expect(unsubscribeAttributes["unsubscribed_at"] as? Int == 1_767_231_000)

            // Click, and an open (the click fixture with another metric and id): engagement.
            let clickBody = try Fixtures.bytes("email_clicked.json")
            let click = try await requests(for: clickBody)
            #expect(click.count == 1)
            #expect((click.first?.batch.first?["attributes"] as? [String: Any])?["last_email_metric"] as? String == "clicked")
            let openBody = Array(
                String(decoding: clickBody, as: UTF8.self)
                    .replacingOccurrences(of: #""metric":"clicked""#, with: #""metric":"opened""#)
                    .replacingOccurrences(of: "01JBX5A0C4D8E2F6G0H4J8K2M6", with: "01JBX5A0C4D8E2F6G0H4J8K2M7")
                    .replacingOccurrences(of: "1767229200", with: "1767229300").utf8)
            let open = try await requests(for: openBody)
            #expect(open.count == 1)
            #expect((open.first?.batch.first?["attributes"] as? [String: Any])?["last_email_metric"] as? String == "opened")

            // Sent and delivered: warehouse only, no request.
            #expect(try await requests(for: try Fixtures.bytes("email_sent.json")).isEmpty)
            #expect(try await requests(for: try Fixtures.bytes("push_delivered_email_only_workspace.json")).isEmpty)
            #expect(try await harness.pending() == 0)
        }
    }

    @Test func manyEventsForOnePersonCollapseIntoOneOperation() async throws {
        try await withShutdown(try await WorkerHarness.make()) { harness in
            for second in 0..<50 {
                try await harness.add(event(second % 2 == 0 ? "opened" : "clicked", person: "busy", timestamp: 1_767_230_000 + Int64(second)))
            }
            try await harness.add(event("clicked", person: "other"))
            let report = try await harness.runOnce()
            #expect(report.count(.applied) == 51)
            let requests = harness.server.requests
            #expect(requests.count == 1)
            let batch = try #require(requests.first?.batch)
            #expect(batch.count == 2, "one identify per person")
            let busy = try #require(batch.first { ($0["identifiers"] as? [String: String])?["cio_id"] == "cio-busy" })
            #expect((busy["attributes"] as? [String: Any])?["last_email_engaged_at"] as? Int == 1_767_230_049)
            #expect((busy["attributes"] as? [String: Any])?["last_email_metric"] as? String == "clicked")
        }
    }

    @Test func olderEventsNeverMoveMonotonicAttributesBackAcrossBatches() async throws {
        try await withShutdown(try await WorkerHarness.make()) { harness in
            try await harness.add(event("clicked", person: "m", timestamp: 2_000))
            _ = try await harness.runOnce()
            harness.server.reset()
            // An older open arrives later: nothing to send.
            try await harness.add(event("opened", person: "m", timestamp: 1_000))
            let report = try await harness.runOnce()
            #expect(report.count(.noAction) == 1)
            #expect(harness.server.requests.isEmpty)

            // Resubscribe (newer), then an old unsubscribe retried late.
            try await harness.add(event("subscribed", type: "customer", person: "m", timestamp: 3_000))
            _ = try await harness.runOnce()
            try await harness.add(event("unsubscribed", type: "customer", person: "m", timestamp: 2_500))
            _ = try await harness.runOnce()
            let sent = harness.server.requests.flatMap(\.batch).compactMap { $0["attributes"] as? [String: Any] }
            #expect(sent.first?["unsubscribed"] as? Bool == false)
            #expect(!sent.contains { $0["unsubscribed"] as? Bool == true }, "the old unsubscribe must not override the newer resubscribe")
            #expect(try await harness.pending() == 0)
        }
    }

    @Test func throttlingAndServerErrorsAreRetriedUntilTheySucceed() async throws {
        try await withShutdown(try await WorkerHarness.make(attempts: 4)) { harness in
            harness.server.script(.init(status: 500), .init(status: 429, headers: ["Retry-After": "1"]), .ok)
            try await harness.add(event("clicked"))
            let start = ContinuousClock.now
            let report = try await harness.runOnce()
            #expect(report.count(.applied) == 1)
            #expect(harness.server.requests.count == 3)
            #expect(ContinuousClock.now - start >= .seconds(1), "Retry-After: 1 was waited out")
            #expect(try await harness.pending() == 0)
        }
    }

    @Test(arguments: [400, 401])
    func rejectedRequestsSendTheEntriesToDeadLettersWithTheReason(status: Int) async throws {
        try await withShutdown(try await WorkerHarness.make()) { harness in
            harness.server.script(.init(status: status, body: #"{"meta":{"error":"nope"}}"#))
            try await harness.add(event("clicked"))
            let report = try await harness.runOnce()
            #expect(report.count(.deadLettered) == 1)
            #expect(harness.server.requests.count == 1, "a \(status) is not retried")
            let letter = try #require(try await harness.queue.deadLetters().first)
            #expect(letter.reason == "track_api_rejected")
            #expect(letter.error.contains("HTTP \(status)"))
            #expect(letter.attempts == 1)
            #expect(try await harness.pending() == 0)

            // Once the cause is fixed, a replay processes the event.
            guard case .replayed = try await harness.queue.replay(deadLetterID: letter.id) else {
                Issue.record("replay failed")
                return
            }
            let replayed = try await harness.runOnce()
            #expect(replayed.count(.applied) == 1)
            #expect(harness.server.requests.count == 2)
            #expect(try await harness.queue.deadLetters().isEmpty)
        }
    }

    @Test func a207DeadLettersOnlyTheItemsItNames() async throws {
        try await withShutdown(try await WorkerHarness.make()) { harness in
            harness.server.script(.itemErrors([1]))
            let ids = [
                try await harness.add(event("clicked", person: "a")), try await harness.add(event("clicked", person: "b")),
                try await harness.add(event("clicked", person: "c")),
            ]
            let report = try await harness.runOnce()
            #expect(report.outcomes[ids[0]] == .applied && report.outcomes[ids[2]] == .applied)
            #expect(report.outcomes[ids[1]] == .deadLettered)
            #expect(try await harness.queue.deadLetters().map(\.reason) == ["track_api_item_rejected"])
        }
    }

    @Test func anUnavailableTrackAPILeavesEntriesPendingAndTooManyDeliveriesEndInDeadLetters() async throws {
        try await withShutdown(try await WorkerHarness.make(attempts: 2, maxDeliveries: 2, reclaimIdle: .milliseconds(50))) { harness in
            let failing = ScriptedHTTPServer.Answer(status: 503)
            harness.server.script(failing, failing, failing, failing)
            try await harness.add(event("bounced"))
            let first = try await harness.runOnce()
            #expect(first.count(.retryLater) == 1)
            #expect(try await harness.pending() == 1, "not acknowledged: redelivered later")
            #expect(harness.server.requests.count == 2)
            // Redelivery 2 fails the same way; the third delivery is over the limit.
            try await Task.sleep(for: .milliseconds(80))
            let second = try await harness.processor.process(try await harness.consumer.reclaim(), now: 0)
            #expect(second.count(.retryLater) == 1)
            try await Task.sleep(for: .milliseconds(80))
            let third = try await harness.processor.process(try await harness.consumer.reclaim(), now: 0)
            #expect(third.count(.deadLettered) == 1)
            let letter = try #require(try await harness.queue.deadLetters().first)
            #expect(letter.reason == "max_deliveries" && letter.attempts == 3)
            #expect(try await harness.pending() == 0)
            #expect(harness.server.requests.count == 4, "no suppress was sent while the attributes failed")
            #expect(!harness.server.requests.flatMap(\.batch).contains { $0["action"] as? String == "suppress" })
        }
    }

    @Test func aWorkerKilledMidBatchIsCompletedByAnother() async throws {
        let crashed = try await WorkerHarness.make(name: "crashed", reclaimIdle: .milliseconds(100))
        for person in ["a", "b", "c"] { try await crashed.add(event("bounced", person: person)) }
        // It read the batch and died before acknowledging anything.
        #expect(try await crashed.consumer.readNew().count == 3)
        await crashed.consumer.shutdown()
        try await withShutdown(
            try await WorkerHarness.make(queue: crashed.queue, server: crashed.server, name: "rescuer", reclaimIdle: .milliseconds(100))
        ) { rescuer in
            try await Task.sleep(for: .milliseconds(150))
            let reclaimed = try await rescuer.consumer.reclaim()
            #expect(reclaimed.count == 3)
            let report = try await rescuer.processor.process(reclaimed, now: 0)
            #expect(report.count(.applied) == 3)
            #expect(try await rescuer.pending() == 0)
            #expect(rescuer.server.requests.flatMap(\.batch).filter { $0["action"] as? String == "suppress" }.count == 3)
        }
    }

    @Test func aBatchThatWaitsLongerThanTheReclaimIdleIsNeverWorkedByASecondConsumer() async throws {
        // Customer.io throttles for three seconds in all; a batch is abandoned after one second of
        // silence. The worker in hand must keep its claim, or the other would repeat the update.
        try await withShutdown(try await WorkerHarness.make(name: "slow", attempts: 5, reclaimIdle: .seconds(1))) { slow in
            try await withShutdown(try await WorkerHarness.make(queue: slow.queue, server: slow.server, name: "eager", reclaimIdle: .seconds(1))) {
                eager in
                let throttled = ScriptedHTTPServer.Answer(status: 429, headers: ["Retry-After": "1"])
                slow.server.script(throttled, throttled, throttled, .ok)
                try await slow.add(event("clicked"))
                var logger = Logger(label: "loop-test")
                logger.logLevel = .critical
                func loop(_ harness: WorkerHarness) -> ConsumerLoop {
                    ConsumerLoop(
                        consumer: harness.consumer, reclaimInterval: .milliseconds(100), unavailablePause: .milliseconds(100), logger: logger
                    ) { batch in
                        try await harness.processor.process(batch, now: 0).count(.retryLater) > 0
                    }
                }
                let (slowLoop, eagerLoop) = (loop(slow), loop(eager))
                let first = Task { try await slowLoop.run() }
                while slow.server.requests.isEmpty { try await Task.sleep(for: .milliseconds(20)) }
                let second = Task { try await eagerLoop.run() }
                try await Task.sleep(for: .seconds(5))
                first.cancel()
                second.cancel()
                _ = try? await (first.value, second.value)
                #expect(slow.server.requests.count == 4, "three throttled attempts and one that landed, by one worker only")
                #expect(try await slow.pending() == 0)
            }
        }
    }

    @Test func aHungBatchIsLeftForAnotherConsumerOnceItsClaimStopsBeingRenewed() async throws {
        try await withShutdown(try await WorkerHarness.make(name: "hung", reclaimIdle: .milliseconds(600))) { hung in
            try await withShutdown(
                try await WorkerHarness.make(queue: hung.queue, server: hung.server, name: "rescuer", reclaimIdle: .milliseconds(600))
            ) { rescuer in
                try await hung.add(event("bounced"))
                var logger = Logger(label: "loop-test")
                logger.logLevel = .critical
                let loop = ConsumerLoop(
                    consumer: hung.consumer, reclaimInterval: .seconds(60), unavailablePause: .milliseconds(100), logger: logger,
                    maximumClaimRenewal: .seconds(2)
                ) { _ in
                    try await Task.sleep(for: .seconds(30))  // never ends in time
                    return false
                }
                let running = Task { try await loop.run() }
                defer { running.cancel() }
                while try await hung.pending() == 0 { try await Task.sleep(for: .milliseconds(20)) }
                let start = ContinuousClock.now
                var taken: [DeliveredEntry] = []
                while taken.isEmpty, ContinuousClock.now - start < .seconds(5) {
                    try await Task.sleep(for: .milliseconds(100))
                    taken = try await rescuer.consumer.reclaim()
                }
                let waited = ContinuousClock.now - start
                #expect(taken.count == 1)
                #expect(waited >= .seconds(2), "kept while the claim was renewed, \(waited)")
                #expect(waited < .seconds(4), "taken over once renewal stopped and the idle time passed, \(waited)")
            }
        }
    }

    /// What two workers on one queue and Track server did when the first was still at its
    /// request for an older subscribe (answered `firstAnswer`) as the second processed a newer one.
    struct OverlappingWrites {
        /// subscribed_at as the server received it, and as it answered (what it applied last wins).
        var received: [Int64]
        var landed: [Int64]
        /// The second worker's metrics.
        var secondMetrics: String
    }

    func overlappingSubscribes(firstAnswer: ScriptedHTTPServer.Answer) async throws -> OverlappingWrites {
        try await withShutdown(try await WorkerHarness.make(name: "first", attempts: 3)) { first in
            try await withShutdown(try await WorkerHarness.make(queue: first.queue, server: first.server, name: "second", attempts: 3)) { second in
                first.server.script(firstAnswer)
                try await first.add(event("subscribed", type: "customer", timestamp: 1_767_230_100))
                let older = Task { try await first.runOnce() }
                while first.server.requests.isEmpty { try await Task.sleep(for: .milliseconds(10)) }
                try await second.add(event("subscribed", type: "customer", timestamp: 1_767_230_200))
                #expect(try await second.runOnce().count(.applied) == 1)
                #expect(try await older.value.count(.applied) == 1)
                func subscribedAt(_ requests: [ScriptedHTTPServer.RecordedRequest]) -> [Int64] {
                    requests.flatMap(\.batch).compactMap { (($0["attributes"] as? [String: Any])?["subscribed_at"] as? NSNumber)?.int64Value }
                }
                return OverlappingWrites(
                    received: subscribedAt(first.server.requests), landed: subscribedAt(first.server.answered),
                    secondMetrics: second.registry.emitToString())
            }
        }
    }

    @Test func anOlderUpdateRetriedAfterANewerOneLandedDoesNotMoveTheAttributeBack() async throws {
        // Found by the chaos soak: one worker's request for an older event is throttled and
        // retried; meanwhile another worker applies a newer event. The retry must not undo it.
        let writes = try await overlappingSubscribes(firstAnswer: .init(status: 429, headers: ["Retry-After": "1"]))
        #expect(writes.received.last == 1_767_230_200, "the last write of subscribed_at must be the newest event's: \(writes.received)")
    }

    @Test func twoWorkersWritingOnePersonAtOnceLandInTheOrderTheGuardDecided() async throws {
        // Found by the partition soak: one worker's request for an older event crosses a slow
        // link while another worker decides and sends a newer event of the same person; without
        // one write per person in flight, the older request lands last and moves the attribute back.
        let writes = try await overlappingSubscribes(firstAnswer: .init(delay: .seconds(1)))
        #expect(writes.landed == [1_767_230_100, 1_767_230_200], "subscribed_at as the requests landed: \(writes.landed)")
        let waits = writes.secondMetrics.split(separator: "\n")
            .first { $0.hasPrefix("cio_relay_person_lease_waits_total ") }.flatMap { $0.split(separator: " ").last }.flatMap { Double($0) }
        #expect((waits ?? 0) >= 1, "the second worker waited for the first: \(String(describing: waits))")
    }

    @Test func aRequestThatMayStillLandKeepsItsPersonFromNewerWritesForTheLateWindow() async throws {
        // Found by the partition soak: an attempt that timed out on a cut link was delivered by TCP
        // after the heal, after the retry had succeeded and a newer write of the person had landed,
        // and moved the attribute back. Here the server applies the timed-out attempt half a
        // second after the client gave up on it.
        let make = { (name: String, queue: EventQueue?, server: ScriptedHTTPServer?) in
            try await WorkerHarness.make(
                queue: queue, server: server, name: name, attempts: 2, requestTimeout: .seconds(1), lateWindow: .seconds(2))
        }
        try await withShutdown(try await make("first", nil, nil)) { first in
            try await withShutdown(try await make("second", first.queue, first.server)) { second in
                first.server.script(.init(delay: .milliseconds(1500)), .ok)
                try await first.add(event("subscribed", type: "customer", timestamp: 1_767_230_100))
                #expect(try await first.runOnce().count(.applied) == 1, "the retry went through")
                try await second.add(event("subscribed", type: "customer", timestamp: 1_767_230_200))
                #expect(try await second.runOnce().count(.applied) == 1)
                // Every request has landed, the late one included, before the order is read.
                let patience = ContinuousClock.now + .seconds(3)
                while first.server.answered.count < 3 && ContinuousClock.now < patience { try await Task.sleep(for: .milliseconds(50)) }
                let landed = first.server.answered.flatMap(\.batch).compactMap {
                    (($0["attributes"] as? [String: Any])?["subscribed_at"] as? NSNumber)?.int64Value
                }
                #expect(landed == [1_767_230_100, 1_767_230_100, 1_767_230_200], "subscribed_at as it landed: \(landed)")
            }
        }
    }

    @Test func aLeaseIsRenewedWhileItsRequestIsRetried() async throws {
        // Found by the partition soak: a request retried on a cut link outlived its lease, another
        // worker wrote a newer event of the person, and the first attempt landed after it.
        let make = { (name: String, queue: EventQueue?, server: ScriptedHTTPServer?) in
            try await WorkerHarness.make(
                queue: queue, server: server, name: name, attempts: 3, requestTimeout: .milliseconds(600), lateWindow: .seconds(2),
                lease: .seconds(1))
        }
        try await withShutdown(try await make("first", nil, nil)) { first in
            try await withShutdown(try await make("second", first.queue, first.server)) { second in
                first.server.script(.init(delay: .seconds(1)), .init(delay: .seconds(1)), .ok)
                try await first.add(event("subscribed", type: "customer", timestamp: 1_767_230_100))
                let started = ContinuousClock.now
                let older = Task { try await first.runOnce() }
                // Past the lease's first second, while the first worker is on its second attempt.
                while first.server.requests.count < 2 || ContinuousClock.now - started < .milliseconds(1100) {
                    try await Task.sleep(for: .milliseconds(20))
                }
                try await second.add(event("subscribed", type: "customer", timestamp: 1_767_230_200))
                #expect(try await second.runOnce().count(.applied) == 1)
                #expect(try await older.value.count(.applied) == 1)
                let patience = ContinuousClock.now + .seconds(3)
                while first.server.answered.count < 4 && ContinuousClock.now < patience { try await Task.sleep(for: .milliseconds(50)) }
                let landed = first.server.answered.flatMap(\.batch).compactMap {
                    (($0["attributes"] as? [String: Any])?["subscribed_at"] as? NSNumber)?.int64Value
                }
                #expect(landed.last == 1_767_230_200, "subscribed_at as it landed: \(landed)")
            }
        }
    }

    @Test func aPersonLeasedLongerThanTheWorkerWaitsIsDeferredWithoutPausingIt() async throws {
        // A request without an answer keeps its person for the late window; a newer event of that
        // person waits for redelivery, and the worker goes on (no pause, as for an outage).
        try await withShutdown(try await WorkerHarness.make(name: "first", attempts: 1, requestTimeout: .milliseconds(300), lateWindow: .seconds(30)))
        {
            first in
            try await withShutdown(
                try await WorkerHarness.make(queue: first.queue, server: first.server, name: "second", settleTime: .milliseconds(200))
            ) {
                second in
                first.server.script(.init(delay: .seconds(1)))
                try await first.add(event("subscribed", type: "customer", timestamp: 1_767_230_100))
                #expect(try await first.runOnce().count(.retryLater) == 1, "no answer within 300 ms")
                try await second.add(event("subscribed", type: "customer", timestamp: 1_767_230_200))
                try await second.add(event("opened", person: "someone-else", timestamp: 1_767_230_200))
                let started = ContinuousClock.now
                let report = try await second.runOnce()
                #expect(report.count(.deferred) == 1 && report.count(.applied) == 1 && report.count(.retryLater) == 0, "\(report.outcomes)")
                #expect(ContinuousClock.now - started < .seconds(2), "deferred at once, not waited for")
                #expect(try await second.pending() == 2, "the first worker's entry and the deferred one stay pending")
            }
        }
    }

    @Test func aLeaseNeverReleasedRunsOutByItself() async throws {
        // A worker that died or lost Redis while writing holds its people no longer than the
        // lease: until then another worker is held back, after it goes ahead.
        let queue = try EventQueue(client: TestRedis.client(), configuration: EventQueueConfiguration(prefix: TestRedis.uniquePrefix("lease")))
        let attributeGuard = AttributeGuard(client: queue.client, layout: queue.layout, lease: .seconds(1))
        let planned = PlannedUpdate(
            person: .id("p1"), eventTime: 100, attributes: ["subscribed_at": .number(100)], monotonicAttributes: ["subscribed_at"], suppress: false)
        var updates = PersonUpdates.merge([(0, "default", planned)])
        #expect(try await attributeGuard.apply(to: &updates, at: [0], holder: "dead-worker").isEmpty)
        var other = PersonUpdates.merge([(0, "default", planned)])
        let held = try await attributeGuard.apply(to: &other, at: [0], holder: "live-worker")
        guard case .writing(let left)? = held[0] else {
            Issue.record("held by the first lease: \(held)")
            return
        }
        #expect(left > .zero && left <= .seconds(1), "the time the lease has left: \(left)")
        try await Task.sleep(for: .milliseconds(1100))
        #expect(try await attributeGuard.apply(to: &other, at: [0], holder: "live-worker").isEmpty, "the lease ran out")
        await attributeGuard.release(other, at: [0], holder: "live-worker")
        var third = PersonUpdates.merge([(0, "default", planned)])
        #expect(try await attributeGuard.apply(to: &third, at: [0], holder: "next-worker").isEmpty, "released")
        await queue.shutdown()
    }

    @Test func malformedEntriesAndEventsWithoutAPersonAreNotRetried() async throws {
        try await withShutdown(try await WorkerHarness.make()) { harness in
            _ = try await harness.queue.client.send(
                "XADD", RedisArgument(harness.queue.keys.events), "*", "body", "{not json", "ws", "default", "rt", "1", "t", "email", "m", "bounced")
            let nobody = try await harness.add(
                Array(
                    #"{"event_id":"01NOBODY\#(UUID().uuidString.prefix(6))","object_type":"email","metric":"bounced","timestamp":1,"data":{"identifiers":{"id":null,"email":null,"cio_id":null}}}"#
                        .utf8))
            let report = try await harness.runOnce()
            #expect(report.outcomes[nobody] == .skipped)
            #expect(report.count(.deadLettered) == 1)
            #expect(try await harness.queue.deadLetters().map(\.reason) == ["malformed"])
            #expect(harness.server.requests.isEmpty)
            #expect(try await harness.pending() == 0)
        }
    }

    @Test func dryRunSendsNothingAndAcknowledges() async throws {
        try await withShutdown(try await WorkerHarness.make(dryRun: true)) { harness in
            try await harness.add(event("bounced"))
            try await harness.add(event("sent"))
            let report = try await harness.runOnce()
            #expect(report.count(.dryRun) == 1 && report.count(.noAction) == 1)
            #expect(report.operations == 2, "identify and suppress counted")
            #expect(harness.server.requests.isEmpty)
            #expect(try await harness.pending() == 0)
        }
    }

    @Test func aWorkerCountsInTheRegistryItIsGiven() async throws {
        try await withShutdown(try await WorkerHarness.make()) { harness in
            try await harness.add(try Fixtures.bytes("email_bounced.json"))
            try await harness.add(try Fixtures.bytes("email_sent.json"))
            _ = try await harness.runOnce()
            let metrics = harness.registry.emitToString()
            #expect(
                metrics.contains(#"cio_relay_events_processed_total{group="actions",object_type="email",metric="bounced",outcome="applied"} 1"#),
                "\(metrics)")
            #expect(
                metrics.contains(#"cio_relay_events_processed_total{group="actions",object_type="email",metric="sent",outcome="no_action"} 1"#),
                "\(metrics)")
            #expect(metrics.contains(#"cio_relay_track_requests_total{status="200",route="/api/v2/batch"} 2"#), "\(metrics)")
            // Another harness's registry saw none of it.
            let other = try await WorkerHarness.make(queue: harness.queue, server: harness.server, name: "w2")
            #expect(!other.registry.emitToString().contains("cio_relay_events_processed_total"))
            await other.consumer.shutdown()
        }
    }

    @Test func theRateBudgetHoldsAcrossTwoWorkers() async throws {
        try await withShutdown(try await ScriptedHTTPServer()) { server in
            let prefix = TestRedis.uniquePrefix("rate")
            let rate = 10.0
            let configuration = TrackClientConfiguration(baseURL: server.baseURL, credentials: TrackCredentials(siteID: "s", apiKey: "k"))
            // Two replicas: separate Redis clients and Track clients, one budget key.
            try await withTestRedis { first in
                try await withTestRedis { second in
                    let replicas = [first, second].map { redis in
                        TrackClient(
                            configuration: configuration,
                            gate: RateBudget(client: redis, key: QueueKeys(prefix: prefix, tag: "0").rateBudget(workspace: "default"), rate: rate))
                    }
                    let deadline = ContinuousClock.now + .milliseconds(2500)
                    await withTaskGroup(of: Void.self) { group in
                        for client in replicas {
                            group.addTask {
                                while ContinuousClock.now < deadline {
                                    _ = await client.send([.identify(.id("u"), attributes: ["n": .number(1)])])
                                }
                            }
                        }
                    }
                }
            }
            let times = server.requests.map(\.receivedAt).sorted()
            // 2.5 s at 10/s: about 25 requests in all. Redis grants turns 100 ms apart, so at most
            // rate + 1 grants fall in any one second; the server sees them after a delivery delay that
            // varies, by 100 ms and more on a loaded CI machine, which can bring one more request into
            // a second. Two workers without the shared budget would send about twice the rate. The
            // lower bound only shows the budget is not starved: a loaded two-core machine has been
            // seen to fit 19 round trips into the 2.5 s, and 14 with the release build and the
            // forwarding tests' Python servers beside it.
            #expect((10...28).contains(times.count), "\(times.count) requests")
            var busiest = 0
            for (index, start) in times.enumerated() {
                busiest = max(busiest, times[index...].prefix { $0 - start < .seconds(1) }.count)
            }
            #expect(busiest <= Int(rate) + 2, "busiest second had \(busiest) requests")
        }
    }
}
