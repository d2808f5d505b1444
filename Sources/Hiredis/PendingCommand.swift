import Synchronization

/// A command waiting for its reply. Whoever completes it first wins: the connection thread with the
/// reply, or the caller's cancellation; later completions are ignored. That lets a caller give up
/// (timeout, cancellation) while the connection thread still reads the reply in order.
final class PendingCommand: Sendable {
    let command: RedisCommand
    /// False for a command that must follow its preamble (`ASKING`) directly: it is never merged
    /// into another call (`PipelinePlan`).
    let mayMerge: Bool

    private enum State {
        case created
        case waiting(CheckedContinuation<Result<RedisValue, RedisError>, Never>)
        case completed
    }
    private let state = Mutex<State>(.created)

    init(_ command: RedisCommand, mayMerge: Bool = true) {
        self.command = command
        self.mayMerge = mayMerge
    }

    /// Attaches the caller's continuation; returns false (and resumes it with `.cancelled`) when the
    /// command was completed before, which only cancellation can do.
    func attach(_ continuation: CheckedContinuation<Result<RedisValue, RedisError>, Never>) -> Bool {
        let attached = state.withLock { state -> Bool in
            guard case .created = state else { return false }
            state = .waiting(continuation)
            return true
        }
        if !attached {
            continuation.resume(returning: .failure(RedisError(.cancelled, "cancelled before it was sent")))
        }
        return attached
    }

    func complete(_ result: Result<RedisValue, RedisError>) {
        let continuation = state.withLock { state -> CheckedContinuation<Result<RedisValue, RedisError>, Never>? in
            switch state {
            case .created:
                state = .completed
                return nil
            case .waiting(let continuation):
                state = .completed
                return continuation
            case .completed:
                return nil
            }
        }
        continuation?.resume(returning: result)
    }

    var isCompleted: Bool {
        state.withLock { state in
            if case .completed = state { return true }
            return false
        }
    }
}
