import Hiredis

/// What Redis says about the partition count a process starts with.
public enum PartitionCheck: Sendable, Hashable {
    /// The data was written with this count (now recorded if it was not).
    case agrees
    /// The data was written with another count: reading and writing with this one would scatter
    /// events over the wrong streams.
    case differs(recorded: Int)
    /// Switching from one partition to several while the one-partition stream still holds entries.
    case singlePartitionStreamNotEmpty(entries: Int)
}

extension EventQueue {
    /// Answers the recorded partition count, or records ARGV[1] when none is, unless a switch to
    /// several partitions would leave entries behind on the one-partition stream (answered as a
    /// negative count). KEYS[1] the record, KEYS[2] the one-partition events stream.
    static let recordPartitions = RedisScript(
        """
        local recorded = redis.call('GET', KEYS[1])
        if recorded then return tonumber(recorded) end
        if tonumber(ARGV[1]) > 1 and redis.call('EXISTS', KEYS[2]) == 1 then
          local left = redis.call('XLEN', KEYS[2])
          if left > 0 then return -left end
        end
        redis.call('SET', KEYS[1], ARGV[1])
        return tonumber(ARGV[1])
        """)

    /// Checks the configured partition count against the one recorded in Redis, recording it on
    /// first use. The count is fixed for a deployment's data: a process with another one must not
    /// start (see docs/redis-cluster.md for how to change it).
    public func checkPartitions() async throws(RedisError) -> PartitionCheck {
        let reply = try await client.run(
            Self.recordPartitions, keys: [layout.partitionCountKey, layout.singlePartitionEvents],
            arguments: [RedisArgument(layout.count)]
        )
        guard let recorded = reply.integer else {
            throw RedisError(.unexpectedReply, "the partition record script answered \(reply)")
        }
        if recorded < 0 { return .singlePartitionStreamNotEmpty(entries: Int(-recorded)) }
        return recorded == layout.count ? .agrees : .differs(recorded: Int(recorded))
    }
}
