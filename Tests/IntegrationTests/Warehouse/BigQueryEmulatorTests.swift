import CustomerIO
import Foundation
import Logging
import TestSupport
import Testing
import Warehouse

/// A BigQuery sink on a dataset of its own of the shared emulator.
func freshBigQuerySink(url: String? = nil, schema: BigQuerySchema = .current, dataset: String = TestBigQuery.uniqueDataset()) throws -> BigQuerySink {
    let configuration = BigQuerySink.Configuration(
        target: BigQueryTarget(project: TestBigQuery.project, dataset: dataset), apiURL: try url ?? TestBigQuery.url(), credentials: .none)
    return BigQuerySink(configuration: configuration, schema: schema, logger: .quiet("warehouse-test"))
}

@Suite("BigQuery sink against the BigQuery emulator, read back with Google's Python client")
struct BigQueryEmulatorTests {
    /// The GoogleSQL statements of docs/warehouse.md's BigQuery section, on the given dataset.
    static func documentedQueries(project: String, dataset: String) throws -> [String] {
        let page = try String(contentsOf: TestBigQuery.root.appendingPathComponent("docs/warehouse.md"), encoding: .utf8)
        let section = try #require(page.range(of: "## BigQuery"))
        let start = try #require(page.range(of: "```sql\n", range: section.upperBound..<page.endIndex))
        let end = try #require(page.range(of: "```", range: start.upperBound..<page.endIndex))
        let statements = page[start.upperBound..<end.lowerBound].replacingOccurrences(of: "my-project.cio_events", with: "\(project).\(dataset)")
            .components(separatedBy: ";\n").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { !$0.isEmpty }
        #expect(statements.count == 3, "docs/warehouse.md should show three BigQuery queries")
        return statements
    }

    @Test func everyObjectTypeAndMetricLandsAsOneTypedRow() async throws {
        let url = try TestBigQuery.url()
        let sink = try freshBigQuerySink()
        let dataset = sink.configuration.target.dataset
        try await sink.withRunning { sink in
            #expect(try await sink.migrate() == [1])
            let (rows, pairs) = try exampleRows()
            #expect(rows.count == 75)
            let outcomes = try await sink.write(rows)
            #expect(outcomes == Array(repeating: .written, count: 75))
            let table = "`\(TestBigQuery.project).\(dataset).customerio_events`"
            let counted = try TestBigQuery.query("SELECT COUNT(*) AS n, COUNT(DISTINCT event_id) AS ids FROM \(table)", url: url)
            #expect(counted.first?["n"] as? Int == 75 && counted.first?["ids"] as? Int == 75)
            let found = try TestBigQuery.query("SELECT DISTINCT CONCAT(object_type, '/', metric) AS pair FROM \(table)", url: url)
            #expect(Set(found.compactMap { $0["pair"] as? String }) == pairs)
            // Typed columns, from the bounce fixture.
            let bounce = try #require(
                try TestBigQuery.query(
                    """
                    SELECT workspace, occurred_at, received_at, customer_id, identifier_id, identifier_email, cio_id, delivery_id,
                           transactional_message_id, recipient, subject, failure_message, payload
                    FROM \(table) WHERE event_id = '01JBX5F9Z1Y2X3W4V5T6S7R8Q9'
                    """, url: url
                ).first)
            #expect(bounce["workspace"] as? String == "default")
            #expect(bounce["occurred_at"] as? String == "2026-01-01T01:13:20.000000Z")
            #expect(bounce["received_at"] as? String == "2026-01-01T02:36:40.123000Z")
            #expect(bounce["customer_id"] as? String == "u_903" && bounce["identifier_email"] as? String == "old@corp.example")
            #expect(bounce["cio_id"] as? String == "a1b2c3000903" && bounce["delivery_id"] as? String == "dgXkAQEBpQ1k2m3n4o5p6q==")
            #expect(bounce["transactional_message_id"] as? Int == 5)
            #expect(bounce["failure_message"] as? String == "550 5.1.1 <old@corp.example>: Recipient address rejected")
            let payload = try #require(
                bounce["payload"] as? [String: Any], "the JSON column reads back as JSON: \(String(describing: bounce["payload"]))")
            #expect((payload["data"] as? [String: Any])?["failure_message"] as? String == "550 5.1.1 <old@corp.example>: Recipient address rejected")
            // Clicks have href and link_id.
            let click = try #require(
                try TestBigQuery.query(
                    "SELECT href, link_id, newsletter_id, content_id FROM \(table) WHERE event_id = '01JBX5A0C4D8E2F6G0H4J8K2M6'", url: url
                ).first)
            #expect(click["href"] as? String == "https://example.com/pricing" && click["link_id"] as? Int == 4)
            #expect(click["newsletter_id"] as? Int == 12 && click["content_id"] as? Int == 3)
            // The example queries of docs/warehouse.md run on these rows.
            for query in try Self.documentedQueries(project: TestBigQuery.project, dataset: dataset) {
                _ = try TestBigQuery.query(query, url: url)
            }
            // The view keeps one row per event_id: a batch sent twice (the emulator ignores insertId) counts once.
            _ = try await sink.write(Array(rows.prefix(5)))
            let unique = "`\(TestBigQuery.project).\(dataset).customerio_events_unique`"
            #expect(try TestBigQuery.query("SELECT COUNT(*) AS n FROM \(table)", url: url).first?["n"] as? Int == 80)
            #expect(try TestBigQuery.query("SELECT COUNT(*) AS n FROM \(unique)", url: url).first?["n"] as? Int == 75)
        }
    }

    @Test func tablesArePartitionedAndClusteredAndMigrateAddsColumnsOnlyOnce() async throws {
        let url = try TestBigQuery.url()
        let dataset = TestBigQuery.uniqueDataset()
        try await freshBigQuerySink(dataset: dataset).withRunning { sink in
            let first = try await sink.migrate()
            let second = try await sink.migrate()
            #expect(first == [1])
            #expect(second == [], "the second run finds everything in place")
        }
        let events = try TestBigQuery.read(["table", "\(dataset).customerio_events"], url: url)
        #expect(events["partitioning"] as? String == "DAY" && events["partition_field"] as? String == "occurred_at")
        #expect(events["clustering"] as? [String] == ["object_type", "metric", "campaign_id"])
        #expect((events["labels"] as? [String: String])?["cio_relay_schema_version"] == "1")
        let actions = try TestBigQuery.read(["table", "\(dataset).customerio_actions"], url: url)
        #expect(actions["partitioning"] as? String == "DAY" && actions["partition_field"] as? String == "acted_at")
        let view = try TestBigQuery.read(["table", "\(dataset).customerio_events_unique"], url: url)
        // (What the view keeps is checked by counting through it, in the test above.)
        #expect(view["type"] as? String == "VIEW")
        // A later version adds a column: applied through tables.patch, once.
        let later = BigQuerySchema.current.appending(
            BigQueryMigration(
                version: 2, summary: "test: a column added later", columns: [.events: [BigQueryField("test_added", "STRING")]]))
        try await freshBigQuerySink(schema: later, dataset: dataset).withRunning { sink in
            let first = try await sink.migrate()
            let second = try await sink.migrate()
            #expect(first == [2])
            #expect(second == [])
        }
        let patched = try TestBigQuery.read(["table", "\(dataset).customerio_events"], url: url)
        let fields = try #require(patched["fields"] as? [[String]])
        #expect(
            fields.last == ["test_added", "STRING", "NULLABLE"] && fields.count == events["fields"].map { ($0 as? [Any])?.count ?? 0 }.map { $0 + 1 })
        #expect((patched["labels"] as? [String: String])?["cio_relay_schema_version"] == "2")
        #expect(patched["clustering"] as? [String] == ["object_type", "metric", "campaign_id"], "the patch keeps the layout")
        // A rollback: this release's schema (version 1) meets the tables version 2 migrated.
        try await freshBigQuerySink(dataset: dataset).withRunning { sink in
            let refused = await #expect(throws: WarehouseError.self) { try await sink.migrate() }
            #expect(refused?.code == .schemaTooNew)
            #expect(
                refused?.message.contains("at version 2") == true && refused?.message.contains("up to 1") == true, "\(String(describing: refused))")
        }
    }

    @Test func theAuditTrailLandsInTheActionsTable() async throws {
        let url = try TestBigQuery.url()
        let sink = try freshBigQuerySink()
        try await sink.withRunning { sink in
            _ = try await sink.migrate()
            try await sink.record([
                ActionRecord(eventID: "e1", workspace: "default", person: "cio_id:c1", action: "suppress", outcome: "applied", detail: nil),
                ActionRecord(eventID: "e1", workspace: "default", person: "cio_id:c1", action: "identify", outcome: "applied", detail: "bounced_at"),
            ])
            let rows = try TestBigQuery.query(
                "SELECT action, detail FROM `\(TestBigQuery.project).\(sink.configuration.target.dataset).customerio_actions` ORDER BY action",
                url: url)
            #expect(rows.map { $0["action"] as? String } == ["identify", "suppress"])
            #expect(rows.first?["detail"] as? String == "bounced_at" && rows.last?["detail"] is NSNull)
        }
    }
}
