import EventQueue
import Foundation
import Hiredis
import Logging
import Operations
import TestSupport
import Testing
import Worker

@Suite("Operator commands: policy check, dead letters and status")
struct OperatorCommandsTests {

    @Test func deadLettersCanBeListedShownReplayedAndPurged() async throws {
        try await withTestQueue(prefix: "ops") { queue in
            #expect(try await OperatorCommands.listDeadLetters(queue, from: "-", limit: 10).hasPrefix("no dead letters"))
            var ids: [String] = []
            for (reason, body) in [("track_api_rejected", #"{"event_id":"e1"}"#), ("malformed", "{oops"), ("max_deliveries", #"{"event_id":"e3"}"#)] {
                let reply = try await queue.client.send(
                    "XADD", RedisArgument(queue.keys.dead), "*", "body", RedisArgument(body), "ws", "default",
                    "rt", "1", "t", "email", "m", "bounced", "reason", RedisArgument(reason), "error", "HTTP 400", "attempts", "2", "failed_at", "5")
                ids.append(reply.string ?? "")
            }
            let listing = try await OperatorCommands.listDeadLetters(queue, from: "-", limit: 2)
            #expect(
                listing.contains("3 dead letter(s)") && listing.contains("track_api_rejected") && listing.contains("more: dead-letters list --from"))
            let shown = try await OperatorCommands.showDeadLetter(queue, id: ids[0])
            #expect(shown.contains("reason: track_api_rejected") && shown.contains(#"body: {"event_id":"e1"}"#))
            await #expect(throws: OperationFailure.self) { try await OperatorCommands.showDeadLetter(queue, id: "1-1") }
            await #expect(throws: OperationFailure.self) { try await OperatorCommands.replayDeadLetters(queue, ids: [], all: false) }

            let replayed = try await OperatorCommands.replayDeadLetters(queue, ids: [], all: true)
            #expect(replayed.contains("2 of 2 replayed"), "the malformed one is not replayable: \(replayed)")
            #expect(try await queue.length(of: queue.keys.events) == 2)
            #expect(try await queue.deadLetters().map(\.reason) == ["malformed"])
            await #expect(throws: OperationFailure.self) { try await OperatorCommands.replayDeadLetters(queue, ids: [ids[1]], all: false) }

            await #expect(throws: OperationFailure.self) { try await OperatorCommands.purgeDeadLetters(queue, confirmed: false) }
            #expect(try await OperatorCommands.purgeDeadLetters(queue, confirmed: true).contains("purged 1"))
            #expect(try await queue.length(of: queue.keys.dead) == 0)
        }
    }
    @Test func statusShowsGroupsConsumersDeadLettersAndDedupKeysAndChecksThresholds() async throws {
        // A server of its own: the dedup count depends on what else is in the database.
        let server = try await RedisServerProcess.started()
        try await withShutdown(
            EventQueue(
                client: try RedisClient(configuration: RedisConfiguration(url: server.url)), configuration: EventQueueConfiguration(prefix: "st"))
        ) { queue in
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            let empty = try await OperatorCommands.status(queue, groups: [], json: false, maxLag: 0, maxAge: 0, nowMilliseconds: now)
            #expect(empty.text.contains("0 entries") && empty.text.contains("no consumer groups yet") && empty.exceeded.isEmpty)

            for _ in 0..<5 {
                let id = Fixtures.newEventID()
                _ = try await queue.enqueue(
                    IncomingEvent(
                        eventID: id, body: Fixtures.event(id: id), workspace: "default", receivedAt: now, objectType: "email", metric: "sent"))
            }
            let actions = try GroupConsumer(
                queue: queue, configuration: ConsumerConfiguration(group: "actions", consumer: "worker-a", batchSize: 2, blockTime: .milliseconds(50))
            )
            try await actions.createGroup()
            let read = try await actions.readNew()
            #expect(read.count == 2)
            let warehouse = try GroupConsumer(
                queue: queue,
                configuration: ConsumerConfiguration(group: "warehouse", consumer: "worker-w", batchSize: 10, blockTime: .milliseconds(50)))
            try await warehouse.createGroup()
            try await warehouse.acknowledge(try await warehouse.readNew().map(\.entry.id))
            _ = try await queue.client.send("XADD", RedisArgument(queue.keys.dead), "*", "body", "{}", "reason", "malformed")

            let later = Int64(Date().timeIntervalSince1970 * 1000) + 90_000
            let report = try await OperatorCommands.status(queue, groups: [], json: true, maxLag: 2, maxAge: 60, nowMilliseconds: later)
            let object = try #require(try JSONSerialization.jsonObject(with: Data(report.text.utf8)) as? [String: Any])
            #expect(object["stream_length"] as? Int == 5 && object["dead_letters"] as? Int == 1)
            #expect(object["dedup_keys"] as? Int == 5 && object["dedup_keys_exact"] as? Bool == true)
            #expect((object["redis_used_memory_bytes"] as? Int ?? 0) > 0)
            let groups = try #require(object["groups"] as? [[String: Any]])
            let actionsGroup = try #require(groups.first { $0["name"] as? String == "actions" })
            #expect(actionsGroup["lag"] as? Int == 3 && actionsGroup["pending"] as? Int == 2)
            #expect((actionsGroup["oldest_unprocessed_age_seconds"] as? Double ?? 0) >= 89)
            let consumers = try #require(actionsGroup["consumers"] as? [[String: Any]])
            #expect(consumers.first?["name"] as? String == "worker-a" && consumers.first?["pending"] as? Int == 2)
            let warehouseGroup = try #require(groups.first { $0["name"] as? String == "warehouse" })
            #expect(
                warehouseGroup["lag"] as? Int == 0 && warehouseGroup["pending"] as? Int == 0
                    && warehouseGroup["oldest_unprocessed_age_seconds"] == nil)
            // The actions group is behind on both counts; the caught-up warehouse group on neither.
            #expect(report.exceeded.count == 2 && report.exceeded.allSatisfy { $0.hasPrefix("group actions:") }, "\(report.exceeded)")
            #expect(
                try await OperatorCommands.status(queue, groups: [], json: false, maxLag: 3, maxAge: 120, nowMilliseconds: later).exceeded.isEmpty)
            let text = try await OperatorCommands.status(queue, groups: [], json: false, maxLag: nil, maxAge: nil, nowMilliseconds: later).text
            #expect(
                text.contains("group actions: lag 3, pending 2, oldest unprocessed 1.5 min, 1 consumer(s)")
                    && text.contains("consumer worker-a: pending 2"), "\(text)")
            // The test Redis has no replica and the minimum is 0: named, not flagged.
            #expect(
                text.contains("redis replicas (CIO_RELAY_REDIS_MIN_REPLICAS=0): 127.0.0.1:") && text.contains(" has 0") && !text.contains("BELOW"),
                "\(text)")

            // Past 10,000 keys the dedup count is estimated from random keys.
            _ = try await queue.client.send(
                "EVAL", "for i = 1, 12000 do redis.call('SET', 'st:{0}:seen:bulk' .. i, 1); redis.call('SET', 'other:' .. i, 1) end", "0")
            let large = try await queue.status(nowMilliseconds: later)
            #expect(!large.dedupKeysExact)
            #expect(abs(large.dedupKeys - 12_005) < 3_000, "estimate \(large.dedupKeys) for 12,005")
        }
    }

    @Test func statusShowsEachPartitionAndTheTotals() async throws {
        try await withTestRedis { client in
            let queue = EventQueue(client: client, configuration: EventQueueConfiguration(prefix: TestRedis.uniquePrefix("parts"), partitions: 4))
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            for _ in 0..<40 {
                let id = Fixtures.newEventID()
                _ = try await queue.enqueue(
                    IncomingEvent(
                        eventID: id, body: Fixtures.event(id: id), workspace: "default", receivedAt: now, objectType: "email", metric: "sent"))
            }
            try await queue.createGroup("actions")
            let text = try await OperatorCommands.status(queue, groups: ["actions"], json: false, maxLag: nil, maxAge: nil, nowMilliseconds: now).text
            let lengths = try await queue.eachPartition { keys throws(RedisError) in try await queue.length(of: keys.events) }
            #expect(text.contains("stream \(queue.layout.prefix):{…}:events (4 partitions): 40 entries"), "\(text)")
            for (partition, keys) in queue.layout.partitions.enumerated() {
                #expect(text.contains("partition \(partition) \(keys.events): \(lengths[partition]) entries"), "\(text)")
                #expect(text.contains("  partition \(partition): lag \(lengths[partition]), pending 0"), "\(text)")
            }
            #expect(text.contains("group actions: lag 40, pending 0"), "\(text)")
        }
    }

    @Test func aConfiguredGroupThatDoesNotExistCountsAsLaggingByTheWholeStream() async throws {
        try await withTestQueue(prefix: "missing") { queue in
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            for _ in 0..<3 {
                let id = Fixtures.newEventID()
                _ = try await queue.enqueue(
                    IncomingEvent(
                        eventID: id, body: Fixtures.event(id: id), workspace: "default", receivedAt: now, objectType: "email", metric: "sent"))
            }
            // Events wait and no worker has created a group: this must not look healthy.
            let report = try await OperatorCommands.status(
                queue, groups: ["actions", "warehouse"], json: false, maxLag: 0, maxAge: nil, nowMilliseconds: now + 5_000)
            #expect(report.exceeded == ["group actions: lag 3 > --max-lag 0", "group warehouse: lag 3 > --max-lag 0"], "\(report.exceeded)")
            #expect(report.text.contains("group actions: MISSING"), "\(report.text)")
            let status = try await queue.status(nowMilliseconds: now + 5_000, expectedGroups: ["actions"])
            let actions = try #require(status.groups.first)
            // Aged from the first entry, added just after `now`.
            #expect(actions.missing && actions.lag == 3 && (3.0...5.0).contains(actions.oldestUnprocessedAgeSeconds ?? 0))
        }
    }

}
