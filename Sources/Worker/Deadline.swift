import Synchronization

/// Runs `operation` and answers its value, or nil once `limit` has passed, without waiting for an
/// operation that never returns: it is cancelled and left behind. A warehouse call that hangs (the
/// chaos soak caught a PostgreSQL write that never returned after the server was stopped) must not
/// hold a batch, and with it the group, forever.
func withDeadline<T: Sendable>(_ limit: Duration, _ operation: @escaping @Sendable () async -> T) async -> T? {
    let race = DeadlineRace<T>()
    return await withCheckedContinuation { continuation in
        race.waiting.withLock { $0 = continuation }
        let work = Task {
            let value = await operation()
            race.timer.withLock { $0 }?.cancel()
            race.finish(with: value)
        }
        let expiry = Task {
            try? await Task.sleep(for: limit)
            guard !Task.isCancelled else { return }
            work.cancel()
            race.finish(with: nil)
        }
        race.timer.withLock { $0 = expiry }
    }
}

/// Who answers first, the operation or the clock: the continuation is resumed once.
private final class DeadlineRace<T: Sendable>: Sendable {
    let waiting = Mutex<CheckedContinuation<T?, Never>?>(nil)
    let timer = Mutex<Task<Void, Never>?>(nil)

    func finish(with value: T?) {
        waiting.withLock { $0.take() }?.resume(returning: value)
    }
}
