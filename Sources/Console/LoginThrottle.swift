import Synchronization

/// Slows down guessing of the admin token: after `limit` failed logins within `window`, every
/// login is refused unchecked until the oldest of them is older than the window. One budget per
/// process: behind an ingress every request comes from the ingress's address, so a budget per
/// client address would be no limit at all, and a token of at least 16 random characters needs
/// far more guesses than a few a minute allow.
public final class LoginThrottle: Sendable {
    public let limit: Int
    public let window: Duration
    private let failures = Mutex<[ContinuousClock.Instant]>([])

    public init(limit: Int = 5, window: Duration = .seconds(60)) {
        self.limit = limit
        self.window = window
    }

    /// nil when a login may be checked now, else how long until one may.
    public func wait(now: ContinuousClock.Instant = .now) -> Duration? {
        failures.withLock { failures in
            failures.removeAll { now - $0 >= window }
            guard failures.count >= limit, let oldest = failures.first else { return nil }
            return window - (now - oldest)
        }
    }

    /// Counts a login with a wrong token.
    public func recordFailure(now: ContinuousClock.Instant = .now) {
        failures.withLock { $0.append(now) }
    }
}
