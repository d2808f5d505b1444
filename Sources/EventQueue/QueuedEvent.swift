import Hiredis

/// The field names of the events and dead-letter streams. This type and the replay script (which
/// copies `eventFields` inside Redis) are the only places that know them: everything else writes
/// through `EventQueue` and `GroupConsumer` and reads through `QueuedEvent` and `DeadLetter`.
enum StreamField {
    /// The webhook body, byte for byte as Customer.io signed it.
    static let body = "body"
    /// The workspace whose secret verified it.
    static let workspace = "ws"
    /// When the receiver took it, in milliseconds since the Unix epoch.
    static let receivedAt = "rt"
    /// Its `object_type` and `metric`, read once by the receiver.
    static let objectType = "t"
    static let metric = "m"
    /// The Redis layout the entry was written with (`RedisLayout`); entries of 0.1.0 have none.
    static let layoutVersion = "v"
    /// The one consumer group an entry is for (a dead letter replayed to the group it failed
    /// in); absent: every group. Other groups acknowledge such an entry without acting on it.
    static let target = "for"
    /// Dead letters only: why, what went wrong, after how many deliveries, when, by which group,
    /// and which events-stream entry it was.
    static let reason = "reason"
    static let error = "error"
    static let attempts = "attempts"
    static let failedAt = "failed_at"
    static let group = "group"
    static let entry = "entry"

    /// The `v` field of every entry written: this binary's layout, rendered once.
    static let layoutVersionPair = [RedisArgument(layoutVersion), RedisArgument(RedisLayout.current)]

    /// The fields of an event that a dead letter keeps and a replay puts back.
    static let eventFields = [body, workspace, receivedAt, objectType, metric, layoutVersion]

    /// The fields of an event as the receiver queues it.
    static func arguments(of event: IncomingEvent) -> [RedisArgument] {
        [
            RedisArgument(body), RedisArgument(bytes: event.body),
            RedisArgument(workspace), RedisArgument(event.workspace),
            RedisArgument(receivedAt), RedisArgument(event.receivedAt),
            RedisArgument(objectType), RedisArgument(event.objectType),
            RedisArgument(metric), RedisArgument(event.metric),
        ] + layoutVersionPair
    }
}

/// An events-stream entry read as the receiver wrote it. A view over the entry's fields: each
/// property decodes its field when read, so a worker pays only for the fields it uses.
public struct QueuedEvent: Sendable, Hashable {
    /// The event fields by name, as stored.
    let fields: [String: [UInt8]]

    /// The event fields of `entry`.
    public init(entry: StreamEntry) {
        fields = entry.fields
    }

    private func text(_ name: String) -> String? {
        fields[name].map { String(decoding: $0, as: UTF8.self) }
    }

    /// The webhook body as Customer.io signed it.
    public var body: [UInt8] { fields[StreamField.body] ?? [] }
    /// The workspace whose secret verified it; empty when the entry does not say.
    public var workspace: String { text(StreamField.workspace) ?? "" }
    /// When the receiver took it (milliseconds since the Unix epoch), if the entry says.
    public var receivedAt: Int64? { text(StreamField.receivedAt).flatMap { Int64($0) } }
    public var objectType: String? { text(StreamField.objectType) }
    public var metric: String? { text(StreamField.metric) }

    /// The one consumer group the entry is for (a replayed dead letter), or nil: every group.
    public var target: String? { text(StreamField.target) }

    /// `object_type/metric`, with `?` for what the entry does not say.
    public var kind: String { "\(objectType ?? "?")/\(metric ?? "?")" }
}

extension StreamEntry {
    /// The entry read as a queued event.
    public var event: QueuedEvent { QueuedEvent(entry: self) }
}

extension QueuedEvent {
    /// An event as a stream entry would hold it: for queues other than Redis (in-memory ones in
    /// tests) and for building dead letters.
    public init(body: [UInt8], workspace: String, receivedAt: Int64?, objectType: String?, metric: String?) {
        var fields = [StreamField.body: body, StreamField.workspace: Array(workspace.utf8)]
        fields[StreamField.receivedAt] = receivedAt.map { Array(String($0).utf8) }
        fields[StreamField.objectType] = objectType.map { Array($0.utf8) }
        fields[StreamField.metric] = metric.map { Array($0.utf8) }
        self.fields = fields
    }
}
