import Hiredis

/// What Redis knows about one consumer group on one partition's stream, or on all of them.
public struct GroupStatistics: Sendable, Hashable {
    public let name: String
    /// Entries delivered to some consumer and not yet acknowledged.
    public let pending: Int
    /// Entries not yet delivered to any consumer of the group (Redis' `lag`; the stream length
    /// when Redis cannot tell, an upper bound).
    public let lag: Int
    /// When the oldest entry the group has not acknowledged was added (ms since the epoch), if any.
    public let oldestUnprocessedAt: Int64?
    /// The same per partition, in partition order (one element with one partition).
    public let partitions: [GroupStatistics]

    init(name: String, pending: Int, lag: Int, oldestUnprocessedAt: Int64?) {
        self.name = name
        self.pending = pending
        self.lag = lag
        self.oldestUnprocessedAt = oldestUnprocessedAt
        self.partitions = []
    }

    /// The group over every partition: sums, and the oldest of the oldest.
    init(name: String, partitions: [GroupStatistics]) {
        self.name = name
        self.pending = partitions.reduce(0) { $0 + $1.pending }
        self.lag = partitions.reduce(0) { $0 + $1.lag }
        self.oldestUnprocessedAt = partitions.compactMap(\.oldestUnprocessedAt).min()
        self.partitions = partitions
    }
}

extension EventQueue {
    /// Runs `body` for every partition at once; answers the results in partition order, or the
    /// first partition's error.
    public func eachPartition<T: Sendable>(_ body: @escaping @Sendable (QueueKeys) async throws(RedisError) -> T) async throws(RedisError) -> [T] {
        if layout.count == 1 { return [try await body(layout.partitions[0])] }
        let results = await withTaskGroup(of: (Int, Result<T, RedisError>).self) { group in
            for keys in layout.partitions {
                group.addTask {
                    do throws(RedisError) {
                        return (keys.partition, .success(try await body(keys)))
                    } catch {
                        return (keys.partition, .failure(error))
                    }
                }
            }
            var results: [Int: Result<T, RedisError>] = [:]
            for await (partition, result) in group { results[partition] = result }
            return results
        }
        var values: [T] = []
        for partition in layout.partitions.indices {
            if let result = results[partition] { values.append(try result.get()) }
        }
        return values
    }

    /// Creates a consumer group at the start of every partition's stream (creating the streams
    /// too) unless it exists: a new group sees every entry still in the stream.
    public func createGroup(_ name: String) async throws(RedisError) {
        _ = try await eachPartition { keys throws(RedisError) in
            do throws(RedisError) {
                _ = try await client.send("XGROUP", "CREATE", RedisArgument(key: keys.events), RedisArgument(name), "0", "MKSTREAM")
            } catch  where error.serverErrorPrefix == "BUSYGROUP" {
                // Already there: creating groups is idempotent.
            }
        }
    }

    /// Removes entries below the oldest one that some group has not acknowledged, computed and
    /// applied in one script so that no group can move in between. A group's boundary is its
    /// oldest pending entry, or, with nothing pending, the first entry after its last delivered
    /// one. Without any group nothing is trimmed: nobody has read anything yet.
    /// KEYS[1] events stream. Returns the number of entries removed.
    static let trimAcknowledged = RedisScript(
        """
        local function parse(id)
          local ms, seq = string.match(id, '^(%d+)-(%d+)$')
          return tonumber(ms), tonumber(seq)
        end
        local function less(a, b)
          local am, as = parse(a)
          local bm, bs = parse(b)
          return am < bm or (am == bm and as < bs)
        end
        if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
        local groups = redis.call('XINFO', 'GROUPS', KEYS[1])
        if #groups == 0 then return 0 end
        local boundary = nil
        for _, flat in ipairs(groups) do
          local info = {}
          for i = 1, #flat, 2 do info[flat[i]] = flat[i + 1] end
          local candidate
          if tonumber(info['pending']) > 0 then
            candidate = redis.call('XPENDING', KEYS[1], info['name'])[2]
          else
            local ms, seq = parse(info['last-delivered-id'])
            candidate = string.format('%d-%d', ms, seq + 1)
          end
          if boundary == nil or less(candidate, boundary) then boundary = candidate end
        end
        return redis.call('XTRIM', KEYS[1], 'MINID', '=', boundary)
        """)

    /// Trims every partition's stream to what some consumer group still needs; returns entries removed.
    @discardableResult
    public func trimAcknowledged() async throws(RedisError) -> Int {
        try await eachPartition { keys throws(RedisError) in
            let reply = try await client.run(Self.trimAcknowledged, keys: [keys.events], arguments: [])
            guard let removed = reply.integer else {
                throw RedisError(.unexpectedReply, "the trim script answered \(reply)")
            }
            return Int(removed)
        }.reduce(0, +)
    }

    /// Deletes the consumers, in every group, that hold no pending entry and have been idle
    /// longer than ARGV[1] ms: those left behind by restarts (each process has a name of its own).
    /// Checked and deleted in one step, so that a consumer that just took an entry is never
    /// deleted with it. KEYS[1] events stream. Returns `group/consumer` of each deleted.
    static let removeIdleConsumersScript = RedisScript(
        """
        local removed = {}
        if redis.call('EXISTS', KEYS[1]) == 0 then return removed end
        local limit = tonumber(ARGV[1])
        for _, flat in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
          local group = {}
          for i = 1, #flat, 2 do group[flat[i]] = flat[i + 1] end
          for _, row in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], group['name'])) do
            local consumer = {}
            for i = 1, #row, 2 do consumer[row[i]] = row[i + 1] end
            if consumer['pending'] == 0 and consumer['idle'] > limit then
              redis.call('XGROUP', 'DELCONSUMER', KEYS[1], group['name'], consumer['name'])
              removed[#removed + 1] = group['name'] .. '/' .. consumer['name']
            end
          end
        end
        return removed
        """)

    /// Deletes consumers without pending entries that have been idle longer than `idle`; returns
    /// them as `group/consumer`. A live consumer reads every few seconds and is never that idle.
    @discardableResult
    public func removeIdleConsumers(idleLongerThan idle: Duration) async throws(RedisError) -> [String] {
        try await eachPartition { keys throws(RedisError) in
            let reply = try await client.run(Self.removeIdleConsumersScript, keys: [keys.events], arguments: [RedisArgument(idle.milliseconds)])
            guard let removed = reply.array else {
                throw RedisError(.unexpectedReply, "the consumer clean-up script answered \(reply)")
            }
            return removed.compactMap(\.string)
        }.flatMap { $0 }
    }

    /// The stream's length and the id of the last entry ever added.
    private func streamPosition(_ keys: QueueKeys) async throws(RedisError) -> (length: Int, lastGenerated: String?) {
        let info = try await client.send("XINFO", "STREAM", RedisArgument(key: keys.events)).fieldMap
        guard let length = info?["length"]?.integer else {
            throw RedisError(.unexpectedReply, "XINFO STREAM answered without a length")
        }
        return (Int(length), info?["last-generated-id"]?.string)
    }

    /// Sets Redis' lag counter (`entries-read`) of every group that has read the whole stream
    /// but reports a lag anyway, as seen after restarts from the append-only file. Autoscalers and
    /// dashboards read that counter directly (KEDA's `redis-streams` trigger does): left wrong, it
    /// would show a backlog that never drains. Checked and set in one step, so that no entry can
    /// arrive in between. KEYS[1] events stream. Returns the names of the groups repaired.
    static let repairLagCountersScript = RedisScript(
        """
        local repaired = {}
        if redis.call('EXISTS', KEYS[1]) == 0 then return repaired end
        local flat = redis.call('XINFO', 'STREAM', KEYS[1])
        local stream = {}
        for i = 1, #flat, 2 do stream[flat[i]] = flat[i + 1] end
        for _, row in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
          local group = {}
          for i = 1, #row, 2 do group[row[i]] = row[i + 1] end
          if group['last-delivered-id'] == stream['last-generated-id'] and group['lag'] ~= 0 then
            redis.call('XGROUP', 'SETID', KEYS[1], group['name'], group['last-delivered-id'], 'ENTRIESREAD', stream['entries-added'])
            repaired[#repaired + 1] = group['name']
          end
        end
        return repaired
        """)

    /// Repairs wrong lag counters (see `repairLagCountersScript`) on every partition; returns the
    /// groups repaired (once per partition repaired).
    @discardableResult
    public func repairLagCounters() async throws(RedisError) -> [String] {
        try await eachPartition { keys throws(RedisError) in
            let reply = try await client.run(Self.repairLagCountersScript, keys: [keys.events], arguments: [])
            guard let repaired = reply.array else {
                throw RedisError(.unexpectedReply, "the lag repair script answered \(reply)")
            }
            return repaired.compactMap(\.string)
        }.flatMap { $0 }
    }

    /// Pending, lag and oldest unacknowledged entry of every group, over all partitions and per
    /// partition. A group missing from some partition's stream counts there as missing entirely:
    /// it is listed only where it exists.
    public func groupStatistics() async throws(RedisError) -> [GroupStatistics] {
        let perPartition = try await eachPartition { keys throws(RedisError) in try await groupStatistics(keys) }
        var names: [String] = []
        for statistics in perPartition.joined() where !names.contains(statistics.name) { names.append(statistics.name) }
        return names.map { name in
            GroupStatistics(name: name, partitions: perPartition.compactMap { partition in partition.first { $0.name == name } })
        }
    }

    /// The groups of one partition's stream.
    private func groupStatistics(_ keys: QueueKeys) async throws(RedisError) -> [GroupStatistics] {
        let stream = RedisArgument(key: keys.events)
        let reply: RedisValue
        do {
            reply = try await client.send("XINFO", "GROUPS", stream)
        } catch  where error.serverErrorPrefix == "ERR" {
            return []  // no stream yet
        }
        guard let groups = reply.array else {
            throw RedisError(.unexpectedReply, "XINFO GROUPS answered \(reply)")
        }
        var statistics: [GroupStatistics] = []
        let (length, lastGenerated) = try await streamPosition(keys)
        for group in groups {
            guard let info = group.fieldMap else { continue }
            guard let name = info["name"]?.string, let pending = info["pending"]?.integer, let lastDelivered = info["last-delivered-id"]?.string
            else {
                throw RedisError(.unexpectedReply, "XINFO GROUPS entry has an unexpected shape: \(group)")
            }
            // Redis' own counter can be wrong (after a restart from the append-only file it was seen
            // 112,000 above the stream's length, for a group that had read everything): a group
            // that has read the last entry lags by nothing, and no group lags by more than the
            // stream holds (nothing undelivered is ever trimmed).
            let lag = lastDelivered == lastGenerated ? 0 : min(info["lag"]?.integer.map { Int($0) } ?? length, length)
            var oldest: Int64?
            if pending > 0 {
                let summary = try await client.send("XPENDING", stream, RedisArgument(name))
                oldest = summary.array.flatMap { $0.count > 1 ? $0[1].string : nil }.flatMap { StreamID($0)?.milliseconds }
            }
            if oldest == nil, lag > 0 {
                let next = try StreamEntry.list(
                    try await client.send("XRANGE", stream, RedisArgument("(" + lastDelivered), "+", "COUNT", "1"), from: "XRANGE",
                    partition: keys.partition, of: layout)
                oldest = next.first?.addedAt
            }
            statistics.append(GroupStatistics(name: name, pending: Int(pending), lag: lag, oldestUnprocessedAt: oldest))
        }
        return statistics
    }
}

extension RedisValue {
    /// A flat `[name, value, name, value, …]` reply (`XINFO`, `CONFIG GET`) as a dictionary.
    var fieldMap: [String: RedisValue]? {
        guard let flat = array else { return nil }
        var fields: [String: RedisValue] = [:]
        var index = 0
        while index + 1 < flat.count {
            if let key = flat[index].string { fields[key] = flat[index + 1] }
            index += 2
        }
        return fields
    }
}
