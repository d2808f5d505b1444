import Hiredis

/// How one consumer of a consumer group reads the events stream.
public struct ConsumerConfiguration: Sendable, Hashable {
    /// The consumer group (`actions`, `warehouse`): each group sees every entry once.
    public var group: String
    /// This consumer's name within the group: the pod or host name.
    public var consumer: String
    /// Entries read at most per batch.
    public var batchSize: Int
    /// How long one read waits for new entries before returning empty.
    public var blockTime: Duration
    /// An entry held unacknowledged this long by any consumer is taken over by another.
    public var reclaimIdle: Duration
    /// An entry handed out more often than this goes to the dead-letter stream.
    public var maxDeliveries: Int
    /// With several partitions (or a cluster), how long to wait before reading again after a
    /// read of every partition found nothing.
    public var pollInterval: Duration

    public init(
        group: String,
        consumer: String,
        batchSize: Int = 500,
        blockTime: Duration = .seconds(2),
        reclaimIdle: Duration = .seconds(60),
        maxDeliveries: Int = 10,
        pollInterval: Duration = .milliseconds(100)
    ) {
        self.group = group
        self.consumer = consumer
        self.batchSize = batchSize
        self.blockTime = blockTime
        self.reclaimIdle = reclaimIdle
        self.maxDeliveries = maxDeliveries
        self.pollInterval = pollInterval
    }
}

/// A stream entry handed to a consumer, with how often the group has handed it out.
public struct DeliveredEntry: Sendable, Hashable {
    public let entry: StreamEntry
    /// Deliveries so far, this one included (1 for a first read).
    public let deliveries: Int

    public init(entry: StreamEntry, deliveries: Int) {
        self.entry = entry
        self.deliveries = deliveries
    }
}

/// One consumer of a consumer group on the events streams of every partition: reads new entries,
/// acknowledges, takes over entries that a dead consumer left pending (`XAUTOCLAIM`) and moves
/// entries that cannot be processed to the dead-letter stream of their partition.
///
/// With one partition on one Redis it reads with `XREADGROUP … BLOCK` on a connection of its own.
/// With several, one blocking read cannot cover them: a cluster refuses a read of streams in
/// different slots (`CROSSSLOT`), even on one node, and a blocking connection per partition would
/// cost two threads each. So it reads every partition without blocking, all at once (pipelined
/// on the shared connections), and when all come back empty waits `pollInterval` before trying
/// again, until `blockTime` has passed: P small commands per interval while idle, none extra
/// under load.
public struct GroupConsumer: Sendable {
    public let queue: EventQueue
    public let configuration: ConsumerConfiguration
    /// The blocking connection, with one partition on one Redis.
    private let reader: RedisConnection?

    /// Moves an entry to the dead-letter stream and acknowledges it in one step, so that it is never
    /// both gone from the group and missing from the dead letters.
    /// KEYS[1] dead stream, KEYS[2] events stream; ARGV[1] group, ARGV[2] entry id, ARGV[3…] fields.
    static let deadLetterAndAcknowledge = RedisScript(
        """
        redis.call('XADD', KEYS[1], '*', unpack(ARGV, 3))
        return redis.call('XACK', KEYS[2], ARGV[1], ARGV[2])
        """)

    /// Resets the idle time of those of the given entries that this consumer still holds
    /// (`XCLAIM … 0 … JUSTID`, which leaves the delivery count alone), in one step with the check
    /// of who holds them, so that an entry another consumer took over is never taken back.
    /// KEYS[1] events stream; ARGV[1] group, ARGV[2] consumer, ARGV[3…] entry ids. Returns the
    /// number of entries still held.
    static let keepClaimedScript = RedisScript(
        """
        local held = {}
        for i = 3, #ARGV do
          local row = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)[1]
          if row and row[2] == ARGV[2] then held[#held + 1] = ARGV[i] end
        end
        local count = #held
        if count > 0 then
          held[count + 1] = 'JUSTID'
          redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, unpack(held))
        end
        return count
        """)

    /// A consumer of `configuration.group`; with one partition on a server that allows it, it reads
    /// through a connection of its own with `XREADGROUP … BLOCK`, otherwise it polls.
    public init(queue: EventQueue, configuration: ConsumerConfiguration) throws(RedisError) {
        self.queue = queue
        self.configuration = configuration
        if queue.layout.count == 1 && queue.client.supportsBlockingReads {
            // Longer than the longest BLOCK, so that only a server that stopped answering times out.
            let timeout = configuration.blockTime + (queue.client.configuration.commandTimeout ?? .seconds(2))
            self.reader = try queue.client.makeBlockingConnection(commandTimeout: timeout)
        } else {
            self.reader = nil
        }
    }

    private var group: RedisArgument { RedisArgument(configuration.group) }
    private var consumer: RedisArgument { RedisArgument(configuration.consumer) }

    /// Creates the group at the start of every partition's stream (and the streams) unless it exists.
    public func createGroup() async throws(RedisError) {
        try await queue.createGroup(configuration.group)
    }

    /// Entries never delivered to the group, waiting up to `blockTime` for the first to arrive.
    public func readNew() async throws(RedisError) -> [DeliveredEntry] {
        guard let reader else { return try await pollNew() }
        let keys = queue.layout.partitions[0]
        let reply = try await reader.send(readCommand(keys, count: configuration.batchSize, block: max(1, configuration.blockTime.milliseconds)))
        return try await forThisGroup(try delivered(reply, from: keys))
    }

    /// The entries this group acts on; those replayed for another group are acknowledged here.
    private func forThisGroup(_ entries: [DeliveredEntry]) async throws(RedisError) -> [DeliveredEntry] {
        var mine: [DeliveredEntry] = []
        var others: [String] = []
        let group = Array(configuration.group.utf8)
        for delivered in entries {
            if let target = delivered.entry.fields[StreamField.target], target != group {
                others.append(delivered.entry.id)
            } else {
                mine.append(delivered)
            }
        }
        if !others.isEmpty { try await acknowledge(others) }
        return mine
    }

    /// `XREADGROUP` of new entries on one partition, blocking that long if given.
    private func readCommand(_ keys: QueueKeys, count: Int, block: Int64?) -> RedisCommand {
        RedisCommand(
            "XREADGROUP",
            [
                "GROUP", group, consumer, "COUNT", RedisArgument(count),
            ] + (block.map { ["BLOCK", RedisArgument($0)] } ?? []) + [
                "STREAMS", RedisArgument(key: keys.events), ">",
            ])
    }

    private func delivered(_ reply: RedisValue, from keys: QueueKeys) throws(RedisError) -> [DeliveredEntry] {
        if case .null = reply { return [] }
        guard let streams = reply.array, let first = streams.first?.array, first.count == 2 else {
            throw RedisError(.unexpectedReply, "XREADGROUP answered \(reply)")
        }
        return try StreamEntry.list(first[1], from: "XREADGROUP", partition: keys.partition, of: queue.layout).map {
            DeliveredEntry(entry: $0, deliveries: 1)
        }
    }

    /// Reads every partition at once, a share of the batch each (the partitions fill evenly: events
    /// are spread by a hash of their id), polling until something arrives or `blockTime` passes.
    private func pollNew() async throws(RedisError) -> [DeliveredEntry] {
        let shares = Self.shares(of: configuration.batchSize, over: queue.layout.count, startingAt: Int.random(in: 0..<queue.layout.count))
        let deadline = ContinuousClock.now + configuration.blockTime
        while true {
            let entries = try await queue.eachPartition { keys throws(RedisError) in
                guard shares[keys.partition] > 0 else { return [DeliveredEntry]() }
                return try delivered(try await queue.client.send(readCommand(keys, count: shares[keys.partition], block: nil)), from: keys)
            }.flatMap { $0 }
            if !entries.isEmpty || ContinuousClock.now + configuration.pollInterval > deadline { return try await forThisGroup(entries) }
            do {
                try await Task.sleep(for: configuration.pollInterval)
            } catch {
                return []
            }
        }
    }

    /// `batch` entries split over `partitions` as evenly as can be, the odd ones going to the
    /// partitions from `start` on (chosen at random per read, so that none is always last).
    public static func shares(of batch: Int, over partitions: Int, startingAt start: Int) -> [Int] {
        (0..<partitions).map { partition in
            batch / partitions + ((partition - start + partitions) % partitions < batch % partitions ? 1 : 0)
        }
    }

    /// Takes over up to `batchSize` entries that some consumer of the group has held longer than
    /// `reclaimIdle` (a crashed worker, or this one before a restart), with their delivery counts,
    /// from every partition.
    public func reclaim() async throws(RedisError) -> [DeliveredEntry] {
        var reclaimed: [DeliveredEntry] = []
        for keys in queue.layout.partitions where reclaimed.count < configuration.batchSize {
            reclaimed += try await reclaim(in: keys, count: configuration.batchSize - reclaimed.count)
        }
        return try await forThisGroup(reclaimed)
    }

    private func reclaim(in keys: QueueKeys, count: Int) async throws(RedisError) -> [DeliveredEntry] {
        let stream = RedisArgument(key: keys.events)
        // XAUTOCLAIM looks at a limited stretch of the pending list per call: follow its cursor
        // (a few calls at most) so that idle entries behind young ones are found too.
        var entries: [StreamEntry] = []
        var cursor = "0-0"
        for _ in 0..<Self.reclaimScans {
            let reply = try await queue.client.send(
                RedisCommand(
                    "XAUTOCLAIM",
                    [
                        stream, group, consumer, RedisArgument(max(1, configuration.reclaimIdle.milliseconds)), RedisArgument(cursor),
                        "COUNT", RedisArgument(count - entries.count),
                    ]))
            guard let parts = reply.array, parts.count >= 2, let next = parts[0].string else {
                throw RedisError(.unexpectedReply, "XAUTOCLAIM answered \(reply)")
            }
            entries += try StreamEntry.list(parts[1], from: "XAUTOCLAIM", partition: keys.partition, of: queue.layout)
            cursor = next
            if cursor == "0-0" || entries.count >= count { break }
        }
        guard let first = entries.first, let last = entries.last else { return [] }
        let counts = try await deliveryCounts(
            in: keys, of: Set(entries.map(\.address.streamID)), from: first.address.streamID, to: last.address.streamID)
        // An entry missing from the list was taken over again meanwhile: count it as redelivered,
        // never as over the limit on a guess.
        return entries.map { DeliveredEntry(entry: $0, deliveries: counts[$0.address.streamID] ?? 2) }
    }

    /// XAUTOCLAIM calls per reclaim and partition at most.
    static let reclaimScans = 8

    /// Delivery counts of some of this consumer's pending entries, paging through the id range
    /// (`XPENDING`, extended form) until all are found.
    private func deliveryCounts(in keys: QueueKeys, of ids: Set<String>, from start: String, to end: String) async throws(RedisError) -> [String: Int]
    {
        var counts: [String: Int] = [:]
        var remaining = ids
        var position = start
        let page = 1000
        while !remaining.isEmpty {
            let reply = try await queue.client.send(
                RedisCommand(
                    "XPENDING",
                    [
                        RedisArgument(key: keys.events), group, RedisArgument(position), RedisArgument(end), RedisArgument(page), consumer,
                    ]))
            guard let rows = reply.array else {
                throw RedisError(.unexpectedReply, "XPENDING answered \(reply)")
            }
            for row in rows {
                guard let fields = row.array, fields.count == 4, let id = fields[0].string, let deliveries = fields[3].integer else {
                    throw RedisError(.unexpectedReply, "XPENDING row has an unexpected shape: \(row)")
                }
                if remaining.remove(id) != nil { counts[id] = Int(deliveries) }
                position = "(" + id
            }
            if rows.count < page { break }
        }
        return counts
    }

    /// Keeps this consumer's claim on entries it is still working on: a batch that waits a long
    /// time for its destination (a `Retry-After`, a slow warehouse) would otherwise look abandoned
    /// after `reclaimIdle` and be worked a second time by another consumer. Answers how many of
    /// them this consumer still holds; fewer than given means another took some over meanwhile.
    @discardableResult
    public func keepClaimed(_ ids: [String]) async throws(RedisError) -> Int {
        var held = 0
        for (keys, streamIDs) in try byPartition(ids) {
            let reply = try await queue.client.run(
                Self.keepClaimedScript, keys: [keys.events],
                arguments: [group, consumer] + streamIDs.map { RedisArgument($0) }
            )
            guard let count = reply.integer else {
                throw RedisError(.unexpectedReply, "the claim-keeping script answered \(reply)")
            }
            held += Int(count)
        }
        return held
    }

    /// Acknowledges processed entries: the group will not hand them out again.
    public func acknowledge(_ ids: [String]) async throws(RedisError) {
        for (keys, streamIDs) in try byPartition(ids) {
            _ = try await queue.client.send(RedisCommand("XACK", [RedisArgument(key: keys.events), group] + streamIDs.map { RedisArgument($0) }))
        }
    }

    /// Entry ids (`StreamEntry.id`) grouped by partition, in partition order.
    private func byPartition(_ ids: [String]) throws(RedisError) -> [(QueueKeys, [String])] {
        var grouped: [Int: [String]] = [:]
        for id in ids {
            guard let address = queue.layout.address(of: id) else {
                throw RedisError(.unexpectedReply, "'\(id)' names no entry of a queue with \(queue.layout.count) partition(s)")
            }
            grouped[address.partition, default: []].append(address.streamID)
        }
        return grouped.keys.sorted().map { (queue.layout.partitions[$0], grouped[$0] ?? []) }
    }

    /// Keeps an entry that cannot be processed on the dead-letter stream of its partition, with
    /// why, and acknowledges it.
    public func deadLetter(_ delivered: DeliveredEntry, reason: DeadLetterReason, error: String, now: Int64) async throws(RedisError) {
        let keys = queue.layout.partitions[delivered.entry.address.partition]
        var fields: [RedisArgument] = []
        for name in StreamField.eventFields {
            if let value = delivered.entry.fields[name] {
                fields += [RedisArgument(name), RedisArgument(bytes: value)]
            }
        }
        fields += [
            RedisArgument(StreamField.reason), RedisArgument(reason.rawValue),
            RedisArgument(StreamField.error), RedisArgument(error),
            RedisArgument(StreamField.attempts), RedisArgument(delivered.deliveries),
            RedisArgument(StreamField.failedAt), RedisArgument(now),
            RedisArgument(StreamField.group), group,
            RedisArgument(StreamField.entry), RedisArgument(delivered.entry.id),
        ]
        _ = try await queue.client.run(
            Self.deadLetterAndAcknowledge,
            keys: [keys.dead, keys.events],
            arguments: [group, RedisArgument(delivered.entry.address.streamID)] + fields
        )
    }

    /// Closes the reading connection.
    public func shutdown() async {
        await reader?.shutdown()
    }
}
