import CustomerIO
import Foundation
import Logging
import PostgresNIO
import TestSupport
import Testing
import Warehouse

/// A sink of each kind on a fresh database: a new SQLite file, or a new PostgreSQL database.
enum SinkKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite
    case postgres

    var testDescription: String { rawValue }

    static var quietLogger: Logger { .quiet("warehouse-test") }

    /// Runs `body` with a migrated, running sink and a way to run a query on it (every value cast
    /// to text); the sink stops afterwards.
    func withSink(_ body: (any EventSink, @Sendable (String) async throws -> [[String?]]) async throws -> Void) async throws {
        switch self {
        case .sqlite:
            try await Self.freshSQLite().withRunning { sink in
                _ = try await sink.migrate()
                try await body(sink, { try await sink.rows($0) })
            }
        case .postgres:
            try await Self.freshPostgres().withRunning { sink in
                _ = try await sink.migrate()
                try await body(sink, { try await sink.rows($0) })
            }
        }
    }

    /// A SQLite sink on a new file in the test folder.
    static func freshSQLite() throws -> SQLiteSink {
        let directory =
            ProcessInfo.processInfo.environment["CIO_RELAY_TEST_TMPDIR"].map { URL(fileURLWithPath: $0) } ?? FileManager.default.temporaryDirectory
        return try SQLiteSink(path: directory.appendingPathComponent("wh-\(UUID().uuidString).sqlite").path)
    }

    /// A PostgreSQL sink on a database of its own on the shared test server (not yet running).
    static func freshPostgres(serverURL: String? = nil) async throws -> PostgresSink {
        try PostgresSink(url: try await freshPostgresDatabase(serverURL: serverURL), logger: quietLogger)
    }

    /// The URL of a new, empty database on the shared test server.
    static func freshPostgresDatabase(serverURL: String? = nil) async throws -> String {
        let server = try serverURL ?? TestPostgres.url()
        let name = "t_" + UUID().uuidString.prefix(12).lowercased().replacingOccurrences(of: "-", with: "")
        try await PostgresSink(url: server, logger: quietLogger).withRunning { admin in
            try await admin.execute("CREATE DATABASE \(name)")
        }
        return server.replacingOccurrences(of: "/postgres?", with: "/\(name)?")
    }
}

@Suite("Warehouse sinks against real SQLite and PostgreSQL")
struct SinkTests {
    @Test(arguments: SinkKind.allCases)
    func everyObjectTypeAndMetricLandsAsOneTypedRow(kind: SinkKind) async throws {
        try await kind.withSink { sink, query in
            let (rows, expectedPairs) = try exampleRows()
            let outcomes = try await sink.write(rows)
            #expect(outcomes.allSatisfy { $0 == .written }, "\(outcomes.filter { $0 != .written })")
            let count = try await query("SELECT CAST(count(*) AS TEXT) FROM customerio_events")
            #expect(count.first?.first == "\(rows.count)")
            // Every (object_type, metric) of the vendor file is there, once per example.
            let pairs = try await query("SELECT object_type || '/' || metric FROM customerio_events")
            #expect(Set(pairs.compactMap { $0.first ?? nil }) == expectedPairs)
            // Typed columns, from the bounce fixture.
            let bounce = try await query(
                """
                SELECT workspace, CAST(occurred_at AS TEXT), CAST(received_at AS TEXT), customer_id, identifier_id, identifier_email, cio_id, delivery_id,
                       CAST(transactional_message_id AS TEXT), recipient, subject, failure_message, CAST(payload AS TEXT)
                FROM customerio_events WHERE event_id = '01JBX5F9Z1Y2X3W4V5T6S7R8Q9'
                """)
            let values = try #require(bounce.first)
            #expect(values[0] == "default")
            #expect(values[1]?.hasPrefix("2025-12-31") == true || values[1]?.hasPrefix("2026-01-01") == true, "\(values[1] ?? "nil")")
            #expect(values[2]?.contains("2026-01-01") == true && values[2]?.contains("02:36:40.123") == true, "\(values[2] ?? "nil")")
            #expect(
                Array(values[3...11]) == [
                    "u_903", "u_903", "old@corp.example", "a1b2c3000903", "dgXkAQEBpQ1k2m3n4o5p6q==", "5", "old@corp.example", "Reset your password",
                    "550 5.1.1 <old@corp.example>: Recipient address rejected",
                ])
            #expect(values[12]?.contains("\"failure_message\"") == true)
            // Clicks have href and link_id; campaign events their campaign and action.
            let click = try await query(
                "SELECT href, CAST(link_id AS TEXT), CAST(newsletter_id AS TEXT), CAST(content_id AS TEXT) FROM customerio_events WHERE event_id = '01JBX5A0C4D8E2F6G0H4J8K2M6'"
            )
            #expect(click.first == ["https://example.com/pricing", "4", "12", "3"])
            let campaigns = try await query(
                "SELECT CAST(count(*) AS TEXT) FROM customerio_events WHERE campaign_id IS NOT NULL AND action_id IS NOT NULL")
            #expect((Int((campaigns.first?.first ?? nil) ?? "0") ?? 0) > 0)
        }
    }

    @Test(arguments: SinkKind.allCases)
    func aRedeliveredEventAddsNoRow(kind: SinkKind) async throws {
        try await kind.withSink { sink, query in
            let bounce = try row(Fixtures.bytes("email_bounced.json"))
            #expect(try await sink.write([bounce]) == [.written])
            #expect(try await sink.write([bounce, try row(Fixtures.bytes("email_sent.json"))]) == [.duplicate, .written])
            #expect(try await sink.write([bounce, bounce]) == [.duplicate, .duplicate])
            #expect(try await query("SELECT CAST(count(*) AS TEXT) FROM customerio_events").first?.first == "2")
        }
    }

    @Test(arguments: SinkKind.allCases)
    func textWithTabsNewlinesAndBackslashesLandsVerbatim(kind: SinkKind) async throws {
        try await kind.withSink { sink, query in
            // PostgreSQL's COPY text format escapes these four bytes; the values must come back unchanged.
            let subject = "tab\there\nnew line\r\\back\\slash é ✓ \\N"
            let object: [String: Any] = [
                "event_id": "01ESCAPES", "object_type": "email", "metric": "sent", "timestamp": 1_767_235_000,
                "data": ["subject": subject, "recipient": "\\", "identifiers": ["email": "a\tb@example.org"]],
            ]
            let body = try JSONSerialization.data(withJSONObject: object)
            #expect(try await sink.write([try row(Array(body)), try row(Fixtures.bytes("email_sent.json"))]) == [.written, .written])
            let values = try await query("SELECT subject, recipient, identifier_email FROM customerio_events WHERE event_id = '01ESCAPES'")
            #expect(values.first == [subject, "\\", "a\tb@example.org"])
        }
    }

    @Test(arguments: SinkKind.allCases)
    func aRefusedRowIsReportedWhileTheRestOfItsBatchLands(kind: SinkKind) async throws {
        try await kind.withSink { sink, query in
            let poison: WarehouseRow
            switch kind {
            case .postgres:
                // PostgreSQL text cannot hold a NUL character, nor jsonb a \u0000 escape: valid JSON it refuses.
                poison = try row(
                    Array(#"{"event_id":"01POISON","object_type":"email","metric":"sent","timestamp":1,"data":{"subject":"a\u0000b"}}"#.utf8))
            case .sqlite:
                try await (sink as? SQLiteSink)?.execute(
                    "CREATE TRIGGER refuse_poison BEFORE INSERT ON customerio_events WHEN NEW.event_id = '01POISON' BEGIN SELECT RAISE(ABORT, 'poison row refused'); END"
                )
                poison = try row(Array(#"{"event_id":"01POISON","object_type":"email","metric":"sent","timestamp":1,"data":{}}"#.utf8))
            }
            let outcomes = try await sink.write([try row(Fixtures.bytes("email_sent.json")), poison, try row(Fixtures.bytes("email_clicked.json"))])
            #expect(outcomes.count == 3)
            #expect(outcomes[0] == .written && outcomes[2] == .written)
            guard case .rejected(let message) = outcomes[1] else {
                Issue.record("the poison row must be refused, got \(outcomes[1])")
                return
            }
            #expect(!message.isEmpty)
            #expect(try await query("SELECT CAST(count(*) AS TEXT) FROM customerio_events").first?.first == "2")
        }
    }

    /// A rollback: an older binary meets a warehouse a newer release migrated. It must refuse,
    /// naming both versions, and change nothing.
    @Test(arguments: SinkKind.allCases)
    func aSchemaMigratedByANewerReleaseIsRefused(kind: SinkKind) async throws {
        try await kind.withSink { sink, query in
            _ = try await query("INSERT INTO cio_relay_schema_migrations (version, summary) VALUES (99, 'from a newer release')")
            let refused = await #expect(throws: WarehouseError.self) { try await sink.migrate() }
            #expect(refused?.code == .schemaTooNew, "\(String(describing: refused))")
            #expect(
                refused?.message.contains("at version 99") == true && refused?.message.contains("up to 3") == true, "\(String(describing: refused))")
            let versions = try await query("SELECT CAST(version AS TEXT) FROM cio_relay_schema_migrations ORDER BY version").compactMap {
                $0.first ?? nil
            }
            #expect(versions == ["1", "2", "3", "99"])
        }
    }

    /// Migration 3 changes the indexes of a table that may hold millions of rows. While another
    /// session holds a transaction open on the table, a concurrent index change waits for it to
    /// end but lets every writer through meanwhile; a plain `DROP INDEX` or `CREATE INDEX` would
    /// queue for its lock, and every insert behind it, until that transaction ends.
    @Test func postgresIndexMigrationLetsWritersThroughWhileItWaits() async throws {
        let url = try await SinkKind.freshPostgresDatabase()
        try await PostgresSink(url: url, logger: SinkKind.quietLogger).withRunning { sink in
            #expect(try await sink.migrate(upTo: 2) == [1, 2])
            #expect(try await sink.write([try row(Fixtures.bytes("email_sent.json"))]) == [.written])
            let holder = Process()
            holder.executableURL = URL(fileURLWithPath: "/usr/bin/psql")
            holder.arguments = [
                url, "-q", "-c", "BEGIN; LOCK TABLE customerio_events IN ROW EXCLUSIVE MODE; SELECT pg_sleep(12); COMMIT;",
            ]
            holder.standardOutput = FileHandle.nullDevice
            try holder.run()
            defer { if holder.isRunning { holder.terminate() } }
            func sessions(_ condition: String) async throws -> Int {
                let rows = try await sink.rows("SELECT count(*)::text FROM pg_stat_activity WHERE datname = current_database() AND \(condition)")
                return Int((rows.first?.first ?? nil) ?? "") ?? 0
            }
            try await waitUntil("the holding transaction runs") { try await sessions("query LIKE 'BEGIN; LOCK TABLE%' AND state = 'active'") == 1 }

            async let migrated = sink.migrate()
            try await waitUntil("the migration waits for the holding transaction") {
                try await sessions("query LIKE '% INDEX CONCURRENTLY %' AND wait_event_type = 'Lock'") == 1
            }
            let start = ContinuousClock.now
            #expect(try await sink.write([try row(Fixtures.bytes("email_bounced.json"))]) == [.written])
            let elapsed = ContinuousClock.now - start
            #expect(elapsed < .seconds(3), "an insert during the migration took \(elapsed)")
            #expect(holder.isRunning, "the insert went through while the migration was still waiting")

            #expect(try await migrated == [3])
            holder.waitUntilExit()
            #expect(holder.terminationStatus == 0)
            let indexes = try await sink.rows(
                "SELECT indexrelid::regclass::text, indisvalid::text FROM pg_index WHERE indrelid = 'customerio_events'::regclass ORDER BY 1")
            #expect(indexes.allSatisfy { $0.last == "true" }, "\(indexes)")
            #expect(
                indexes.compactMap { $0.first ?? nil }
                    == [
                        "customerio_events_campaign", "customerio_events_delivery_id", "customerio_events_identifier_email",
                        "customerio_events_identifier_id", "customerio_events_occurred_at", "customerio_events_pkey",
                    ])
        }
    }

    @Test(arguments: SinkKind.allCases)
    func migrationsAreIdempotentAndUpgradeAnOlderSchema(kind: SinkKind) async throws {
        switch kind {
        case .sqlite:
            try await SinkKind.freshSQLite().withRunning { sqlite in
                try await Self.migrateFromVersionOne(kind: kind, sink: sqlite, old: try await sqlite.migrate(upTo: 1)) {
                    Set(
                        try await sqlite.rows(
                            "SELECT name || ' ' || sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'customerio_events' AND sql IS NOT NULL"
                        ).compactMap { $0.first ?? nil })
                }
            }
        case .postgres:
            try await SinkKind.freshPostgres().withRunning { postgres in
                try await Self.migrateFromVersionOne(kind: kind, sink: postgres, old: try await postgres.migrate(upTo: 1)) {
                    Set(
                        try await postgres.rows(
                            "SELECT indexname || ' ' || indexdef FROM pg_indexes WHERE tablename = 'customerio_events' AND indexname NOT LIKE '%_pkey'"
                        ).compactMap { $0.first ?? nil })
                }
            }
        }
    }

    private static func migrateFromVersionOne(kind: SinkKind, sink: any EventSink, old: [Int], indexes: () async throws -> Set<String>) async throws {
        #expect(old == [1])
        #expect(try await indexes().count == 7, "version 1 has seven secondary indexes")
        #expect(try await sink.write([try row(Fixtures.bytes("email_sent.json"))]) == [.written])
        #expect(try await sink.migrate() == [2, 3], "the older schema is upgraded")
        #expect(try await sink.migrate() == [], "and migrating again changes nothing")
        // Version 3: the (object_type, metric) and cio_id indexes are gone; PostgreSQL's time index is BRIN.
        let upgraded = try await indexes()
        #expect(
            upgraded.map { String($0.prefix { $0 != " " }) }.sorted()
                == ["campaign", "delivery_id", "identifier_email", "identifier_id", "occurred_at"].map { "customerio_events_\($0)" })
        let timeIndex = try #require(upgraded.first { $0.hasPrefix("customerio_events_occurred_at ") })
        #expect(timeIndex.contains("USING brin") == (kind == .postgres), "\(timeIndex)")
        #expect(
            try await sink.write([try row(Fixtures.bytes("email_sent.json")), try row(Fixtures.bytes("email_bounced.json"))]) == [
                .duplicate, .written,
            ])
        try await sink.record([
            ActionRecord(eventID: "e1", workspace: "default", person: "cio_id:c1", action: "suppress", outcome: "applied", detail: nil)
        ])
    }

}
