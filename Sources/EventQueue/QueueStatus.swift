import Hiredis

/// A consumer of a group, as `XINFO CONSUMERS` reports it.
public struct ConsumerStatus: Sendable, Hashable, Codable {
    public let name: String
    /// Entries delivered to this consumer and not yet acknowledged.
    public let pending: Int
    /// Seconds since the consumer last read or claimed.
    public let idleSeconds: Double
}

/// One consumer group: its backlog and who works on it.
public struct GroupStatus: Sendable, Hashable, Codable {
    public let name: String
    /// Entries not yet delivered to any consumer of the group.
    public let lag: Int
    /// Entries delivered and not yet acknowledged.
    public let pending: Int
    /// Age of the oldest entry the group has not acknowledged, nil when it is caught up.
    public let oldestUnprocessedAgeSeconds: Double?
    public let consumers: [ConsumerStatus]
    /// True for a configured group that does not exist in Redis: no role has started since the
    /// stream was made, or someone deleted it. Its lag is the whole stream, as it would be once
    /// created (groups start at the beginning of the stream).
    public let missing: Bool
}

/// The state of the queue for `cio-relay status`: what an operator looks at first.
public struct QueueStatus: Sendable, Hashable, Codable {
    public let stream: String
    public let streamLength: Int
    public let deadLetterStream: String
    public let deadLetters: Int
    /// Dedup markers (`…:seen:*`): counted when the database is small, else estimated from random keys.
    public let dedupKeys: Int
    public let dedupKeysExact: Bool
    public let redisUsedMemoryBytes: Int
    /// 0 when Redis has no `maxmemory`.
    public let redisMaxMemoryBytes: Int
    public let groups: [GroupStatus]
}

extension EventQueue {
    /// Up to this many keys in the database the dedup markers are counted with `SCAN`; above it
    /// they are estimated from random keys, so that `status` stays cheap on a large Redis.
    static let exactDedupCountLimit = 10_000
    /// How many random keys the dedup estimate samples.
    public static let dedupSamples = 200

    /// The queue's state at `nowMilliseconds`; each of `expectedGroups` that does not exist is
    /// reported as missing, lagging by the whole stream.
    public func status(nowMilliseconds: Int64, expectedGroups: [String] = []) async throws(RedisError) -> QueueStatus {
        var groups: [GroupStatus] = []
        for statistics in try await groupStatistics() {
            let reply = try await client.send("XINFO", "CONSUMERS", RedisArgument(keys.events), RedisArgument(statistics.name))
            let consumers = (reply.array ?? []).compactMap { consumer -> ConsumerStatus? in
                guard let fields = consumer.fieldMap, let name = fields["name"]?.string else { return nil }
                return ConsumerStatus(name: name, pending: Int(fields["pending"]?.integer ?? 0), idleSeconds: Double(fields["idle"]?.integer ?? 0) / 1000)
            }
            let age = statistics.oldestUnprocessedAt.map { max(0, Double(nowMilliseconds - $0) / 1000) }
            groups.append(GroupStatus(name: statistics.name, lag: statistics.lag, pending: statistics.pending, oldestUnprocessedAgeSeconds: age, consumers: consumers, missing: false))
        }
        let streamLength = try await length(of: keys.events)
        let missing = expectedGroups.filter { name in !groups.contains { $0.name == name } }
        if !missing.isEmpty {
            // A missing group has read nothing: its oldest unprocessed event is the stream's first.
            let first = try StreamEntry.list(try await client.send("XRANGE", RedisArgument(keys.events), "-", "+", "COUNT", "1"), from: "XRANGE").first
            let age = first?.addedAt.map { max(0, Double(nowMilliseconds - $0) / 1000) }
            groups += missing.map { GroupStatus(name: $0, lag: streamLength, pending: 0, oldestUnprocessedAgeSeconds: age, consumers: [], missing: true) }
        }
        let (dedupKeys, exact) = try await dedupKeyCount()
        let memory = try await client.send("INFO", "memory").string ?? ""
        func memoryField(_ name: String) -> Int {
            memory.split(whereSeparator: \.isNewline).first { $0.hasPrefix(name + ":") }.flatMap { Int($0.dropFirst(name.count + 1)) } ?? 0
        }
        return QueueStatus(
            stream: keys.events, streamLength: streamLength,
            deadLetterStream: keys.dead, deadLetters: try await length(of: keys.dead),
            dedupKeys: dedupKeys, dedupKeysExact: exact,
            redisUsedMemoryBytes: memoryField("used_memory"), redisMaxMemoryBytes: memoryField("maxmemory"),
            groups: groups
        )
    }

    /// The number of dedup markers, and whether it is exact.
    private func dedupKeyCount() async throws(RedisError) -> (Int, Bool) {
        let pattern = keys.seenPattern
        let total = Int(try await client.send("DBSIZE").integer ?? 0)
        if total <= Self.exactDedupCountLimit {
            var cursor = "0"
            var count = 0
            repeat {
                let reply = try await client.send("SCAN", RedisArgument(cursor), "MATCH", RedisArgument(pattern), "COUNT", "1000")
                guard let parts = reply.array, parts.count == 2, let next = parts[0].string else {
                    throw RedisError(.unexpectedReply, "SCAN answered \(reply)")
                }
                cursor = next
                count += parts[1].array?.count ?? 0
            } while cursor != "0"
            return (count, true)
        }
        let prefix = pattern.dropLast()
        var hits = 0
        for _ in 0..<Self.dedupSamples where try await client.send("RANDOMKEY").string?.hasPrefix(prefix) == true {
            hits += 1
        }
        return (total * hits / Self.dedupSamples, false)
    }
}
