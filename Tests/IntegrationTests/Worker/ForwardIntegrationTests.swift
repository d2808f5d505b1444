import CustomerIO
import EventQueue
import Foundation
import Hiredis
import Logging
import Prometheus
import TestSupport
import Testing
import Worker

/// Forwarders on real Redis, each reading its own group, towards destinations that verify
/// signatures with the standardwebhooks package.
struct ForwardHarness: ShutdownAfterTest {
    let queue: EventQueue
    let destinations: ForwardDestinations
    let forwarders: [String: Forwarder]
    let registry: PrometheusCollectorRegistry

    /// `specs`: (name, path, object types, metrics); `tune` adjusts each destination.
    static func make(
        _ specs: [(name: String, path: String, objectTypes: Set<String>?, metrics: Set<String>?)],
        tune: (inout ForwardDestination) -> Void = { _ in }, breaker: CircuitBreaker = CircuitBreaker(), reclaimIdle: Duration = .milliseconds(200)
    ) async throws -> ForwardHarness {
        let queue = EventQueue(client: try TestRedis.client(), configuration: EventQueueConfiguration(prefix: TestRedis.uniquePrefix("fw")))
        let destinations = try await ForwardDestinations()
        let registry = PrometheusCollectorRegistry()
        var logger = Logger(label: "forward-test")
        logger.logLevel = .critical
        var forwarders: [String: Forwarder] = [:]
        for spec in specs {
            var destination = ForwardDestination(
                name: spec.name, url: destinations.url(spec.path), signer: try StandardWebhookSigner(secret: ForwardDestinations.secret),
                objectTypes: spec.objectTypes, metrics: spec.metrics, timeout: .seconds(2))
            tune(&destination)
            let consumer = try GroupConsumer(
                queue: queue,
                configuration: ConsumerConfiguration(
                    group: destination.group, consumer: "c-\(spec.name)", batchSize: 500, blockTime: .milliseconds(50), reclaimIdle: reclaimIdle))
            try await consumer.createGroup()
            forwarders[spec.name] = Forwarder(
                destination: destination, consumer: consumer,
                retry: TrackRetryPolicy(maximumAttempts: 3, initialBackoff: .milliseconds(10), maximumBackoff: .milliseconds(50)), breaker: breaker,
                logger: logger, metrics: ForwardMetrics(factory: PrometheusMetricsFactory(registry: registry)))
        }
        return ForwardHarness(queue: queue, destinations: destinations, forwarders: forwarders, registry: registry)
    }

    /// Queues an event (as the receiver would), received `age` ago; answers its event id.
    @discardableResult
    func add(type: String = "email", metric: String = "opened", age: Duration = .zero) async throws -> String {
        let id = Fixtures.newEventID()
        let body = Fixtures.event(id: id, metric: metric, objectType: type)
        let receivedAt = Int64(Date().timeIntervalSince1970 * 1000) - age.milliseconds
        let event = IncomingEvent(eventID: id, body: body, workspace: "default", receivedAt: receivedAt, objectType: type, metric: metric)
        guard case .accepted = try await queue.enqueue(event) else { throw TestSetupError("not accepted") }
        return id
    }

    /// One round for `name`: entries left pending first (as the consumer loop does), else new ones.
    func runOnce(_ name: String) async throws -> Forwarder.Report {
        let forwarder = try #require(forwarders[name])
        var batch = try await forwarder.consumer.reclaim()
        if batch.isEmpty { batch = try await forwarder.consumer.readNew() }
        return try await forwarder.process(batch, now: Int64(Date().timeIntervalSince1970 * 1000))
    }

    func shutdown() async {
        for forwarder in forwarders.values { await forwarder.consumer.shutdown() }
        await destinations.shutdown()
        await queue.shutdown()
    }
}

@Suite("Forwarding to HTTP endpoints, signed with Standard Webhooks (real Redis)", .serialized)
struct ForwardIntegrationTests {
    @Test func everyEventReachesEachMatchingDestinationOnceSignedAndFiltered() async throws {
        try await withShutdown(
            try await ForwardHarness.make([
                ("analytics", "/analytics", ["email"], ["opened", "clicked"]), ("everything", "/all", nil, nil),
            ])
        ) { harness in
            var ids: [String: String] = [:]  // event id → type/metric
            for (type, metric) in [("email", "opened"), ("email", "clicked"), ("email", "sent"), ("customer", "unsubscribed"), ("push", "opened")] {
                ids[try await harness.add(type: type, metric: metric)] = "\(type)/\(metric)"
            }
            let analytics = try await harness.runOnce("analytics")
            #expect(analytics.count(.delivered) == 2 && analytics.count(.filtered) == 3)
            #expect(try await harness.runOnce("everything").count(.delivered) == 5)
            let deliveries = try harness.destinations.deliveries()
            for delivery in deliveries {
                #expect(delivery.verified, "the standardwebhooks package refused the signature: \(delivery.error)")
            }
            #expect(Set(deliveries.filter { $0.path == "/all" }.map(\.id)) == Set(ids.keys))
            #expect(
                Set(deliveries.filter { $0.path == "/analytics" }.map(\.id))
                    == Set(ids.filter { $0.value == "email/opened" || $0.value == "email/clicked" }.keys))
            #expect(deliveries.count == 7, "one delivery per event and matching destination")
            #expect(try await harness.queue.groupStatistics().allSatisfy { $0.pending == 0 && $0.lag == 0 })
            #expect(harness.registry.emitToString().contains(#"cio_relay_forward_deliveries_total{destination="analytics",outcome="delivered"} 2"#))
        }
    }

    @Test func aDestinationFailingWith500sGetsEveryEventOnceItRecoversAndTheHealthyOneIsNotHeldUp() async throws {
        try await withShutdown(
            try await ForwardHarness.make(
                [("flaky", "/flaky", nil, nil), ("healthy", "/healthy", nil, nil)], breaker: CircuitBreaker(threshold: 1000))
        ) { harness in
            var ids: Set<String> = []
            for _ in 0..<20 { ids.insert(try await harness.add()) }
            // Every attempt of the first round fails (3 attempts × 20 events), and some after.
            try harness.destinations.fail("/flaky", next: 70)
            let first = try await harness.runOnce("flaky")
            #expect(first.count(.failed) == 20)
            #expect(try await harness.runOnce("healthy").count(.delivered) == 20, "the other destination is not held up")
            // Redelivered after the reclaim time until the destination has recovered.
            var rounds = 0
            while try await harness.queue.groupStatistics().first(where: { $0.name == "forward:flaky" })?.pending ?? 0 > 0, rounds < 20 {
                try await Task.sleep(for: .milliseconds(250))
                _ = try await harness.runOnce("flaky")
                rounds += 1
            }
            let flaky = try harness.destinations.deliveries().filter { $0.path == "/flaky" }
            #expect(flaky.count > 20, "failed deliveries were tried again")
            #expect(Set(flaky.map(\.id)) == ids, "every event reached the destination at least once")
            // Deduplicating by webhook-id leaves exactly one successful delivery of each.
            let answered200 = Dictionary(grouping: flaky.suffix(from: 70), by: \.id)
            #expect(answered200.count == 20 && answered200.values.allSatisfy { $0.count == 1 })
            #expect(try await harness.queue.deadLetters().isEmpty)
        }
    }

    @Test func aHangingDestinationOpensItsCircuitWhileTheHealthyOneKeepsReceiving() async throws {
        try await withShutdown(
            try await ForwardHarness.make(
                [("stuck", "/stuck", nil, nil), ("healthy", "/healthy", nil, nil)],
                tune: {
                    $0.timeout = .milliseconds(300)
                    $0.concurrency = 1
                },
                breaker: CircuitBreaker(threshold: 2, cooldown: .seconds(30)))
        ) { harness in
            try harness.destinations.fail("/stuck", next: 1000, hang: true)
            for _ in 0..<10 { try await harness.add() }
            let stuck = Task { try await harness.runOnce("stuck") }
            // While the stuck destination times out, the healthy one delivers everything.
            let start = ContinuousClock.now
            #expect(try await harness.runOnce("healthy").count(.delivered) == 10)
            #expect(ContinuousClock.now - start < .seconds(2))
            let report = try await stuck.value
            #expect(report.count(.failed) == 10)
            // Two timeouts opened the circuit: the other eight were held back without a request.
            #expect(try harness.destinations.deliveries().filter { $0.path == "/stuck" }.count == 2)
            #expect(harness.registry.emitToString().contains(#"cio_relay_forward_circuit_open{destination="stuck"} 1"#))
        }
    }

    @Test func anEventTooOldIsADeadLetterNamingTheDestinationAndReplaysToItAlone() async throws {
        try await withShutdown(
            try await ForwardHarness.make(
                [("gone", "/gone", nil, nil), ("other", "/other", nil, nil)], tune: { $0.giveUpAfter = .seconds(60) },
                breaker: CircuitBreaker(threshold: 100))
        ) { harness in
            try harness.destinations.fail("/gone", next: 3, status: 503)
            let id = try await harness.add(age: .seconds(120))
            #expect(try await harness.runOnce("other").count(.delivered) == 1)
            #expect(try await harness.runOnce("gone").count(.gaveUp) == 1)
            let letter = try #require(try await harness.queue.deadLetters().first)
            #expect(letter.reason == DeadLetterReason.forwardFailed.rawValue && letter.group == "forward:gone")
            #expect(letter.error.contains("destination gone: HTTP 503 after 3 attempt(s)"), "\(letter.error)")

            // The destination is back: a replay goes to it, and to no other group.
            let actions = try GroupConsumer(
                queue: harness.queue, configuration: ConsumerConfiguration(group: "actions", consumer: "a", blockTime: .milliseconds(50)))
            try await actions.createGroup()
            try await actions.acknowledge(try await actions.readNew().map(\.entry.id))  // the original entry, acted on
            guard case .replayed = try await harness.queue.replay(deadLetterID: letter.id) else { throw TestSetupError("not replayed") }
            // Still failing at first: a replay has its own give_up_after, counted from the replay.
            try harness.destinations.fail("/gone", next: 3, status: 503)
            #expect(try await harness.runOnce("gone").count(.failed) == 1)
            try await Task.sleep(for: .milliseconds(300))
            #expect(try await harness.runOnce("gone").count(.delivered) == 1)
            #expect(try await harness.runOnce("other").outcomes.isEmpty, "another destination does not see the replay")
            #expect(try await actions.readNew().isEmpty, "nor does the actions group")
            #expect(try await harness.queue.groupStatistics().allSatisfy { $0.pending == 0 })
            await actions.shutdown()
            let gone = try harness.destinations.deliveries().filter { $0.path == "/gone" }
            #expect(gone.map(\.id) == Array(repeating: id, count: 7) && gone.allSatisfy(\.verified))
        }
    }
}
