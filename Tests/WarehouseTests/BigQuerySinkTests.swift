import CustomerIO
import Foundation
import Logging
import TestSupport
import Testing
import Warehouse

@Suite("BigQuery sink: URLs, wire format and schema")
struct BigQueryFormatTests {
    @Test func urlsAreParsedAndBadOnesRefusedWithTheReason() throws {
        let plain = try BigQueryTarget(url: "bigquery://my-project/events")
        #expect(plain == BigQueryTarget(project: "my-project", dataset: "events"))
        #expect(
            plain.eventsTable == "customerio_events" && plain.actionsTable == "customerio_actions" && plain.uniqueView == "customerio_events_unique")
        let full = try BigQueryTarget(url: "bigquery://my-project/events?location=EU&table_prefix=cio_")
        #expect(
            full.location == "EU" && full.eventsTable == "cio_customerio_events"
                && full.qualified(full.eventsTable) == "`my-project.events.cio_customerio_events`")
        #expect(full.description == "bigquery://my-project/events?location=EU&table_prefix=cio_")
        for (url, reason) in [
            ("bigquery://my-project", "dataset"), ("bigquery://X/events", "project id"), ("bigquery://my-project/bad-name", "dataset"),
            ("bigquery://my-project/events?colour=red", "unknown parameter 'colour'"), ("bigquery://u:p@my-project/events", "no credentials"),
            ("bigquery://my-project/events?table_prefix=a-b", "table_prefix"), ("bigquery://my-project/events?location=a%20b", "location"),
        ] {
            #expect(throws: WarehouseError.self, "\(url)") { try BigQueryTarget(url: url) }
            do {
                _ = try BigQueryTarget(url: url)
            } catch {
                #expect(error.code == .invalidURL && error.message.contains(reason), "\(url): \(error.message)")
            }
        }
        let location = try WarehouseLocation(url: "bigquery://my-project/events", google: .init(apiURL: "http://127.0.0.1:9050"))
        #expect(location.description == "bigquery://my-project/events via http://127.0.0.1:9050 (no credentials)")
        #expect(throws: WarehouseError.self) { try WarehouseLocation(url: "bigquery://my-project/events", google: .init(apiURL: "ftp://x")) }
    }

    @Test func credentialsAreChosenAsGooglesLibrariesChooseThem() throws {
        #expect(try GoogleCredentials.resolve(keyFile: nil, metadataHost: nil, apiURL: nil) == .metadataServer(host: "metadata.google.internal"))
        #expect(try GoogleCredentials.resolve(keyFile: nil, metadataHost: "10.0.0.2:8080", apiURL: nil) == .metadataServer(host: "10.0.0.2:8080"))
        #expect(try GoogleCredentials.resolve(keyFile: nil, metadataHost: nil, apiURL: "http://127.0.0.1:9050") == GoogleCredentials.none)
        #expect(try GoogleCredentials.resolve(keyFile: nil, metadataHost: "meta:80", apiURL: "http://proxy") == .metadataServer(host: "meta:80"))
        let missing = "/nonexistent/key.json"
        #expect(throws: WarehouseError.self) { try GoogleCredentials.resolve(keyFile: missing, metadataHost: nil, apiURL: nil) }
    }

    @Test func timestampsAreRFC3339InUTCWithZ() {
        #expect(BigQueryRowFormat.timestamp(milliseconds: 1_767_235_000_123) == "2026-01-01T02:36:40.123Z")
        #expect(BigQueryRowFormat.timestamp(seconds: 1_767_230_000) == "2026-01-01T01:13:20Z")
        #expect(BigQueryRowFormat.timestamp(milliseconds: 5) == "1970-01-01T00:00:00.005Z")
        #expect(BigQueryRowFormat.timestamp(milliseconds: -1) == "1969-12-31T23:59:59.999Z")
        #expect(BigQueryRowFormat.timestamp(seconds: 253_402_300_799) == "9999-12-31T23:59:59Z")
        #expect(BigQueryRowFormat.timestamp(seconds: -62_135_596_800) == "0001-01-01T00:00:00Z")
        // Beyond BigQuery's range, and far beyond (a hostile payload): no string, no crash.
        #expect(BigQueryRowFormat.timestamp(seconds: 253_402_300_800) == nil)
        #expect(BigQueryRowFormat.timestamp(seconds: .max) == nil && BigQueryRowFormat.timestamp(milliseconds: .min) == nil)
    }

    @Test func aRowIsSentWithItsEventIDAsInsertIDAndTypedAsBigQueryReadsIt() throws {
        let bounce = try row(Fixtures.bytes("email_bounced.json"))
        let item = BigQueryRowFormat.item(insertID: bounce.eventID, json: BigQueryRowFormat.json(of: bounce, ingestedAt: "2026-01-01T03:00:00.000Z"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(item)) as? [String: Any])
        #expect(object["insertId"] as? String == "01JBX5F9Z1Y2X3W4V5T6S7R8Q9")
        let json = try #require(object["json"] as? [String: Any])
        #expect(json["occurred_at"] as? String == "2026-01-01T01:13:20Z")
        #expect(json["received_at"] as? String == "2026-01-01T02:36:40.123Z")
        #expect(json["transactional_message_id"] as? String == "5", "INT64 as a string: exact beyond 2^53")
        #expect(
            json["payload"] as? String == String(decoding: try Fixtures.bytes("email_bounced.json"), as: UTF8.self),
            "the payload verbatim, as a JSON string")
        #expect(json["campaign_id"] == nil && json["href"] == nil, "NULLs are left out")
        #expect(json["ingested_at"] as? String == "2026-01-01T03:00:00.000Z")
    }

    @Test func theSchemaHasPostgresColumnsInBigQueryTypes() {
        let events = BigQuerySchema.current.fields(of: .events)
        #expect(events.map(\.name) == WarehouseRow.columns.map(\.name) + ["ingested_at"])
        #expect(events.first { $0.name == "occurred_at" }?.type == "TIMESTAMP")
        #expect(events.first { $0.name == "campaign_id" }?.type == "INT64")
        #expect(events.first { $0.name == "payload" }.map { $0.type == "JSON" && $0.required } == true)
        #expect(
            BigQuerySchema.current.fields(of: .actions).map(\.name) == ["event_id", "workspace", "person", "action", "outcome", "detail", "acted_at"])
    }
}
