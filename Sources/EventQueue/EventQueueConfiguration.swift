/// The Redis layout of cio-relay: key prefix, partitions and retention.
public struct EventQueueConfiguration: Sendable, Hashable {
    /// First part of every key (`cio` gives `cio:{0}:events`).
    public var prefix: String
    /// How long an `event_id` is remembered for deduplication. Customer.io retries for 7 days.
    public var dedupTTL: Duration
    /// Partitions of the queue (`CIO_RELAY_PARTITIONS`): each has its own stream, dead letters and
    /// dedup markers under one hash tag, so that a Redis Cluster spreads them over its primaries.
    /// Fixed for a deployment's data: see `EventQueue.checkPartitions()`.
    public var partitions: Int

    public init(prefix: String = "cio", dedupTTL: Duration = .seconds(7 * 24 * 3600), partitions: Int = 1) {
        self.prefix = prefix
        self.dedupTTL = dedupTTL
        self.partitions = partitions
    }

    /// The partitions' keys.
    public var layout: QueueLayout { QueueLayout(prefix: prefix, partitions: partitions) }
}

/// The partitions of the queue, and which partition an event (or a person) belongs to.
public struct QueueLayout: Sendable, Hashable {
    public let prefix: String
    /// The keys of each partition, in partition order.
    public let partitions: [QueueKeys]

    public init(prefix: String, partitions count: Int) {
        self.prefix = prefix
        self.partitions = PartitionTags.tags(count: count).enumerated().map { QueueKeys(prefix: prefix, tag: $1, partition: $0) }
    }

    public var count: Int { partitions.count }

    /// The partition of an event id, a body digest or a person: FNV-1a (32 bits) of its bytes
    /// modulo the partition count, the same in every process and version.
    public func partition(of name: String) -> QueueKeys {
        guard partitions.count > 1 else { return partitions[0] }
        var hash: UInt32 = 2_166_136_261
        for byte in name.utf8 {
            hash = (hash ^ UInt32(byte)) &* 16_777_619
        }
        return partitions[Int(hash % UInt32(partitions.count))]
    }

    /// Where the partition count of the data is recorded (under the tag of a single partition, so
    /// that a deployment that never set it has its key where it always was).
    public var partitionCountKey: String { "\(prefix):{0}:partitions" }

    /// Where the layout version of the data is recorded (`RedisLayout`), beside the partition count.
    public var layoutVersionKey: String { "\(prefix):{0}:layout" }

    /// The events stream's name, or with several partitions the pattern of their names.
    public var eventsName: String { partitions.count == 1 ? partitions[0].events : "\(prefix):{…}:events (\(partitions.count) partitions)" }
    /// The same for the dead-letter streams.
    public var deadName: String { partitions.count == 1 ? partitions[0].dead : "\(prefix):{…}:dead (\(partitions.count) partitions)" }

    /// A `SCAN MATCH` pattern for the dedup markers of every partition.
    public var seenPattern: String { partitions.count == 1 ? partitions[0].seenPattern : "\(prefix):{*}:seen:*" }

    /// Whether `key` is a dedup marker of this layout's partitions.
    public func isDedupMarker(_ key: String) -> Bool {
        partitions.count == 1 ? key.hasPrefix(partitions[0].seenPattern.dropLast()) : key.hasPrefix("\(prefix):{") && key.contains("}:seen:")
    }

    /// The events stream of the one-partition layout, which a switch to more partitions must find empty.
    public var singlePartitionEvents: String { QueueKeys(prefix: prefix, tag: "0", partition: 0).events }

    /// The partition and stream id of an entry, from its id as `StreamEntry.id` writes it; nil
    /// when it names no partition of this layout.
    public func address(of id: String) -> EntryAddress? {
        guard let slash = id.firstIndex(of: "/") else {
            return partitions.count == 1 ? EntryAddress(partition: 0, streamID: id, qualified: false) : nil
        }
        guard partitions.count > 1, let partition = Int(id[..<slash]), partitions.indices.contains(partition) else { return nil }
        return EntryAddress(partition: partition, streamID: String(id[id.index(after: slash)...]), qualified: true)
    }
}

/// Where an entry lives: its partition and its id in that partition's stream. Stream ids repeat
/// across streams, so with several partitions an entry is named `partition/streamID`; with one it
/// is the bare stream id, as it always was.
public struct EntryAddress: Sendable, Hashable, CustomStringConvertible {
    public let partition: Int
    public let streamID: String
    let qualified: Bool

    public init(partition: Int, streamID: String, qualified: Bool) {
        self.partition = partition
        self.streamID = streamID
        self.qualified = qualified
    }

    public var description: String { qualified ? "\(partition)/\(streamID)" : streamID }
}

/// The Redis keys of one partition: every key name cio-relay uses is built here.
public struct QueueKeys: Sendable, Hashable {
    /// The partition's index in its layout.
    public let partition: Int
    public let events: String
    public let dead: String
    private let base: String
    private let seenPrefix: String

    public init(prefix: String, tag: String, partition: Int = 0) {
        self.partition = partition
        base = "\(prefix):{\(tag)}"
        events = "\(base):events"
        dead = "\(base):dead"
        seenPrefix = "\(base):seen:"
    }

    /// The shared Track API budget of a workspace (GCRA: the theoretical arrival time).
    public func rateBudget(workspace: String) -> String { "\(base):ratelimit:\(workspace)" }

    /// The shared App API budget of a workspace (workspace names hold no ':', so this key is no
    /// other workspace's Track API budget).
    public func appAPIRateBudget(workspace: String) -> String { "\(base):ratelimit:\(workspace):app-api" }

    /// Per monotonic attribute, the time of the event that last wrote it for one person.
    public func attributeTimes(workspace: String, personKind: String, person: String) -> String {
        "\(base):attr:\(workspace):\(personKind):\(person)"
    }

    /// The dedup marker of an event.
    public func seen(eventID: String) -> String { seenPrefix + eventID }

    /// A `SCAN MATCH` pattern for every dedup marker.
    public var seenPattern: String { seenPrefix + "*" }

    /// The dedup marker of a malformed body, by the SHA-256 of its bytes.
    public func seen(malformedBodyDigest digest: String) -> String { seenPrefix + "malformed:" + digest }
}
