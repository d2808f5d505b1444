import Foundation

/// When to try a Track API request again: on 429, 5xx and transport errors, with exponential
/// backoff and full jitter, never sooner than the server's `Retry-After`. Other 4xx are permanent.
/// A pure decision, so it is tested without a network.
public struct TrackRetryPolicy: Sendable, Hashable {
    /// Attempts in all, the first included.
    public var maximumAttempts: Int
    public var initialBackoff: Duration
    public var maximumBackoff: Duration
    /// A `Retry-After` longer than this is not waited out here: the request fails as temporarily
    /// unavailable and the events are retried later by redelivery.
    public var maximumRetryAfter: Duration

    /// - Parameters:
    ///   - maximumAttempts: attempts of one request in all, the first included.
    ///   - initialBackoff: the longest wait before the first retry (full jitter picks one up to it);
    ///     it doubles with each attempt, up to `maximumBackoff`.
    public init(
        maximumAttempts: Int = 5, initialBackoff: Duration = .milliseconds(500), maximumBackoff: Duration = .seconds(30),
        maximumRetryAfter: Duration = .seconds(60)
    ) {
        self.maximumAttempts = maximumAttempts
        self.initialBackoff = initialBackoff
        self.maximumBackoff = maximumBackoff
        self.maximumRetryAfter = maximumRetryAfter
    }

    public enum Decision: Sendable, Hashable {
        case succeeded
        case retry(after: Duration)
        /// Failed for good: the request itself is wrong (other 4xx).
        case rejected
        /// Still failing after every attempt, or asked to wait too long: try again much later.
        case unavailable
    }

    /// What to do after attempt number `attempt` (1-based) ended with `status` (nil: no response),
    /// given the response's `Retry-After` header and a random number in 0..<1 for the jitter.
    public func decide(status: Int?, retryAfter: String?, attempt: Int, now: Date = Date(), random: Double) -> Decision {
        if let status {
            if (200..<300).contains(status) { return .succeeded }
            if status != 429 && !(500..<600).contains(status) { return .rejected }
        }
        guard attempt < maximumAttempts else { return .unavailable }
        let exponential = initialBackoff * (1 << min(attempt - 1, 20))
        var delay = min(exponential, maximumBackoff) * max(0, min(random, 1))
        if let asked = retryAfter.flatMap({ Self.parseRetryAfter($0, now: now) }) {
            guard asked <= maximumRetryAfter else { return .unavailable }
            delay = max(delay, asked)
        }
        return .retry(after: delay)
    }

    /// `Retry-After` as seconds or as an HTTP date.
    static func parseRetryAfter(_ value: String, now: Date) -> Duration? {
        let trimmed = value.trimmingCharacters(in: .whitespaces)
        if let seconds = Int(trimmed) { return .seconds(max(0, seconds)) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: trimmed) else { return nil }
        return .milliseconds(max(0, Int64(date.timeIntervalSince(now) * 1000)))
    }
}
