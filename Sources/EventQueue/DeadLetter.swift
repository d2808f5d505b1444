import Hiredis

/// Why an entry went to the dead letters: the `reason` field of a dead letter.
public enum DeadLetterReason: String, Sendable, Hashable, CaseIterable {
    /// Correctly signed, but not a usable event; never replayed.
    case malformed
    /// Delivered more often than `CIO_RELAY_MAX_DELIVERIES` without success.
    case maxDeliveries = "max_deliveries"
    /// The Track API refused the whole request (400, 401, 403, …).
    case trackAPIRejected = "track_api_rejected"
    /// A Track API `207` named this event's operation as invalid.
    case trackAPIItemRejected = "track_api_item_rejected"
    /// The event's Track API operation is larger than one batch item may be.
    case trackAPITooLarge = "track_api_too_large"
    /// The App API refused the event's ESP suppression for good (a 4xx other than 429).
    case appAPIRejected = "app_api_rejected"
    /// A forwarding destination still failed when the event was older than its `give_up_after`;
    /// the error names the destination, and a replay goes to that destination alone.
    case forwardFailed = "forward_failed"
    /// The warehouse refused the row for its content.
    case warehouseRejected = "warehouse_rejected"
}

/// An entry of the dead-letter stream: the original event plus why it failed.
public struct DeadLetter: Sendable, Hashable {
    public let entry: StreamEntry
    public var id: String { entry.id }
    /// The event as it was queued (a malformed body has no type or metric).
    public var event: QueuedEvent { entry.event }
    /// A `DeadLetterReason` raw value.
    public var reason: String { entry.string(StreamField.reason) ?? "" }
    public var error: String { entry.string(StreamField.error) ?? "" }
    /// Deliveries before it was given up (0 for a body the receiver kept).
    public var attempts: Int { entry.string(StreamField.attempts).flatMap { Int($0) } ?? 0 }
    public var workspace: String { event.workspace }
    /// When it was given up, in milliseconds since the Unix epoch.
    public var failedAt: Int64? { entry.string(StreamField.failedAt).flatMap { Int64($0) } }
    /// The consumer group that gave it up; nil for a body the receiver kept.
    public var group: String? { entry.string(StreamField.group) }
    /// The events-stream entry it was, when a group gave it up.
    public var entryID: String? { entry.string(StreamField.entry) }
    /// Every field but the body, by name, as text: what a person reads to see why it failed.
    public var details: [(name: String, value: String)] {
        entry.fields.keys.sorted().filter { $0 != StreamField.body }.map { ($0, entry.string($0) ?? "") }
    }
    /// A body that was never a valid event cannot be processed again, however often it is replayed.
    public var isReplayable: Bool { reason != DeadLetterReason.malformed.rawValue }

    public init(entry: StreamEntry) {
        self.entry = entry
    }

    /// A dead letter as the dead-letter stream would hold it at `address`: for stores other than
    /// Redis (in-memory ones in tests).
    public init(
        address: EntryAddress, event: QueuedEvent, reason: DeadLetterReason, error: String, attempts: Int, failedAt: Int64, group: String? = nil
    ) {
        var fields = event.fields
        fields[StreamField.reason] = Array(reason.rawValue.utf8)
        fields[StreamField.error] = Array(error.utf8)
        fields[StreamField.attempts] = Array(String(attempts).utf8)
        fields[StreamField.failedAt] = Array(String(failedAt).utf8)
        fields[StreamField.group] = group.map { Array($0.utf8) }
        self.init(entry: StreamEntry(address: address, fields: fields))
    }
}

/// The result of replaying one dead letter.
public enum ReplayOutcome: Sendable, Hashable {
    /// Back on the events stream under this new entry id, and removed from the dead letters.
    case replayed(entryID: String)
    case notFound
    /// Kept: its body is not a valid event (reason `malformed`).
    case notReplayable
}

extension EventQueue {
    /// Moves a dead letter back onto the events stream (without the dedup check: the event was
    /// seen, that is why it is here) and deletes it from the dead letters, in one step. The entry
    /// is for the group it failed in alone (field `for`): the other groups had done their part.
    /// KEYS[1] dead stream, KEYS[2] events stream; ARGV[1] dead-letter id, ARGV[2] malformed reason,
    /// ARGV[3] the target field's name, ARGV[4…] the event fields to copy (`StreamField.eventFields`).
    /// Answers the new entry id, 0 when there is no such dead letter, -1 when it is not replayable.
    static let replayDeadLetter = RedisScript(
        """
        local found = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])
        if #found == 0 then return 0 end
        local flat = found[1][2]
        local fields = {}
        for i = 1, #flat, 2 do fields[flat[i]] = flat[i + 1] end
        if fields['reason'] == ARGV[2] then return -1 end
        local copy = {}
        if fields['group'] then
          table.insert(copy, ARGV[3])
          table.insert(copy, fields['group'])
        end
        for i = 4, #ARGV do
          local name = ARGV[i]
          if fields[name] then
            table.insert(copy, name)
            table.insert(copy, fields[name])
          end
        end
        local id = redis.call('XADD', KEYS[2], '*', unpack(copy))
        redis.call('XDEL', KEYS[1], ARGV[1])
        return id
        """)

    /// Dead letters from `start` (an id, or `(id` to start after it), at most `count`: in id order
    /// within a partition, partition after partition.
    public func deadLetters(from start: String = "-", count: Int = 100) async throws(RedisError) -> [DeadLetter] {
        var first = (partition: 0, start: "-")
        if start != "-" {
            let exclusive = start.hasPrefix("(")
            let address = try address(ofDeadLetter: exclusive ? String(start.dropFirst()) : start)
            first = (address.partition, (exclusive ? "(" : "") + address.streamID)
        }
        var letters: [DeadLetter] = []
        for keys in layout.partitions[first.partition...] where letters.count < count {
            letters += try await entries(of: keys.dead, from: keys.partition == first.partition ? first.start : "-", count: count - letters.count)
                .map(DeadLetter.init)
        }
        return letters
    }

    /// Dead letters on every partition.
    public func deadLetterCount() async throws(RedisError) -> Int {
        try await eachPartition { keys throws(RedisError) in try await length(of: keys.dead) }.reduce(0, +)
    }

    /// One dead letter by id, if it exists.
    public func deadLetter(id: String) async throws(RedisError) -> DeadLetter? {
        let address = try address(ofDeadLetter: id)
        let keys = layout.partitions[address.partition]
        let reply = try await client.send("XRANGE", RedisArgument(key: keys.dead), RedisArgument(address.streamID), RedisArgument(address.streamID))
        return try StreamEntry.list(reply, from: "XRANGE", partition: keys.partition, of: layout).first.map(DeadLetter.init)
    }

    /// The partition and stream id a dead-letter id names, or a clear error.
    private func address(ofDeadLetter id: String) throws(RedisError) -> EntryAddress {
        guard let address = layout.address(of: id) else {
            throw RedisError(
                .serverError, "ERR '\(id)' is not a dead-letter id of this queue: with \(layout.count) partitions they look like 3/1700000000000-0")
        }
        return address
    }

    /// Puts a dead letter back on the events stream of its partition, bypassing deduplication.
    public func replay(deadLetterID id: String) async throws(RedisError) -> ReplayOutcome {
        let address = try address(ofDeadLetter: id)
        let keys = layout.partitions[address.partition]
        let reply = try await client.run(
            Self.replayDeadLetter,
            keys: [keys.dead, keys.events],
            arguments: [RedisArgument(address.streamID), RedisArgument(DeadLetterReason.malformed.rawValue), RedisArgument(StreamField.target)]
                + StreamField.eventFields.map { RedisArgument($0) }
        )
        switch reply {
        case .integer(0): return .notFound
        case .integer(-1): return .notReplayable
        default:
            guard let entryID = reply.string else {
                throw RedisError(.unexpectedReply, "the replay script answered \(reply)")
            }
            return .replayed(entryID: EntryAddress(partition: keys.partition, streamID: entryID, qualified: layout.count > 1).description)
        }
    }

    /// Deletes every dead letter; returns how many there were.
    public func purgeDeadLetters() async throws(RedisError) -> Int {
        try await eachPartition { keys throws(RedisError) in
            let count = try await length(of: keys.dead)
            _ = try await client.send("DEL", RedisArgument(key: keys.dead))
            return count
        }.reduce(0, +)
    }
}
