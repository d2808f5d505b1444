import CustomerIO
import EventQueue
import Hiredis

/// Keeps monotonic attributes from moving back in time across batches and replicas: Redis holds,
/// per workspace and person, the time of the event that last wrote each such attribute, and only
/// an event at least as new may write it again (equal, so that a retried event still applies).
///
/// Deciding is not enough when two workers write one person at once: the older event's request
/// can land after the newer one's (a slow link, a retry). So deciding also takes the person's
/// lease, and a person leased by another worker is left out until that worker has sent and
/// released it: one write per person is in flight at a time, in the order the guard decided them.
public struct AttributeGuard: Sendable {
    public let client: RedisClient
    /// Each person's record lives in the partition of their id, so that a cluster spreads them.
    public let layout: QueueLayout
    /// How long a person's record is kept after its last write.
    public let retention: Duration
    /// How long a lease lasts when its worker never releases it (it died, or its request is
    /// still being retried): then the next worker goes ahead.
    public let lease: Duration

    /// Lua that sets `now` to Redis's clock in milliseconds: the scripts of a person's record
    /// compare times on the server's clock, never a worker's.
    static let nowMilliseconds = """
        local clock = redis.call('TIME')
        local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
        """

    /// The lease lives in the person's hash, in the fields "\nlease" (holder) and "\nlease_until"
    /// (milliseconds): attribute names cannot hold a newline (the arguments are newline-separated).
    ///
    /// KEYS[i]: a person's hash; ARGV[1]: TTL seconds; ARGV[2]: the lease holder; ARGV[3]: lease
    /// milliseconds; ARGV[i+3]: "time\nname\ntime\nname…". Answers, per key, "w" (another holder
    /// is writing) or "k" (kept after a request that may still land) and the milliseconds left
    /// when such a lease runs (nothing recorded), else a string of '1' (accepted, recorded) or '0'
    /// (an older event) per attribute.
    static let script = RedisScript(
        """
        \(AttributeGuard.nowMilliseconds)
        local result = {}
        for i, key in ipairs(KEYS) do
          local holder = redis.call('HGET', key, '\\nlease')
          local untilMs = tonumber(redis.call('HGET', key, '\\nlease_until') or '0')
          if holder and holder ~= ARGV[2] and untilMs > now then
            result[i] = (holder == '' and 'k' or 'w') .. (untilMs - now)
          else
            redis.call('HSET', key, '\\nlease', ARGV[2], '\\nlease_until', now + tonumber(ARGV[3]))
            local parts = {}
            for piece in string.gmatch(ARGV[i + 3], '[^\\n]+') do parts[#parts + 1] = piece end
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
        end
        return result
        """)

    /// KEYS[i]: a person's hash; ARGV[1]: the holder; ARGV[2]: milliseconds the lease lasts from
    /// now (0: released); ARGV[3]: who holds it meanwhile (the holder: renewed; '': nobody is
    /// writing, the person is only kept). A lease another holder has taken since is left alone.
    static let extendScript = RedisScript(
        """
        \(AttributeGuard.nowMilliseconds)
        for _, key in ipairs(KEYS) do
          if redis.call('HGET', key, '\\nlease') == ARGV[1] then
            redis.call('HSET', key, '\\nlease', ARGV[3], '\\nlease_until', now + tonumber(ARGV[2]))
          end
        end
        return 1
        """)

    /// - Parameters:
    ///   - layout: where each person's record lives (its partition's hash tag).
    ///   - retention: how long a person's record of attribute times is kept after its last write;
    ///     an event older than that is no longer compared.
    ///   - lease: how long a person stays leased to a worker that never releases them.
    public init(client: RedisClient, layout: QueueLayout, retention: Duration = .seconds(30 * 24 * 3600), lease: Duration = .seconds(30)) {
        self.client = client
        self.layout = layout
        self.retention = retention
        self.lease = lease
    }

    /// Why a person cannot be written now, and for how long at most.
    public enum Hold: Sendable, Hashable {
        /// Another worker is writing them; it releases them when its request is answered, or the
        /// lease runs out after this long.
        case writing(Duration)
        /// A request of theirs that got no answer may still land for this long.
        case settling(Duration)
    }

    /// The hash of one person.
    public func key(workspace: String, person: PersonIdentifier) -> String {
        layout.partition(of: person.value).attributeTimes(workspace: workspace, personKind: "\(person.kind)", person: person.value)
    }

    /// Leases the people of `positions` (those with monotonic attributes) to `holder`, drops from
    /// each update the monotonic attributes that an equally new or newer event has already
    /// written, and records the times of the rest, in one round trip per partition. Answers the
    /// positions whose person is held, and how: those are left as they were, to be tried again
    /// once the lease is released or has run out.
    public func apply(to updates: inout [MergedUpdate], at positions: [Int], holder: String) async throws(RedisError) -> [Int: Hold] {
        var leased: [Int: Hold] = [:]
        for guarded in byPartition(updates, positions.filter { !updates[$0].monotonicTimes.isEmpty }) {
            var keys: [String] = []
            var arguments: [RedisArgument] = [
                RedisArgument(max(1, retention.components.seconds)), RedisArgument(holder), RedisArgument(lease.milliseconds),
            ]
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
                let answer = flags[position].string ?? ""
                if let kind = answer.first, kind == "w" || kind == "k" {
                    let left = Duration.milliseconds(Int64(answer.dropFirst()) ?? lease.milliseconds)
                    leased[index] = kind == "k" ? .settling(left) : .writing(left)
                    continue
                }
                let accepted = Array(answer)
                for (offset, name) in names[position].enumerated() where offset >= accepted.count || accepted[offset] != "1" {
                    updates[index].attributes[name] = nil
                    updates[index].monotonicTimes[name] = nil
                }
            }
        }
        return leased
    }

    /// Ends `holder`'s lease on the people of `positions` (those `apply` leased, whether or not
    /// their attributes went through) now, or holds them for `keep` more (a request that may still
    /// land: the next writer waits that long for it). Best effort: a lease not released runs out
    /// by itself.
    public func release(_ updates: [MergedUpdate], at positions: [Int], holder: String, keep: Duration = .zero) async {
        await extend(updates, at: positions, holder: holder, by: keep, keeping: "")
    }

    /// Renews `holder`'s lease on the people of `positions` for another `lease`: a request being
    /// retried outlives the lease, and its first attempt may still land after a newer write if
    /// another worker took the person meanwhile. Best effort, like `release`.
    public func renew(_ updates: [MergedUpdate], at positions: [Int], holder: String) async {
        await extend(updates, at: positions, holder: holder, by: lease, keeping: holder)
    }

    private func extend(_ updates: [MergedUpdate], at positions: [Int], holder: String, by time: Duration, keeping: String) async {
        for guarded in byPartition(updates, positions) {
            let keys = guarded.map { key(workspace: updates[$0].workspace, person: updates[$0].person) }
            _ = try? await client.run(
                Self.extendScript, keys: keys, arguments: [RedisArgument(holder), RedisArgument(time.milliseconds), RedisArgument(keeping)])
        }
    }

    /// The positions grouped by their person's partition (one script call per group: one slot).
    func byPartition(_ updates: [MergedUpdate], _ positions: [Int]) -> [[Int]] {
        var groups: [Int: [Int]] = [:]
        for index in positions {
            groups[layout.partition(of: updates[index].person.value).partition, default: []].append(index)
        }
        return groups.keys.sorted().compactMap { groups[$0] }
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
