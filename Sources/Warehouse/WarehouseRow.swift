import CustomerIO
import ServiceLifecycle

/// One event as a warehouse row: typed columns for what analysts query, plus the verbatim payload
/// so that no field is ever lost.
public struct WarehouseRow: Sendable, Hashable {
    public enum Value: Sendable, Hashable {
        case text(String?)
        case integer(Int64?)
    }

    public enum Kind: Sendable {
        case text
        case integer
        /// Unix seconds, stored as a timestamp.
        case seconds
        /// Unix milliseconds, stored as a timestamp.
        case milliseconds
        /// The whole payload (`jsonb` in PostgreSQL, JSON text in SQLite).
        case json
    }

    /// The columns, in order: both dialects build their schema and statements from this list.
    public static let columns: [(name: String, kind: Kind)] = [
        ("event_id", .text), ("workspace", .text), ("object_type", .text), ("metric", .text),
        ("occurred_at", .seconds), ("received_at", .milliseconds),
        ("customer_id", .text), ("identifier_id", .text), ("identifier_email", .text), ("cio_id", .text),
        ("delivery_id", .text), ("campaign_id", .integer), ("action_id", .integer), ("parent_action_id", .integer),
        ("journey_id", .text), ("broadcast_id", .integer), ("trigger_id", .integer), ("newsletter_id", .integer),
        ("content_id", .integer), ("transactional_message_id", .integer), ("trigger_event_id", .text),
        ("recipient", .text), ("subject", .text), ("href", .text), ("link_id", .integer), ("failure_message", .text),
        ("payload", .json),
    ]

    public let eventID: String
    /// Values in the order of `columns`.
    public let values: [Value]

    /// The row of an event: `workspace` and `receivedAt` (Unix ms) come from the stream entry,
    /// `body` is the verbatim payload.
    public init(event: WebhookEvent, workspace: String, receivedAt: Int64, body: String) {
        let data = event.data
        let identifiers = event.identifiers
        func text(_ key: String) -> Value {
            switch data[key] {
            case .string(let value): .text(value)
            case .number(let value): .text(Self.wholeNumber(value).map(String.init) ?? String(value))
            default: .text(nil)
            }
        }
        func integer(_ key: String) -> Value {
            switch data[key] {
            case .number(let value): .integer(Self.wholeNumber(value))
            case .string(let value): .integer(Int64(value))
            default: .integer(nil)
            }
        }
        eventID = event.eventID
        values = [
            .text(event.eventID), .text(workspace), .text(event.objectType.rawValue), .text(event.metric.rawValue),
            .integer(event.timestamp), .integer(receivedAt),
            text("customer_id"), .text(identifiers.id), .text(identifiers.email), .text(identifiers.cioID),
            text("delivery_id"), integer("campaign_id"), integer("action_id"), integer("parent_action_id"),
            text("journey_id"), integer("broadcast_id"), integer("trigger_id"), integer("newsletter_id"),
            integer("content_id"), integer("transactional_message_id"), text("trigger_event_id"),
            text("recipient"), text("subject"), text("href"), integer("link_id"), text("failure_message"),
            .text(body),
        ]
    }

    /// The number as a 64-bit integer when it is a whole number in range. A payload can carry any
    /// number where an id is expected (`1e30` in the fuzzer's hands): converting it unchecked
    /// would stop the worker.
    static func wholeNumber(_ value: Double) -> Int64? {
        value == value.rounded() && abs(value) < 9.2e18 ? Int64(value) : nil
    }

    /// A column's value by name (for tests and diagnostics).
    public subscript(column: String) -> Value? {
        Self.columns.firstIndex { $0.name == column }.map { values[$0] }
    }
}

/// What became of one row of a batch.
public enum RowOutcome: Sendable, Hashable {
    /// A new row.
    case written
    /// The event was already in the warehouse: nothing changed.
    case duplicate
    /// The database refused the row for its content; the message says why.
    case rejected(String)

    /// An outcome without the refusal's message, as metrics count it.
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        case written
        case duplicate
        case rejected
    }

    public var kind: Kind {
        switch self {
        case .written: .written
        case .duplicate: .duplicate
        case .rejected: .rejected
        }
    }
}

/// A warehouse could not take a batch at all (unreachable, failing): nothing of it was committed.
public struct WarehouseError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        let value: String
        public static let unavailable = Code(value: "unavailable")
        public static let invalidURL = Code(value: "invalid_url")
        /// `BIGQUERY_API_URL` is not an http(s) URL.
        public static let invalidAPIURL = Code(value: "invalid_api_url")
        public static let migrationFailed = Code(value: "migration_failed")
        /// The warehouse was migrated by a newer release to a schema this binary does not know:
        /// writing into it could corrupt it, so the worker stops instead of retrying.
        public static let schemaTooNew = Code(value: "schema_too_new")
        /// Google credentials that cannot be used: an unreadable key file, a key that is not RSA.
        public static let invalidCredentials = Code(value: "invalid_credentials")
        public var description: String { value }
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "WarehouseError(\(code)): \(message)" }
}

/// One thing the actions worker did to a person, for the audit trail (`customerio_actions`).
public struct ActionRecord: Sendable, Hashable {
    public var eventID: String
    public var workspace: String
    /// `cio_id:…`, `id:…` or `email:…`.
    public var person: String
    /// `identify`, `suppress` (and `dry_run:` variants).
    public var action: String
    /// `applied`, `dry_run`, `dead_lettered`, `retry_later`, …
    public var outcome: String
    public var detail: String?

    public init(eventID: String, workspace: String, person: String, action: String, outcome: String, detail: String?) {
        self.eventID = eventID
        self.workspace = workspace
        self.person = person
        self.action = action
        self.outcome = outcome
        self.detail = detail
    }

    static let columns = ["event_id", "workspace", "person", "action", "outcome", "detail"]
    var values: [WarehouseRow.Value] {
        [.text(eventID), .text(workspace), .text(person), .text(action), .text(outcome), .text(detail)]
    }
}

/// A destination for events. A batch goes in, one outcome per row comes out, in order; a throw
/// means nothing was committed and the whole batch is to be tried again. A streaming HTTP
/// warehouse (BigQuery's insertAll) fits the same shape: per-row errors map to `rejected`.
public protocol EventSink: Service {
    /// Brings the schema to the latest version; answers the versions applied now (empty: up to date).
    func migrate() async throws(WarehouseError) -> [Int]
    func write(_ rows: [WarehouseRow]) async throws(WarehouseError) -> [RowOutcome]
    /// Appends to the audit trail of actions taken.
    func record(_ actions: [ActionRecord]) async throws(WarehouseError)
}

extension EventSink {
    /// Runs `body` while the sink runs as a service, then stops the sink whatever `body` does: for
    /// the commands and tests that use a sink outside a `ServiceGroup`.
    public func withRunning<T: Sendable>(_ body: (Self) async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.run() }
            defer { group.cancelAll() }
            return try await body(self)
        }
    }
}
