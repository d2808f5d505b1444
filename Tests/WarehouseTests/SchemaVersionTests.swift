import Foundation
import Testing
import Warehouse

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
