import CustomerIO
import EventQueue
import Foundation
import Hiredis
import TestSupport
import Testing

/// Where a partitioned queue lives in a test: several partitions on the one test Redis (what a
/// deployment preparing for a cluster runs), or sixteen on the test command's Redis Cluster.
enum QueueBackend: String, CaseIterable, CustomTestStringConvertible {
    case singleRedis
    case cluster

    var partitions: Int { self == .cluster ? 16 : 4 }
    var testDescription: String { rawValue }

    func configuration(minReplicas: Int = 0) throws -> RedisConfiguration {
        var configuration = self == .cluster ? try TestRedisCluster.configuration() : try TestRedis.configuration()
        configuration.minReplicas = minReplicas
        return configuration
    }

    /// A queue under a prefix of its own; `prefix` shares one between queues (two receivers).
    func queue(prefix: String, minReplicas: Int = 0) throws -> EventQueue {
        EventQueue(
            client: try RedisClient(configuration: configuration(minReplicas: minReplicas)),
            configuration: EventQueueConfiguration(prefix: prefix, partitions: partitions))
    }
}

@Suite("A partitioned queue on one Redis and on a Redis Cluster")
struct PartitionedQueueTests {
    static func event(_ id: String) -> IncomingEvent {
        IncomingEvent(
            eventID: id, body: Fixtures.event(id: id), workspace: "default", receivedAt: 1_767_235_000_000, objectType: "email", metric: "bounced")
    }

    /// Enqueues every event through each queue at once, 64 calls in flight; the outcomes per queue.
    static func enqueue(_ ids: [String], through queues: [EventQueue]) async throws -> [EnqueueOutcome] {
        try await withThrowingTaskGroup(of: EnqueueOutcome.self) { group in
            var outcomes: [EnqueueOutcome] = []
            var inFlight = 0
            for id in ids {
                for queue in queues {
                    if inFlight >= 64, let outcome = try await group.next() {
                        outcomes.append(outcome)
                        inFlight -= 1
                    }
                    group.addTask { try await queue.enqueue(event(id)) }
                    inFlight += 1
                }
            }
            for try await outcome in group { outcomes.append(outcome) }
            return outcomes
        }
    }

    static func consumer(_ queue: EventQueue, group: String, name: String, reclaimIdle: Duration = .seconds(60)) throws -> GroupConsumer {
        try GroupConsumer(
            queue: queue,
            configuration: ConsumerConfiguration(
                group: group, consumer: name, batchSize: 100, blockTime: .milliseconds(200), reclaimIdle: reclaimIdle, maxDeliveries: 5,
                pollInterval: .milliseconds(20)))
    }

    /// Reads and acknowledges until a read comes back empty; the entries read.
    static func drain(_ consumer: GroupConsumer) async throws -> [DeliveredEntry] {
        var all: [DeliveredEntry] = []
        while true {
            let batch = try await consumer.readNew()
            if batch.isEmpty { return all }
            try await consumer.acknowledge(batch.map(\.entry.id))
            all += batch
        }
    }

    @Test(arguments: QueueBackend.allCases)
    func distinctEventsThroughTwoReceiversAreAcceptedOnceEachAndSpreadOverEveryPartition(backend: QueueBackend) async throws {
        let prefix = TestRedis.uniquePrefix("pq")
        try await withShutdown(try backend.queue(prefix: prefix)) { first async throws in
            try await withShutdown(try backend.queue(prefix: prefix)) { second async throws in
                let ids = (0..<2000).map { _ in Fixtures.newEventID() }
                let outcomes = try await Self.enqueue(ids, through: [first, second])
                #expect(outcomes.filter { $0 != .duplicate }.count == 2000, "each event accepted by exactly one of the two receivers")
                let lengths = try await first.eachPartition { keys throws(RedisError) in try await first.length(of: keys.events) }
                #expect(lengths.reduce(0, +) == 2000)
                #expect(lengths.allSatisfy { $0 > 0 }, "every partition holds events: \(lengths)")
                if backend == .cluster {
                    for node in try await first.client.primaries() {
                        let streams = try await ClusterScan.keys(node, matching: "\(prefix):{*}:events")
                        #expect(!streams.isEmpty, "primary \(node.endpoint) holds no partition's stream")
                    }
                }
                let again = try await Self.enqueue(ids, through: [second])
                #expect(again.allSatisfy { $0 == .duplicate }, "the same events again are all duplicates")
                let status = try await first.status(nowMilliseconds: 1_767_235_000_000)
                #expect(status.partitions.count == backend.partitions)
                #expect(status.streamLength == 2000)
                // Exact while the server holds few keys; the shared test Redis may hold more.
                #expect(status.dedupKeys == 2000 || !status.dedupKeysExact)
                #expect(status.redisPrimaries == (backend == .cluster ? 3 : 1))
            }
        }
    }

    @Test(arguments: QueueBackend.allCases)
    func bothGroupsDrainEveryPartitionAndADeadConsumersEntriesAreReclaimedFromSeveral(backend: QueueBackend) async throws {
        try await withShutdown(try backend.queue(prefix: TestRedis.uniquePrefix("pq"))) { queue async throws in
            // 3 s of idle: draining 400 entries from 16 partitions beside every other suite can take
            // over a second on two cores, and must not make the held entries look abandoned.
            let dead = try Self.consumer(queue, group: "actions", name: "dead", reclaimIdle: .seconds(3))
            let rescuer = try Self.consumer(queue, group: "actions", name: "rescuer", reclaimIdle: .seconds(3))
            let warehouse = try Self.consumer(queue, group: "warehouse", name: "w")
            try await dead.createGroup()
            try await warehouse.createGroup()
            _ = try await Self.enqueue((0..<400).map { _ in Fixtures.newEventID() }, through: [queue])

            let held = try await dead.readNew()
            let heldPartitions = Set(held.map(\.entry.address.partition))
            #expect(held.count >= 90 && held.count <= 100, "one batch is shared over the partitions: \(held.count)")
            #expect(heldPartitions.count == backend.partitions, "the batch comes from every partition: \(heldPartitions.sorted())")

            let stored = try await Self.drain(warehouse)
            #expect(stored.count == 400 && Set(stored.map(\.entry.id)).count == 400)

            #expect(try await rescuer.reclaim().isEmpty, "entries younger than the reclaim idle time stay with their consumer")
            try await Task.sleep(for: .milliseconds(3100))
            let reclaimed = try await rescuer.reclaim()
            #expect(Set(reclaimed.map(\.entry.id)) == Set(held.map(\.entry.id)), "the dead consumer's entries, from every partition, and only those")
            #expect(reclaimed.allSatisfy { $0.deliveries == 2 })
            try await rescuer.acknowledge(reclaimed.map(\.entry.id))
            let rest = try await Self.drain(rescuer)
            #expect(rest.count + reclaimed.count == 400)

            let statistics = try await queue.groupStatistics()
            #expect(statistics.count == 2 && statistics.allSatisfy { $0.pending == 0 && $0.lag == 0 && $0.partitions.count == backend.partitions })
            #expect(try await queue.trimAcknowledged() == 400)
            let lengths = try await queue.eachPartition { keys throws(RedisError) in try await queue.length(of: keys.events) }
            #expect(lengths == Array(repeating: 0, count: backend.partitions), "every partition trimmed")
            for consumer in [dead, rescuer, warehouse] { await consumer.shutdown() }
        }
    }

    @Test(arguments: QueueBackend.allCases)
    func deadLettersAreListedShownAndReplayedAcrossPartitions(backend: QueueBackend) async throws {
        try await withShutdown(try backend.queue(prefix: TestRedis.uniquePrefix("pq"))) { queue async throws in
            let consumer = try Self.consumer(queue, group: "actions", name: "c")
            try await consumer.createGroup()
            _ = try await Self.enqueue((0..<40).map { _ in Fixtures.newEventID() }, through: [queue])
            let batch = try await consumer.readNew()
            for delivered in batch.prefix(12) {
                try await consumer.deadLetter(delivered, reason: .trackAPIRejected, error: "400", now: 1)
            }
            #expect(try await queue.deadLetterCount() == 12)
            // Paged three at a time, the pages cover every dead letter once, across partitions.
            var seen: [String] = []
            var start = "-"
            while true {
                let page = try await queue.deadLetters(from: start, count: 3)
                seen += page.map(\.id)
                guard page.count == 3, let last = page.last else { break }
                start = "(" + last.id
            }
            #expect(Set(seen) == Set(try await queue.deadLetters(count: 100).map(\.id)) && seen.count == 12)
            #expect(seen.allSatisfy { $0.contains("/") }, "with several partitions an id names its partition: \(seen.prefix(2))")
            let first = try #require(seen.first)
            #expect(try await queue.deadLetter(id: first)?.reason == "track_api_rejected")
            guard case .replayed(let entryID) = try await queue.replay(deadLetterID: first) else {
                Issue.record("the dead letter \(first) must be replayed")
                return
            }
            #expect(entryID.hasPrefix(first.prefix { $0 != "/" } + "/"), "replayed onto its own partition")
            #expect(try await queue.deadLetterCount() == 11)
            await #expect(throws: RedisError.self) { try await queue.deadLetter(id: "1700000000000-0") }
            #expect(try await queue.purgeDeadLetters() == 11)
            await consumer.shutdown()
        }
    }

    @Test(arguments: QueueBackend.allCases)
    func thePartitionCountIsRecordedAndAnotherIsRefused(backend: QueueBackend) async throws {
        let prefix = TestRedis.uniquePrefix("pq")
        try await withShutdown(try backend.queue(prefix: prefix)) { queue async throws in
            #expect(try await queue.checkPartitions() == .agrees)
            #expect(try await queue.checkPartitions() == .agrees)
            let other = EventQueue(client: queue.client, configuration: EventQueueConfiguration(prefix: prefix, partitions: backend.partitions * 2))
            #expect(try await other.checkPartitions() == .differs(recorded: backend.partitions))
        }
    }

    @Test func switchingFromOnePartitionWaitsUntilItsStreamIsEmpty() async throws {
        let prefix = TestRedis.uniquePrefix("pq")
        try await withTestRedis { client async throws in
            let single = EventQueue(client: client, configuration: EventQueueConfiguration(prefix: prefix))
            _ = try await single.enqueue(Self.event(Fixtures.newEventID()))
            let four = EventQueue(client: client, configuration: EventQueueConfiguration(prefix: prefix, partitions: 4))
            #expect(try await four.checkPartitions() == .singlePartitionStreamNotEmpty(entries: 1))
            _ = try await client.send("DEL", RedisArgument(single.keys.events))
            #expect(try await four.checkPartitions() == .agrees)
            #expect(try await single.checkPartitions() == .differs(recorded: 4))
        }
    }

    @Test func anEventIsAcknowledgedOnlyOnceAReplicaHasIt() async throws {
        // On the cluster every primary has a replica: each enqueue waits for it and succeeds.
        try await withShutdown(try QueueBackend.cluster.queue(prefix: TestRedis.uniquePrefix("pq"), minReplicas: 1)) { queue async throws in
            let outcomes = try await Self.enqueue((0..<200).map { _ in Fixtures.newEventID() }, through: [queue])
            #expect(outcomes.allSatisfy { $0 != .duplicate } && outcomes.count == 200)
            // status names each primary and its replica: none below the minimum.
            let status = try await queue.status(nowMilliseconds: 0)
            #expect(status.replicas.count == 3 && status.replicas.allSatisfy { $0.connectedReplicas == 1 }, "\(status.replicas)")
            #expect(status.minReplicas == 1 && status.primariesBelowMinimum.isEmpty)
        }
        // One Redis without a replica: WAIT falls short, so the answer is an error (a 503), though
        // the event is stored; Customer.io's retry is a duplicate, still unconfirmed.
        // No diskless-sync delay: the replica syncs at once instead of after Redis' default 5 s.
        let primary = try await RedisServerProcess.started(arguments: ["--repl-diskless-sync-delay", "0"])
        let alone = EventQueue(
            client: try RedisClient(
                configuration: {
                    var c = try RedisConfiguration(url: primary.url)
                    c.minReplicas = 1
                    c.replicaTimeout = .milliseconds(100)
                    return c
                }()), configuration: EventQueueConfiguration(prefix: "pq"))
        try await withShutdown(alone) { queue async throws in
            let event = Self.event(Fixtures.newEventID())
            await #expect(throws: RedisError.self) { try await queue.enqueue(event) }
            do {
                _ = try await queue.enqueue(event)
                Issue.record("an unconfirmed duplicate must fail too")
            } catch let error as RedisError {
                #expect(error.code == .replicationShortfall)
            }
            #expect(try await queue.length(of: queue.keys.events) == 1)
            // PING (what /readyz asks) still answers: readiness does not depend on the replicas.
            try await queue.client.ping()
            // status names the primary that has no replica as below the minimum.
            let status = try await queue.status(nowMilliseconds: 0)
            #expect(status.primariesBelowMinimum == [PrimaryReplicas(primary: "127.0.0.1:\(primary.port)", connectedReplicas: 0)])
        }
        // The same Redis with a replica: confirmed.
        let replica = try await RedisServerProcess.started(arguments: ["--replicaof", "127.0.0.1", String(primary.port)])
        let confirmed = EventQueue(
            client: try RedisClient(
                configuration: {
                    var c = try RedisConfiguration(url: primary.url)
                    c.minReplicas = 1
                    return c
                }()), configuration: EventQueueConfiguration(prefix: "pq"))
        try await withShutdown(confirmed) { queue async throws in
            try await waitForReplica(of: queue.client)
            #expect(try await queue.enqueue(Self.event(Fixtures.newEventID())) != .duplicate)
        }
        withExtendedLifetime(replica) {}
    }

    /// Waits until the primary has a replica that finished its first sync (`state=online`; one
    /// still syncing counts as connected but acknowledges nothing).
    private func waitForReplica(of client: RedisClient) async throws {
        for _ in 0..<100 {
            if try await client.send("INFO", "replication").string?.contains("state=online") == true { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestSetupError("the replica did not attach within 10 s")
    }
}
