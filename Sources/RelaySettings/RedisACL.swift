/// The Redis commands each role sends, as one catalogue, and the Redis ACL rule that allows
/// exactly those on the deployment's keys (`cio-relay config --redis-acl ROLE`).
///
/// Commands that scripts call count: Redis checks them against the caller's ACL as well. The
/// test command proves the catalogue against the code: it runs each role under a user with its
/// rule on a real Redis and on the cluster, and fails on any command Redis refused (`ACL LOG`).
public enum RedisACL {
    /// What runs under one Redis user.
    public enum Role: String, CaseIterable, Sendable {
        /// `cio-relay serve`: verify, deduplicate, enqueue. Cannot read the queue.
        case serve
        /// `cio-relay work`: both consumer groups, their upkeep (reclaim, trim, dead letters) and
        /// the workers' own keys (rate budget, attribute guard).
        case work
        /// `status`, `trace`, `dead-letters` and the console's pages and changes.
        case `operator`
    }

    /// Every role: connect and follow a cluster, run scripts, check the partition record, create
    /// the consumer groups (each role does at start).
    static let common = [
        "ping", "select", "asking", "cluster|slots", "evalsha", "eval", "script|load",
        // With Sentinel: the check that the node the Sentinels name is the primary.
        "role",
        // The partition record's script.
        "get", "exists", "xlen", "set",
        "xgroup|create",
        // The Redis version check at start (INFO server).
        "info",
    ]

    /// The commands of `role`, scripts' calls included, beyond `common`.
    static func own(_ role: Role) -> [String] {
        switch role {
        case .serve:
            // The dedup-and-enqueue script (malformed events go to the dead letters), and WAIT
            // for CIO_RELAY_REDIS_MIN_REPLICAS.
            ["xadd", "wait"]
        case .work:
            [
                // Consumer groups: read, acknowledge, reclaim, dead-letter.
                "xreadgroup", "xack", "xautoclaim", "xpending", "xclaim", "xadd", "xrange",
                // Upkeep: trimming below every group, idle consumers, lag, each primary's replicas.
                "xtrim", "xinfo|groups", "xinfo|consumers", "xinfo|stream", "xgroup|delconsumer", "xgroup|setid", "info",
                // The shared Track API budget and the attribute guard.
                "time", "hget", "hset", "hmget", "expire", "wait",
            ]
        case .operator:
            [
                // status: groups, consumers, memory, dedup keys.
                "info", "dbsize", "scan", "randomkey", "xinfo|groups", "xinfo|consumers", "xinfo|stream", "xpending",
                // trace and dead letters: read, replay, purge.
                "ttl", "xrange", "xrevrange", "xadd", "xdel", "del",
            ]
        }
    }

    /// The commands of the roles together, sorted, each once.
    public static func commands(for roles: [Role]) -> [String] {
        Array(Set(common + roles.flatMap(own))).sorted()
    }

    /// One line for `ACL SETUSER name on >password <rule>`: only these commands, only keys under
    /// `prefix`, no channels.
    public static func rule(for roles: [Role], prefix: String) -> String {
        (["resetkeys", "~\(prefix):*", "resetchannels", "-@all"] + commands(for: roles).map { "+" + $0 }).joined(separator: " ")
    }

    /// `serve`, `work`, `operator` or several with commas (`work,operator` for the pods that
    /// serve the console).
    public static func roles(_ text: String) -> [Role]? {
        let roles = text.split(separator: ",").map { Role(rawValue: String($0.filter { !$0.isWhitespace })) }
        guard !roles.isEmpty, !roles.contains(nil) else { return nil }
        return roles.compactMap { $0 }
    }
}
