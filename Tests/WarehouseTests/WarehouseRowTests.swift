import CustomerIO
import Testing
import Warehouse

@Suite("Warehouse rows from events")
struct WarehouseRowTests {
    @Test func numbersWhereIDsAreExpectedNeverStopTheWorker() throws {
        // Found by the warehouse-row fuzzer: 1e30 in a text column crashed the conversion.
        let body = Array(
            #"{"event_id":"01A","object_type":"email","metric":"sent","timestamp":1,"data":{"customer_id":1e30,"delivery_id":-2.5,"campaign_id":1e30,"action_id":12.0,"journey_id":42}}"#
                .utf8)
        let row = WarehouseRow(event: try WebhookEvent.parse(body), workspace: "w", receivedAt: 0, body: String(decoding: body, as: UTF8.self))
        #expect(row["customer_id"] == .text("1e+30"))
        #expect(row["delivery_id"] == .text("-2.5"))
        #expect(row["journey_id"] == .text("42"))
        #expect(row["campaign_id"] == .integer(nil))
        #expect(row["action_id"] == .integer(12))
    }
}
