/// An event as the warehouse stored it, for `cio-relay trace` and the console.
public struct StoredEvent: Sendable, Hashable, Codable {
    public let eventID: String
    public let objectType: String?
    public let metric: String?
    /// As the warehouse prints its time columns.
    public let occurredAt: String?
    public let ingestedAt: String?
    public let recipient: String?
}

/// One row of the audit trail of actions.
public struct ActionRow: Sendable, Hashable, Codable {
    public let eventID: String
    /// `cio_id:…`, `id:…` or `email:…`.
    public let person: String
    public let action: String
    public let outcome: String
    public let detail: String?
    public let actedAt: String?
}

/// A warehouse that answers about one event or one person (SQLite and PostgreSQL; BigQuery is
/// queried in BigQuery itself).
public protocol EventLookup: Sendable {
    /// The stored row of an event, if any.
    func storedEvent(id: String) async throws(WarehouseError) -> StoredEvent?
    /// The actions taken for an event, oldest first.
    func actions(eventID: String) async throws(WarehouseError) -> [ActionRow]
    /// The latest actions taken for any of `people` (as the audit trail writes them), newest first.
    func recentActions(people: [String], limit: Int) async throws(WarehouseError) -> [ActionRow]
}

/// A SQL warehouse that runs parameterized read queries: all it takes to be an `EventLookup`.
public protocol SQLRows: EventLookup {
    var dialect: SQLDialect { get }
    func rows(_ sql: String, parameters: [String]) async throws(WarehouseError) -> [[String?]]
}

extension SQLRows {
    private func parameter(_ index: Int) -> String { dialect.placeholder(index, kind: .text) }
    private static var actionColumns: String { "event_id, person, action, outcome, detail, acted_at" }

    public func storedEvent(id: String) async throws(WarehouseError) -> StoredEvent? {
        let sql =
            "SELECT event_id, object_type, metric, occurred_at, ingested_at, recipient FROM \(Schema.eventsTable) WHERE event_id = \(parameter(1))"
        guard let row = try await rows(sql, parameters: [id]).first, row.count == 6, let eventID = row[0] else { return nil }
        return StoredEvent(eventID: eventID, objectType: row[1], metric: row[2], occurredAt: row[3], ingestedAt: row[4], recipient: row[5])
    }

    public func actions(eventID: String) async throws(WarehouseError) -> [ActionRow] {
        Self.actionRows(
            try await rows(
                "SELECT \(Self.actionColumns) FROM \(Schema.actionsTable) WHERE event_id = \(parameter(1)) ORDER BY acted_at", parameters: [eventID]))
    }

    public func recentActions(people: [String], limit: Int) async throws(WarehouseError) -> [ActionRow] {
        guard !people.isEmpty else { return [] }
        let list = people.indices.map { parameter($0 + 1) }.joined(separator: ", ")
        let sql = "SELECT \(Self.actionColumns) FROM \(Schema.actionsTable) WHERE person IN (\(list)) ORDER BY acted_at DESC LIMIT \(max(1, limit))"
        return Self.actionRows(try await rows(sql, parameters: people))
    }

    private static func actionRows(_ rows: [[String?]]) -> [ActionRow] {
        rows.compactMap { row in
            guard row.count == 6, let eventID = row[0], let person = row[1], let action = row[2], let outcome = row[3] else { return nil }
            return ActionRow(eventID: eventID, person: person, action: action, outcome: outcome, detail: row[4], actedAt: row[5])
        }
    }
}
