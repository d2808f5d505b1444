import EventQueue
import Hiredis
import Logging
import RelayApp
import TestSupport
import Testing
import Worker

@Suite("The Redis layout version against real Redis")
struct LayoutVersionIntegrationTests {
    @Test func theFirstStartRecordsTheLayoutAndEntriesCarryIt() async throws {
        try await withTestQueue(prefix: "layout") { queue in
            try await RelayProcess.checkRedis(queue)
            #expect(try await queue.client.send("GET", RedisArgument(key: queue.layout.layoutVersionKey)).string == "\(RedisLayout.current)")
            _ = try await queue.enqueue(
                IncomingEvent(eventID: "e1", body: Array("{}".utf8), workspace: "default", receivedAt: 1, objectType: "email", metric: "sent"))
            let entry = try #require(try await queue.entries(of: queue.keys.events).first)
            #expect(entry.string("v") == "\(RedisLayout.current)")
            try RedisLayout.checkReadable([entry])
        }
    }

    /// A rollback past a release that raised the layout: every role and operator command refuses
    /// at start, naming the layout found and the newest known, and changes nothing.
    @Test func aLayoutRecordedByANewerReleaseStopsStartUp() async throws {
        try await withTestQueue(prefix: "layout-newer") { queue in
            let key = RedisArgument(key: queue.layout.layoutVersionKey)
            _ = try await queue.client.send("SET", key, RedisArgument(RedisLayout.current + 1))
            let refused = await #expect(throws: QueueLayoutError.self) { try await RelayProcess.checkRedis(queue) }
            #expect(refused?.recorded == RedisLayout.current + 1)
            #expect(
                refused?.message.hasPrefix(
                    "Redis holds data of layout \(RedisLayout.current + 1) (\(queue.layout.layoutVersionKey)), but this release knows layouts up to \(RedisLayout.current)"
                ) == true, "\(String(describing: refused))")
            #expect(try await queue.client.send("GET", key).string == "\(RedisLayout.current + 1)")
        }
    }

    /// During a rolling upgrade that raises the layout, a worker of the older release meets an
    /// entry of the newer one: it stops without acting on it or acknowledging it, and the entry
    /// stays pending for a worker that can read it.
    @Test func aWorkerStopsAtAnEntryOfANewerLayoutAndLeavesItPending() async throws {
        try await withTestQueue(prefix: "layout-entry") { queue in
            try await queue.createGroup("actions")
            _ = try await queue.client.send(
                "XADD", RedisArgument(key: queue.keys.events), "*", "body", "{}", "ws", "default", "t", "email", "m", "sent", "v",
                RedisArgument(RedisLayout.current + 1))
            try await withShutdown(
                try GroupConsumer(
                    queue: queue, configuration: ConsumerConfiguration(group: "actions", consumer: "old", blockTime: .milliseconds(200)))
            ) { consumer in
                let processed = Counter()
                let loop = ConsumerLoop(
                    consumer: consumer, reclaimInterval: .seconds(60), unavailablePause: .milliseconds(100), logger: .quiet("layout-test")
                ) { batch in
                    await processed.add(batch.count)
                    return false
                }
                let outcome = await result(within: .seconds(10)) { () -> (any Error)? in
                    do {
                        try await loop.run()
                        return nil
                    } catch {
                        return error
                    }
                }
                let stopped = try #require(
                    outcome.flatMap { $0 } as? QueueLayoutError, "the loop must stop with the layout error: \(String(describing: outcome))")
                #expect(stopped.recorded == RedisLayout.current + 1)
                #expect(stopped.message.contains("stays pending"), "\(String(describing: stopped))")
                #expect(await processed.value == 0)
                let pending = try await queue.client.send("XPENDING", RedisArgument(key: queue.keys.events), "actions")
                #expect(pending.array?.first?.integer == 1, "the entry is delivered but not acknowledged: \(pending)")
            }
        }
    }
}

private actor Counter {
    var value = 0
    func add(_ count: Int) { value += count }
}
