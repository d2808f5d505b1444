/// Stops sending to a destination that keeps failing, so that its deliveries wait instead of each
/// taking a timeout, and probes it again after a cool-down. A pure state machine: the caller says
/// what happened and when, and asks whether a delivery may go.
///
/// Closed: deliveries go; `threshold` failures in a row open it. Open: none go until `cooldown`
/// has passed, then one probe goes (half-open). The probe's success closes it; its failure opens
/// it again, for twice as long each time, up to `maximumCooldown`.
public struct CircuitBreaker: Sendable, Hashable {
    public enum State: Sendable, Hashable {
        case closed(failuresInARow: Int)
        case open(until: ContinuousClock.Instant, cooldown: Duration)
        /// A probe is in flight; nothing else goes until it is answered.
        case halfOpen(cooldown: Duration)
    }

    public let threshold: Int
    public let cooldown: Duration
    public let maximumCooldown: Duration
    public private(set) var state: State = .closed(failuresInARow: 0)

    public init(threshold: Int = 5, cooldown: Duration = .seconds(10), maximumCooldown: Duration = .seconds(300)) {
        self.threshold = max(1, threshold)
        self.cooldown = cooldown
        self.maximumCooldown = max(cooldown, maximumCooldown)
    }

    /// Whether a delivery may go now; when the cool-down is over, the one that asks first becomes
    /// the probe.
    public mutating func mayDeliver(now: ContinuousClock.Instant) -> Bool {
        switch state {
        case .closed: return true
        case .halfOpen: return false
        case .open(let until, let cooldown):
            guard now >= until else { return false }
            state = .halfOpen(cooldown: cooldown)
            return true
        }
    }

    /// Records how a delivery that was let through ended.
    public mutating func record(success: Bool, now: ContinuousClock.Instant) {
        switch (state, success) {
        case (_, true):
            state = .closed(failuresInARow: 0)
        case (.closed(let failures), false):
            state = failures + 1 >= threshold ? .open(until: now + cooldown, cooldown: cooldown) : .closed(failuresInARow: failures + 1)
        case (.halfOpen(let last), false):
            let next = min(last * 2, maximumCooldown)
            state = .open(until: now + next, cooldown: next)
        case (.open, false):
            // A delivery that went before the circuit opened, answered late: it stays open.
            break
        }
    }

    /// True while deliveries are held back (open, or waiting for a probe).
    public var isOpen: Bool {
        if case .closed = state { false } else { true }
    }
}
