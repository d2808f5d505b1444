import Synchronization

/// The cluster side of `RedisClient`: a connection pool per node, made when first needed, and the
/// slot map, fetched again (by one caller at a time) when a redirection or a lost node says it is
/// out of date. Each command is routed by `ClusterRouting`.
final class ClusterNodes: Sendable {
    let configuration: RedisConfiguration
    private let seeds: [ClusterEndpoint]

    private struct State {
        var map = ClusterSlotMap.empty
        var pools: [ClusterEndpoint: ConnectionPool] = [:]
        var refresh: Task<ClusterSlotMap?, Never>?
        var refreshedAt: ContinuousClock.Instant?
        /// Why the last node asked for the map did not answer (a refused TLS certificate, a
        /// wrong password…), for the error when none did.
        var mapFailure: RedisError?
        var closed = false
    }
    private let state = Mutex<State>(State())

    /// A fresh map is fetched at most this often: the first of many commands redirected at once
    /// fetches it, the others use it.
    static let refreshInterval = Duration.milliseconds(50)
    static let asking = RedisCommand("ASKING")

    init(configuration: RedisConfiguration, seeds: [ClusterEndpoint]) {
        self.configuration = configuration
        self.seeds = seeds
    }

    /// How long one command may spend on redirections, failovers and retries.
    private var budget: Duration { configuration.commandTimeout ?? .seconds(2) }

    /// Sends a command to the primary of `slot` (its keys' slot), following redirections; a
    /// keyless one (no slot) to any primary that answers.
    func send(_ command: RedisCommand, slot: Int?) async throws(RedisError) -> RedisValue {
        if let slot { return try await route(command, slot: slot) }
        var lastError = RedisError(.connectionFailed, "no node of the cluster is known")
        for node in try await primaries() {
            do {
                return try await pool(for: node).send(command)
            } catch  where error.code == .connectionFailed || error.code == .connectionLost {
                lastError = error
            }
        }
        throw lastError
    }

    private func route(_ command: RedisCommand, slot: Int) async throws(RedisError) -> RedisValue {
        var routing = ClusterRouting(slot: slot, map: state.withLock { $0.map }, deadline: .now + budget)
        var action = routing.start()
        while true {
            switch action {
            case .send(let node, let asking, let refresh):
                if refresh { refreshInBackground() }
                do throws(RedisError) {
                    let reply = try await pool(for: node).send(command, after: asking ? Self.asking : nil)
                    action = routing.received(reply, now: .now)
                } catch  where error.code == .serverError {
                    action = routing.received(.error(error.message), now: .now)
                } catch  where error.code == .connectionFailed || error.code == .connectionLost {
                    action = routing.connectionFailed(error, now: .now)
                }
            case .refreshMap:
                if let map = await refreshMap() {
                    action = routing.mapRefreshed(map, now: .now)
                } else {
                    action = routing.connectionFailed(
                        RedisError(.connectionFailed, "no node of the cluster answered CLUSTER SLOTS\(mapFailureNote)"), now: .now)
                }
            case .wait(let delay, let refresh):
                let started = ContinuousClock.now
                let fresh = refresh ? await refreshMap() : nil
                let remaining = delay - (ContinuousClock.now - started)
                if remaining > .zero {
                    do {
                        try await Task.sleep(for: remaining)
                    } catch {
                        throw RedisError(.cancelled, "the caller stopped waiting for \(command.name)")
                    }
                }
                action = fresh.map { routing.mapRefreshed($0, now: .now) } ?? routing.retry()
            case .done(let reply):
                if case .error(let message) = reply { throw RedisError(.serverError, message) }
                return reply
            case .fail(let error):
                throw error
            }
        }
    }

    /// The primaries as the slot map names them, fetching the map first if there is none.
    func primaries() async throws(RedisError) -> [ClusterEndpoint] {
        let known = state.withLock { $0.map.primaries }
        if !known.isEmpty { return known }
        guard let map = await refreshMap(), !map.primaries.isEmpty else {
            throw RedisError(
                .connectionFailed,
                "no node of the cluster (\(seeds.map(\.description).joined(separator: ","))) answered CLUSTER SLOTS\(mapFailureNote)")
        }
        return map.primaries
    }

    /// ": the last node's error", or nothing.
    private var mapFailureNote: String {
        state.withLock { $0.mapFailure }.map { ": \($0.message)" } ?? ""
    }

    /// The pool of one node, made on first use.
    func pool(for node: ClusterEndpoint) throws(RedisError) -> ConnectionPool {
        let result: Result<ConnectionPool, RedisError> = state.withLock { state in
            if let pool = state.pools[node] { return .success(pool) }
            guard !state.closed else { return .failure(RedisError(.shutdown, "the Redis client is shut down")) }
            do throws(RedisError) {
                let pool = try ConnectionPool(configuration: configuration.node(node), makeConnection: RedisConnection.init(configuration:))
                state.pools[node] = pool
                return .success(pool)
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// Fetches the slot map (or joins the fetch in progress); nil when no node answered.
    func refreshMap() async -> ClusterSlotMap? {
        let task = state.withLock { state -> Task<ClusterSlotMap?, Never>? in
            if let running = state.refresh { return running }
            if let at = state.refreshedAt, ContinuousClock.now - at < Self.refreshInterval { return nil }
            let task = Task { await self.fetchMap() }
            state.refresh = task
            return task
        }
        guard let task else { return state.withLock { $0.map } }
        let map = await task.value
        state.withLock { state in
            if state.refresh == task {
                state.refresh = nil
                state.refreshedAt = .now
            }
            if let map { state.map = map }
        }
        return map
    }

    private func refreshInBackground() {
        Task { _ = await refreshMap() }
    }

    /// Asks the known primaries, then the seeds, for `CLUSTER SLOTS`; the first answer that covers
    /// every slot wins, else the first answer at all.
    private func fetchMap() async -> ClusterSlotMap? {
        var candidates = state.withLock { $0.map.primaries }
        for seed in seeds where !candidates.contains(seed) { candidates.append(seed) }
        var partial: ClusterSlotMap?
        for node in candidates {
            let map: ClusterSlotMap
            do throws(RedisError) {
                let reply = try await pool(for: node).send(RedisCommand("CLUSTER", "SLOTS"))
                map = try ClusterSlotMap(slotsReply: reply, fallbackHost: node.host)
            } catch {
                state.withLock { $0.mapFailure = error }
                continue
            }
            if map.coversEverySlot { return map }
            if partial == nil { partial = map }
        }
        return partial
    }

    func shutdown() async {
        let pools = state.withLock { state in
            state.closed = true
            return Array(state.pools.values)
        }
        for pool in pools { await pool.shutdown() }
    }
}
