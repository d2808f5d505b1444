/// Runs `operation`, failing with `timeout` if it has not finished after `timeout`.
///
/// The operation is cancelled when time runs out; the Redis client answers cancellation at once, so
/// this returns promptly even while a connection thread is still waiting on a hung server.
public func withRedisTimeout<Value: Sendable>(
    _ timeout: Duration,
    _ operation: @escaping @Sendable () async throws(RedisError) -> Value
) async throws(RedisError) -> Value {
    let result = await withTaskGroup(of: Result<Value, RedisError>?.self) { group in
        group.addTask {
            do throws(RedisError) {
                return .success(try await operation())
            } catch {
                return .failure(error)
            }
        }
        group.addTask {
            // A cancelled sleep means the operation finished first.
            try? await Task.sleep(for: timeout)
            return Task.isCancelled ? nil : .failure(RedisError(.timeout, "Redis did not answer within \(timeout)"))
        }
        var outcome: Result<Value, RedisError>?
        while outcome == nil, let next = await group.next() {
            outcome = next
        }
        group.cancelAll()
        return outcome
    }
    switch result {
    case .success(let value): return value
    case .failure(let error): throw error
    case nil: throw RedisError(.cancelled, "cancelled")
    }
}
