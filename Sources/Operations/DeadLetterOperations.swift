import EventQueue
import Foundation
import Hiredis

/// Listing, showing, replaying and purging dead letters: what `cio-relay dead-letters …` and the
/// console's dead-letter pages do, with typed results that each renders its own way.
public struct DeadLetterOperations<Store: DeadLetterStore>: Sendable {
    public let store: Store
    /// Dead letters read per request when going through all of them.
    public static var pageSize: Int { 1000 }

    public init(store: Store) {
        self.store = store
    }

    /// Dead letters from `start`, at most `limit`.
    public func page(from start: String = "-", limit: Int) async throws(RedisError) -> DeadLetterPage {
        let letters = try await store.deadLetters(from: start, count: limit)
        let total = try await store.deadLetterCount()
        let next = letters.count == limit ? letters.last.map { "(" + $0.id } : nil
        return DeadLetterPage(letters: letters, total: total, stream: store.deadLetterStreamName, next: next)
    }

    /// One dead letter, or a failure naming what was not found.
    public func letter(id: String) async throws -> DeadLetter {
        guard let letter = try await store.deadLetter(id: id) else {
            throw OperationFailure("no dead letter \(id) in \(store.deadLetterStreamName)", status: .failure)
        }
        return letter
    }

    /// Every replayable dead letter (of `reason`, and of the consumer group `group`, when given),
    /// read a page at a time.
    public func replayable(reason: String? = nil, group: String? = nil) async throws(RedisError) -> [DeadLetter] {
        var found: [DeadLetter] = []
        var start = "-"
        while true {
            let page = try await store.deadLetters(from: start, count: Self.pageSize)
            found += page.filter { $0.isReplayable && (reason == nil || $0.reason == reason) && (group == nil || $0.group == group) }
            guard page.count == Self.pageSize, let last = page.last else { return found }
            start = "(" + last.id
        }
    }

    /// Replays the dead letters named.
    public func replay(ids: [String]) async throws(RedisError) -> DeadLetterReplay {
        var outcomes: [(id: String, outcome: ReplayOutcome)] = []
        for id in ids {
            outcomes.append((id, try await store.replay(deadLetterID: id)))
        }
        return DeadLetterReplay(outcomes: outcomes, stream: store.eventsStreamName)
    }

    /// Replays every replayable dead letter, or those of `reason` and/or `group` (a forwarding
    /// destination's dead letters: `forward:<name>`).
    public func replayAll(reason: String? = nil, group: String? = nil) async throws(RedisError) -> DeadLetterReplay {
        try await replay(ids: try await replayable(reason: reason, group: group).map(\.id))
    }

    /// Deletes every dead letter; answers how many there were.
    public func purge() async throws(RedisError) -> Int {
        try await store.purgeDeadLetters()
    }

    /// How many dead letters there are.
    public func count() async throws(RedisError) -> Int {
        try await store.deadLetterCount()
    }
}

/// One page of dead letters, and where the next one starts.
public struct DeadLetterPage: Sendable {
    public let letters: [DeadLetter]
    /// Dead letters in all.
    public let total: Int
    public let stream: String
    /// The `from` of the next page, when the page was full.
    public let next: String?
}

/// What a replay did to each dead letter it was given.
public struct DeadLetterReplay: Sendable {
    public let outcomes: [(id: String, outcome: ReplayOutcome)]
    /// Where replayed events went.
    public let stream: String
    public var replayed: Int {
        outcomes.count { if case .replayed = $0.outcome { true } else { false } }
    }
}

extension DeadLetter {
    /// The body as pretty-printed JSON with sorted keys, or as stored when it is not JSON.
    public var prettyBody: String {
        let body = event.body
        return (try? JSONSerialization.jsonObject(with: Data(body), options: [.fragmentsAllowed]))
            .flatMap {
                try? JSONSerialization.data(withJSONObject: $0, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes, .fragmentsAllowed])
            }
            .map { String(decoding: $0, as: UTF8.self) } ?? String(decoding: body, as: UTF8.self)
    }

    /// The `event_id` of the body, when it is a JSON object that has one.
    public var eventID: String? {
        (try? JSONSerialization.jsonObject(with: Data(event.body)) as? [String: Any])?["event_id"] as? String
    }
}
