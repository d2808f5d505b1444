import Hiredis

/// What the webhook receiver needs of a queue: store an event once, keep a genuine but unusable
/// body. `EventQueue` against Redis; TestSupport's `InMemoryIntakeQueue` in unit tests.
public protocol IntakeQueue: Sendable {
    /// Queues an event unless its `event_id` was seen within the dedup TTL.
    func enqueue(_ event: IncomingEvent) async throws(RedisError) -> EnqueueOutcome
    /// Keeps a body on the dead-letter stream, once per distinct body.
    func deadLetter(_ rejected: RejectedBody) async throws(RedisError) -> EnqueueOutcome
}

extension EventQueue: IntakeQueue {}
