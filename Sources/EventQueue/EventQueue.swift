import Hiredis

/// An event as the receiver hands it over: the verbatim body and what the receiver learnt about it.
public struct IncomingEvent: Sendable {
    public var eventID: String
    public var body: [UInt8]
    public var workspace: String
    /// Milliseconds since the Unix epoch when the request arrived.
    public var receivedAt: Int64
    public var objectType: String
    public var metric: String

    public init(eventID: String, body: [UInt8], workspace: String, receivedAt: Int64, objectType: String, metric: String) {
        self.eventID = eventID
        self.body = body
        self.workspace = workspace
        self.receivedAt = receivedAt
        self.objectType = objectType
        self.metric = metric
    }
}

/// A body that was genuine but could not be used, kept for a human to look at and replay.
public struct RejectedBody: Sendable {
    public var body: [UInt8]
    /// SHA-256 of the body, so that Customer.io's retries of it are kept once.
    public var digest: String
    public var workspace: String
    public var receivedAt: Int64
    /// Machine-readable reason, such as `malformed`.
    public var reason: DeadLetterReason
    /// What exactly was wrong, in words.
    public var error: String

    public init(body: [UInt8], digest: String, workspace: String, receivedAt: Int64, reason: DeadLetterReason, error: String) {
        self.body = body
        self.digest = digest
        self.workspace = workspace
        self.receivedAt = receivedAt
        self.reason = reason
        self.error = error
    }
}

/// The result of handing an event to the queue.
public enum EnqueueOutcome: Sendable, Hashable {
    /// Stored as a new stream entry with this id.
    case accepted(entryID: String)
    /// Seen before within the dedup TTL: nothing was written.
    case duplicate
}

/// A stream entry as read back: its id and fields.
public struct StreamEntry: Sendable, Hashable {
    /// The entry's name in cio-relay: `address` as text (the stream id with one partition).
    public let id: String
    /// Its partition and stream id.
    public let address: EntryAddress
    public let fields: [String: [UInt8]]

    public init(address: EntryAddress, fields: [String: [UInt8]]) {
        self.id = address.description
        self.address = address
        self.fields = fields
    }

    public func string(_ field: String) -> String? {
        fields[field].map { String(decoding: $0, as: UTF8.self) }
    }

    /// Milliseconds since the Unix epoch at which Redis added the entry (the first part of its id).
    public var addedAt: Int64? { StreamID(address.streamID)?.milliseconds }

    /// Reads a list of `[id, [field, value, …]]` as XRANGE, XREADGROUP and XAUTOCLAIM answer it,
    /// from the stream of partition `partition` of `layout`. Entries deleted while pending come
    /// back with no fields: they are left out.
    static func list(_ reply: RedisValue, from command: String, partition: Int, of layout: QueueLayout) throws(RedisError) -> [StreamEntry] {
        guard let items = reply.array else {
            throw RedisError(.unexpectedReply, "\(command) answered \(reply)")
        }
        var entries: [StreamEntry] = []
        entries.reserveCapacity(items.count)
        for item in items {
            guard let parts = item.array, parts.count == 2, let id = parts[0].string else {
                throw RedisError(.unexpectedReply, "\(command) entry has an unexpected shape: \(item)")
            }
            guard let flat = parts[1].array else { continue }
            var fields: [String: [UInt8]] = [:]
            var index = 0
            while index + 1 < flat.count {
                if let name = flat[index].string { fields[name] = flat[index + 1].bytes ?? [] }
                index += 2
            }
            entries.append(StreamEntry(address: EntryAddress(partition: partition, streamID: id, qualified: layout.count > 1), fields: fields))
        }
        return entries
    }
}

/// A stream entry id, `<milliseconds>-<sequence>`, ordered as Redis orders them.
public struct StreamID: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let milliseconds: Int64
    public let sequence: Int64

    public init(milliseconds: Int64, sequence: Int64) {
        self.milliseconds = milliseconds
        self.sequence = sequence
    }

    public init?(_ text: String) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, let milliseconds = Int64(parts[0]), let sequence = Int64(parts[1]) else { return nil }
        self.init(milliseconds: milliseconds, sequence: sequence)
    }

    public static func < (lhs: StreamID, rhs: StreamID) -> Bool {
        (lhs.milliseconds, lhs.sequence) < (rhs.milliseconds, rhs.sequence)
    }

    public var description: String { "\(milliseconds)-\(sequence)" }
}

/// The cio-relay Redis layout: deduplicated, atomic enqueueing onto the events stream and the
/// dead-letter stream of each event's partition.
public struct EventQueue: Sendable {
    public let client: RedisClient
    public let configuration: EventQueueConfiguration
    public let layout: QueueLayout

    /// For each event, in order: unless its dedup marker exists, appends its entry and then sets the
    /// marker to the entry's id (so that `trace` finds the entry; markers set by earlier versions
    /// hold `1`). One script run for all the events queued together on a connection (group commit:
    /// `RedisClient.run(_:item:awaitsReplicas:)`), and no moment at which an event is marked seen
    /// without being queued. The append comes first because Redis keeps what a script wrote before
    /// an error: a marker set before an `XADD` that failed (refused by an ACL, a full memory, a
    /// wrong type) would answer the retry "duplicate" for an event that was never queued. An
    /// `XADD` that fails is that event's answer alone (`pcall`); the events before it stay queued
    /// and marked, and are answered from their own verdicts. A second copy of an event later in the
    /// same run finds the marker the first one set, exactly as in a later run. Once the script has
    /// written, Redis lets it finish even past `maxmemory`.
    /// KEYS[1] the stream, KEYS[2…] one marker per event; ARGV[1] the TTL in seconds, then per event
    /// the number of its field/value arguments and those arguments. Answers one verdict per event:
    /// the entry id, nil for a duplicate, or the error of its `XADD`.
    static let dedupAndAppend = RedisScript(
        """
        local verdicts = {}
        local at = 2
        for i = 2, #KEYS do
          local count = tonumber(ARGV[at])
          if redis.call('EXISTS', KEYS[i]) == 1 then
            verdicts[i - 1] = false
          else
            local id = redis.pcall('XADD', KEYS[1], '*', unpack(ARGV, at + 1, at + count))
            if type(id) == 'string' then
              redis.call('SET', KEYS[i], id, 'EX', ARGV[1])
            end
            verdicts[i - 1] = id
          end
          at = at + count + 1
        end
        return verdicts
        """)

    public init(client: RedisClient, configuration: EventQueueConfiguration = .init()) {
        self.client = client
        self.configuration = configuration
        self.layout = configuration.layout
    }

    /// The keys of the first partition: every key of the queue when it has one partition.
    public var keys: QueueKeys { layout.partitions[0] }

    private var ttlSeconds: RedisArgument {
        RedisArgument(max(1, configuration.dedupTTL.components.seconds))
    }

    /// Queues an event unless its `event_id` was seen within the dedup TTL. With
    /// `RedisConfiguration.minReplicas`, it succeeds only once that many replicas have it.
    public func enqueue(_ event: IncomingEvent) async throws(RedisError) -> EnqueueOutcome {
        let keys = layout.partition(of: event.eventID)
        return try await appendOnce(marker: keys.seen(eventID: event.eventID), stream: keys.events, fields: StreamField.arguments(of: event))
    }

    /// Keeps a genuine but unusable body on the dead-letter stream, once per distinct body.
    public func deadLetter(_ rejected: RejectedBody) async throws(RedisError) -> EnqueueOutcome {
        let keys = layout.partition(of: rejected.digest)
        return try await appendOnce(
            marker: keys.seen(malformedBodyDigest: rejected.digest), stream: keys.dead,
            fields: [
                RedisArgument(StreamField.body), RedisArgument(bytes: rejected.body),
                RedisArgument(StreamField.workspace), RedisArgument(rejected.workspace),
                RedisArgument(StreamField.receivedAt), RedisArgument(rejected.receivedAt),
                RedisArgument(StreamField.reason), RedisArgument(rejected.reason.rawValue),
                RedisArgument(StreamField.error), RedisArgument(rejected.error),
                RedisArgument(StreamField.attempts), "0",
                RedisArgument(StreamField.failedAt), RedisArgument(rejected.receivedAt),
            ] + StreamField.layoutVersionPair)
    }

    /// Appends `fields` to `stream` unless `marker` is set, and sets it: one item of the
    /// dedup-and-append script.
    private func appendOnce(marker: String, stream: String, fields: [RedisArgument]) async throws(RedisError) -> EnqueueOutcome {
        let item = RedisScriptItem(
            sharedKeys: [stream], keys: [marker], sharedArguments: [ttlSeconds], arguments: [RedisArgument(fields.count)] + fields)
        let reply = try await client.run(Self.dedupAndAppend, item: item, awaitsReplicas: true)
        switch reply {
        case .null: return .duplicate
        case .bulkString, .simpleString:
            return .accepted(entryID: reply.string ?? "")
        default:
            throw RedisError(.unexpectedReply, "the enqueue script answered \(reply)")
        }
    }

    /// Entries of a stream in id order, from `start` (inclusive), at most `count`.
    public func entries(of stream: String, from start: String = "-", count: Int = 100) async throws(RedisError) -> [StreamEntry] {
        let reply = try await client.send("XRANGE", RedisArgument(key: stream), RedisArgument(start), "+", "COUNT", RedisArgument(count))
        let partition = layout.partitions.first { $0.events == stream || $0.dead == stream }?.partition ?? 0
        return try StreamEntry.list(reply, from: "XRANGE", partition: partition, of: layout)
    }

    /// Number of entries in a stream (`XLEN`).
    public func length(of stream: String) async throws(RedisError) -> Int {
        let reply = try await client.send("XLEN", RedisArgument(key: stream))
        guard let count = reply.integer else {
            throw RedisError(.unexpectedReply, "XLEN answered \(reply)")
        }
        return Int(count)
    }
}
