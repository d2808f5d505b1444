import Hiredis

/// What reading and managing dead letters needs of a queue: `EventQueue` against Redis, or an
/// in-memory store in tests (TestSupport's `InMemoryDeadLetterStore`).
public protocol DeadLetterStore: Sendable {
    /// The dead-letter stream's name as operators see it (the first partition's key, `…{P}` with
    /// several partitions).
    var deadLetterStreamName: String { get }
    /// The events stream's name, where replays go.
    var eventsStreamName: String { get }
    /// Dead letters from `start` (an id, `(id` to start after it, or `-`), at most `count`, in order.
    func deadLetters(from start: String, count: Int) async throws(RedisError) -> [DeadLetter]
    func deadLetterCount() async throws(RedisError) -> Int
    func deadLetter(id: String) async throws(RedisError) -> DeadLetter?
    /// Puts a dead letter back on the events stream.
    func replay(deadLetterID id: String) async throws(RedisError) -> ReplayOutcome
    /// Deletes every dead letter; answers how many there were.
    func purgeDeadLetters() async throws(RedisError) -> Int
}

extension EventQueue: DeadLetterStore {
    public var deadLetterStreamName: String { layout.deadName }
    public var eventsStreamName: String { layout.eventsName }
}
