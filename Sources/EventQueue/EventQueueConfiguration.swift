/// The Redis layout of cio-relay: key prefix, partition and retention.
public struct EventQueueConfiguration: Sendable, Hashable {
    /// First part of every key (`cio` gives `cio:{0}:events`).
    public var prefix: String
    /// How long an `event_id` is remembered for deduplication. Customer.io retries for 7 days.
    public var dedupTTL: Duration

    public init(prefix: String = "cio", dedupTTL: Duration = .seconds(7 * 24 * 3600)) {
        self.prefix = prefix
        self.dedupTTL = dedupTTL
    }

    /// The keys of partition 0. Every key carries the hash tag `{0}` so that one script's keys share
    /// a cluster slot.
    public var keys: QueueKeys { QueueKeys(prefix: prefix, partition: 0) }
}

/// The Redis keys of one partition: every key name cio-relay uses is built here.
public struct QueueKeys: Sendable, Hashable {
    public let events: String
    public let dead: String
    private let base: String
    private let seenPrefix: String

    public init(prefix: String, partition: Int) {
        base = "\(prefix):{\(partition)}"
        events = "\(base):events"
        dead = "\(base):dead"
        seenPrefix = "\(base):seen:"
    }

    /// The shared Track API budget of a workspace (GCRA: the theoretical arrival time).
    public func rateBudget(workspace: String) -> String { "\(base):ratelimit:\(workspace)" }

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
