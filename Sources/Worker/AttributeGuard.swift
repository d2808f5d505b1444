import CustomerIO
import EventQueue
import Hiredis

/// Keeps monotonic attributes from moving back in time across batches and replicas: Redis holds,
/// per workspace and person, the time of the event that last wrote each such attribute, and only
/// an event at least as new may write it again (equal, so that a retried event still applies).
public struct AttributeGuard: Sendable {
    public let client: RedisClient
    /// Each person's record lives in the partition of their id, so that a cluster spreads them.
    public let layout: QueueLayout
    /// How long a person's record is kept after its last write.
    public let retention: Duration

    /// KEYS[i]: a person's hash; ARGV[1]: TTL seconds; ARGV[i+1]: "time\nname\ntime\nname…".
    /// Answers, per key, a string of '1' (accepted, recorded) or '0' (an older event) per attribute.
    static let script = RedisScript(
        """
        local result = {}
        for i, key in ipairs(KEYS) do
          local parts = {}
          for piece in string.gmatch(ARGV[i + 1], '[^\\n]+') do parts[#parts + 1] = piece end
          local flags = {}
          for j = 1, #parts, 2 do
            local stored = tonumber(redis.call('HGET', key, parts[j + 1]) or '-1')
            if tonumber(parts[j]) >= stored then
              redis.call('HSET', key, parts[j + 1], parts[j])
              flags[#flags + 1] = '1'
            else
              flags[#flags + 1] = '0'
            end
          end
          redis.call('EXPIRE', key, ARGV[1])
          result[i] = table.concat(flags)
        end
        return result
        """)

    /// - Parameters:
    ///   - layout: where each person's record lives (its partition's hash tag).
    ///   - retention: how long a person's record of attribute times is kept after its last write;
    ///     an event older than that is no longer compared.
    public init(client: RedisClient, layout: QueueLayout, retention: Duration = .seconds(30 * 24 * 3600)) {
        self.client = client
        self.layout = layout
        self.retention = retention
    }

    /// The hash of one person.
    public func key(workspace: String, person: PersonIdentifier) -> String {
        layout.partition(of: person.value).attributeTimes(workspace: workspace, personKind: "\(person.kind)", person: person.value)
    }

    /// Drops from each update the monotonic attributes that an equally new or newer event has
    /// already written, and records the times of the rest, in one round trip per partition.
    public func apply(to updates: inout [MergedUpdate]) async throws(RedisError) {
        var byPartition: [Int: [Int]] = [:]
        for index in updates.indices where !updates[index].monotonicTimes.isEmpty {
            byPartition[layout.partition(of: updates[index].person.value).partition, default: []].append(index)
        }
        for partition in byPartition.keys.sorted() {
            try await apply(to: &updates, at: byPartition[partition] ?? [])
        }
    }

    /// `apply` for updates whose records share a partition (one script call: one slot).
    private func apply(to updates: inout [MergedUpdate], at guarded: [Int]) async throws(RedisError) {
        var keys: [String] = []
        var arguments: [RedisArgument] = [RedisArgument(max(1, retention.components.seconds))]
        var names: [[String]] = []
        for index in guarded {
            let update = updates[index]
            let ordered = update.monotonicTimes.keys.sorted()
            names.append(ordered)
            keys.append(key(workspace: update.workspace, person: update.person))
            arguments.append(RedisArgument(ordered.map { "\(update.monotonicTimes[$0] ?? 0)\n\($0)" }.joined(separator: "\n")))
        }
        let reply = try await client.run(Self.script, keys: keys, arguments: arguments)
        guard let flags = reply.array, flags.count == guarded.count else {
            throw RedisError(.unexpectedReply, "the attribute guard answered \(reply)")
        }
        for (position, index) in guarded.enumerated() {
            let accepted = Array(flags[position].string ?? "")
            for (offset, name) in names[position].enumerated() where offset >= accepted.count || accepted[offset] != "1" {
                updates[index].attributes[name] = nil
                updates[index].monotonicTimes[name] = nil
            }
        }
    }

    /// The operations without the monotonic attributes that a newer event has written since they
    /// were decided (`times`: per person, the event time of each monotonic attribute). For a
    /// request about to be sent again: without this check, an older update held up by a 429 or
    /// a timeout would land after a newer one and move the attribute back. When Redis cannot
    /// answer, the operations go unchanged, as they would have without the check.
    public func withoutStaleAttributes(_ operations: [TrackOperation], workspace: String, times: [PersonIdentifier: [String: Int64]]) async
        -> [TrackOperation]
    {
        var result = operations
        for (index, operation) in operations.enumerated() {
            guard case .identify(let person, var attributes) = operation, let guarded = times[person], !guarded.isEmpty else { continue }
            let names = guarded.keys.sorted()
            guard
                let reply = try? await client.send(
                    RedisCommand("HMGET", [RedisArgument(key: key(workspace: workspace, person: person))] + names.map { RedisArgument($0) })),
                let stored = reply.array, stored.count == names.count
            else { continue }
            for (name, value) in zip(names, stored) {
                if let recorded = value.string.flatMap({ Int64($0) }), let mine = guarded[name], recorded > mine {
                    attributes[name] = nil
                }
            }
            result[index] = .identify(person, attributes: attributes)
        }
        return result
    }
}
