import EventQueue
import Hiredis

/// Runs `body` with a client of the test Redis and shuts the client down afterwards, whatever
/// `body` does: no test has to remember a `shutdown()`.
public func withTestRedis<T>(
    poolSize: Int = 2, commandTimeout: Duration? = .seconds(2), _ body: (RedisClient) async throws -> T
) async throws -> T {
    try await withShutdown(try TestRedis.client(poolSize: poolSize, commandTimeout: commandTimeout), body)
}

/// Runs `body` with an event queue on the test Redis under a key prefix of its own, and shuts its
/// client down afterwards.
public func withTestQueue<T>(
    prefix name: String = "test", dedupTTL: Duration = EventQueueConfiguration().dedupTTL, _ body: (EventQueue) async throws -> T
) async throws -> T {
    try await withTestRedis { client in
        try await body(EventQueue(client: client, configuration: EventQueueConfiguration(prefix: TestRedis.uniquePrefix(name), dedupTTL: dedupTTL)))
    }
}

/// Something a test opens and must close: a Redis client, a blocking connection, a group consumer,
/// an event queue (its client), a test harness.
public protocol ShutdownAfterTest: Sendable {
    func shutdown() async
}

extension RedisClient: ShutdownAfterTest {}
extension RedisConnection: ShutdownAfterTest {}
extension GroupConsumer: ShutdownAfterTest {}
extension EventQueue: ShutdownAfterTest {
    public func shutdown() async { await client.shutdown() }
}

/// Runs `body` with `resource`, then shuts it down, whether `body` returned or threw.
public func withShutdown<Resource: ShutdownAfterTest, T>(_ resource: Resource, _ body: (Resource) async throws -> T) async throws -> T {
    do {
        let result = try await body(resource)
        await resource.shutdown()
        return result
    } catch {
        await resource.shutdown()
        throw error
    }
}
