import Foundation
import Testing

@testable import Warehouse

@Suite("A warehouse from a newer release")
struct SchemaVersionTests {
    @Test func anOlderBinaryRefusesASchemaItDoesNotKnow() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("schema-\(UUID().uuidString).sqlite").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try await SQLiteSink(path: path).withRunning { sink in
            #expect(try await sink.migrate() == [1, 2, 3])
            _ = try await sink.rows("INSERT INTO cio_relay_schema_migrations (version, summary) VALUES (4, 'from a newer release')")
            let refused = await #expect(throws: WarehouseError.self) { try await sink.migrate() }
            #expect(refused?.code == .schemaTooNew)
            #expect(
                refused?.message.hasPrefix("the warehouse schema is at version 4, migrated by a newer cio-relay; this one knows versions up to 3")
                    == true)
        }
    }
}

@Suite("Migrations that do not block writers")
struct MigrationLockingTests {
    /// PostgreSQL's `CREATE INDEX` holds a lock that stops every insert into the table for as long
    /// as the build takes, and `DROP INDEX` waits for, and then blocks, every transaction on it: on
    /// a table that an earlier migration created (and that may hold millions of rows), a migration
    /// changes indexes only through `concurrently`.
    @Test func postgresIndexChangesOnExistingTablesAreConcurrent() throws {
        var existing: Set<String> = []
        for migration in Schema.migrations(.postgres) {
            for statement in migration.statements {
                let words = statement.split(separator: " ").map(String.init)
                guard words.count > 2, words[1] == "INDEX" || words[2] == "INDEX" else { continue }
                let table =
                    words[0] == "CREATE"
                    ? words.firstIndex(of: "ON").map { words[$0 + 1] }
                    : existing.first { words.last?.hasPrefix($0) == true }
                #expect(
                    !existing.contains(table ?? ""),
                    "migration \(migration.version) changes an index of \(table ?? "?") in its transaction: \(statement)")
            }
            for statement in migration.statements where statement.hasPrefix("CREATE TABLE ") {
                existing.insert(String(statement.dropFirst("CREATE TABLE ".count).prefix { $0 != " " }))
            }
        }
        #expect(existing == [Schema.eventsTable, Schema.actionsTable])
        #expect(Schema.migrations(.postgres).map(\.version) == Schema.migrations(.sqlite).map(\.version))
        let concurrent = try #require(Schema.migrations(.postgres).last?.concurrently)
        #expect(
            concurrent.last?.statement
                == "CREATE INDEX CONCURRENTLY IF NOT EXISTS customerio_events_occurred_at ON customerio_events USING brin (occurred_at)")
    }

    @Test func migrateSaysWhetherOlderWorkersMayKeepRunning() throws {
        let bigQuery = try WarehouseLocation(url: "bigquery://my-project/events", google: .init(apiURL: "http://127.0.0.1:9050"))
        #expect(bigQuery.describeMigration(1) == "1: tables and the de-duplicating view created; workers of the release before may keep running")
        #expect(bigQuery.describeMigration(2) == "2: columns added; workers of the release before may keep running")
        #expect(
            WarehouseLocation.postgres(url: "postgres://h/db").describeMigration(3)
                == "3: leaner indexes: no (object_type, metric) or cio_id index; occurred_at as BRIN in PostgreSQL, indexes changed concurrently (writers are not blocked); workers of the release before may keep running"
        )
        #expect(WarehouseLocation.sqlite(path: "x").describeMigration(2).hasSuffix("; workers of the release before may keep running"))
    }
}
