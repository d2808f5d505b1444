import Synchronization

/// Runs `body` and answers what it returns, or nil when it has not returned within `timeout`.
/// A body still running then is cancelled and left behind, not waited for: a task group would
/// wait for a child that does not honour cancellation (a connection pool retrying a handshake)
/// for ever, and hang the whole test run.
public func result<T: Sendable>(within timeout: Duration, _ body: @escaping @Sendable () async -> T) async -> T? {
    let race = FirstAnswer<T>()
    let answer = await withCheckedContinuation { continuation in
        race.start(
            continuation,
            tasks: [
                Task { race.finish(await body()) },
                Task {
                    try? await Task.sleep(for: timeout)
                    race.finish(nil)
                },
            ])
    }
    race.cancelAll()
    return answer
}

/// The first of several tasks to answer resumes the waiter; the others are ignored.
private final class FirstAnswer<T: Sendable>: Sendable {
    private struct State {
        var waiter: CheckedContinuation<T?, Never>?
        var early: T??
        var tasks: [Task<Void, Never>] = []
    }

    private let state = Mutex(State())

    func start(_ waiter: CheckedContinuation<T?, Never>, tasks: [Task<Void, Never>]) {
        let early: T?? = state.withLock { state in
            state.tasks = tasks
            guard let early = state.early else {
                state.waiter = waiter
                return nil
            }
            return early
        }
        if let early { waiter.resume(returning: early) }
    }

    func finish(_ value: T?) {
        let waiter: CheckedContinuation<T?, Never>? = state.withLock { state in
            guard state.early == nil else { return nil }
            state.early = .some(value)
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: value)
    }

    func cancelAll() {
        state.withLock { $0.tasks }.forEach { $0.cancel() }
    }
}
