import Foundation
import Hiredis
import TestSupport
import Testing

/// The cluster client against the real Redis Cluster of the test command. Tests use keys of their
/// own; the one that moves a slot moves it back.
@Suite("Redis Cluster client against a real cluster", .serialized)
struct ClusterClientTests {
    /// Keys spread over every slot range: the hash tag differs per key.
    static func keys(_ prefix: String, count: Int) -> [String] {
        (0..<count).map { "\(prefix):{\($0)}:k" }
    }

    @Test func eachCommandReachesThePrimaryOfItsSlot() async throws {
        try await withShutdown(try TestRedisCluster.client()) { client in
            let prefix = TestRedis.uniquePrefix("route")
            let keys = Self.keys(prefix, count: 300)
            for key in keys {
                _ = try await client.send(RedisCommand("SET", [RedisArgument(key: key), RedisArgument(key + "=value")]))
            }
            for key in keys {
                #expect(try await client.send(RedisCommand("GET", [RedisArgument(key: key)])).string == key + "=value")
            }
            // Each primary holds the keys of its own slots, and all three hold some.
            let primaries = try await client.primaries()
            #expect(primaries.count == 3)
            var total = 0
            for node in primaries {
                let held = try await ClusterScan.keys(node, matching: prefix + ":*").count
                #expect(held > 0, "primary \(node.endpoint) holds none of 300 keys spread over the slots")
                total += held
            }
            #expect(total == keys.count)
        }
    }

    @Test func aCommandWhoseKeysSpanSlotsIsRefusedBeforeItIsSent() async throws {
        let first = "{a}:x"
        let second = "{b}:y"
        #expect(ClusterSlot.of(first) != ClusterSlot.of(second))
        let command = RedisCommand("MSET", [RedisArgument(key: first), "1", RedisArgument(key: second), "2"])
        guard case .crossSlot = command.route else {
            Issue.record("keys of two slots must make a cross-slot route, got \(command.route)")
            return
        }
        _ = try await withShutdown(try TestRedisCluster.client()) { client async throws in
            await #expect(
                throws: RedisError(
                    .crossSlot, "MSET names keys in slots \([ClusterSlot.of(first), ClusterSlot.of(second)]): they must share a hash tag")
            ) {
                try await client.send(command)
            }
        }
        // A single Redis would run it; the client refuses it there too, so tests catch it anywhere.
        try await withTestRedis { client async throws in
            await #expect(throws: RedisError.self) { try await client.send(command) }
            #expect(try await client.send(RedisCommand("EXISTS", [RedisArgument(key: first)])) == .integer(0), "nothing was sent")
        }
    }

    /// Moves one slot from its primary to another the way `redis-cli --cluster reshard` does,
    /// checking the client at each step: while the slot migrates, a key not yet moved is served
    /// by the source and a new key is written on the target (ASK); afterwards every key is found
    /// on the target (MOVED), and the map is fetched again.
    @Test func keysStayReachableWhileTheirSlotMigratesAndAfter() async throws {
        try await withShutdown(try TestRedisCluster.client()) { client in
            let prefix = TestRedis.uniquePrefix("move")
            let tag = "{\(prefix)}"
            let slot = ClusterSlot.of(tag)
            let old = (0..<20).map { "\(tag):old:\($0)" }
            for key in old { _ = try await client.send(RedisCommand("SET", [RedisArgument(key: key), "before"])) }

            let primaries = try await client.primaries().map(\.endpoint)
            let source = try #require(try await owner(of: slot, asking: primaries[0]))
            let target = try #require(primaries.first { $0 != source })
            try await migrate(slot: slot, from: source, to: target, among: primaries) { phase in
                switch phase {
                case .migrating(let moved):
                    // Half the old keys are on the target now: ASK leads there; the rest answer on the source.
                    for key in old {
                        #expect(
                            try await client.send(RedisCommand("GET", [RedisArgument(key: key)])).string == "before", "\(key) after \(moved) moved")
                    }
                    // A new key goes to the target through ASK.
                    _ = try await client.send(RedisCommand("SET", [RedisArgument(key: "\(tag):new"), "during"]))
                case .done:
                    for key in old + ["\(tag):new"] {
                        #expect(try await client.send(RedisCommand("GET", [RedisArgument(key: key)])).string != nil, "\(key) after the move")
                    }
                }
            }
            #expect(try await owner(of: slot, asking: target) == target)
            // Our 21 keys, counted by name: other suites' keys (a worker's per-person records carry
            // their person's tag) can share the slot, so CLUSTER COUNTKEYSINSLOT would count them too.
            let ours = (old + ["\(tag):new"]).map { RedisArgument(key: $0) }
            let onTarget = try await withShutdown(try TestRedisCluster.nodeClient(target)) { node in
                try await node.send(RedisCommand("EXISTS", ours)).integer
            }
            #expect(onTarget == 21)
            // Put the slot back, so that the other tests see the cluster as it was.
            try await migrate(slot: slot, from: target, to: source, among: primaries) { _ in }
        }
    }

    enum MigrationPhase {
        case migrating(moved: Int)
        case done
    }

    /// The primary serving `slot`, as `node` sees it.
    private func owner(of slot: Int, asking node: ClusterEndpoint) async throws -> ClusterEndpoint? {
        try await withShutdown(try TestRedisCluster.nodeClient(node)) { client in
            try ClusterSlotMap(slotsReply: try await client.send("CLUSTER", "SLOTS"), fallbackHost: node.host).primary(for: slot)
        }
    }

    /// The steps of a slot migration: IMPORTING on the target, MIGRATING on the source, MIGRATE the
    /// keys in two halves (calling `check` between them), then SETSLOT NODE everywhere.
    private func migrate(
        slot: Int, from source: ClusterEndpoint, to target: ClusterEndpoint, among primaries: [ClusterEndpoint],
        check: (MigrationPhase) async throws -> Void
    ) async throws {
        let sourceClient = try TestRedisCluster.nodeClient(source)
        let targetClient = try TestRedisCluster.nodeClient(target)
        defer {
            Task {
                await sourceClient.shutdown()
                await targetClient.shutdown()
            }
        }
        let sourceID = try #require(try await sourceClient.send("CLUSTER", "MYID").string)
        let targetID = try #require(try await targetClient.send("CLUSTER", "MYID").string)
        _ = try await targetClient.send("CLUSTER", "SETSLOT", RedisArgument(slot), "IMPORTING", RedisArgument(sourceID))
        _ = try await sourceClient.send("CLUSTER", "SETSLOT", RedisArgument(slot), "MIGRATING", RedisArgument(targetID))
        let keys = try #require(try await sourceClient.send("CLUSTER", "GETKEYSINSLOT", RedisArgument(slot), "1000").array).compactMap(\.string)
        let half = keys.count / 2
        for batch in [Array(keys.prefix(half)), Array(keys.dropFirst(half))] where !batch.isEmpty {
            _ = try await sourceClient.send(
                RedisCommand(
                    "MIGRATE", [RedisArgument(target.host), RedisArgument(target.port), "", "0", "5000", "KEYS"] + batch.map { RedisArgument($0) }))
            if batch.count == half { try await check(.migrating(moved: half)) }
        }
        for node in primaries {
            try await withShutdown(try TestRedisCluster.nodeClient(node)) { client in
                _ = try await client.send("CLUSTER", "SETSLOT", RedisArgument(slot), "NODE", RedisArgument(targetID))
            }
        }
        try await check(.done)
    }
}
