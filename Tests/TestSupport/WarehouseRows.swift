import CustomerIO
import Foundation
import Warehouse

/// A warehouse row made from a webhook body as the worker makes it.
public func row(_ body: [UInt8], workspace: String = "default") throws -> WarehouseRow {
    WarehouseRow(
        event: try WebhookEvent.parse(body), workspace: workspace, receivedAt: 1_767_235_000_123, body: String(decoding: body, as: UTF8.self))
}

/// Every example of the vendor's reporting-webhooks OpenAPI file and the six fixtures as rows
/// (75 in all), with the (object_type/metric) pairs they cover.
public func exampleRows() throws -> (rows: [WarehouseRow], pairs: Set<String>) {
    let examples = try OpenAPIExamples(document: Fixtures.reportingWebhooksOpenAPI()).all()
    // The examples share the spec's sample event_id: each gets one of its own.
    var rows = try examples.map { example in
        guard var object = try JSONSerialization.jsonObject(with: Data(try example.body())) as? [String: Any] else {
            throw TestSetupError("an example of the OpenAPI file is not a JSON object")
        }
        object["event_id"] = Fixtures.newEventID()
        return try row(Array(try JSONSerialization.data(withJSONObject: object)))
    }
    rows += try [
        "email_bounced.json", "email_clicked.json", "email_sent.json", "email_spammed.json", "customer_unsubscribed.json",
        "push_delivered_email_only_workspace.json",
    ].map { try row(Fixtures.bytes($0)) }
    let pairs = Set(examples.map { "\($0.objectType)/\($0.metric)" }).union([
        "email/bounced", "email/clicked", "email/sent", "email/spammed", "customer/unsubscribed", "push/delivered",
    ])
    return (rows, pairs)
}
