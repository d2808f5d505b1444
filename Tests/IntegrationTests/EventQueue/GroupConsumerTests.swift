import CustomerIO
import EventQueue
import Foundation
import Hiredis
import TestSupport
import Testing

@Suite("Consumer groups, dead letters and trimming against real Redis")
struct GroupConsumerTests {
    private func consumer(_ queue: EventQueue, group: String = "actions", name: String, reclaimIdle: Duration = .seconds(60)) throws -> GroupConsumer
    {
        try GroupConsumer(
            queue: queue,
            configuration: ConsumerConfiguration(
                group: group, consumer: name, batchSize: 100, blockTime: .milliseconds(50), reclaimIdle: reclaimIdle, maxDeliveries: 3))
    }

    @discardableResult
    private func enqueue(_ queue: EventQueue, count: Int, metric: String = "delivered") async throws -> [String] {
        var ids: [String] = []
        for _ in 0..<count {
            let id = Fixtures.newEventID()
            let event = IncomingEvent(
                eventID: id, body: Fixtures.event(id: id), workspace: "default", receivedAt: 1_767_235_000_000, objectType: "email", metric: metric)
            guard case .accepted(let entryID) = try await queue.enqueue(event) else { throw TestSetupError("enqueue was not accepted") }
            ids.append(entryID)
        }
        return ids
    }

    private func pending(_ queue: EventQueue, group: String) async throws -> Int {
        try await queue.groupStatistics().first { $0.name == group }?.pending ?? -1
    }

    @Test func groupsAreCreatedIdempotentlyAndEachGroupSeesEveryEntry() async throws {
        try await withTestQueue(prefix: "cg") { queue in
            try await withShutdown(try consumer(queue, group: "actions", name: "a")) { actions in
                try await withShutdown(try consumer(queue, group: "warehouse", name: "w")) { warehouse in
                    try await actions.createGroup()
                    try await actions.createGroup()
                    try await warehouse.createGroup()
                    let added = try await enqueue(queue, count: 5)
                    #expect(try await actions.readNew().map(\.entry.id) == added)
                    #expect(try await warehouse.readNew().map(\.entry.id) == added)
                    // Nothing new: the read waits for the block time and returns empty.
                    #expect(try await actions.readNew().isEmpty)
                    try await actions.acknowledge(added)
                    #expect(try await pending(queue, group: "actions") == 0)
                    #expect(try await pending(queue, group: "warehouse") == 5, "one group's acknowledgement does not touch the other")
                }
            }
        }
    }

    @Test func anotherConsumerReclaimsWhatADeadConsumerLeftPending() async throws {
        try await withTestQueue(prefix: "cg") { queue in
            // Long enough that the first reclaim comes before it even on a busy machine.
            try await withShutdown(try consumer(queue, name: "dead", reclaimIdle: .seconds(1))) { dead in
                try await withShutdown(try consumer(queue, name: "rescuer", reclaimIdle: .seconds(1))) { rescuer in
                    try await dead.createGroup()
                    let added = try await enqueue(queue, count: 3)
                    #expect(try await dead.readNew().count == 3)
                    #expect(try await rescuer.reclaim().isEmpty, "entries younger than the reclaim idle time stay with their consumer")
                    try await Task.sleep(for: .milliseconds(1100))
                    let reclaimed = try await rescuer.reclaim()
                    #expect(reclaimed.map(\.entry.id) == added)
                    #expect(reclaimed.allSatisfy { $0.deliveries == 2 })
                    #expect(reclaimed.first?.entry.fields["body"] != nil)
                    try await rescuer.acknowledge(reclaimed.map(\.entry.id))
                    #expect(try await pending(queue, group: "actions") == 0)
                }
            }
        }
    }

    @Test func keepingAClaimResetsOnlyOwnEntriesAndLeavesDeliveryCountsAlone() async throws {
        try await withTestQueue(prefix: "cg") { queue in
            // An idle time well above the sleeps: a busy machine stretches a sleep, and the "not taken
            // over" check must not depend on a margin of a few tens of milliseconds.
            try await withShutdown(try consumer(queue, name: "holder", reclaimIdle: .seconds(1))) { holder in
                try await withShutdown(try consumer(queue, name: "other", reclaimIdle: .seconds(1))) { other in
                    try await holder.createGroup()
                    let added = try await enqueue(queue, count: 3)
                    #expect(try await holder.readNew().count == 3)
                    // Renewed twice within the idle time: nothing looks abandoned.
                    for _ in 0..<2 {
                        try await Task.sleep(for: .milliseconds(600))
                        #expect(try await holder.keepClaimed(added) == 3)
                    }
                    try await Task.sleep(for: .milliseconds(300))
                    #expect(try await other.reclaim().isEmpty, "an entry whose claim is kept is not taken over")
                    // Left alone past the idle time, the entries are taken over, once, with their
                    // count of 1 + 1: the renewals did not count as deliveries.
                    try await Task.sleep(for: .milliseconds(1100))
                    let taken = try await other.reclaim()
                    #expect(taken.map(\.entry.id) == added && taken.allSatisfy { $0.deliveries == 2 })
                    #expect(try await holder.keepClaimed(added) == 0, "what another consumer took over is never taken back")
                    #expect(try await other.reclaim().isEmpty)
                }
            }
        }
    }

    @Test func aWrongLagCounterInRedisIsNeitherReportedNorKept() async throws {
        try await withTestQueue(prefix: "cg") { queue in
            try await withShutdown(try consumer(queue, name: "reader")) { reader in
                try await reader.createGroup()
                let added = try await enqueue(queue, count: 4)
                try await reader.acknowledge(try await reader.readNew().map(\.entry.id))
                // What Redis was seen to report after restarts from its append-only file: a group
                // that has read everything, with a read counter far behind the stream's.
                let stream = RedisArgument(queue.keys.events)
                _ = try await queue.client.send("XGROUP", "SETID", stream, "actions", RedisArgument(added[3]), "ENTRIESREAD", "0")
                func redisLag() async throws -> Int64? {
                    let fields = try await queue.client.send("XINFO", "GROUPS", stream).array?.first?.array ?? []
                    guard let position = fields.firstIndex(of: .bulkString(Array("lag".utf8))), position + 1 < fields.count else { return nil }
                    return fields[position + 1].integer
                }
                #expect(try await redisLag() == 4, "the counter is wrong, as set up")
                #expect(try await queue.groupStatistics().first?.lag == 0)
                #expect(try await queue.repairLagCounters() == ["actions"])
                #expect(try await redisLag() == 0, "repaired in Redis itself, for KEDA and dashboards")
                #expect(try await queue.repairLagCounters().isEmpty)
                // A group that has not read everything keeps its counter, and its lag is never more
                // than the stream holds.
                try await enqueue(queue, count: 2)
                #expect(try await queue.repairLagCounters().isEmpty)
                #expect(try await queue.groupStatistics().first?.lag == 2)
            }
        }
    }

    @Test func consumersLeftBehindAreRemovedOnlyWhenIdleAndHoldingNothing() async throws {
        try await withTestQueue(prefix: "cg") { queue in
            try await withShutdown(try consumer(queue, name: "gone-empty")) { goneEmpty in
                try await withShutdown(try consumer(queue, name: "gone-holding")) { goneHolding in
                    try await goneEmpty.createGroup()
                    try await enqueue(queue, count: 1)
                    try await goneEmpty.acknowledge(try await goneEmpty.readNew().map(\.entry.id))
                    try await enqueue(queue, count: 1)
                    #expect(try await goneHolding.readNew().count == 1)
                    try await Task.sleep(for: .milliseconds(300))
                    #expect(try await queue.removeIdleConsumers(idleLongerThan: .seconds(60)).isEmpty, "not idle long enough")
                    #expect(try await queue.removeIdleConsumers(idleLongerThan: .milliseconds(200)) == ["actions/gone-empty"])
                    let left = try await queue.client.send("XINFO", "CONSUMERS", RedisArgument(queue.keys.events), "actions")
                    #expect(left.array?.count == 1, "the consumer with a pending entry stays until it is reclaimed")
                }
            }
        }
    }

    @Test func reclaimFindsIdleEntriesBehindYoungOnesWithTheirDeliveryCounts() async throws {
        try await withTestQueue(prefix: "cg") { queue in
            try await withShutdown(try consumer(queue, name: "dead")) { dead in
                try await dead.createGroup()
                let added = try await enqueue(queue, count: 15)
                #expect(try await dead.readNew().count == 15)
                // Another consumer has just taken the first twelve: they are young. The last three are
                // made idle for an hour with XCLAIM's IDLE (JUSTID keeps their delivery count), so no
                // sleep decides which side of the reclaim idle time an entry falls on: a busy machine
                // once let the young ones age past a 100 ms threshold before the reclaim ran.
                _ = try await queue.client.send(
                    RedisCommand("XCLAIM", [RedisArgument(queue.keys.events), "actions", "busy", "0"] + added.prefix(12).map { RedisArgument($0) }))
                _ = try await queue.client.send(
                    RedisCommand(
                        "XCLAIM",
                        [RedisArgument(queue.keys.events), "actions", "dead", "0"] + added.suffix(3).map { RedisArgument($0) } + [
                            "IDLE", "3600000", "JUSTID",
                        ]))
                // One entry per batch: XAUTOCLAIM scans ten per call, so the idle ones are only found by
                // following its cursor.
                let configuration = ConsumerConfiguration(
                    group: "actions", consumer: "rescuer", batchSize: 1, blockTime: .milliseconds(50), reclaimIdle: .seconds(60))
                try await withShutdown(try GroupConsumer(queue: queue, configuration: configuration)) { rescuer in
                    let reclaimed = try await rescuer.reclaim()
                    #expect(reclaimed.map(\.entry.id) == [added[12]])
                    #expect(reclaimed.first?.deliveries == 2)
                }
            }
        }
    }

    @Test func deadLetteringKeepsTheEntryWithItsReasonAndAcknowledgesIt() async throws {
        try await withTestQueue(prefix: "cg") { queue in
            try await withShutdown(try consumer(queue, name: "w1")) { worker in
                try await worker.createGroup()
                try await enqueue(queue, count: 1, metric: "bounced")
                let delivered = try #require(try await worker.readNew().first)
                try await worker.deadLetter(delivered, reason: .trackAPIRejected, error: "400 Bad Request: invalid attribute", now: 1_767_235_999_000)
                #expect(try await pending(queue, group: "actions") == 0)
                let letters = try await queue.deadLetters()
                #expect(letters.count == 1)
                let letter = try #require(letters.first)
                #expect(letter.reason == "track_api_rejected")
                #expect(letter.error == "400 Bad Request: invalid attribute")
                #expect(letter.attempts == 1)
                #expect(letter.entry.fields["body"] == delivered.entry.fields["body"])
                #expect(letter.entry.string("m") == "bounced")
                #expect(letter.entry.string("group") == "actions")
                #expect(letter.entry.string("entry") == delivered.entry.id)
                #expect(letter.isReplayable)

                // Replay: back on the stream as a new entry, gone from the dead letters, read again.
                guard case .replayed(let newID) = try await queue.replay(deadLetterID: letter.id) else {
                    Issue.record("the dead letter was not replayed")
                    return
                }
                #expect(try await queue.deadLetters().isEmpty)
                let again = try await worker.readNew()
                #expect(again.map(\.entry.id) == [newID])
                #expect(again.first?.entry.fields["body"] == delivered.entry.fields["body"])
                #expect(try await queue.replay(deadLetterID: letter.id) == .notFound)
            }
        }
    }

    @Test func malformedDeadLettersAreNotReplayedAndPurgeEmptiesTheStream() async throws {
        try await withTestQueue(prefix: "cg") { queue in
            let body = Array("not json".utf8)
            _ = try await queue.deadLetter(
                RejectedBody(
                    body: body, digest: body.withUnsafeBytes { PayloadDigest.sha256Hex($0) }, workspace: "default", receivedAt: 1, reason: .malformed,
                    error: "not JSON"))
            let letter = try #require(try await queue.deadLetters().first)
            #expect(!letter.isReplayable)
            #expect(try await queue.replay(deadLetterID: letter.id) == .notReplayable)
            #expect(try await queue.deadLetter(id: letter.id) == letter)
            #expect(try await queue.purgeDeadLetters() == 1)
            #expect(try await queue.deadLetters().isEmpty)
        }
    }

    @Test func trimmingNeverRemovesWhatAnyGroupHasNotAcknowledged() async throws {
        try await withTestQueue(prefix: "cg") { queue in
            #expect(try await queue.trimAcknowledged() == 0, "no stream: nothing to do")
            try await withShutdown(try consumer(queue, group: "actions", name: "fast")) { fast in
                try await withShutdown(try consumer(queue, group: "warehouse", name: "slow")) { slow in
                    try await fast.createGroup()
                    try await slow.createGroup()
                    let added = try await enqueue(queue, count: 10)
                    // actions acknowledges everything; warehouse has read 4, acknowledged 2 and not seen 6.
                    try await fast.acknowledge(try await fast.readNew().map(\.entry.id))
                    try await withShutdown(
                        try GroupConsumer(
                            queue: queue,
                            configuration: ConsumerConfiguration(group: "warehouse", consumer: "slow", batchSize: 4, blockTime: .milliseconds(50)))
                    ) { slowRead in
                        let four = try await slowRead.readNew().map(\.entry.id)
                        #expect(four == Array(added.prefix(4)))
                        try await slow.acknowledge(Array(four.prefix(2)))

                        #expect(try await queue.trimAcknowledged() == 2, "only the two entries every group acknowledged go")
                        #expect(try await queue.entries(of: queue.keys.events, count: 100).map(\.id) == Array(added.dropFirst(2)))
                        #expect(try await queue.trimAcknowledged() == 0)

                        // The oldest unacknowledged entry of warehouse is the 3rd; stats agree.
                        let stats = try #require(try await queue.groupStatistics().first { $0.name == "warehouse" })
                        #expect(stats.pending == 2)
                        #expect(stats.lag == 6)
                        #expect(stats.oldestUnprocessedAt == StreamID(added[2])?.milliseconds)
                        let actionStats = try #require(try await queue.groupStatistics().first { $0.name == "actions" })
                        #expect(actionStats.pending == 0 && actionStats.lag == 0 && actionStats.oldestUnprocessedAt == nil)

                        // Acknowledge the rest of what warehouse read: the undelivered six still stay.
                        try await slow.acknowledge(Array(four.suffix(2)))
                        #expect(try await queue.trimAcknowledged() == 2)
                        #expect(try await queue.length(of: queue.keys.events) == 6)
                        try await slow.acknowledge(try await slow.readNew().map(\.entry.id))
                        #expect(try await queue.trimAcknowledged() == 6)
                        #expect(try await queue.length(of: queue.keys.events) == 0)
                    }
                }
            }
        }
    }
}
