import Hiredis

/// The version of cio-relay's Redis layout: the names of its keys, what a dedup marker holds and
/// the fields of stream entries. A release that changes any of them in a way an older binary would
/// misread raises `current`; a binary refuses data of a layout newer than the one it knows instead
/// of misreading it.
///
/// | layout | releases | keys, markers, entries |
/// |---|---|---|
/// | 1 | 0.1.0 and later | keys `PREFIX:{TAG}:events`, `:dead`, `:seen:ID` (holding the entry id; `1` before 0.1.0), `:attr:…`, `:ratelimit:…`, `PREFIX:{0}:partitions`, `PREFIX:{0}:layout` (0.1.0 writes none); entry fields `body ws rt t m` and `v`, the layout (absent in entries of 0.1.0: 1), and `for` on a replayed dead letter (the one group to act on it; a release that does not know it processes the entry in every group, as replays did before) |
public enum RedisLayout {
    /// The layout this binary writes, and the newest it reads.
    public static let current = 1

    /// The layout an entry was written with: its `v` field, 1 when it has none (entries written
    /// before the field existed), nil when the field is not a positive number.
    static func version(of fields: [String: [UInt8]]) -> Int? {
        guard let field = fields[StreamField.layoutVersion] else { return 1 }
        guard let version = Int(String(decoding: field, as: UTF8.self)), version > 0 else { return nil }
        return version
    }

    /// Throws unless every entry is of a layout this binary reads: a worker must not act on, or
    /// acknowledge, an entry it could misread. Left pending, the entry goes to a worker of the
    /// release that wrote it once this one has stopped.
    public static func checkReadable(_ entries: some Sequence<StreamEntry>) throws(QueueLayoutError) {
        for entry in entries {
            let version = version(of: entry.fields)
            guard let version, version <= current else {
                throw QueueLayoutError(
                    recorded: version,
                    "entry \(entry.id) was written with Redis layout \(version.map(String.init) ?? "'\(entry.string(StreamField.layoutVersion) ?? "")'"), but this release reads layouts up to \(current): upgrade this worker (docs/lifecycle.md); the entry stays pending for one that can"
                )
            }
        }
    }
}

/// Redis holds data of a layout this binary does not know: it was written by a newer release.
public struct QueueLayoutError: Error, CustomStringConvertible {
    /// The layout found, nil when it is not a number.
    public let recorded: Int?
    /// What was found where (the layout key, or an entry), and what to do.
    public let message: String

    public init(recorded: Int?, _ message: String) {
        self.recorded = recorded
        self.message = message
    }

    public var description: String { message }
}

extension EventQueue {
    /// Answers the recorded layout version, or records ARGV[1] when none is. KEYS[1] the record.
    static let recordLayout = RedisScript(
        """
        local recorded = redis.call('GET', KEYS[1])
        if recorded then return recorded end
        redis.call('SET', KEYS[1], ARGV[1])
        return ARGV[1]
        """)

    /// Checks the layout recorded in Redis against `RedisLayout.current`, recording it on first
    /// use (data of release 0.1.0, which recorded none, is layout 1). Throws `QueueLayoutError` for
    /// a newer or unreadable record, and Redis errors as they are.
    @discardableResult
    public func checkLayoutVersion() async throws -> Int {
        let key = layout.layoutVersionKey
        let reply = try await client.run(Self.recordLayout, keys: [key], arguments: [RedisArgument(RedisLayout.current)])
        guard let text = reply.string else {
            throw RedisError(.unexpectedReply, "the layout record script answered \(reply)")
        }
        guard let recorded = Int(text), recorded > 0, recorded <= RedisLayout.current else {
            throw QueueLayoutError(
                recorded: Int(text),
                "Redis holds data of layout \(text) (\(key)), but this release knows layouts up to \(RedisLayout.current): it was written by a newer release; run that release, or see docs/lifecycle.md for rolling back"
            )
        }
        return recorded
    }
}
