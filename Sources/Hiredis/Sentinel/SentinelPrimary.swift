import Synchronization

/// Where Redis Sentinel is asked for the primary (`redis+sentinel://`).
public struct SentinelConfiguration: Sendable, Hashable {
    /// The Sentinels, asked in order; one that does not answer is skipped.
    public var sentinels: [ClusterEndpoint]
    /// The master's name in the Sentinels' configuration (`sentinel monitor NAME …`).
    public var masterName: String
    /// Credentials of the Sentinels themselves (`requirepass` / ACL on the Sentinels), which are
    /// not the data nodes' (those are the URL's).
    public var username: String?
    public var password: String?

    public init(sentinels: [ClusterEndpoint], masterName: String, username: String? = nil, password: String? = nil) {
        self.sentinels = sentinels
        self.masterName = masterName
        self.username = username
        self.password = password
    }
}

/// The Sentinel side of `RedisClient`: the primary the Sentinels name, with a connection pool,
/// asked again after a connection failure, `READONLY` (a demoted primary) or `LOADING`, and every
/// candidate checked with `ROLE` before it is used. A command is retried on the new primary within
/// the command timeout, so a failover costs its callers a wait or an error, never a hang.
final class SentinelPrimary: Sendable {
    let configuration: RedisConfiguration
    let sentinel: SentinelConfiguration

    private struct State {
        var primary: (endpoint: ClusterEndpoint, pool: ConnectionPool)?
        var discovery: Task<Result<(ClusterEndpoint, ConnectionPool), RedisError>, Never>?
        var sentinels: [ClusterEndpoint: ConnectionPool] = [:]
        var closed = false
    }
    private let state = Mutex<State>(State())

    init(configuration: RedisConfiguration, sentinel: SentinelConfiguration) {
        self.configuration = configuration
        self.sentinel = sentinel
    }

    /// How long one command may spend on rediscovery and retries.
    private var budget: Duration { configuration.commandTimeout ?? .seconds(2) }

    func send(_ command: RedisCommand) async throws(RedisError) -> RedisValue {
        let deadline = ContinuousClock.now + budget
        var pause = Duration.milliseconds(50)
        while true {
            let failure: RedisError
            do throws(RedisError) {
                let (endpoint, pool) = try await primary()
                do throws(RedisError) {
                    return try await pool.send(command)
                } catch  where Self.isFailover(error) {
                    forget(endpoint)
                    failure = error
                }
            } catch  where error.code == .connectionFailed {
                failure = error
            }
            guard ContinuousClock.now + pause < deadline else { throw failure }
            do {
                try await Task.sleep(for: pause)
            } catch {
                throw RedisError(.cancelled, "the caller stopped waiting for \(command.name)")
            }
            pause = min(pause * 2, .seconds(1))
        }
    }

    /// Errors that say the primary is gone or is no longer the primary.
    static func isFailover(_ error: RedisError) -> Bool {
        switch error.code {
        case .connectionFailed, .connectionLost: return true
        case .serverError: return ["READONLY", "LOADING", "MASTERDOWN"].contains(error.serverErrorPrefix.map(String.init) ?? "")
        default: return false
        }
    }

    /// The current primary, discovered through the Sentinels when none is known.
    func primary() async throws(RedisError) -> (ClusterEndpoint, ConnectionPool) {
        let task: Task<Result<(ClusterEndpoint, ConnectionPool), RedisError>, Never>
        let known: Result<(ClusterEndpoint, ConnectionPool), RedisError>? = state.withLock { state in
            if state.closed { return .failure(RedisError(.shutdown, "the Redis client is shut down")) }
            return state.primary.map { .success(($0.endpoint, $0.pool)) }
        }
        if let known { return try known.get() }
        task = state.withLock { state in
            if let running = state.discovery { return running }
            let running = Task { await self.discover() }
            state.discovery = running
            return running
        }
        let result = await task.value
        state.withLock { state in
            if state.discovery == task { state.discovery = nil }
            if case .success(let found) = result, state.primary == nil, !state.closed {
                state.primary = (found.0, found.1)
            }
        }
        return try result.get()
    }

    /// Drops the primary `endpoint` (when it is still the current one) and closes its pool: the
    /// next command asks the Sentinels again.
    private func forget(_ endpoint: ClusterEndpoint) {
        let dropped: ConnectionPool? = state.withLock { state in
            guard let current = state.primary, current.endpoint == endpoint else { return nil }
            state.primary = nil
            return current.pool
        }
        if let dropped { retire(dropped) }
    }

    /// Asks each Sentinel in turn for the master's address and checks with `ROLE` that the node
    /// there is a primary. A Sentinel that does not answer is skipped; when every one that answered
    /// knows no such master, that is a configuration error (`unknownMaster`).
    private func discover() async -> Result<(ClusterEndpoint, ConnectionPool), RedisError> {
        let command = RedisCommand("SENTINEL", "GET-MASTER-ADDR-BY-NAME", RedisArgument(sentinel.masterName))
        var answered = 0
        var unknown = 0
        var lastError: RedisError?
        for address in sentinel.sentinels {
            let reply: RedisValue
            do throws(RedisError) {
                reply = try await sentinelPool(address).send(command)
            } catch {
                lastError = RedisError(.connectionFailed, "Sentinel \(address): \(error.message)")
                continue
            }
            answered += 1
            guard let parts = reply.array, parts.count == 2, let host = parts[0].string, let port = parts[1].string.flatMap({ Int($0) }) else {
                if reply == .null { unknown += 1 }
                lastError = RedisError(.unexpectedReply, "Sentinel \(address) answered \(reply) for master '\(sentinel.masterName)'")
                continue
            }
            let endpoint = ClusterEndpoint(host: host, port: port)
            let pool: ConnectionPool
            do throws(RedisError) {
                pool = try ConnectionPool(configuration: configuration.node(endpoint), makeConnection: RedisConnection.init(configuration:))
            } catch {
                lastError = error
                continue
            }
            do throws(RedisError) {
                let role = try await pool.send(RedisCommand("ROLE"))
                guard role.array?.first?.string == "master" else {
                    retire(pool)
                    lastError = RedisError(
                        .connectionFailed,
                        "Sentinel \(address) names \(endpoint) as the primary of '\(sentinel.masterName)', but it is not one (ROLE answered \(role.array?.first?.string ?? "\(role)")): a failover is under way"
                    )
                    continue
                }
            } catch {
                retire(pool)
                lastError = RedisError(.connectionFailed, "the primary \(endpoint) that Sentinel \(address) names: \(error.message)")
                continue
            }
            return .success((endpoint, pool))
        }
        let asked = sentinel.sentinels.map(\.description).joined(separator: ",")
        if answered > 0 && unknown == answered {
            return .failure(
                RedisError(
                    .unknownMaster, "no Sentinel (\(asked)) monitors a master named '\(sentinel.masterName)': check the name after the / in REDIS_URL"
                ))
        }
        return .failure(
            RedisError(
                .connectionFailed,
                "no Sentinel (\(asked)) named a reachable primary for '\(sentinel.masterName)'" + (lastError.map { ": \($0.message)" } ?? "")))
    }

    /// Closes a pool that is no longer used, without waiting for it: commands still queued on it
    /// are sent (and fail against a node that is gone).
    private func retire(_ pool: ConnectionPool) {
        Task { await pool.shutdown() }
    }

    /// One connection to a Sentinel, made on first use, with the Sentinels' own credentials and
    /// the same TLS settings; no `WAIT` (a Sentinel stores nothing).
    private func sentinelPool(_ address: ClusterEndpoint) throws(RedisError) -> ConnectionPool {
        let result: Result<ConnectionPool, RedisError> = state.withLock { state in
            if let pool = state.sentinels[address] { return .success(pool) }
            guard !state.closed else { return .failure(RedisError(.shutdown, "the Redis client is shut down")) }
            var sentinelConfiguration = configuration.node(address)
            sentinelConfiguration.username = sentinel.username
            sentinelConfiguration.password = sentinel.password
            sentinelConfiguration.database = 0
            sentinelConfiguration.poolSize = 1
            sentinelConfiguration.minReplicas = 0
            sentinelConfiguration.commandTimeout = configuration.connectTimeout
            do throws(RedisError) {
                let pool = try ConnectionPool(configuration: sentinelConfiguration, makeConnection: RedisConnection.init(configuration:))
                state.sentinels[address] = pool
                return .success(pool)
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    func shutdown() async {
        let pools = state.withLock { state in
            state.closed = true
            var pools = Array(state.sentinels.values)
            if let primary = state.primary { pools.append(primary.pool) }
            state.primary = nil
            return pools
        }
        for pool in pools { await pool.shutdown() }
    }
}
