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

extension RedisClient {
    /// Runs `script` with `EVALSHA`, loading it first if needed and once more on `NOSCRIPT`. The
    /// keys decide the cluster slot; `awaitsReplicas`: see `RedisCommand.awaitsReplicas`.
    public func run(_ script: RedisScript, keys names: [String], arguments: [RedisArgument], awaitsReplicas: Bool = false) async throws(RedisError)
        -> RedisValue
    {
        let keys = names.map { RedisArgument(key: $0) }
        let sha: String
        if let loaded = script.loadedSHA() {
            sha = loaded
        } else {
            sha = try await load(script)
        }
        do {
            return try await send(
                RedisCommand(
                    name: "EVALSHA", argumentLists: [[RedisArgument(sha), RedisArgument(keys.count)], keys, arguments], awaitsReplicas: awaitsReplicas
                ))
        } catch  where error.serverErrorPrefix == "NOSCRIPT" {
            // Each node of a cluster caches scripts on its own: the first call on a node lands here.
            return try await send(
                RedisCommand(
                    name: "EVAL", argumentLists: [[RedisArgument(script.source), RedisArgument(keys.count)], keys, arguments],
                    awaitsReplicas: awaitsReplicas))
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
