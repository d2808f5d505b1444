import Hiredis

/// Where one event is in the queue: its dedup marker, its stream entry, each group's progress on
/// it and any dead letter of it. For `cio-relay trace` and the console.
public struct QueueTrace: Sendable, Hashable, Codable {
    public let eventID: String
    public let partition: Int
    /// Seconds the dedup marker has left; nil when there is none (never accepted, or longer ago
    /// than the dedup TTL).
    public let markerTTLSeconds: Int?
    /// The entry id the marker names (`StreamEntry.id`); nil for a marker set before markers held
    /// it, or without a marker.
    public let entryID: String?
    /// `queued` (in the stream), `trimmed` (every group was done with it and it was removed), or
    /// `unknown` (no marker naming an entry).
    public let entryState: String
    /// When the receiver accepted it (ms since the epoch), while the entry is in the stream.
    public let receivedAt: Int64?
    public let objectType: String?
    public let metric: String?
    public let groups: [GroupProgress]
    public let deadLetters: [DeadLetterSummary]
}

/// One consumer group's progress on an entry.
public struct GroupProgress: Sendable, Hashable, Codable {
    public let group: String
    /// `pending` (a consumer holds it), `done` (acknowledged, or dead-lettered: see the dead
    /// letters), or `waiting` (no consumer has read it yet).
    public let state: String
    public let consumer: String?
    public let deliveries: Int?
    public let idleSeconds: Double?
}

/// A dead letter of the event.
public struct DeadLetterSummary: Sendable, Hashable, Codable {
    public let id: String
    public let reason: String
    public let error: String
    public let group: String?
    public let attempts: Int
}

extension EventQueue {
    /// Dead letters looked through per partition when tracing (newest first).
    static let traceDeadLetterScan = 10_000

    /// Traces an event through the queue.
    public func trace(eventID: String) async throws(RedisError) -> QueueTrace {
        let keys = layout.partition(of: eventID)
        let marker = RedisArgument(key: keys.seen(eventID: eventID))
        let ttl = try await client.send(RedisCommand("TTL", [marker])).integer ?? -2
        let stored = ttl >= -1 ? try await client.send(RedisCommand("GET", [marker])).string : nil
        let streamID = stored.flatMap { StreamID($0) }.map(\.description)
        let address = streamID.map { EntryAddress(partition: keys.partition, streamID: $0, qualified: layout.count > 1) }
        var entry: StreamEntry?
        if let streamID {
            let reply = try await client.send("XRANGE", RedisArgument(key: keys.events), RedisArgument(streamID), RedisArgument(streamID))
            entry = try StreamEntry.list(reply, from: "XRANGE", partition: keys.partition, of: layout).first
        }
        var groups: [GroupProgress] = []
        if let streamID, let id = StreamID(streamID) {
            groups = try await progress(of: id, in: keys, trimmed: entry == nil)
        }
        return QueueTrace(
            eventID: eventID, partition: keys.partition,
            markerTTLSeconds: ttl >= 0 ? Int(ttl) : nil,
            entryID: address?.description,
            entryState: entry != nil ? "queued" : address != nil ? "trimmed" : "unknown",
            receivedAt: entry?.event.receivedAt,
            objectType: entry?.event.objectType, metric: entry?.event.metric,
            groups: groups,
            deadLetters: try await deadLetters(of: eventID, entryID: address?.description, in: keys)
        )
    }

    /// Each group's progress on the entry `id` of a partition's stream.
    private func progress(of id: StreamID, in keys: QueueKeys, trimmed: Bool) async throws(RedisError) -> [GroupProgress] {
        let stream = RedisArgument(key: keys.events)
        let reply: RedisValue
        do throws(RedisError) {
            reply = try await client.send("XINFO", "GROUPS", stream)
        } catch  where error.serverErrorPrefix == "ERR" {
            return []
        }
        var progress: [GroupProgress] = []
        for group in reply.array ?? [] {
            guard let info = group.fieldMap, let name = info["name"]?.string else { continue }
            let pending = try await client.send(
                "XPENDING", stream, RedisArgument(name), RedisArgument(id.description), RedisArgument(id.description), "1")
            if let row = pending.array?.first?.array, row.count == 4 {
                progress.append(
                    GroupProgress(
                        group: name, state: "pending", consumer: row[1].string, deliveries: row[3].integer.map { Int($0) },
                        idleSeconds: row[2].integer.map { Double($0) / 1000 }
                    ))
                continue
            }
            let delivered = info["last-delivered-id"]?.string.flatMap { StreamID($0) }
            let done = trimmed || delivered.map { id <= $0 } == true
            progress.append(GroupProgress(group: name, state: done ? "done" : "waiting", consumer: nil, deliveries: nil, idleSeconds: nil))
        }
        return progress
    }

    /// The dead letters of an event in its partition: those that copied its entry id, or whose
    /// body holds its id as a JSON string.
    private func deadLetters(of eventID: String, entryID: String?, in keys: QueueKeys) async throws(RedisError) -> [DeadLetterSummary] {
        let needle = Array("\"\(eventID)\"".utf8)
        var found: [DeadLetterSummary] = []
        var end = "+"
        var scanned = 0
        while scanned < Self.traceDeadLetterScan {
            let reply = try await client.send("XREVRANGE", RedisArgument(key: keys.dead), RedisArgument(end), "-", "COUNT", "1000")
            let page = try StreamEntry.list(reply, from: "XREVRANGE", partition: keys.partition, of: layout)
            for letter in page.map(DeadLetter.init) where (entryID != nil && letter.entryID == entryID) || letter.event.body.contains(needle) {
                found.append(
                    DeadLetterSummary(id: letter.id, reason: letter.reason, error: letter.error, group: letter.group, attempts: letter.attempts))
            }
            scanned += page.count
            guard page.count == 1000, let last = page.last else { break }
            end = "(" + last.address.streamID
        }
        return found
    }
}
