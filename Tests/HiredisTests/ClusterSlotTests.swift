import Foundation
import Hiredis
import Testing
import TestSupport

@Suite("Redis Cluster: key slots, redirections and the slot map")
struct ClusterSlotTests {
    @Test func crc16AndSlotsMatchTheSpecificationsVectors() {
        #expect(ClusterSlot.of("123456789") == 12739, "CRC16(\"123456789\") = 0x31C3, mod 16384")
        #expect(ClusterSlot.of("{user1000}.following") == ClusterSlot.of("{user1000}.followers"))
        #expect(ClusterSlot.of("{user1000}.following") == ClusterSlot.of("user1000"))
        // From the specification: only the first {…} counts (an empty one hashes the whole key:
        // "foo{}{bar}" is checked against Redis in the next test).
        #expect(ClusterSlot.of("foo{{bar}}zap") == ClusterSlot.of("{bar"))
        #expect(ClusterSlot.of("foo{bar}{zap}") == ClusterSlot.of("bar"))
        #expect(ClusterSlot.of("cio:{7}:events") == ClusterSlot.of("7"))
    }

    /// Every slot we compute equals what a real cluster-enabled Redis answers to CLUSTER KEYSLOT.
    @Test func slotsEqualRedisOwnForTaggedUntaggedAndOddKeys() async throws {
        let server = try RedisServerProcess(arguments: ["--cluster-enabled", "yes", "--cluster-config-file", "nodes-\(UUID().uuidString.prefix(8)).conf"])
        defer { server.stop() }
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
    }

    @Test func redirectionsAreReadFromErrorReplies() {
        #expect(ClusterRedirection(error: "MOVED 3999 127.0.0.1:6381") == .moved(slot: 3999, host: "127.0.0.1", port: 6381))
        #expect(ClusterRedirection(error: "ASK 3999 10.0.0.7:7000") == .ask(slot: 3999, host: "10.0.0.7", port: 7000))
        #expect(ClusterRedirection(error: "MOVED 12 :6380") == .moved(slot: 12, host: "", port: 6380), "an empty host: the node asked")
        #expect(ClusterRedirection(error: "MOVED 3999 [::1]:6381") == .moved(slot: 3999, host: "[::1]", port: 6381))
        #expect(ClusterRedirection(error: "TRYAGAIN Multiple keys request during rehashing of slot") == .tryAgain)
        #expect(ClusterRedirection(error: "CLUSTERDOWN The cluster is down") == .clusterDown)
        for other in ["ERR unknown command", "MOVED", "MOVED 99999 h:1", "MOVED x h:1", "ASK 1 nohost", "MOVED 1 h:0", "CROSSSLOT Keys in request don't hash to the same slot"] {
            #expect(ClusterRedirection(error: other) == nil, "\(other)")
        }
    }

    @Test func theSlotMapComesFromARealNodesClusterSlots() async throws {
        let server = try RedisServerProcess(arguments: ["--cluster-enabled", "yes", "--cluster-config-file", "nodes-\(UUID().uuidString.prefix(8)).conf"])
        defer { server.stop() }
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
    }

    @Test func aSlotsReplyInAnotherShapeIsRefused() {
        let bad: [RedisValue] = [
            .simpleString("OK"),
            .array([.array([.integer(0), .integer(99_999), .array([.bulkString(Array("h".utf8)), .integer(1)])])]),
            .array([.array([.integer(5), .integer(1), .array([.bulkString(Array("h".utf8)), .integer(1)])])]),
            .array([.array([.integer(0), .integer(1), .array([.bulkString(Array("h".utf8))])])]),
            .array([.array([.integer(0), .integer(1), .array([.bulkString(Array("h".utf8)), .integer(70_000)])])]),
        ]
        for reply in bad {
            #expect(throws: RedisError.self, "\(reply)") { try ClusterSlotMap(slotsReply: reply, fallbackHost: "h") }
        }
    }
}
