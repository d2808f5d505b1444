import Synchronization

/// A Lua script run with `EVALSHA`. The script is loaded with `SCRIPT LOAD` on first use; when
/// Redis answers `NOSCRIPT` (after a restart, a failover or `SCRIPT FLUSH`) the call is repeated as
/// `EVAL` with the source, which runs it and caches it again in one step, so that a second flush in
/// between cannot fail the call.
public final class RedisScript: Sendable {
    public let source: String
    private let sha = Mutex<String?>(nil)

    public init(_ source: String) {
        self.source = source
    }

    func loadedSHA() -> String? { sha.withLock { $0 } }
    func remember(_ value: String) { sha.withLock { $0 = value } }
}

/// One item for a script written to take many at once (see `RedisClient.run(_:item:awaitsReplicas:)`).
public struct RedisScriptItem: Sendable {
    /// Keys every item of a call shares (the first `KEYS`); they decide the cluster slot with `keys`.
    public var sharedKeys: [String]
    /// This item's keys, after the shared ones and those of the items before it.
    public var keys: [String]
    /// Arguments every item of a call shares (the first `ARGV`).
    public var sharedArguments: [RedisArgument]
    /// This item's arguments, after the shared ones and those of the items before it.
    public var arguments: [RedisArgument]

    public init(sharedKeys: [String], keys: [String], sharedArguments: [RedisArgument], arguments: [RedisArgument]) {
        self.sharedKeys = sharedKeys
        self.keys = keys
        self.sharedArguments = sharedArguments
        self.arguments = arguments
    }
}

extension RedisClient {
    /// Runs `script` with `EVALSHA`, loading it first if needed and once more on `NOSCRIPT`. The
    /// keys decide the cluster slot; `awaitsReplicas`: see `RedisCommand.awaitsReplicas`.
    public func run(_ script: RedisScript, keys names: [String], arguments: [RedisArgument], awaitsReplicas: Bool = false) async throws(RedisError)
        -> RedisValue
    {
        let keys = names.map { RedisArgument(key: $0) }
        return try await evaluate(script) { name, script in
            RedisCommand(name: name, argumentLists: [[script, RedisArgument(keys.count)], keys, arguments], awaitsReplicas: awaitsReplicas)
        }
    }

    /// Runs one item of a script written to take many: `KEYS` holds the shared keys and then every
    /// item's keys, `ARGV` the shared arguments and then every item's arguments, and the script
    /// answers an array with one reply per item, in order. Items with the same script, shared keys
    /// and shared arguments that are queued on one connection together go to Redis as one call
    /// (group commit: one script run and one reply for many). Answers this item's own reply; an
    /// error reply for this item is thrown as `serverError`, whatever the other items got.
    public func run(_ script: RedisScript, item: RedisScriptItem, awaitsReplicas: Bool = false) async throws(RedisError) -> RedisValue {
        let sharedKeys = item.sharedKeys.map { RedisArgument(key: $0) }
        let keys = item.keys.map { RedisArgument(key: $0) }
        return try await evaluate(script) { name, script in
            RedisCommand(
                name: name,
                scriptItem: ScriptItem(
                    head: [RedisArgument(name), script], sharedKeys: sharedKeys, sharedArguments: item.sharedArguments, keys: keys,
                    arguments: item.arguments),
                awaitsReplicas: awaitsReplicas)
        }
    }

    /// Sends the command `call` builds from `EVALSHA` and the script's SHA, loading the script first
    /// if needed; on `NOSCRIPT`, from `EVAL` and its source.
    private func evaluate(_ script: RedisScript, _ call: (String, RedisArgument) -> RedisCommand) async throws(RedisError) -> RedisValue {
        let sha: String
        if let loaded = script.loadedSHA() {
            sha = loaded
        } else {
            sha = try await load(script)
        }
        do {
            return try await send(call("EVALSHA", RedisArgument(sha)))
        } catch  where error.serverErrorPrefix == "NOSCRIPT" {
            // Each node of a cluster caches scripts on its own: the first call on a node lands here.
            return try await send(call("EVAL", RedisArgument(script.source)))
        }
    }

    private func load(_ script: RedisScript) async throws(RedisError) -> String {
        let reply = try await send(RedisCommand("SCRIPT", "LOAD", RedisArgument(script.source)))
        guard let sha = reply.string else {
            throw RedisError(.unexpectedReply, "SCRIPT LOAD answered \(reply)")
        }
        script.remember(sha)
        return sha
    }
}
