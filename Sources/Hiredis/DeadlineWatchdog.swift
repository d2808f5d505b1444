import Foundation

/// Fails commands that have waited longer than the command timeout, whatever the connection thread
/// is doing. The thread may sit in a socket read for a whole timeout on a hung server, and commands
/// queued behind that batch would otherwise wait twice as long; with the watchdog every call
/// answers within the timeout of being sent, which is what lets the receiver promise an answer well
/// inside Customer.io's 4 seconds.
///
/// All commands of a connection share one timeout, so deadlines arrive in order and a FIFO is enough.
final class DeadlineWatchdog: @unchecked Sendable {
    private let timeout: Duration
    // Everything below is guarded by `condition`.
    private let condition = NSCondition()
    private var entries: [(deadline: ContinuousClock.Instant, command: PendingCommand)] = []
    private var head = 0
    private var running = true

    /// How often finished commands are dropped from the FIFO even when nothing expires.
    private static let sweepInterval: Duration = .milliseconds(50)

    init(timeout: Duration) {
        self.timeout = timeout
    }

    /// Starts watching a command that is about to be queued.
    func watch(_ command: PendingCommand) {
        condition.lock()
        entries.append((ContinuousClock.now + timeout, command))
        if entries.count - head == 1 { condition.signal() }
        condition.unlock()
    }

    func stop() {
        condition.lock()
        running = false
        condition.signal()
        condition.unlock()
    }

    /// The watchdog thread's loop; returns after `stop`.
    func run() {
        condition.lock()
        while running {
            let now = ContinuousClock.now
            var expired: [PendingCommand] = []
            while head < entries.count {
                let entry = entries[head]
                if entry.command.isCompleted {
                    head += 1
                } else if entry.deadline <= now {
                    expired.append(entry.command)
                    head += 1
                } else {
                    break
                }
            }
            if head > 1024 && head * 2 > entries.count {
                entries.removeFirst(head)
                head = 0
            }
            if !expired.isEmpty {
                condition.unlock()
                let error = RedisError(.timeout, "no reply within \(timeout)")
                for command in expired { command.complete(.failure(error)) }
                condition.lock()
                continue
            }
            if head == entries.count {
                condition.wait()
            } else {
                let wait = min(entries[head].deadline - now, Self.sweepInterval)
                _ = condition.wait(until: Date(timeIntervalSinceNow: Double(wait.components.seconds) + Double(wait.components.attoseconds) / 1e18))
            }
        }
        condition.unlock()
    }
}
