import EventQueue
import Foundation
import Hiredis
import Logging
import Warehouse
import Worker

/// The operator commands behind `cio-relay dead-letters …` and `cio-relay policy check`: they
/// return the text to print, so the executable stays thin and the output is tested.
public enum OperatorCommands {
    /// A command that could not do what was asked, with the exit status to end with.
    public struct Failure: Error, CustomStringConvertible {
        public let message: String
        public let exitCode: Int32
        public var description: String { message }

        public init(message: String, exitCode: Int32) {
            self.message = message
            self.exitCode = exitCode
        }
    }

    /// `policy check FILE`: validates the file's `policy:` and describes the rules.
    public static func checkPolicy(path: String) throws(Failure) -> String {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw Failure(message: "cannot read \(path): \(error.localizedDescription)", exitCode: 66)
        }
        let policy: Policy
        do {
            policy = try PolicyParser.parse(yaml: text, source: path)
        } catch {
            throw Failure(message: "invalid policy: \(error)", exitCode: 65)
        }
        var lines = ["\(path): policy OK, \(policy.rules.count) rule(s), first match wins:"]
        for rule in policy.rules {
            let types = rule.objectTypes.map { $0.sorted().joined(separator: ",") } ?? "*"
            let metrics = rule.metrics.map { $0.sorted().joined(separator: ",") } ?? "*"
            let actions = rule.actions.map { action -> String in
                switch action {
                case .suppress: return "suppress"
                case .identify(let attributes, let monotonic):
                    return "identify(\(attributes.map(\.name).joined(separator: ", ")))" + (monotonic ? " monotonic" : "")
                }
            }
            lines.append("  \(rule.name): \(types)/\(metrics) → \(actions.isEmpty ? "no action" : actions.joined(separator: "; then "))")
        }
        return lines.joined(separator: "\n")
    }

    /// `migrate`: brings the warehouse schema to the latest version.
    public static func migrate(_ location: WarehouseLocation, logger: Logger) async throws -> String {
        guard let sink = try location.makeSink(logger: logger) else {
            throw Failure(message: "WAREHOUSE_URL is none: there is no warehouse to migrate", exitCode: 64)
        }
        do {
            let applied = try await sink.withRunning { sink in try await sink.migrate() }
            return applied.isEmpty ? "\(location): schema up to date" : "\(location): applied migration(s) \(applied.map(String.init).joined(separator: ", "))"
        } catch let error as WarehouseError {
            throw Failure(message: "\(location): \(error.message)", exitCode: 69)
        }
    }

    /// `dead-letters list`: one line per dead letter.
    public static func listDeadLetters(_ queue: EventQueue, from start: String, limit: Int) async throws(RedisError) -> String {
        let letters = try await queue.deadLetters(from: start, count: limit)
        let total = try await queue.deadLetterCount()
        guard !letters.isEmpty else { return "no dead letters in \(queue.layout.deadName)" }
        var lines = ["\(total) dead letter(s) in \(queue.layout.deadName); showing \(letters.count):", "ID\tREASON\tATTEMPTS\tWORKSPACE\tTYPE/METRIC\tERROR"]
        for letter in letters {
            let kind = "\(letter.entry.string("t") ?? "?")/\(letter.entry.string("m") ?? "?")"
            lines.append("\(letter.id)\t\(letter.reason)\t\(letter.attempts)\t\(letter.workspace)\t\(kind)\t\(letter.error.prefix(120))")
        }
        if letters.count < total, let last = letters.last {
            lines.append("more: dead-letters list --from '(\(last.id)'")
        }
        return lines.joined(separator: "\n")
    }

    /// `dead-letters show ID`: every field, the body as stored.
    public static func showDeadLetter(_ queue: EventQueue, id: String) async throws -> String {
        guard let letter = try await queue.deadLetter(id: id) else {
            throw Failure(message: "no dead letter \(id) in \(queue.layout.deadName)", exitCode: 1)
        }
        var lines = ["id: \(letter.id)"]
        for name in letter.entry.fields.keys.sorted() where name != "body" {
            lines.append("\(name): \(letter.entry.string(name) ?? "")")
        }
        lines.append("body: \(letter.entry.string("body") ?? "")")
        return lines.joined(separator: "\n")
    }

    /// `dead-letters replay ID… | --all`: puts dead letters back on the events stream.
    public static func replayDeadLetters(_ queue: EventQueue, ids: [String], all: Bool) async throws -> String {
        guard all != !ids.isEmpty else {
            throw Failure(message: "name the dead letters to replay, or --all (not both)", exitCode: 64)
        }
        var targets = ids
        if all {
            var start = "-"
            while true {
                let page = try await queue.deadLetters(from: start, count: 1000)
                targets += page.filter(\.isReplayable).map(\.id)
                guard page.count == 1000, let last = page.last else { break }
                start = "(" + last.id
            }
        }
        var lines: [String] = []
        var replayed = 0
        for id in targets {
            switch try await queue.replay(deadLetterID: id) {
            case .replayed(let entryID):
                replayed += 1
                lines.append("\(id): replayed as \(entryID)")
            case .notFound:
                lines.append("\(id): no such dead letter")
            case .notReplayable:
                lines.append("\(id): kept: its body is not a valid event (reason malformed), replaying it cannot succeed")
            }
        }
        lines.append("\(replayed) of \(targets.count) replayed onto \(queue.layout.eventsName)")
        if !all && replayed < targets.count {
            throw Failure(message: lines.joined(separator: "\n"), exitCode: 1)
        }
        return lines.joined(separator: "\n")
    }

    /// `dead-letters purge --yes`: deletes them all.
    public static func purgeDeadLetters(_ queue: EventQueue, confirmed: Bool) async throws -> String {
        guard confirmed else {
            let count = try await queue.deadLetterCount()
            throw Failure(message: "this deletes all \(count) dead letter(s) in \(queue.layout.deadName) for good: add --yes to confirm", exitCode: 64)
        }
        return "purged \(try await queue.purgeDeadLetters()) dead letter(s) from \(queue.layout.deadName)"
    }
    /// What `status` found: the text to print, and the thresholds that were exceeded.
    public struct StatusReport: Sendable {
        public let text: String
        public let exceeded: [String]
    }

    /// `status [--json] [--max-lag N] [--max-age SECONDS]`: stream, groups, consumers, dead letters,
    /// dedup keys and Redis memory; a threshold exceeded by any group is reported in `exceeded`.
    /// A configured group (`groups`) missing from Redis counts as lagging by the whole stream.
    public static func status(_ queue: EventQueue, groups: [String], json: Bool, maxLag: Int?, maxAge: Double?, nowMilliseconds: Int64) async throws -> StatusReport {
        let status = try await queue.status(nowMilliseconds: nowMilliseconds, expectedGroups: groups)
        var exceeded: [String] = []
        for group in status.groups {
            if let maxLag, group.lag > maxLag {
                exceeded.append("group \(group.name): lag \(group.lag) > --max-lag \(maxLag)")
            }
            if let maxAge, let age = group.oldestUnprocessedAgeSeconds, age > maxAge {
                exceeded.append("group \(group.name): oldest unprocessed event \(seconds(age)) old > --max-age \(seconds(maxAge))")
            }
        }
        if json {
            let encoder = JSONEncoder()
            encoder.keyEncodingStrategy = .convertToSnakeCase
            encoder.outputFormatting = [.sortedKeys]
            return StatusReport(text: String(decoding: try encoder.encode(status), as: UTF8.self), exceeded: exceeded)
        }
        let memoryLimit = status.redisMaxMemoryBytes > 0 ? "of maxmemory \(bytes(status.redisMaxMemoryBytes))" : "(no maxmemory set)"
        let primaries = status.redisPrimaries > 1 ? " over \(status.redisPrimaries) primaries" : ""
        var lines = [
            "stream \(status.stream): \(status.streamLength) entries",
            "dead letters \(status.deadLetterStream): \(status.deadLetters)",
            "dedup keys: \(status.dedupKeysExact ? "" : "~")\(status.dedupKeys)\(status.dedupKeysExact ? "" : " (estimated from \(EventQueue.dedupSamples) random keys per primary)")",
            "redis memory: \(bytes(status.redisUsedMemoryBytes)) used \(memoryLimit)\(primaries)",
            "redis replicas (CIO_RELAY_REDIS_MIN_REPLICAS=\(status.minReplicas)): " + status.replicas.map { primary in
                let short = status.primariesBelowMinimum.contains(primary) ? " BELOW THE MINIMUM: its events are answered 503" : ""
                return "\(primary.primary) has \(primary.connectedReplicas)\(short)"
            }.joined(separator: ", "),
        ]
        if status.partitions.count > 1 {
            for partition in status.partitions {
                lines.append("  partition \(partition.partition) \(partition.stream): \(partition.streamLength) entries, \(partition.deadLetters) dead letter(s)")
            }
        }
        if status.groups.isEmpty {
            lines.append("no consumer groups yet: no role has started")
        }
        for group in status.groups {
            if group.missing {
                lines.append("group \(group.name): MISSING (configured, not in Redis: no role has started since the stream was made), lag \(group.lag)")
                continue
            }
            let age = group.oldestUnprocessedAgeSeconds.map { seconds($0) } ?? "none (caught up)"
            lines.append("group \(group.name): lag \(group.lag), pending \(group.pending), oldest unprocessed \(age), \(group.consumers.count) consumer(s)")
            if group.partitions.count > 1 {
                for partition in group.partitions {
                    let partitionAge = partition.oldestUnprocessedAgeSeconds.map { seconds($0) } ?? "none"
                    lines.append("  partition \(partition.partition): lag \(partition.lag), pending \(partition.pending), oldest unprocessed \(partitionAge)")
                }
            }
            for consumer in group.consumers {
                lines.append("  consumer \(consumer.name): pending \(consumer.pending), idle \(seconds(consumer.idleSeconds))")
            }
        }
        return StatusReport(text: lines.joined(separator: "\n"), exceeded: exceeded)
    }

    static func seconds(_ value: Double) -> String {
        switch value {
        case ..<120: String(format: "%.1f s", value)
        case ..<7200: String(format: "%.1f min", value / 60)
        case ..<172_800: String(format: "%.1f h", value / 3600)
        default: String(format: "%.1f d", value / 86_400)
        }
    }


    static func bytes(_ value: Int) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var size = Double(value)
        var unit = 0
        while size >= 1024 && unit < units.count - 1 {
            size /= 1024
            unit += 1
        }
        return unit == 0 ? "\(value) B" : String(format: "%.1f ", size) + units[unit]
    }
}
