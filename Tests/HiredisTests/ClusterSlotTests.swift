import Foundation
import Hiredis
import TestSupport
import Testing

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
    @Test func redirectionsAreReadFromErrorReplies() {
        #expect(ClusterRedirection(error: "MOVED 3999 127.0.0.1:6381") == .moved(slot: 3999, host: "127.0.0.1", port: 6381))
        #expect(ClusterRedirection(error: "ASK 3999 10.0.0.7:7000") == .ask(slot: 3999, host: "10.0.0.7", port: 7000))
        #expect(ClusterRedirection(error: "MOVED 12 :6380") == .moved(slot: 12, host: "", port: 6380), "an empty host: the node asked")
        #expect(ClusterRedirection(error: "MOVED 3999 [::1]:6381") == .moved(slot: 3999, host: "[::1]", port: 6381))
        #expect(ClusterRedirection(error: "TRYAGAIN Multiple keys request during rehashing of slot") == .tryAgain)
        #expect(ClusterRedirection(error: "CLUSTERDOWN The cluster is down") == .clusterDown)
        for other in [
            "ERR unknown command", "MOVED", "MOVED 99999 h:1", "MOVED x h:1", "ASK 1 nohost", "MOVED 1 h:0",
            "CROSSSLOT Keys in request don't hash to the same slot",
        ] {
            #expect(ClusterRedirection(error: other) == nil, "\(other)")
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
