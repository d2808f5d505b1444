import Synchronization
import TestSupport
import Testing

@testable import Hiredis

@Suite("Connection threads end exactly once")
struct ThreadLifecycleTests {
    @Test func shuttingAConnectionDownTwiceOrConcurrentlyIsHarmless() async throws {
        // Shutting down is what this test checks, so it calls shutdown() itself.
        let connection = try RedisConnection(configuration: TestRedis.configuration())
        _ = try await connection.send("PING")
        async let first: Void = connection.shutdown()
        async let second: Void = connection.shutdown()
        _ = await (first, second)
        await connection.shutdown()
        await #expect(throws: RedisError.self) { try await connection.send("PING") }
    }

    @Test func aClientThatCannotMakeEveryConnectionClosesTheOnesItMade() async throws {
        let made = Mutex<[RedisConnection]>([])
        var configuration = try TestRedis.configuration()
        configuration.poolSize = 3
        do {
            _ = try RedisClient(configuration: configuration) { configuration throws(RedisError) in
                guard made.withLock({ $0.count }) < 2 else {
                    throw RedisError(.connectionFailed, "no third connection (test)")
                }
                let connection = try RedisConnection(configuration: configuration)
                made.withLock { $0.append(connection) }
                return connection
            }
            Issue.record("the client must fail when a connection cannot be made")
        } catch {
            #expect(error.code == .connectionFailed)
        }
        let connections = made.withLock { $0 }
        #expect(connections.count == 2)
        for connection in connections {
            do {
                _ = try await connection.send("PING")
                Issue.record("a connection of a client that failed to start must be closed, its thread ended")
            } catch {
                #expect(error.code == .shutdown)
            }
        }
    }
}
