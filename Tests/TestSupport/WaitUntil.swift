/// Polls `condition` every `interval` until it holds; throws, naming `what`, when `timeout` passes
/// first. For states that real servers reach on their own time (a replica attached, a client
/// blocked, a lock waited on).
public func waitUntil(
    _ what: String, timeout: Duration = .seconds(10), every interval: Duration = .milliseconds(100), _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while try await !condition() {
        guard ContinuousClock.now < deadline else { throw TestSetupError("not within \(timeout): \(what)") }
        try await Task.sleep(for: interval)
    }
}
