import EventQueue
import Foundation
import Hiredis
import Warehouse

/// Everything known about one event: where it is in the queue (dedup marker, stream entry, each
/// group's progress, dead letters) and what the warehouse holds (its row, the actions taken).
/// Behind `cio-relay trace` and the console's trace page.
public struct EventTraceReport: Sendable, Codable {
    public struct WarehousePart: Sendable, Codable {
        public let row: StoredEvent?
        public let actions: [ActionRow]
        /// Why the warehouse was not looked up or did not answer, if so.
        public let note: String?
    }

    public let queue: QueueTrace
    public let warehouse: WarehousePart

    /// Traces `eventID`. Redis errors are thrown; a warehouse that cannot answer leaves a note.
    public static func make(eventID: String, queue: EventQueue, lookup: (any EventLookup)?, warehouse: WarehouseLocation) async throws(RedisError)
        -> EventTraceReport
    {
        let trace = try await queue.trace(eventID: eventID)
        guard let lookup else {
            let note =
                warehouse == .none
                ? "not read by this process (WAREHOUSE_URL=none, or it only receives)" : "\(warehouse) is not looked up from here: query it there"
            return EventTraceReport(queue: trace, warehouse: WarehousePart(row: nil, actions: [], note: note))
        }
        do {
            let row = try await lookup.storedEvent(id: eventID)
            let actions = try await lookup.actions(eventID: eventID)
            return EventTraceReport(queue: trace, warehouse: WarehousePart(row: row, actions: actions, note: nil))
        } catch {
            return EventTraceReport(
                queue: trace, warehouse: WarehousePart(row: nil, actions: [], note: "the warehouse did not answer: \(error.message)"))
        }
    }

    /// Whether anything at all is known about the event.
    public var isKnown: Bool {
        queue.markerTTLSeconds != nil || queue.entryState != "unknown" || !queue.deadLetters.isEmpty || warehouse.row != nil
            || !warehouse.actions.isEmpty
    }

    /// The report as lines of text.
    public func text(nowMilliseconds: Int64) -> String {
        var lines = ["event \(queue.eventID) (partition \(queue.partition))"]
        if let ttl = queue.markerTTLSeconds {
            lines.append("dedup marker: present, expires in \(Readable.duration(seconds: Double(ttl))) (a retry is answered duplicate until then)")
        } else {
            lines.append("dedup marker: none (never accepted, or longer ago than the dedup TTL)")
        }
        switch queue.entryState {
        case "queued":
            let received =
                queue.receivedAt.map {
                    "received \(Readable.timestamp($0)), \(Readable.duration(seconds: max(0, Double(nowMilliseconds - $0) / 1000))) ago"
                } ?? "received at an unknown time"
            lines.append("stream entry \(queue.entryID ?? "?"): queued, \(received), \(queue.objectType ?? "?")/\(queue.metric ?? "?")")
        case "trimmed":
            lines.append("stream entry \(queue.entryID ?? "?"): trimmed (every group had finished it)")
        default:
            lines.append("stream entry: unknown (no marker naming one)")
        }
        for group in queue.groups {
            switch group.state {
            case "pending":
                lines.append(
                    "group \(group.group): pending with \(group.consumer ?? "?"), \(group.deliveries ?? 0) deliveries, idle \(Readable.duration(seconds: group.idleSeconds ?? 0))"
                )
            case "waiting":
                lines.append("group \(group.group): waiting (not read yet)")
            default:
                lines.append("group \(group.group): done")
            }
        }
        for letter in queue.deadLetters {
            lines.append(
                "dead letter \(letter.id): \(letter.reason)\(letter.group.map { " (group \($0))" } ?? ""), \(letter.attempts) attempts: \(letter.error)"
            )
        }
        if let note = warehouse.note {
            lines.append("warehouse: \(note)")
        } else if let row = warehouse.row {
            lines.append(
                "warehouse row: \(row.objectType ?? "?")/\(row.metric ?? "?"), occurred \(row.occurredAt ?? "?"), stored \(row.ingestedAt ?? "?")")
        } else {
            lines.append("warehouse row: none")
        }
        for action in warehouse.actions {
            lines.append(
                "action \(action.action) \(action.person): \(action.outcome)\(action.detail.map { " (\($0))" } ?? "") at \(action.actedAt ?? "?")")
        }
        return lines.joined(separator: "\n")
    }

    /// JSON, keys in snake case.
    public func json() throws -> String {
        try snakeCaseJSON(self)
    }
}
