import EventQueue
import Hiredis

/// Runs `body` with a client of the test Redis and shuts the client down afterwards, whatever
/// `body` does: no test has to remember a `shutdown()`.
public func withTestRedis<T>(
    poolSize: Int = 2, commandTimeout: Duration? = .seconds(2), _ body: (RedisClient) async throws -> T
) async throws -> T {
    let client = try TestRedis.client(poolSize: poolSize, commandTimeout: commandTimeout)
    return try await withShutdown(client) { try await body(client) }
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

/// Something a test opens and must close: a Redis client, a blocking connection, a group consumer.
public protocol ShutdownAfterTest: Sendable {
    func shutdown() async
}

extension RedisClient: ShutdownAfterTest {}
extension RedisConnection: ShutdownAfterTest {}
extension GroupConsumer: ShutdownAfterTest {}

/// Runs `body`, then shuts `resource` down, whether `body` returned or threw.
public func withShutdown<T>(_ resource: some ShutdownAfterTest, _ body: () async throws -> T) async throws -> T {
    do {
        let result = try await body()
        await resource.shutdown()
        return result
    } catch {
        await resource.shutdown()
        throw error
    }
}
