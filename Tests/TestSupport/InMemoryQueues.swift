import EventQueue
import Hiredis
import Synchronization

/// An intake queue in memory, for the receiver's unit tests: events deduplicated by `event_id`,
/// bodies kept once per digest, and a switch that makes every call fail as Redis would when down.
public final class InMemoryIntakeQueue: IntakeQueue {
    private struct State {
        var events: [IncomingEvent] = []
        var rejected: [RejectedBody] = []
        var seen: Set<String> = []
        var unavailable = false
    }

    private let state = Mutex(State())

    public init() {}

    /// Events stored, in order.
    public var events: [IncomingEvent] { state.withLock { $0.events } }
    /// Bodies kept as dead letters, in order.
    public var rejected: [RejectedBody] { state.withLock { $0.rejected } }

    /// While true, every call fails with a connection error.
    public func setUnavailable(_ unavailable: Bool) {
        state.withLock { $0.unavailable = unavailable }
    }

    public func enqueue(_ event: IncomingEvent) async throws(RedisError) -> EnqueueOutcome {
        try store(key: "event:" + event.eventID) {
            $0.events.append(event)
            return $0.events.count
        }
    }

    public func deadLetter(_ rejected: RejectedBody) async throws(RedisError) -> EnqueueOutcome {
        try store(key: "body:" + rejected.digest) {
            $0.rejected.append(rejected)
            return $0.rejected.count
        }
    }

    private func store(key: String, _ append: (inout State) -> Int) throws(RedisError) -> EnqueueOutcome {
        let outcome: EnqueueOutcome? = state.withLock { state in
            guard !state.unavailable else { return nil }
            guard state.seen.insert(key).inserted else { return .duplicate }
            return .accepted(entryID: "\(append(&state))-0")
        }
        guard let outcome else { throw RedisError(.connectionFailed, "the in-memory queue is set unavailable") }
        return outcome
    }
}

/// Dead letters in memory, for the unit tests of what reads and replays them. Ids are `N-0`, in
/// order; a replay moves a letter's event to `replayed`.
public final class InMemoryDeadLetterStore: DeadLetterStore {
    private struct State {
        var letters: [DeadLetter] = []
        var replayed: [QueuedEvent] = []
    }

    private let state: Mutex<State>
    public let deadLetterStreamName = "memory:dead"
    public let eventsStreamName = "memory:events"

    /// A store holding `letters`, whose ids must be `N-0` in increasing order.
    public init(_ letters: [DeadLetter] = []) {
        state = Mutex(State(letters: letters))
    }

    /// `count` dead letters with ids `1-0` … `count-0`; `reason(n)` gives each one's reason.
    public convenience init(count: Int, reason: (Int) -> DeadLetterReason) {
        self.init(
            (0..<count).map { $0 + 1 }.map { number in
                DeadLetter(
                    address: EntryAddress(partition: 0, streamID: "\(number)-0", qualified: false),
                    event: QueuedEvent(
                        body: Array(#"{"event_id":"e\#(number)"}"#.utf8), workspace: "default", receivedAt: 1_000, objectType: "email",
                        metric: "bounced"),
                    reason: reason(number), error: "HTTP 400 for person\(number)@example.com", attempts: 3, failedAt: 2_000)
            })
    }

    /// Events put back by replays, in order.
    public var replayed: [QueuedEvent] { state.withLock { $0.replayed } }

    public func deadLetters(from start: String, count: Int) async throws(RedisError) -> [DeadLetter] {
        let exclusive = start.hasPrefix("(")
        let bound = start == "-" ? nil : StreamID(exclusive ? String(start.dropFirst()) : start)
        return state.withLock { state in
            Array(
                state.letters.filter { letter in
                    guard let bound, let id = StreamID(letter.id) else { return true }
                    return exclusive ? id > bound : id >= bound
                }.prefix(count))
        }
    }

    public func deadLetterCount() async throws(RedisError) -> Int {
        state.withLock { $0.letters.count }
    }

    public func deadLetter(id: String) async throws(RedisError) -> DeadLetter? {
        state.withLock { $0.letters.first { $0.id == id } }
    }

    public func replay(deadLetterID id: String) async throws(RedisError) -> ReplayOutcome {
        state.withLock { state in
            guard let index = state.letters.firstIndex(where: { $0.id == id }) else { return .notFound }
            guard state.letters[index].isReplayable else { return .notReplayable }
            state.replayed.append(state.letters.remove(at: index).event)
            return .replayed(entryID: "\(state.replayed.count)-1")
        }
    }

    public func purgeDeadLetters() async throws(RedisError) -> Int {
        state.withLock { state in
            defer { state.letters = [] }
            return state.letters.count
        }
    }
}
