import CustomerIO

/// One column of a BigQuery table.
public struct BigQueryField: Sendable, Hashable {
    public let name: String
    /// `STRING`, `INT64`, `TIMESTAMP` or `JSON`.
    public let type: String
    public let required: Bool

    public init(_ name: String, _ type: String, required: Bool = false) {
        self.name = name
        self.type = type
        self.required = required
    }

    var resource: JSONValue {
        .object(["name": .string(name), "type": .string(type), "mode": .string(required ? "REQUIRED" : "NULLABLE")])
    }
}

/// The two tables of the BigQuery warehouse.
public enum BigQueryTable: String, Sendable, Hashable, CaseIterable {
    case events
    case actions
}

/// One step of the BigQuery schema. Version 1 creates the tables; a later version may only add
/// NULLABLE columns, the one change BigQuery makes in place (`tables.patch`).
public struct BigQueryMigration: Sendable {
    public let version: Int
    public let summary: String
    public let columns: [BigQueryTable: [BigQueryField]]

    public init(version: Int, summary: String, columns: [BigQueryTable: [BigQueryField]]) {
        self.version = version
        self.summary = summary
        self.columns = columns
    }
}

/// The BigQuery schema as code: the same columns as PostgreSQL's, events partitioned by day on
/// `occurred_at` and clustered by `object_type, metric, campaign_id`; the applied version is kept
/// in each table's label `cio_relay_schema_version`, so that `migrate` is idempotent.
public struct BigQuerySchema: Sendable {
    public let migrations: [BigQueryMigration]

    public static let versionLabel = "cio_relay_schema_version"

    public static let current = BigQuerySchema(migrations: [
        BigQueryMigration(
            version: 1, summary: "events partitioned by day and clustered; actions audit trail; the de-duplicating view",
            columns: [
                .events: WarehouseRow.columns.map { column in
                    BigQueryField(column.name, type(of: column.kind), required: Schema.requiredEventColumns.contains(column.name))
                } + [BigQueryField("ingested_at", "TIMESTAMP", required: true)],
                .actions: ActionRecord.columns.map { BigQueryField($0, "STRING", required: $0 != "detail") }
                    + [BigQueryField("acted_at", "TIMESTAMP", required: true)],
            ])
    ])

    public init(migrations: [BigQueryMigration]) {
        self.migrations = migrations
    }

    /// This schema followed by one more step (a later release's, or a test's).
    public func appending(_ migration: BigQueryMigration) -> BigQuerySchema {
        BigQuerySchema(migrations: migrations + [migration])
    }

    public var latestVersion: Int { migrations.map(\.version).max() ?? 0 }

    /// The columns of `table` once every migration up to `version` is applied.
    public func fields(of table: BigQueryTable, upTo version: Int = .max) -> [BigQueryField] {
        migrations.filter { $0.version <= version }.flatMap { $0.columns[table] ?? [] }
    }

    static func type(of kind: WarehouseRow.Kind) -> String {
        switch kind {
        case .text: "STRING"
        case .integer: "INT64"
        case .seconds, .milliseconds: "TIMESTAMP"
        case .json: "JSON"
        }
    }

    /// Partitioning and clustering, as `tables.insert` takes them.
    static func layout(of table: BigQueryTable) -> [String: JSONValue] {
        switch table {
        case .events:
            [
                "timePartitioning": .object(["type": .string("DAY"), "field": .string("occurred_at")]),
                "clustering": .object(["fields": .array(["object_type", "metric", "campaign_id"].map(JSONValue.string))]),
            ]
        case .actions:
            [
                "timePartitioning": .object(["type": .string("DAY"), "field": .string("acted_at")]),
                "clustering": .object(["fields": .array(["person", "event_id"].map(JSONValue.string))]),
            ]
        }
    }

    /// The view that keeps one row per `event_id`. insertId de-duplication is best effort (about a
    /// minute, per request path), so a batch retried later can land twice; queries that count
    /// events read this view.
    static func uniqueViewQuery(_ target: BigQueryTarget) -> String {
        """
        SELECT * FROM \(target.qualified(target.eventsTable)) WHERE TRUE \
        QUALIFY ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY ingested_at) = 1
        """
    }
}
