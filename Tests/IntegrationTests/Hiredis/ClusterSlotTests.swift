import Foundation
import Hiredis
import TestSupport
import Testing

@Suite("Redis Cluster: key slots, redirections and the slot map")
struct ClusterSlotTests {
    /// Every slot we compute equals what a real cluster-enabled Redis answers to CLUSTER KEYSLOT.
    @Test func slotsEqualRedisOwnForTaggedUntaggedAndOddKeys() async throws {
        let server = try await RedisServerProcess.started(arguments: [
            "--cluster-enabled", "yes", "--cluster-config-file", "nodes-\(UUID().uuidString.prefix(8)).conf",
        ])
        try await withShutdown(try RedisClient(configuration: RedisConfiguration(url: server.url))) { client in
            var keys = ["", "{", "}", "{}", "{}x", "a{b", "a}b{c}", "cio:{0}:seen:01JBX5F9Z1Y2X3W4V5T6S7R8Q9", "é{ü}", "foo{}{bar}"]
            var generator = SystemRandomNumberGenerator()
            for _ in 0..<300 {
                let length = Int.random(in: 1...24, using: &generator)
                keys.append(String((0..<length).map { _ in "ab{}:-_0123456789é".randomElement(using: &generator)! }))
            }
            for key in keys {
                let answer = try await client.send("CLUSTER", "KEYSLOT", RedisArgument(key))
                #expect(answer.integer.map(Int.init) == ClusterSlot.of(key), "slot of \(key.debugDescription)")
            }
        }
        await server.stopped()
    }

    @Test func theSlotMapComesFromARealNodesClusterSlots() async throws {
        let server = try await RedisServerProcess.started(arguments: [
            "--cluster-enabled", "yes", "--cluster-config-file", "nodes-\(UUID().uuidString.prefix(8)).conf",
        ])
        try await withShutdown(try RedisClient(configuration: RedisConfiguration(url: server.url))) { client in
            // A node of its own, serving half the slots: a cluster still being set up.
            _ = try await client.send("CLUSTER", "ADDSLOTSRANGE", "0", "8191")
            let half = try ClusterSlotMap(slotsReply: try await client.send("CLUSTER", "SLOTS"), fallbackHost: "127.0.0.1")
            #expect(!half.coversEverySlot && half.primary(for: 8192) == nil)
            #expect(half.primary(for: 0)?.port == server.port && half.primaries.count == 1)
            _ = try await client.send("CLUSTER", "ADDSLOTSRANGE", "8192", "16383")
            let whole = try ClusterSlotMap(slotsReply: try await client.send("CLUSTER", "SLOTS"), fallbackHost: "127.0.0.1")
            #expect(whole.coversEverySlot && whole.primary(for: 16383)?.port == server.port)
        }
        await server.stopped()
    }
}
