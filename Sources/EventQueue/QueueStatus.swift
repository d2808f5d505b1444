import Hiredis

/// A consumer of a group, as `XINFO CONSUMERS` reports it.
public struct ConsumerStatus: Sendable, Hashable, Codable {
    public let name: String
    /// Entries delivered to this consumer and not yet acknowledged.
    public let pending: Int
    /// Seconds since the consumer last read or claimed.
    public let idleSeconds: Double
}

/// One consumer group on one partition.
public struct GroupPartitionStatus: Sendable, Hashable, Codable {
    public let partition: Int
    public let lag: Int
    public let pending: Int
    public let oldestUnprocessedAgeSeconds: Double?
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
    /// Lag, pending and oldest age per partition (one element with one partition).
    public let partitions: [GroupPartitionStatus]
    /// True for a configured group that does not exist in Redis: no role has started since the
    /// stream was made, or someone deleted it. Its lag is the whole stream, as it would be once
    /// created (groups start at the beginning of the stream).
    public let missing: Bool
}

/// One partition's streams.
public struct PartitionStatus: Sendable, Hashable, Codable {
    public let partition: Int
    public let stream: String
    public let streamLength: Int
    public let deadLetterStream: String
    public let deadLetters: Int
}

/// One primary the queue lives on and the replicas connected to it (`INFO replication`).
public struct PrimaryReplicas: Sendable, Hashable, Codable {
    /// `host:port` as the client reaches it.
    public let primary: String
    public let connectedReplicas: Int

    public init(primary: String, connectedReplicas: Int) {
        self.primary = primary
        self.connectedReplicas = connectedReplicas
    }
}

/// The state of the queue for `cio-relay status`: what an operator looks at first. Lengths and
/// counts are totals over the partitions; `partitions` has each.
public struct QueueStatus: Sendable, Hashable, Codable {
    /// The events stream, or with several partitions the pattern of their names.
    public let stream: String
    public let streamLength: Int
    public let deadLetterStream: String
    public let deadLetters: Int
    public let partitions: [PartitionStatus]
    /// Dedup markers (`…:seen:*`): counted when the database is small, else estimated from random keys.
    public let dedupKeys: Int
    public let dedupKeysExact: Bool
    /// Summed over the primaries of a cluster.
    public let redisUsedMemoryBytes: Int
    /// 0 when Redis has no `maxmemory` (on a cluster, when some primary has none).
    public let redisMaxMemoryBytes: Int
    /// Primaries the data is spread over: 1 on one Redis.
    public let redisPrimaries: Int
    /// Each primary's connected replicas.
    public let replicas: [PrimaryReplicas]
    /// `CIO_RELAY_REDIS_MIN_REPLICAS` in force: a primary with fewer connected replicas answers
    /// its events' enqueue with a shortfall, so the receiver answers them 503.
    public let minReplicas: Int
    public let groups: [GroupStatus]

    /// The primaries with fewer connected replicas than `minReplicas`.
    public var primariesBelowMinimum: [PrimaryReplicas] {
        replicas.filter { $0.connectedReplicas < minReplicas }
    }
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
        func age(_ milliseconds: Int64?) -> Double? { milliseconds.map { max(0, Double(nowMilliseconds - $0) / 1000) } }
        let partitions = try await eachPartition { keys throws(RedisError) in
            PartitionStatus(
                partition: keys.partition, stream: keys.events, streamLength: try await length(of: keys.events),
                deadLetterStream: keys.dead, deadLetters: try await length(of: keys.dead)
            )
        }
        let streamLength = partitions.reduce(0) { $0 + $1.streamLength }
        var groups: [GroupStatus] = []
        for statistics in try await groupStatistics() {
            let consumers = try await consumers(of: statistics.name)
            let perPartition = statistics.partitions.enumerated().map { index, partition in
                GroupPartitionStatus(
                    partition: index, lag: partition.lag, pending: partition.pending, oldestUnprocessedAgeSeconds: age(partition.oldestUnprocessedAt))
            }
            groups.append(
                GroupStatus(
                    name: statistics.name, lag: statistics.lag, pending: statistics.pending,
                    oldestUnprocessedAgeSeconds: age(statistics.oldestUnprocessedAt),
                    consumers: consumers, partitions: perPartition, missing: false
                ))
        }
        let missing = expectedGroups.filter { name in !groups.contains { $0.name == name } }
        if !missing.isEmpty {
            // A missing group has read nothing: its oldest unprocessed event is the streams' first.
            let firsts = try await eachPartition { keys throws(RedisError) in try await entries(of: keys.events, count: 1).first?.addedAt }
            let perPartition = zip(partitions, firsts).map { partition, first in
                GroupPartitionStatus(partition: partition.partition, lag: partition.streamLength, pending: 0, oldestUnprocessedAgeSeconds: age(first))
            }
            groups += missing.map {
                GroupStatus(
                    name: $0, lag: streamLength, pending: 0, oldestUnprocessedAgeSeconds: age(firsts.compactMap { $0 }.min()), consumers: [],
                    partitions: perPartition, missing: true)
            }
        }
        let primaries = try await client.primaries()
        var dedupKeys = 0
        var exact = true
        var used = 0
        var limits: [Int] = []
        for node in primaries {
            let (count, nodeExact) = try await dedupKeyCount(on: node)
            dedupKeys += count
            exact = exact && nodeExact
            let memory = try await node.send("INFO", "memory").string ?? ""
            used += Self.infoField("used_memory", in: memory)
            limits.append(Self.infoField("maxmemory", in: memory))
        }
        return QueueStatus(
            stream: layout.eventsName, streamLength: streamLength,
            deadLetterStream: layout.deadName, deadLetters: partitions.reduce(0) { $0 + $1.deadLetters },
            partitions: partitions, dedupKeys: dedupKeys, dedupKeysExact: exact,
            redisUsedMemoryBytes: used, redisMaxMemoryBytes: limits.contains(0) ? 0 : limits.reduce(0, +), redisPrimaries: primaries.count,
            replicas: try await primaryReplicas(), minReplicas: client.configuration.minReplicas,
            groups: groups
        )
    }

    /// Each primary and its connected replicas, from `INFO replication`.
    public func primaryReplicas() async throws(RedisError) -> [PrimaryReplicas] {
        var result: [PrimaryReplicas] = []
        for node in try await client.primaries() {
            let replication = try await node.send("INFO", "replication").string ?? ""
            result.append(PrimaryReplicas(primary: node.endpoint.description, connectedReplicas: Self.infoField("connected_slaves", in: replication)))
        }
        return result
    }

    /// A number field of an `INFO` reply (`name:value` lines), 0 when absent.
    static func infoField(_ name: String, in info: String) -> Int {
        info.split(whereSeparator: \.isNewline).first { $0.hasPrefix(name + ":") }.flatMap { Int($0.dropFirst(name.count + 1)) } ?? 0
    }

    /// The consumers of a group over every partition: pending summed, idle the shortest.
    private func consumers(of group: String) async throws(RedisError) -> [ConsumerStatus] {
        let lists = try await eachPartition { keys throws(RedisError) in
            let reply: RedisValue
            do throws(RedisError) {
                reply = try await client.send("XINFO", "CONSUMERS", RedisArgument(key: keys.events), RedisArgument(group))
            } catch  where error.serverErrorPrefix == "NOGROUP" {
                return [ConsumerStatus]()
            }
            return (reply.array ?? []).compactMap { consumer -> ConsumerStatus? in
                guard let fields = consumer.fieldMap, let name = fields["name"]?.string else { return nil }
                return ConsumerStatus(
                    name: name, pending: Int(fields["pending"]?.integer ?? 0), idleSeconds: Double(fields["idle"]?.integer ?? 0) / 1000)
            }
        }
        var merged: [ConsumerStatus] = []
        for consumer in lists.joined() {
            if let index = merged.firstIndex(where: { $0.name == consumer.name }) {
                let known = merged[index]
                merged[index] = ConsumerStatus(
                    name: known.name, pending: known.pending + consumer.pending, idleSeconds: min(known.idleSeconds, consumer.idleSeconds))
            } else {
                merged.append(consumer)
            }
        }
        return merged
    }

    /// The number of dedup markers on one primary, and whether it is exact.
    private func dedupKeyCount(on node: RedisNode) async throws(RedisError) -> (Int, Bool) {
        let total = Int(try await node.send("DBSIZE").integer ?? 0)
        if total <= Self.exactDedupCountLimit {
            var cursor = "0"
            var count = 0
            repeat {
                let reply = try await node.send("SCAN", RedisArgument(cursor), "MATCH", RedisArgument(layout.seenPattern), "COUNT", "1000")
                guard let parts = reply.array, parts.count == 2, let next = parts[0].string else {
                    throw RedisError(.unexpectedReply, "SCAN answered \(reply)")
                }
                cursor = next
                count += parts[1].array?.count ?? 0
            } while cursor != "0"
            return (count, true)
        }
        var hits = 0
        for _ in 0..<Self.dedupSamples where try await node.send("RANDOMKEY").string.map(layout.isDedupMarker) == true {
            hits += 1
        }
        return (total * hits / Self.dedupSamples, false)
    }
}
