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

    public init(
        group: String,
        consumer: String,
        batchSize: Int = 500,
        blockTime: Duration = .seconds(2),
        reclaimIdle: Duration = .seconds(60),
        maxDeliveries: Int = 10
    ) {
        self.group = group
        self.consumer = consumer
        self.batchSize = batchSize
        self.blockTime = blockTime
        self.reclaimIdle = reclaimIdle
        self.maxDeliveries = maxDeliveries
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

/// One consumer of a consumer group on the events stream: reads new entries with
/// `XREADGROUP … BLOCK` on a connection of its own, acknowledges, takes over entries that a dead
/// consumer left pending (`XAUTOCLAIM`) and moves entries that cannot be processed to the
/// dead-letter stream.
public struct GroupConsumer: Sendable {
    public let queue: EventQueue
    public let configuration: ConsumerConfiguration
    private let reader: RedisConnection

    /// Moves an entry to the dead-letter stream and acknowledges it in one step, so that it is never
    /// both gone from the group and missing from the dead letters.
    /// KEYS[1] dead stream, KEYS[2] events stream; ARGV[1] group, ARGV[2] entry id, ARGV[3…] fields.
    static let deadLetterAndAcknowledge = RedisScript("""
        redis.call('XADD', KEYS[1], '*', unpack(ARGV, 3))
        return redis.call('XACK', KEYS[2], ARGV[1], ARGV[2])
        """)

    /// Resets the idle time of those of the given entries that this consumer still holds
    /// (`XCLAIM … 0 … JUSTID`, which leaves the delivery count alone), in one step with the check
    /// of who holds them, so that an entry another consumer took over is never taken back.
    /// KEYS[1] events stream; ARGV[1] group, ARGV[2] consumer, ARGV[3…] entry ids. Returns the
    /// number of entries still held.
    static let keepClaimedScript = RedisScript("""
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

    public init(queue: EventQueue, configuration: ConsumerConfiguration) throws(RedisError) {
        self.queue = queue
        self.configuration = configuration
        // Longer than the longest BLOCK, so that only a server that stopped answering times out.
        let timeout = configuration.blockTime + (queue.client.configuration.commandTimeout ?? .seconds(2))
        self.reader = try queue.client.makeBlockingConnection(commandTimeout: timeout)
    }

    private var stream: RedisArgument { RedisArgument(queue.keys.events) }
    private var group: RedisArgument { RedisArgument(configuration.group) }
    private var consumer: RedisArgument { RedisArgument(configuration.consumer) }

    /// Creates the group at the start of the stream (and the stream) unless it exists.
    public func createGroup() async throws(RedisError) {
        try await queue.createGroup(configuration.group)
    }

    /// Entries never delivered to the group, waiting up to `blockTime` for the first to arrive.
    public func readNew() async throws(RedisError) -> [DeliveredEntry] {
        let milliseconds = max(1, configuration.blockTime.milliseconds)
        let reply = try await reader.send(RedisCommand("XREADGROUP", [
            "GROUP", group, consumer, "COUNT", RedisArgument(configuration.batchSize),
            "BLOCK", RedisArgument(milliseconds), "STREAMS", stream, ">",
        ]))
        if case .null = reply { return [] }
        guard let streams = reply.array, let first = streams.first?.array, first.count == 2 else {
            throw RedisError(.unexpectedReply, "XREADGROUP answered \(reply)")
        }
        return try StreamEntry.list(first[1], from: "XREADGROUP").map { DeliveredEntry(entry: $0, deliveries: 1) }
    }

    /// Takes over up to `batchSize` entries that some consumer of the group has held longer than
    /// `reclaimIdle` (a crashed worker, or this one before a restart), with their delivery counts.
    public func reclaim() async throws(RedisError) -> [DeliveredEntry] {
        // XAUTOCLAIM looks at a limited stretch of the pending list per call: follow its cursor
        // (a few calls at most) so that idle entries behind young ones are found too.
        var entries: [StreamEntry] = []
        var cursor = "0-0"
        for _ in 0..<Self.reclaimScans {
            let reply = try await queue.client.send(RedisCommand("XAUTOCLAIM", [
                stream, group, consumer, RedisArgument(max(1, configuration.reclaimIdle.milliseconds)), RedisArgument(cursor),
                "COUNT", RedisArgument(configuration.batchSize - entries.count),
            ]))
            guard let parts = reply.array, parts.count >= 2, let next = parts[0].string else {
                throw RedisError(.unexpectedReply, "XAUTOCLAIM answered \(reply)")
            }
            entries += try StreamEntry.list(parts[1], from: "XAUTOCLAIM")
            cursor = next
            if cursor == "0-0" || entries.count >= configuration.batchSize { break }
        }
        guard let first = entries.first, let last = entries.last else { return [] }
        let counts = try await deliveryCounts(of: Set(entries.map(\.id)), from: first.id, to: last.id)
        // An entry missing from the list was taken over again meanwhile: count it as redelivered,
        // never as over the limit on a guess.
        return entries.map { DeliveredEntry(entry: $0, deliveries: counts[$0.id] ?? 2) }
    }

    /// XAUTOCLAIM calls per reclaim at most.
    static let reclaimScans = 8

    /// Delivery counts of some of this consumer's pending entries, paging through the id range
    /// (`XPENDING`, extended form) until all are found.
    private func deliveryCounts(of ids: Set<String>, from start: String, to end: String) async throws(RedisError) -> [String: Int] {
        var counts: [String: Int] = [:]
        var remaining = ids
        var position = start
        let page = 1000
        while !remaining.isEmpty {
            let reply = try await queue.client.send(RedisCommand("XPENDING", [
                stream, group, RedisArgument(position), RedisArgument(end), RedisArgument(page), consumer,
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
        guard !ids.isEmpty else { return 0 }
        let reply = try await queue.client.run(
            Self.keepClaimedScript, keys: [stream],
            arguments: [group, consumer] + ids.map { RedisArgument($0) }
        )
        guard let held = reply.integer else {
            throw RedisError(.unexpectedReply, "the claim-keeping script answered \(reply)")
        }
        return Int(held)
    }

    /// Acknowledges processed entries: the group will not hand them out again.
    public func acknowledge(_ ids: [String]) async throws(RedisError) {
        guard !ids.isEmpty else { return }
        _ = try await queue.client.send(RedisCommand("XACK", [stream, group] + ids.map { RedisArgument($0) }))
    }

    /// Keeps an entry that cannot be processed on the dead-letter stream, with why, and acknowledges it.
    public func deadLetter(_ delivered: DeliveredEntry, reason: DeadLetterReason, error: String, now: Int64) async throws(RedisError) {
        var fields: [RedisArgument] = []
        for name in DeadLetter.copiedFields {
            if let value = delivered.entry.fields[name] {
                fields += [RedisArgument(name), RedisArgument(bytes: value)]
            }
        }
        fields += [
            "reason", RedisArgument(reason.rawValue),
            "error", RedisArgument(error),
            "attempts", RedisArgument(delivered.deliveries),
            "failed_at", RedisArgument(now),
            "group", group,
            "entry", RedisArgument(delivered.entry.id),
        ]
        _ = try await queue.client.run(
            Self.deadLetterAndAcknowledge,
            keys: [RedisArgument(queue.keys.dead), stream],
            arguments: [group, RedisArgument(delivered.entry.id)] + fields
        )
    }

    /// Closes the reading connection.
    public func shutdown() async {
        await reader.shutdown()
    }
}

extension Duration {
    /// Whole milliseconds, rounded down.
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
