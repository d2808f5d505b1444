import EventQueue
import Hiredis
import RelayApp
import TestSupport
import Testing

@Suite("The Redis check at start against real Redis")
struct RedisCheckTests {
    @Test func theTestRedisIsRecentEnoughAndNamed() async throws {
        try await withTestQueue(prefix: "version") { queue in
            let version = try await RelayProcess.checkRedis(queue)
            #expect(version >= RelayProcess.minimumRedis, "\(version)")
            #expect(version == (try await queue.client.serverVersion()))
        }
    }
}
