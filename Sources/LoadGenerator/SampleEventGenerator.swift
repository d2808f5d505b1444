import CustomerIO
import Foundation

/// Realistic Customer.io reporting events for `cio-relay send`: every documented object type and
/// metric in turn, each with a new `event_id`, the current time and the fields that kind carries.
public struct SampleEventGenerator: Sendable {
    /// Every documented (object type, metric), in a fixed order.
    public static let kinds: [(objectType: String, metric: String)] = ObjectType.documentedMetrics
        .flatMap { type, metrics in metrics.map { (type.rawValue, $0.rawValue) } }
        .sorted { ($0.0, $0.1) < ($1.0, $1.1) }

    private var sequence = 0
    private let runID: String

    public init(runID: String = String(UInt64(Date().timeIntervalSince1970 * 1000), radix: 36)) {
        self.runID = runID.uppercased()
    }

    /// The next event's body.
    public mutating func next(now: Int64 = Int64(Date().timeIntervalSince1970)) -> [UInt8] {
        let (objectType, metric) = Self.kinds[sequence % Self.kinds.count]
        let person = sequence % 5000 + 1
        var data: [String: Any] = [
            "customer_id": "u_\(person)",
            "identifiers": ["id": "u_\(person)", "email": "person\(person)@example.com", "cio_id": String(format: "c%010d", person)],
        ]
        if objectType != "customer" {
            data["delivery_id"] = "d\(runID)\(sequence)"
            data["campaign_id"] = sequence % 40 + 1
            data["action_id"] = sequence % 400 + 1
            data["recipient"] = objectType == "sms" || objectType == "whatsapp" ? "+1555\(String(format: "%07d", person))" : "person\(person)@example.com"
        }
        if objectType == "email" { data["subject"] = "Your weekly summary" }
        switch metric {
        case "clicked":
            data["href"] = "https://example.com/pricing"
            data["link_id"] = sequence % 10 + 1
        case "bounced", "failed", "dropped", "undeliverable":
            data["failure_message"] = "550 5.1.1 Recipient address rejected"
        default: break
        }
        let event: [String: Any] = [
            "event_id": "01SEND\(runID)\(String(format: "%010d", sequence))",
            "object_type": objectType, "metric": metric, "timestamp": now, "data": data,
        ]
        sequence += 1
        // Only strings, numbers and nested dictionaries of them: serialization cannot fail.
        return Array((try? JSONSerialization.data(withJSONObject: event, options: [.sortedKeys])) ?? Data())
    }
}
