/// Where one command goes in a Redis Cluster and what to do with each answer: a state machine
/// that returns actions, so that the client runs them (and tests check them without a network).
///
/// `MOVED` sends the command to the named node and asks for a fresh slot map; `ASK` sends it once
/// to the named node after `ASKING`, leaving the map alone; `TRYAGAIN`, `CLUSTERDOWN` and a lost
/// node are retried with a growing pause while the deadline allows, the lost node also asking for
/// a fresh map (its replica is being promoted). Any other answer is the command's.
public struct ClusterRouting: Sendable {
    public enum Action: Sendable, Hashable {
        /// Send the command to `node` (after `ASKING` when `asking`); `refreshMap`: also fetch
        /// `CLUSTER SLOTS` again, the map being out of date.
        case send(to: ClusterEndpoint, asking: Bool, refreshMap: Bool)
        /// No node is known for the slot: fetch the map, then call `mapRefreshed`.
        case refreshMap
        /// Wait, then call `retry()`; `refreshMap`: fetch the map meanwhile.
        case wait(Duration, refreshMap: Bool)
        /// The answer is the command's.
        case done(RedisValue)
        case fail(RedisError)
    }

    public let slot: Int
    private var map: ClusterSlotMap
    private let deadline: ContinuousClock.Instant
    private let maximumRedirections: Int
    private var redirections = 0
    private var attempts = 0
    /// The node the command went to last, for a redirection that names no host.
    private var lastNode: ClusterEndpoint?

    public init(slot: Int, map: ClusterSlotMap, deadline: ContinuousClock.Instant, maximumRedirections: Int = 5) {
        self.slot = slot
        self.map = map
        self.deadline = deadline
        self.maximumRedirections = maximumRedirections
    }

    /// The first action.
    public mutating func start() -> Action {
        guard let primary = map.primary(for: slot) else { return .refreshMap }
        lastNode = primary
        return .send(to: primary, asking: false, refreshMap: false)
    }

    /// After `.refreshMap`, or a wait that fetched a new map.
    public mutating func mapRefreshed(_ fresh: ClusterSlotMap, now: ContinuousClock.Instant) -> Action {
        map = fresh
        guard map.primary(for: slot) != nil else {
            return pause(now: now, refreshMap: true, because: RedisError(.serverError, "no node of the cluster serves slot \(slot)"))
        }
        return start()
    }

    /// After a `.wait`: send again to the slot's primary as the map now says.
    public mutating func retry() -> Action {
        start()
    }

    /// The node answered.
    public mutating func received(_ reply: RedisValue, now: ContinuousClock.Instant) -> Action {
        guard case .error(let message) = reply, let redirection = ClusterRedirection(error: message) else {
            return .done(reply)
        }
        switch redirection {
        case .moved(_, let host, let port), .ask(_, let host, let port):
            redirections += 1
            guard redirections <= maximumRedirections else {
                return .fail(RedisError(.serverError, "slot \(slot) redirected \(redirections) times (last: \(message))"))
            }
            let node = ClusterEndpoint(host: host.isEmpty ? lastNode?.host ?? host : host, port: port)
            lastNode = node
            if case .ask = redirection { return .send(to: node, asking: true, refreshMap: false) }
            return .send(to: node, asking: false, refreshMap: true)
        case .tryAgain, .clusterDown:
            return pause(now: now, refreshMap: redirection == .clusterDown, because: RedisError(.serverError, message))
        }
    }

    /// The node could not be reached, or the connection broke before an answer: a primary may be
    /// failing over.
    public mutating func connectionFailed(_ error: RedisError, now: ContinuousClock.Instant) -> Action {
        pause(now: now, refreshMap: true, because: error)
    }

    /// 50 ms, doubling to 1 s, while the next attempt would still start before the deadline.
    private mutating func pause(now: ContinuousClock.Instant, refreshMap: Bool, because error: RedisError) -> Action {
        attempts += 1
        let delay = min(Duration.milliseconds(50) * (1 << min(attempts - 1, 5)), .seconds(1))
        guard now + delay < deadline else { return .fail(error) }
        return .wait(delay, refreshMap: refreshMap)
    }
}
