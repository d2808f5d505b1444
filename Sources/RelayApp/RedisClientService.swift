import Hiredis
import ServiceLifecycle

/// Owns the Redis client's lifetime inside a `ServiceGroup`: listed first, so it is shut down last,
/// after the HTTP servers have finished their in-flight requests.
public struct RedisClientService: Service {
    public let client: RedisClient

    public init(client: RedisClient) {
        self.client = client
    }

    public func run() async throws {
        // Returns when graceful shutdown starts (or the task is cancelled).
        try? await gracefulShutdown()
        await client.shutdown()
    }
}
