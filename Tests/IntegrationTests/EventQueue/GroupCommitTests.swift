import CustomerIO
import EventQueue
import Hiredis
import Synchronization
import TestSupport
import Testing

/// Events queued together on one connection go to Redis as one script call (group commit). Each
/// test holds the connection with a `BLPOP` while it queues the events, releases it from another
/// connection once every event is queued, so that they are all waiting when the connection takes
/// its next batch, and reads `INFO commandstats` to see how many script calls carried them.
@Suite("Group commit against real Redis")
struct GroupCommitTests {
    private static func event(_ id: String) -> IncomingEvent {
        IncomingEvent(
            eventID: id, body: Fixtures.event(id: id), workspace: "default", receivedAt: 1_767_235_000_123, objectType: "email", metric: "bounced")
    }

    private static func malformed(_ text: String) -> RejectedBody {
        let body = Array(text.utf8)
        return RejectedBody(
            body: body, digest: body.withUnsafeBytes { PayloadDigest.sha256Hex($0) }, workspace: "default", receivedAt: 1_767_235_000_123,
            reason: .malformed, error: "not JSON")
    }

    /// Runs each of `operations` at once while the connection (pool of one) is held, and answers
    /// their results in the same order. The hold ends 100 ms after the last operation started:
    /// an operation queues its command right after it starts, so on a loaded machine it is the
    /// start that lags (a hold for a fixed time split a batch in CI).
    private static func together<T: Sendable>(
        on client: RedisClient, _ operations: [@Sendable () async throws -> T]
    ) async throws -> [Result<T, any Error>] {
        let releaser = try RedisClient(configuration: client.configuration)
        // Within the clients' command timeout (3 s): a hold that long means the test machine stalled.
        let hold = Task { try await client.send("BLPOP", RedisArgument(key: "group-commit-hold"), "2") }
        let started = StartCount()
        let results = try await withShutdown(releaser) { releaser in
            // The held connection's `BLPOP` goes first.
            try await waitUntil("the holding BLPOP blocks", timeout: .seconds(2), every: .milliseconds(10)) {
                try await releaser.send("INFO", "clients").string?.contains("blocked_clients:1") == true
            }
            return try await withThrowingTaskGroup(of: (Int, Result<T, any Error>)?.self) { group in
                for (index, operation) in operations.enumerated() {
                    group.addTask {
                        started.add()
                        do { return (index, .success(try await operation())) } catch { return (index, .failure(error)) }
                    }
                }
                group.addTask {
                    while started.count < operations.count { try await Task.sleep(for: .milliseconds(10)) }
                    try await Task.sleep(for: .milliseconds(100))
                    _ = try await releaser.send("LPUSH", RedisArgument(key: "group-commit-hold"), "go")
                    return nil
                }
                var results: [(Int, Result<T, any Error>)] = []
                for try await result in group { if let result { results.append(result) } }
                return results.sorted { $0.0 < $1.0 }.map(\.1)
            }
        }
        _ = try await hold.value
        return results
    }

    /// How many of a batch's operations have started.
    private final class StartCount: Sendable {
        private let value = Mutex(0)
        var count: Int { value.withLock { $0 } }
        func add() { value.withLock { $0 += 1 } }
    }

    /// Script calls Redis ran (`EVALSHA` and `EVAL`) since the last `CONFIG RESETSTAT`.
    private static func scriptCalls(_ client: RedisClient) async throws -> Int {
        let info = try await client.send("INFO", "commandstats").string ?? ""
        var calls = 0
        for line in info.split(whereSeparator: \.isNewline) where line.hasPrefix("cmdstat_evalsha:") || line.hasPrefix("cmdstat_eval:") {
            if let field = line.split(separator: ",").first, let value = field.split(separator: "=").last, let count = Int(value) {
                calls += count
            }
        }
        return calls
    }

    @Test func aBatchMixingNewDuplicateAndMalformedEventsAnswersEachFromItsOwnVerdict() async throws {
        let server = try await RedisServerProcess.started()  // of its own: the test counts every script call it runs
        let client = try Self.client(of: server)
        let queue = EventQueue(client: client, configuration: EventQueueConfiguration(prefix: "gc"))
        try await withShutdown(queue) { queue in
            let earlier = Self.event(Fixtures.newEventID())
            guard case .accepted = try await queue.enqueue(earlier) else { throw TestSetupError("the first event must be accepted") }
            let fresh = (0..<3).map { _ in Self.event(Fixtures.newEventID()) }
            let twice = Self.event(Fixtures.newEventID())
            let junk = Self.malformed("{not json \(Fixtures.newEventID())")
            _ = try await client.send("CONFIG", "RESETSTAT")
            let batch: [IncomingEvent] = fresh + [earlier, twice, twice]
            var operations: [@Sendable () async throws -> EnqueueOutcome] = batch.map { event in { try await queue.enqueue(event) } }
            operations += [{ try await queue.deadLetter(junk) }, { try await queue.deadLetter(junk) }]
            let outcomes = try await Self.together(on: client, operations).map { try $0.get() }

            // Two calls: one for the six events, one for the two dead letters (another stream).
            #expect(try await Self.scriptCalls(client) == 2)
            let entries = try await queue.entries(of: queue.keys.events, count: 100)
            for (index, event) in fresh.enumerated() {
                guard case .accepted(let id) = outcomes[index] else {
                    Issue.record("a new event in the batch must be accepted, got \(outcomes[index])")
                    continue
                }
                #expect(entries.first { $0.id == id }?.fields["body"] == event.body, "the entry id answered is the event's own entry")
                let marker = try await client.send("GET", RedisArgument(key: queue.keys.seen(eventID: event.eventID)))
                #expect(marker.string == id, "the marker names its entry")
            }
            #expect(outcomes[3] == .duplicate, "an event seen in an earlier call is a duplicate")
            // The same event twice in one call: the first copy is queued, the second finds its marker.
            #expect(outcomes[4] != .duplicate && outcomes[5] == .duplicate)
            #expect(outcomes[6] != .duplicate && outcomes[7] == .duplicate)
            #expect(entries.count == 1 + fresh.count + 1)
            #expect(try await queue.length(of: queue.keys.dead) == 1)
        }
        await server.stopped()
    }

    @Test func anAppendThatFailsFailsOnlyItsOwnEvent() async throws {
        let server = try await RedisServerProcess.started()
        let client = try Self.client(of: server)
        let good = EventQueue(client: client, configuration: EventQueueConfiguration(prefix: "gc"))
        try await withShutdown(good) { queue in
            _ = try await queue.enqueue(Self.event(Fixtures.newEventID()))  // loads the script
            // Dead letters go to another stream, which holds a string: their XADD fails inside the
            // call, while events in a call beside it succeed.
            _ = try await client.send("SET", RedisArgument(key: queue.keys.dead), "not a stream")
            _ = try await client.send("CONFIG", "RESETSTAT")
            let events = (0..<4).map { _ in Self.event(Fixtures.newEventID()) }
            let junk = (0..<3).map { Self.malformed("{broken \($0) \(Fixtures.newEventID())") }
            var operations: [@Sendable () async throws -> EnqueueOutcome] = events.map { event in
                { try await queue.enqueue(event) }
            }
            operations += junk.map { body in { try await queue.deadLetter(body) } }
            let results = try await Self.together(on: client, operations)
            #expect(try await Self.scriptCalls(client) == 2)
            #expect(results[..<4].allSatisfy { if case .success(.accepted) = $0 { true } else { false } })
            for result in results[4...] {
                guard case .failure(let failure) = result, let error = failure as? RedisError else {
                    Issue.record("an append that failed must fail its event with a RedisError")
                    continue
                }
                #expect(error.code == .serverError && error.message.hasPrefix("WRONGTYPE"))
            }
            // No marker for a failed append: the retry is queued, not taken for a duplicate.
            for body in junk {
                #expect(try await client.send("EXISTS", RedisArgument(key: queue.keys.seen(malformedBodyDigest: body.digest))) == .integer(0))
            }
        }
        await server.stopped()
    }

    @Test func aBatchCutByARedisFailureAnswersAcceptedOnlyWhatRedisConfirmed() async throws {
        // Redis drops a client whose unread replies exceed the output-buffer limit, after running
        // the commands that produced them: the calls of the batch are written, or some of them,
        // and the connection closes before their replies arrive.
        let server = try await RedisServerProcess.started()
        let admin = try RedisClient(configuration: try RedisConfiguration(url: server.url))
        let client = try Self.client(of: server)
        let queue = EventQueue(client: client, configuration: EventQueueConfiguration(prefix: "gc"))
        try await withShutdown(admin) { admin in
            try await withShutdown(queue) { queue in
                _ = try await queue.enqueue(Self.event(Fixtures.newEventID()))
                // 1,000 entry ids are about 22 KB of replies: past Redis' 16 KB reply buffer.
                _ = try await admin.send("CONFIG", "SET", "client-output-buffer-limit", "normal 1024 1024 0")
                let events = (0..<1_000).map { _ in Self.event(Fixtures.newEventID()) }
                let results = try await Self.together(on: client, events.map { event in { try await queue.enqueue(event) } })
                _ = try await admin.send("CONFIG", "SET", "client-output-buffer-limit", "normal 0 0 0")

                var queued: [String: [UInt8]] = [:]
                for entry in try await Self.allEntries(of: queue) { queued[entry.id] = entry.fields["body"] }
                var failed: [IncomingEvent] = []
                for (event, result) in zip(events, results) {
                    switch result {
                    case .success(.accepted(let id)):
                        #expect(queued[id] == event.body, "an event answered accepted is queued under the id answered")
                    case .success(.duplicate):
                        Issue.record("no event of the batch was seen before")
                    case .failure:
                        failed.append(event)
                    }
                }
                #expect(failed.count > 0, "the batch must have been cut (the limit closes the connection)")
                // Customer.io retries what failed: each is queued now or was already (duplicate).
                for event in failed {
                    _ = try await Self.retrying { try await queue.enqueue(event) }
                }
                let after = try await Self.allEntries(of: queue)
                var counts: [[UInt8]: Int] = [:]
                for entry in after { counts[entry.fields["body"] ?? [], default: 0] += 1 }
                #expect(events.allSatisfy { counts[$0.body] == 1 }, "every event queued exactly once after the retries")
            }
        }
        await server.stopped()
    }

    @Test func withMinReplicasABatchIsAcknowledgedOnlyOnceTheReplicaHasIt() async throws {
        let primary = try await RedisServerProcess.started(arguments: ["--repl-diskless-sync-delay", "0"])
        var configuration = try RedisConfiguration(url: primary.url)
        configuration.poolSize = 1
        configuration.minReplicas = 1
        configuration.replicaTimeout = .seconds(1)
        configuration.commandTimeout = .seconds(3)
        let client = try RedisClient(configuration: configuration)
        let queue = EventQueue(client: client, configuration: EventQueueConfiguration(prefix: "gc"))
        let replica = try await RedisServerProcess.started(arguments: ["--replicaof", "127.0.0.1", String(primary.port)])
        try await withShutdown(queue) { queue in
            try await waitUntil("the replica attaches") { try await client.send("INFO", "replication").string?.contains("state=online") == true }
            _ = try await queue.enqueue(Self.event(Fixtures.newEventID()))
            _ = try await client.send("CONFIG", "RESETSTAT")
            let confirmed = try await Self.together(
                on: client, (0..<50).map { _ in Self.event(Fixtures.newEventID()) }.map { event in { try await queue.enqueue(event) } })
            #expect(try await Self.scriptCalls(client) == 1)
            #expect(confirmed.allSatisfy { if case .success(.accepted) = $0 { true } else { false } })

            // Without the replica, WAIT falls short: every event of the batch fails, though stored.
            await replica.stopped()
            try await waitUntil("the primary stops counting its replica") {
                try await client.send("INFO", "replication").string?.contains("connected_slaves:0") == true
            }
            let before = try await queue.length(of: queue.keys.events)
            let unconfirmed = try await Self.together(
                on: client, (0..<50).map { _ in Self.event(Fixtures.newEventID()) }.map { event in { try await queue.enqueue(event) } })
            for result in unconfirmed {
                guard case .failure(let failure) = result, let error = failure as? RedisError else {
                    Issue.record("an event no replica confirmed must not be acknowledged")
                    continue
                }
                #expect(error.code == .replicationShortfall)
            }
            #expect(try await queue.length(of: queue.keys.events) == before + 50)
        }
        await primary.stopped()
    }

    /// A client with one connection, so that everything queued at once shares its next batch.
    private static func client(of server: RedisServerProcess) throws -> RedisClient {
        var configuration = try RedisConfiguration(url: server.url)
        configuration.poolSize = 1
        configuration.commandTimeout = .seconds(3)
        return try RedisClient(configuration: configuration)
    }

    private static func allEntries(of queue: EventQueue) async throws -> [StreamEntry] {
        var entries: [StreamEntry] = []
        var start = "-"
        while true {
            let page = try await queue.entries(of: queue.keys.events, from: start, count: 500)
            entries += page.filter { $0.id != start }
            guard page.count == 500, let last = page.last else { return entries }
            start = last.id
        }
    }

    /// Retries while the connection comes back (its reconnect backoff fails calls fast meanwhile).
    private static func retrying(_ operation: () async throws -> EnqueueOutcome) async throws -> EnqueueOutcome {
        for _ in 0..<50 {
            do { return try await operation() } catch { try await Task.sleep(for: .milliseconds(50)) }
        }
        throw TestSetupError("the enqueue kept failing for 2.5 s after the cut")
    }
}
