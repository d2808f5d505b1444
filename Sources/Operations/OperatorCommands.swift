import CustomerIO
import EventQueue
import Foundation
import Hiredis
import Logging
import Warehouse
import Worker

/// The operator commands behind `cio-relay dead-letters …`, `status`, `migrate` and `policy
/// check`: each runs its operation and renders the result as the text to print, so the
/// executable stays thin and the output is tested. The console renders the same results as HTML.
public enum OperatorCommands {
    /// `policy check FILE`: validates the file's `policy:` and describes the rules.
    public static func checkPolicy(path: String) throws(OperationFailure) -> String {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw OperationFailure("cannot read \(path): \(error.localizedDescription)", status: .noInput)
        }
        let policy: Policy
        do {
            policy = try PolicyParser.parse(yaml: text, source: path)
        } catch {
            throw OperationFailure("invalid policy: \(error)", status: .dataError)
        }
        var lines = ["\(path): policy OK, \(policy.rules.count) rule(s), first match wins:"]
        for rule in policy.rules {
            let types = rule.objectTypes.map { $0.sorted().joined(separator: ",") } ?? "*"
            let metrics = rule.metrics.map { $0.sorted().joined(separator: ",") } ?? "*"
            let actions = rule.actions.map { action -> String in
                switch action {
                case .suppress: return "suppress (deletes the profile)"
                case .espSuppress(let type): return "esp_suppress \(type.rawValue) (App API; keeps the profile)"
                case .identify(let attributes, let monotonic, let ifChanged):
                    return "identify(\(attributes.map(\.name).joined(separator: ", ")))" + (monotonic ? " monotonic" : "")
                        + (ifChanged.isEmpty ? "" : " if \(ifChanged.sorted().joined(separator: " or ")) changed")
                }
            }
            lines.append("  \(rule.name): \(types)/\(metrics) → \(actions.isEmpty ? "no action" : actions.joined(separator: "; then "))")
        }
        return lines.joined(separator: "\n")
    }

    /// `migrate`: brings the warehouse schema to the latest version.
    public static func migrate(_ location: WarehouseLocation, logger: Logger) async throws -> String {
        guard let sink = try location.makeSink(logger: logger) else {
            throw OperationFailure("WAREHOUSE_URL is none: there is no warehouse to migrate", status: .usage)
        }
        do {
            let applied = try await sink.withRunning { sink in try await sink.migrate() }
            guard !applied.isEmpty else { return "\(location): schema up to date" }
            return
                (["\(location): applied migration(s) \(applied.map(String.init).joined(separator: ", "))"]
                + applied.map { "  " + location.describeMigration($0) }).joined(separator: "\n")
        } catch let error as WarehouseError {
            throw OperationFailure("\(location): \(error.message)", status: error.code == .schemaTooNew ? .configuration : .unavailable)
        }
    }

    /// `dead-letters list`: one line per dead letter.
    public static func listDeadLetters(_ store: some DeadLetterStore, from start: String, limit: Int) async throws(RedisError) -> String {
        let page = try await DeadLetterOperations(store: store).page(from: start, limit: limit)
        guard !page.letters.isEmpty else { return "no dead letters in \(page.stream)" }
        var lines = [
            "\(page.total) dead letter(s) in \(page.stream); showing \(page.letters.count):", "ID\tREASON\tATTEMPTS\tWORKSPACE\tTYPE/METRIC\tERROR",
        ]
        for letter in page.letters {
            lines.append("\(letter.id)\t\(letter.reason)\t\(letter.attempts)\t\(letter.workspace)\t\(letter.event.kind)\t\(letter.error.prefix(120))")
        }
        if page.letters.count < page.total, let last = page.letters.last {
            lines.append("more: dead-letters list --from '(\(last.id)'")
        }
        return lines.joined(separator: "\n")
    }

    /// `dead-letters list --json`: the page as one JSON object (`total`, `stream`, `next`, and
    /// `letters`, each with its fields by meaning and its body as text), for scripts that check
    /// dead letters without knowing how the stream stores them.
    public static func listDeadLettersAsJSON(_ store: some DeadLetterStore, from start: String, limit: Int) async throws -> String {
        let page = try await DeadLetterOperations(store: store).page(from: start, limit: limit)
        return try snakeCaseJSON(DeadLetterListing(page))
    }

    /// `dead-letters show ID`: every field, the body as stored.
    public static func showDeadLetter(_ store: some DeadLetterStore, id: String) async throws -> String {
        let letter = try await DeadLetterOperations(store: store).letter(id: id)
        let fields = letter.details.map { "\($0.name): \($0.value)" }
        return (["id: \(letter.id)"] + fields + ["body: \(String(decoding: letter.event.body, as: UTF8.self))"]).joined(separator: "\n")
    }

    /// `dead-letters replay ID… | --all`: puts dead letters back on the events stream.
    /// `group` (with `all`) replays only the dead letters of that consumer group, such as one
    /// forwarding destination's (`forward:<name>`).
    public static func replayDeadLetters(_ store: some DeadLetterStore, ids: [String], all: Bool, group: String? = nil) async throws -> String {
        guard all != !ids.isEmpty else {
            throw OperationFailure("name the dead letters to replay, or --all (not both)", status: .usage)
        }
        guard group == nil || all else {
            throw OperationFailure("--group goes with --all: it chooses which dead letters --all replays", status: .usage)
        }
        let operations = DeadLetterOperations(store: store)
        let report = all ? try await operations.replayAll(group: group) : try await operations.replay(ids: ids)
        var lines = report.outcomes.map { id, outcome in
            switch outcome {
            case .replayed(let entryID): "\(id): replayed as \(entryID)"
            case .notFound: "\(id): no such dead letter"
            case .notReplayable: "\(id): kept: its body is not a valid event (reason malformed), replaying it cannot succeed"
            }
        }
        lines.append("\(report.replayed) of \(report.outcomes.count) replayed onto \(report.stream)")
        if !all && report.replayed < report.outcomes.count {
            throw OperationFailure(lines.joined(separator: "\n"), status: .failure)
        }
        return lines.joined(separator: "\n")
    }

    /// `dead-letters purge --yes`: deletes them all.
    public static func purgeDeadLetters(_ store: some DeadLetterStore, confirmed: Bool) async throws -> String {
        let operations = DeadLetterOperations(store: store)
        guard confirmed else {
            let count = try await operations.count()
            throw OperationFailure(
                "this deletes all \(count) dead letter(s) in \(store.deadLetterStreamName) for good: add --yes to confirm", status: .usage)
        }
        return "purged \(try await operations.purge()) dead letter(s) from \(store.deadLetterStreamName)"
    }

    /// What `status` found: the text to print, and the thresholds that were exceeded.
    public struct StatusReport: Sendable {
        public let text: String
        public let exceeded: [String]
    }

    /// `status [--json] [--max-lag N] [--max-age SECONDS]`: stream, groups, consumers, dead letters,
    /// dedup keys and Redis memory; a threshold exceeded by any group is reported in `exceeded`.
    /// A configured group (`groups`) missing from Redis counts as lagging by the whole stream.
    public static func status(_ queue: EventQueue, groups: [String], json: Bool, maxLag: Int?, maxAge: Double?, nowMilliseconds: Int64) async throws
        -> StatusReport
    {
        let status = try await queue.status(nowMilliseconds: nowMilliseconds, expectedGroups: groups)
        var exceeded: [String] = []
        for group in status.groups {
            if let maxLag, group.lag > maxLag {
                exceeded.append("group \(group.name): lag \(group.lag) > --max-lag \(maxLag)")
            }
            if let maxAge, let age = group.oldestUnprocessedAgeSeconds, age > maxAge {
                exceeded.append(
                    "group \(group.name): oldest unprocessed event \(Readable.duration(seconds: age)) old > --max-age \(Readable.duration(seconds: maxAge))"
                )
            }
        }
        if json {
            return StatusReport(text: try snakeCaseJSON(status), exceeded: exceeded)
        }
        let memoryLimit = status.redisMaxMemoryBytes > 0 ? "of maxmemory \(Readable.bytes(status.redisMaxMemoryBytes))" : "(no maxmemory set)"
        let primaries = status.redisPrimaries > 1 ? " over \(status.redisPrimaries) primaries" : ""
        var lines = [
            "stream \(status.stream): \(status.streamLength) entries",
            "dead letters \(status.deadLetterStream): \(status.deadLetters)",
            "dedup keys: \(status.dedupKeysExact ? "" : "~")\(status.dedupKeys)\(status.dedupKeysExact ? "" : " (estimated from \(EventQueue.dedupSamples) random keys per primary)")",
            "redis memory: \(Readable.bytes(status.redisUsedMemoryBytes)) used \(memoryLimit)\(primaries)",
            "redis replicas (CIO_RELAY_REDIS_MIN_REPLICAS=\(status.minReplicas)): "
                + status.replicas.map { primary in
                    let short = status.primariesBelowMinimum.contains(primary) ? " BELOW THE MINIMUM: its events are answered 503" : ""
                    return "\(primary.primary) has \(primary.connectedReplicas)\(short)"
                }.joined(separator: ", "),
        ]
        if status.partitions.count > 1 {
            for partition in status.partitions {
                lines.append(
                    "  partition \(partition.partition) \(partition.stream): \(partition.streamLength) entries, \(partition.deadLetters) dead letter(s)"
                )
            }
        }
        if status.groups.isEmpty {
            lines.append("no consumer groups yet: no role has started")
        }
        for group in status.groups {
            if group.missing {
                lines.append(
                    "group \(group.name): MISSING (configured, not in Redis: no role has started since the stream was made), lag \(group.lag)")
                continue
            }
            let age = group.oldestUnprocessedAgeSeconds.map { Readable.duration(seconds: $0) } ?? "none (caught up)"
            lines.append(
                "group \(group.name): lag \(group.lag), pending \(group.pending), oldest unprocessed \(age), \(group.consumers.count) consumer(s)")
            if group.partitions.count > 1 {
                for partition in group.partitions {
                    let partitionAge = partition.oldestUnprocessedAgeSeconds.map { Readable.duration(seconds: $0) } ?? "none"
                    lines.append(
                        "  partition \(partition.partition): lag \(partition.lag), pending \(partition.pending), oldest unprocessed \(partitionAge)")
                }
            }
            for consumer in group.consumers {
                lines.append("  consumer \(consumer.name): pending \(consumer.pending), idle \(Readable.duration(seconds: consumer.idleSeconds))")
            }
        }
        return StatusReport(text: lines.joined(separator: "\n"), exceeded: exceeded)
    }
}

/// A page of dead letters as `dead-letters list --json` prints it.
struct DeadLetterListing: Encodable {
    struct Letter: Encodable {
        let id: String
        let reason: String
        let error: String
        let attempts: Int
        let group: String?
        let entryID: String?
        let failedAt: Int64?
        let workspace: String
        let receivedAt: Int64?
        let objectType: String?
        let metric: String?
        let eventID: String?
        let body: String
    }

    let total: Int
    let stream: String
    let next: String?
    let letters: [Letter]

    init(_ page: DeadLetterPage) {
        total = page.total
        stream = page.stream
        next = page.next
        letters = page.letters.map { letter in
            Letter(
                id: letter.id, reason: letter.reason, error: letter.error, attempts: letter.attempts, group: letter.group,
                entryID: letter.entryID, failedAt: letter.failedAt, workspace: letter.workspace, receivedAt: letter.event.receivedAt,
                objectType: letter.event.objectType, metric: letter.event.metric, eventID: letter.eventID,
                body: String(decoding: letter.event.body, as: UTF8.self))
        }
    }
}
