import CustomerIO
import EventQueue
import Hiredis
import Metrics

/// The Track API (or App API) budget of one workspace, shared by every worker replica through Redis: a
/// generic cell rate algorithm (GCRA) in one script. `waitForTurn` returns when a request may go,
/// sleeping as long as Redis says, so a worker waits for budget instead of being throttled.
public struct RateBudget: TrackRequestGate {
    public let client: RedisClient
    public let key: String
    /// Requests per second.
    public let rate: Double
    /// Requests that may go back to back after a quiet period.
    public let burst: Int
    let metrics: WorkerMetrics

    /// KEYS[1] the budget; ARGV[1] microseconds between requests; ARGV[2] burst.
    /// Answers 0 when the request may go (and counts it), else microseconds to wait.
    static let script = RedisScript(
        """
        local clock = redis.call('TIME')
        local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
        local interval = tonumber(ARGV[1])
        local tolerance = interval * (tonumber(ARGV[2]) - 1)
        local tat = tonumber(redis.call('GET', KEYS[1]) or now)
        if tat < now then tat = now end
        local wait = tat - tolerance - now
        if wait > 0 then return math.ceil(wait) end
        local next_tat = tat + interval
        redis.call('SET', KEYS[1], string.format('%.0f', next_tat), 'PX', math.ceil((next_tat - now) / 1000) + 1000)
        return 0
        """)

    /// - Parameters:
    ///   - key: the budget's key: one per workspace and API (`QueueKeys.rateBudget`,
    ///     `QueueKeys.appAPIRateBudget`), each with a limit of its own.
    ///   - rate: requests per second shared by every worker of every replica.
    ///   - burst: turns that may be taken at once after a quiet spell (at least 1).
    public init(client: RedisClient, key: String, rate: Double, burst: Int = 1, metrics: WorkerMetrics = WorkerMetrics()) {
        self.metrics = metrics
        self.client = client
        self.key = key
        self.rate = rate
        self.burst = max(1, burst)
    }

    public func waitForTurn() async throws {
        let interval = max(1, Int64((1_000_000 / rate).rounded()))
        while true {
            let reply = try await client.run(Self.script, keys: [key], arguments: [RedisArgument(interval), RedisArgument(burst)])
            guard let wait = reply.integer else {
                throw RedisError(.unexpectedReply, "the rate budget script answered \(reply)")
            }
            if wait <= 0 { return }
            metrics.budgetWaited.increment()
            try await Task.sleep(for: .microseconds(wait))
        }
    }
}
