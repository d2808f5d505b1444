/// The SQL dialects the sinks speak.
/// The SQL the embedded and the PostgreSQL warehouse differ in.
public enum SQLDialect: Sendable {
    case sqlite
    case postgres

    func type(of kind: WarehouseRow.Kind) -> String {
        switch (self, kind) {
        case (.sqlite, .text), (.sqlite, .json): "TEXT"
        case (.sqlite, .integer): "INTEGER"
        // ISO-8601 text in UTC: sortable, and SQLite's date functions read it.
        case (.sqlite, .seconds), (.sqlite, .milliseconds): "TEXT"
        case (.postgres, .text): "text"
        case (.postgres, .integer): "bigint"
        case (.postgres, .seconds), (.postgres, .milliseconds): "timestamptz"
        case (.postgres, .json): "jsonb"
        }
    }

    /// The placeholder for parameter `index` (1-based) of a column of `kind`, converting Unix
    /// seconds or milliseconds to the column's time type.
    func placeholder(_ index: Int, kind: WarehouseRow.Kind) -> String {
        convert(self == .sqlite ? "?\(index)" : "$\(index)", kind: kind)
    }

    /// `parameter` (a placeholder or a column holding the raw value) converted to the column type.
    func convert(_ parameter: String, kind: WarehouseRow.Kind) -> String {
        switch (self, kind) {
        case (.sqlite, .seconds): return "strftime('%Y-%m-%dT%H:%M:%SZ', \(parameter), 'unixepoch')"
        case (.sqlite, .milliseconds): return "strftime('%Y-%m-%dT%H:%M:%fZ', \(parameter) / 1000.0, 'unixepoch')"
        case (.postgres, .seconds): return "to_timestamp(\(parameter)::bigint)"
        case (.postgres, .milliseconds): return "to_timestamp(\(parameter)::bigint / 1000.0)"
        case (.postgres, .json): return "\(parameter)::jsonb"
        case (.postgres, .integer): return "\(parameter)::bigint"
        case (.postgres, .text): return "\(parameter)::text"
        default: return parameter
        }
    }

    /// The raw type a value of `kind` is staged as before conversion (PostgreSQL's COPY path).
    func stagingType(of kind: WarehouseRow.Kind) -> String {
        switch kind {
        case .integer, .seconds, .milliseconds: "bigint"
        case .text, .json: "text"
        }
    }

    var now: String {
        self == .sqlite ? "(strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))" : "clock_timestamp()"
    }
}

/// One step of the schema, applied once and recorded in `cio_relay_schema_migrations`.
struct Migration: Sendable {
    let version: Int
    let summary: String
    /// Run in one transaction with the version's record.
    let statements: [String]
    /// PostgreSQL only: index changes run one at a time after that transaction, outside any (as
    /// `CREATE INDEX CONCURRENTLY` and `DROP INDEX CONCURRENTLY` must), so that writers are never
    /// blocked while a large table is indexed; the version is recorded after the last.
    var concurrently: [IndexChange] = []
    /// Whether workers of the release before can keep running while it is applied and after (a
    /// rolling upgrade); when false, stop them before it runs (docs/lifecycle.md).
    let olderWorkersKeepRunning: Bool
}

/// A PostgreSQL index change made without blocking writers.
enum IndexChange: Sendable, Equatable {
    /// `CREATE INDEX CONCURRENTLY` of `name` with `definition` (what follows `ON`). A build that
    /// failed leaves an invalid index of that name behind: it is dropped and built again.
    case create(name: String, definition: String)
    case drop(name: String)

    var statement: String {
        switch self {
        case .create(let name, let definition): "CREATE INDEX CONCURRENTLY IF NOT EXISTS \(name) ON \(definition)"
        case .drop(let name): "DROP INDEX CONCURRENTLY IF EXISTS \(name)"
        }
    }
}

extension WarehouseLocation {
    /// What an operator reads of an applied schema version before a rolling upgrade: its summary
    /// and whether workers of the release before may keep running while it is applied and after.
    /// BigQuery's versions only ever add columns, which older workers ignore.
    public func describeMigration(_ version: Int) -> String {
        let migration: Migration? =
            switch self {
            case .sqlite: Schema.migrations(.sqlite).first { $0.version == version }
            case .postgres: Schema.migrations(.postgres).first { $0.version == version }
            case .bigquery, .none: nil
            }
        guard let migration else {
            let change = version == 1 ? "tables and the de-duplicating view created" : "columns added"
            return "\(version): \(change); workers of the release before may keep running"
        }
        let concurrent = migration.concurrently.isEmpty ? "" : ", indexes changed concurrently (writers are not blocked)"
        let older =
            migration.olderWorkersKeepRunning ? "workers of the release before may keep running" : "stop the workers of the release before first"
        return "\(version): \(migration.summary)\(concurrent); \(older)"
    }
}

/// The warehouse schema, as versioned migrations per dialect.
enum Schema {
    static let eventsTable = "customerio_events"
    static let actionsTable = "customerio_actions"
    static let versionsTable = "cio_relay_schema_migrations"
    /// The events columns every row has (NOT NULL, REQUIRED in BigQuery).
    static let requiredEventColumns: Set<String> = ["event_id", "workspace", "object_type", "metric", "received_at", "payload"]

    static func versionsTableStatement(_ dialect: SQLDialect) -> String {
        "CREATE TABLE IF NOT EXISTS \(versionsTable) (version INTEGER PRIMARY KEY, summary TEXT NOT NULL, applied_at \(dialect.type(of: .seconds)) NOT NULL DEFAULT \(dialect.now))"
    }

    /// The newest schema version this binary knows (the same in every dialect).
    static var latestVersion: Int { migrations(.sqlite).map(\.version).max() ?? 0 }

    /// Refuses a warehouse whose recorded versions include one newer than `latest`: an
    /// older binary after a newer one migrated it (a rollback) must not write rows into a schema
    /// it does not know.
    static func checkNotNewer(applied: Set<Int>, latest: Int = latestVersion) throws(WarehouseError) {
        guard let newest = applied.max(), newest > latest else { return }
        throw WarehouseError(
            .schemaTooNew,
            "the warehouse schema is at version \(newest), migrated by a newer cio-relay; this one knows versions up to \(latest): run the newer release, or restore the warehouse from before that migration"
        )
    }

    static func migrations(_ dialect: SQLDialect) -> [Migration] {
        let columns = WarehouseRow.columns.map { column -> String in
            let required = requiredEventColumns.contains(column.name)
            let key = column.name == "event_id" ? " PRIMARY KEY" : ""
            return "\(column.name) \(dialect.type(of: column.kind))\(key)\(required && key.isEmpty ? " NOT NULL" : "")"
        }
        let ingested = "ingested_at \(dialect.type(of: .milliseconds)) NOT NULL DEFAULT \(dialect.now)"
        return [
            Migration(
                version: 1, summary: "events table, one row per event_id, with indexes for time ranges and people",
                // A new table: its indexes are built while it is empty, in the transaction.
                statements: [
                    "CREATE TABLE \(eventsTable) (\((columns + [ingested]).joined(separator: ", ")))",
                    "CREATE INDEX \(eventsTable)_occurred_at ON \(eventsTable) (occurred_at)",
                    "CREATE INDEX \(eventsTable)_metric_occurred_at ON \(eventsTable) (object_type, metric, occurred_at)",
                    "CREATE INDEX \(eventsTable)_campaign ON \(eventsTable) (campaign_id, occurred_at)",
                    "CREATE INDEX \(eventsTable)_cio_id ON \(eventsTable) (cio_id)",
                    "CREATE INDEX \(eventsTable)_identifier_id ON \(eventsTable) (identifier_id)",
                    "CREATE INDEX \(eventsTable)_identifier_email ON \(eventsTable) (identifier_email)",
                    "CREATE INDEX \(eventsTable)_delivery_id ON \(eventsTable) (delivery_id)",
                ], olderWorkersKeepRunning: true),
            Migration(
                version: 2, summary: "actions audit trail: what the worker did to whom, and how it went",
                statements: [
                    """
                    CREATE TABLE \(actionsTable) (event_id TEXT NOT NULL, workspace TEXT NOT NULL, person TEXT NOT NULL, \
                    action TEXT NOT NULL, outcome TEXT NOT NULL, detail TEXT, acted_at \(dialect.type(of: .milliseconds)) NOT NULL DEFAULT \(dialect.now))
                    """,
                    "CREATE INDEX \(actionsTable)_person ON \(actionsTable) (person, acted_at)",
                    "CREATE INDEX \(actionsTable)_event ON \(actionsTable) (event_id)",
                ], olderWorkersKeepRunning: true),
            // Every index costs each insert a descent and a WAL record: with eight B-trees,
            // index upkeep was half of PostgreSQL's time per row. Time ranges need no B-tree on
            // rows that arrive in time order (a BRIN index is a few pages); campaign, person and
            // delivery questions keep theirs.
            // On a table of millions of rows: in PostgreSQL every change is concurrent.
            dialect == .postgres
                ? Migration(
                    version: 3, summary: leanerIndexes, statements: [],
                    concurrently: [
                        .drop(name: "\(eventsTable)_metric_occurred_at"),
                        .drop(name: "\(eventsTable)_cio_id"),
                        .drop(name: "\(eventsTable)_occurred_at"),
                        .create(name: "\(eventsTable)_occurred_at", definition: "\(eventsTable) USING brin (occurred_at)"),
                    ], olderWorkersKeepRunning: true)
                : Migration(
                    version: 3, summary: leanerIndexes,
                    statements: ["DROP INDEX IF EXISTS \(eventsTable)_metric_occurred_at", "DROP INDEX IF EXISTS \(eventsTable)_cio_id"],
                    olderWorkersKeepRunning: true),
        ]
    }

    private static let leanerIndexes = "leaner indexes: no (object_type, metric) or cio_id index; occurred_at as BRIN in PostgreSQL"

    static let stagingTable = "cio_relay_staging"

    /// A temporary table of raw values for `COPY`, emptied at each commit.
    static var stagingTableStatement: String {
        let columns = WarehouseRow.columns.map { "\($0.name) \(SQLDialect.postgres.stagingType(of: $0.kind))" }
        return "CREATE TEMP TABLE IF NOT EXISTS \(stagingTable) (\(columns.joined(separator: ", "))) ON COMMIT DELETE ROWS"
    }

    /// Moves the staged rows into the events table, converting them; answers the new event ids.
    static var insertFromStaging: String {
        let names = WarehouseRow.columns.map(\.name).joined(separator: ", ")
        let values = WarehouseRow.columns.map { SQLDialect.postgres.convert($0.name, kind: $0.kind) }.joined(separator: ", ")
        return "INSERT INTO \(eventsTable) (\(names)) SELECT \(values) FROM \(stagingTable) ON CONFLICT (event_id) DO NOTHING RETURNING event_id"
    }

    /// `INSERT INTO customerio_actions …` for `rows` records.
    static func insertActions(_ dialect: SQLDialect, rows: Int) -> String {
        let count = ActionRecord.columns.count
        let tuples = (0..<rows).map { row in
            "(" + (0..<count).map { dialect.placeholder(row * count + $0 + 1, kind: .text) }.joined(separator: ", ") + ")"
        }
        return "INSERT INTO \(actionsTable) (\(ActionRecord.columns.joined(separator: ", "))) VALUES \(tuples.joined(separator: ", "))"
    }

    /// `INSERT … VALUES (…) ON CONFLICT (event_id) DO NOTHING` for one row (batches go through
    /// one prepared statement in SQLite, and COPY in PostgreSQL).
    static func insert(_ dialect: SQLDialect, returning: Bool) -> String {
        let values = WarehouseRow.columns.enumerated().map { index, column in dialect.placeholder(index + 1, kind: column.kind) }
        let names = WarehouseRow.columns.map(\.name).joined(separator: ", ")
        return "INSERT INTO \(eventsTable) (\(names)) VALUES (\(values.joined(separator: ", "))) ON CONFLICT (event_id) DO NOTHING"
            + (returning ? " RETURNING event_id" : "")
    }
}
