import EventQueue
import Hiredis
import TestSupport
import Testing

@Suite("Dedup and enqueue against real Redis")
struct EventQueueTests {
    private func makeQueue(poolSize: Int = 2, ttl: Duration = .seconds(3600)) throws -> EventQueue {
        EventQueue(
            client: try TestRedis.client(poolSize: poolSize),
            configuration: EventQueueConfiguration(prefix: TestRedis.uniquePrefix("eq"), dedupTTL: ttl))
    }

    private func event(_ id: String) -> IncomingEvent {
        IncomingEvent(
            eventID: id, body: Fixtures.event(id: id), workspace: "default", receivedAt: 1_767_235_000_123, objectType: "email", metric: "delivered")
    }

    @Test func acceptedEventIsOneVerbatimEntryAndADuplicateAddsNothing() async throws {
        try await withShutdown(try makeQueue()) { queue in
            let incoming = event(Fixtures.newEventID())
            guard case .accepted(let entryID) = try await queue.enqueue(incoming) else {
                Issue.record("first enqueue must be accepted")
                return
            }
            #expect(try await queue.enqueue(incoming) == .duplicate)
            let entries = try await queue.entries(of: queue.keys.events)
            #expect(entries.count == 1)
            let entry = try #require(entries.first)
            #expect(entry.id == entryID)
            #expect(entry.fields["body"] == incoming.body)
            #expect(entry.string("ws") == "default")
            #expect(entry.string("rt") == "1767235000123")
            #expect(entry.string("t") == "email")
            #expect(entry.string("m") == "delivered")
            let ttl = try await queue.client.send("TTL", RedisArgument(queue.keys.seen(eventID: incoming.eventID)))
            #expect((3590...3600).contains(ttl.integer ?? 0), "dedup marker TTL is the configured 3600 s, got \(ttl)")
        }
    }

    @Test func concurrentDistinctEventsOverOneConnectionAllLand() async throws {
        try await withShutdown(try makeQueue(poolSize: 1)) { queue in
            let ids = (0..<200).map { _ in Fixtures.newEventID() }
            let outcomes = try await withThrowingTaskGroup(of: EnqueueOutcome.self) { group in
                for id in ids {
                    group.addTask { try await queue.enqueue(event(id)) }
                }
                var outcomes: [EnqueueOutcome] = []
                for try await outcome in group { outcomes.append(outcome) }
                return outcomes
            }
            #expect(outcomes.allSatisfy { $0 != .duplicate })
            #expect(try await queue.length(of: queue.keys.events) == 200)
            let stored = Set(try await queue.entries(of: queue.keys.events, count: 500).compactMap { $0.fields["body"] })
            #expect(stored == Set(ids.map { Fixtures.event(id: $0) }))
        }
    }

    @Test func aFailedAppendLeavesNoDedupMarker() async throws {
        try await withShutdown(try makeQueue()) { queue in
            // The stream key holds a string: XADD fails inside the script (as an ACL refusal or a
            // full memory would make it fail), and the retry must not be taken for a duplicate.
            _ = try await queue.client.send("SET", RedisArgument(queue.keys.events), "not a stream")
            let incoming = event(Fixtures.newEventID())
            await #expect(throws: RedisError.self) { try await queue.enqueue(incoming) }
            #expect(try await queue.client.send("EXISTS", RedisArgument(queue.keys.seen(eventID: incoming.eventID))) == .integer(0))
            _ = try await queue.client.send("DEL", RedisArgument(queue.keys.events))
            guard case .accepted = try await queue.enqueue(incoming) else {
                Issue.record("the retry must be accepted, not answered as a duplicate")
                return
            }
        }
    }

    @Test func theScriptIsReloadedAfterScriptFlush() async throws {
        try await withShutdown(try makeQueue()) { queue in
            _ = try await queue.enqueue(event(Fixtures.newEventID()))
            _ = try await queue.client.send("SCRIPT", "FLUSH")
            let outcome = try await queue.enqueue(event(Fixtures.newEventID()))
            #expect(outcome != .duplicate)
            #expect(try await queue.length(of: queue.keys.events) == 2)
        }
    }

    @Test func aMalformedBodyIsDeadLetteredOncePerDistinctBody() async throws {
        try await withShutdown(try makeQueue()) { queue in
            let rejected = RejectedBody(
                body: Array("{oops".utf8), digest: "abc123", workspace: "eu", receivedAt: 42, reason: .malformed,
                error: "the body is not a JSON object")
            #expect(try await queue.deadLetter(rejected) != .duplicate)
            #expect(try await queue.deadLetter(rejected) == .duplicate)
            let entries = try await queue.entries(of: queue.keys.dead)
            #expect(entries.count == 1)
            #expect(entries.first?.string("reason") == "malformed")
            #expect(entries.first?.string("error") == "the body is not a JSON object")
            #expect(entries.first?.fields["body"] == Array("{oops".utf8))
            #expect(entries.first?.string("ws") == "eu")
            #expect(entries.first?.string("attempts") == "0")
            #expect(try await queue.length(of: queue.keys.events) == 0, "nothing reaches the events stream")
        }
    }
}
