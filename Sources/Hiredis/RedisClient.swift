import ServiceLifecycle

/// The client of one Redis server, of a Redis Cluster (`RedisConfiguration.clusterSeeds`) or of
/// the primary Redis Sentinel names (`RedisConfiguration.sentinel`). As a
/// `Service` it keeps its connections until graceful shutdown, then closes them: list it first in
/// a `ServiceGroup`, so that it closes last, after the servers and workers that use it.
///
/// On one Redis, commands are spread over a small pool round-robin and each connection batches
/// whatever is queued on it. On a cluster, each command goes to the primary of its keys' slot (one
/// such pool per primary), following `MOVED` and `ASK`, and is retried within the command timeout
/// while the cluster fails over. Either way a command whose keys hash to different slots is
/// refused before it is sent.
///
/// Blocking commands (`XREADGROUP BLOCK`, `BLPOP`) must not share these connections: they would
/// hold up every command queued behind them. Use `makeBlockingConnection()` for those.
public final class RedisClient: Service, Sendable {
    public let configuration: RedisConfiguration

    private enum Backend: Sendable {
        case single(ConnectionPool)
        case cluster(ClusterNodes)
        case sentinel(SentinelPrimary)
    }
    private let backend: Backend

    public convenience init(configuration: RedisConfiguration) throws(RedisError) {
        try self.init(configuration: configuration, makeConnection: RedisConnection.init(configuration:))
    }

    /// On one Redis the pool's connections are made here; on a cluster, when a node is first used.
    init(configuration: RedisConfiguration, makeConnection: (RedisConfiguration) throws(RedisError) -> RedisConnection) throws(RedisError) {
        self.configuration = configuration
        if let seeds = configuration.clusterSeeds {
            backend = .cluster(ClusterNodes(configuration: configuration, seeds: seeds))
        } else if let sentinel = configuration.sentinel {
            backend = .sentinel(SentinelPrimary(configuration: configuration, sentinel: sentinel))
        } else {
            backend = .single(try ConnectionPool(configuration: configuration, makeConnection: makeConnection))
        }
    }

    /// Whether `makeBlockingConnection()` reaches the data: on one Redis only, since a cluster
    /// spreads keys over nodes and Sentinel moves the primary.
    public var supportsBlockingReads: Bool {
        if case .single = backend { return true }
        return false
    }

    /// Sends a command and waits for its reply.
    public func send(_ command: RedisCommand) async throws(RedisError) -> RedisValue {
        let slot: Int?
        switch command.route {
        case .slot(let keySlot): slot = keySlot
        case .anyNode: slot = nil
        case .crossSlot(let slots):
            throw RedisError(.crossSlot, "\(command.name) names keys in slots \(slots): they must share a hash tag")
        }
        switch backend {
        case .single(let pool): return try await pool.send(command)
        case .cluster(let nodes): return try await nodes.send(command, slot: slot)
        case .sentinel(let primary): return try await primary.send(command)
        }
    }

    public func send(_ name: String, _ arguments: RedisArgument...) async throws(RedisError) -> RedisValue {
        try await send(RedisCommand(name, arguments))
    }

    /// True when Redis answers `PING`.
    public func ping() async throws(RedisError) {
        let reply = try await send(RedisCommand("PING"))
        guard reply.string == "PONG" else {
            throw RedisError(.unexpectedReply, "PING answered \(reply)")
        }
    }

    /// Every primary, for the commands that answer about one node's keys (`DBSIZE`, `SCAN`,
    /// `INFO`): the one server, or each primary of the cluster's slot map.
    public func primaries() async throws(RedisError) -> [RedisNode] {
        switch backend {
        case .single(let pool):
            return [RedisNode(endpoint: ClusterEndpoint(host: configuration.host, port: configuration.port), pool: pool)]
        case .cluster(let nodes):
            var result: [RedisNode] = []
            for endpoint in try await nodes.primaries() {
                result.append(RedisNode(endpoint: endpoint, pool: try nodes.pool(for: endpoint)))
            }
            return result
        case .sentinel(let primary):
            let (endpoint, pool) = try await primary.primary()
            return [RedisNode(endpoint: endpoint, pool: pool)]
        }
    }

    /// A connection of its own to the configured host for blocking reads; the caller shuts it
    /// down. Without a `commandTimeout` a read may block forever and `shutdown()` interrupts it;
    /// with one (longer than the longest `BLOCK`), a frozen server fails the read instead of
    /// hanging it. Not for a cluster, whose keys live on many nodes.
    public func makeBlockingConnection(commandTimeout: Duration? = nil) throws(RedisError) -> RedisConnection {
        var configuration = self.configuration
        configuration.commandTimeout = commandTimeout
        return try RedisConnection(configuration: configuration)
    }

    /// Returns when graceful shutdown starts (or the task is cancelled), after closing the connections.
    public func run() async {
        try? await gracefulShutdown()
        await shutdown()
    }

    /// Sends what is queued, then closes every connection and joins their threads.
    public func shutdown() async {
        switch backend {
        case .single(let pool): await pool.shutdown()
        case .cluster(let nodes): await nodes.shutdown()
        case .sentinel(let primary): await primary.shutdown()
        }
    }
}

/// One primary: commands sent here go to it, whatever their keys.
public struct RedisNode: Sendable {
    public let endpoint: ClusterEndpoint
    let pool: ConnectionPool

    public func send(_ command: RedisCommand) async throws(RedisError) -> RedisValue {
        try await pool.send(command)
    }

    public func send(_ name: String, _ arguments: RedisArgument...) async throws(RedisError) -> RedisValue {
        try await pool.send(RedisCommand(name, arguments))
    }
}
