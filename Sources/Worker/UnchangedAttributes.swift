import CustomerIO
import EventQueue
import Hiredis

/// Leaves out of each update the attribute values cio-relay has already written for the person,
/// so that a repeat (Customer.io's retries, replays, several events about one change) costs no
/// Track API request. Redis remembers, per person and attribute, the value last written and when,
/// in the person's hash beside the attribute guard's times (and with its TTL); a value is taken as
/// unchanged only within `window` of that write: an attribute changed in Customer.io by anything
/// else is written again after that at the latest.
public struct UnchangedAttributes: Sendable {
    public let client: RedisClient
    public let attributeGuard: AttributeGuard
    /// How long a value written is trusted to still be Customer.io's; zero turns skipping off.
    public let window: Duration

    /// Hash field of an attribute's last written value: "<milliseconds> <JSON>". Attribute names
    /// hold no newline, so no field of the guard's can be one of these.
    static let fieldPrefix = "\nvalue\n"

    /// KEYS[i]: a person's hash; ARGV[1]: the window in milliseconds; ARGV[i+1]: the attribute
    /// names, newline-separated. Answers per key, per name, the JSON last written within the
    /// window, or "" (none, or older).
    static let readScript = RedisScript(
        """
        \(AttributeGuard.nowMilliseconds)
        local window = tonumber(ARGV[1])
        local result = {}
        for i, key in ipairs(KEYS) do
          local fields = {}
          for name in string.gmatch(ARGV[i + 1], '[^\\n]+') do fields[#fields + 1] = '\\nvalue\\n' .. name end
          local values = redis.call('HMGET', key, unpack(fields))
          local kept = {}
          for j = 1, #fields do
            kept[j] = ''
            local value = values[j]
            if value then
              local space = string.find(value, ' ', 1, true)
              if space and now - tonumber(string.sub(value, 1, space - 1)) <= window then kept[j] = string.sub(value, space + 1) end
            end
          end
          result[i] = kept
        end
        return result
        """)

    /// KEYS[i]: a person's hash; ARGV[1]: TTL seconds; ARGV[i+1]: "name\nJSON\nname\nJSON…"
    /// (serialized JSON holds no raw newline). Records each value with the time now.
    static let recordScript = RedisScript(
        """
        \(AttributeGuard.nowMilliseconds)
        for i, key in ipairs(KEYS) do
          local parts = {}
          for piece in string.gmatch(ARGV[i + 1], '[^\\n]+') do parts[#parts + 1] = piece end
          for j = 1, #parts, 2 do
            redis.call('HSET', key, '\\nvalue\\n' .. parts[j], now .. ' ' .. parts[j + 1])
          end
          redis.call('EXPIRE', key, ARGV[1])
        end
        return 1
        """)

    public init(client: RedisClient, attributeGuard: AttributeGuard, window: Duration = .seconds(86_400)) {
        self.client = client
        self.attributeGuard = attributeGuard
        self.window = window
    }

    /// Removes from the updates at `positions` the attributes whose value is the one last written
    /// (and those written only if a gate attribute changes, when none does), in one round trip
    /// per partition. Answers, per position, the names left out.
    public func drop(from updates: inout [MergedUpdate], at positions: [Int]) async throws(RedisError) -> [Int: [String]] {
        guard window > .zero else { return [:] }
        var dropped: [Int: [String]] = [:]
        for group in attributeGuard.byPartition(updates, positions.filter { !updates[$0].attributes.isEmpty }) {
            var keys: [String] = []
            var arguments = [RedisArgument(window.milliseconds)]
            var names: [[String]] = []
            for index in group {
                let ordered = updates[index].attributes.keys.sorted()
                names.append(ordered)
                keys.append(attributeGuard.key(workspace: updates[index].workspace, person: updates[index].person))
                arguments.append(RedisArgument(ordered.joined(separator: "\n")))
            }
            let reply = try await client.run(Self.readScript, keys: keys, arguments: arguments)
            guard let perKey = reply.array, perKey.count == group.count else {
                throw RedisError(.unexpectedReply, "the unchanged-attribute read answered \(reply)")
            }
            for (offset, index) in group.enumerated() {
                let stored = perKey[offset].array?.map { $0.string ?? "" } ?? []
                var last: [String: String] = [:]
                for (name, value) in zip(names[offset], stored) where !value.isEmpty { last[name] = value }
                let left = Self.unchanged(updates[index].attributes, gates: updates[index].gates, lastWritten: last)
                guard !left.isEmpty else { continue }
                for name in left {
                    updates[index].attributes[name] = nil
                    updates[index].monotonicTimes[name] = nil
                }
                dropped[index] = left
            }
        }
        return dropped
    }

    /// The names to leave out of `attributes`, given the JSON of the values last written: those
    /// equal to it, and those gated whose gates all are (or are not written at all).
    public static func unchanged(_ attributes: [String: JSONValue], gates: [String: Set<String>], lastWritten: [String: String]) -> [String] {
        func isUnchanged(_ name: String) -> Bool {
            guard let value = attributes[name], let last = lastWritten[name] else { return attributes[name] == nil }
            return String(decoding: value.serialized(), as: UTF8.self) == last
        }
        return attributes.keys.sorted().filter { name in
            guard let gate = gates[name], !gate.isEmpty else { return isUnchanged(name) }
            return gate.allSatisfy(isUnchanged)
        }
    }

    /// Remembers the attributes of the updates at `positions` as written now (their requests
    /// succeeded). Best effort: a value not remembered is only written again next time.
    public func record(_ updates: [MergedUpdate], at positions: [Int]) async {
        guard window > .zero else { return }
        for group in attributeGuard.byPartition(updates, positions.filter { !updates[$0].attributes.isEmpty }) {
            var keys: [String] = []
            var arguments = [RedisArgument(max(1, attributeGuard.retention.components.seconds))]
            for index in group {
                let update = updates[index]
                keys.append(attributeGuard.key(workspace: update.workspace, person: update.person))
                arguments.append(
                    RedisArgument(
                        update.attributes.keys.sorted().map { "\($0)\n\(String(decoding: update.attributes[$0]?.serialized() ?? [], as: UTF8.self))" }
                            .joined(separator: "\n")))
            }
            _ = try? await client.run(Self.recordScript, keys: keys, arguments: arguments)
        }
    }
}
