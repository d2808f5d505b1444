import PostgresNIO
import Testing
import Warehouse

@Suite("Warehouse URLs")
struct WarehouseLocationTests {
    @Test func urlsAreCheckedAndPasswordsStayOutOfDescriptions() throws {
        #expect(try WarehouseLocation(url: "none") == .none)
        #expect(try WarehouseLocation(url: "sqlite:./data/x.sqlite") == .sqlite(path: "./data/x.sqlite"))
        let postgres = try WarehouseLocation(url: "postgres://relay:s3cret@db:5433/events?sslmode=require")
        #expect(!"\(postgres)".contains("s3cret"))
        #expect(throws: WarehouseError.self) { try WarehouseLocation(url: "sqlite:") }
        #expect(throws: WarehouseError.self) { try WarehouseLocation(url: "mysql://x/y") }
        #expect(throws: WarehouseError.self) { try WarehouseLocation(url: "postgres://u@h/db?sslmode=sometimes") }
        let configuration = try PostgresSink.configuration(url: "postgres://relay:p%40ss@db.internal:5433/events?sslmode=disable")
        #expect(configuration.host == "db.internal" && configuration.port == 5433 && configuration.username == "relay")
        #expect(configuration.password == "p@ss" && configuration.database == "events")
    }
}
