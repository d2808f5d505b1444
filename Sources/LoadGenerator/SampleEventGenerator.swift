import CustomerIO
import Foundation

/// Realistic Customer.io reporting events for `cio-relay send`: every documented object type and
/// metric in turn, each with a new `event_id`, the fields that kind carries, for one of a fixed set
/// of people (`u_1` … `u_<people>`), at the current time or, with a `timeSpread`, up to that many
/// seconds before it, so that older events arrive after newer ones as they do in practice.
public struct SampleEventGenerator: Sendable {
    /// Every documented (object type, metric), in a fixed order.
    public static let kinds: [(objectType: String, metric: String)] = ObjectType.documentedMetrics
        .flatMap { type, metrics in metrics.map { (type.rawValue, $0.rawValue) } }
        .sorted { ($0.0, $0.1) < ($1.0, $1.1) }

    private var sequence = 0
    private let runID: String
    private let people: Int
    private let timeSpread: Int64

    /// `runID` goes into every `event_id`: senders running at once need different ones.
    public init(runID: String = String(UInt64(Date().timeIntervalSince1970 * 1000), radix: 36), people: Int = 5000, timeSpread: Int64 = 0) {
        self.runID = runID.uppercased()
        self.people = max(1, people)
        self.timeSpread = max(0, timeSpread)
    }

    /// The next event's body.
    public mutating func next(now: Int64 = Int64(Date().timeIntervalSince1970)) -> [UInt8] {
        let (objectType, metric) = Self.kinds[sequence % Self.kinds.count]
        // Shifted by one every round of kinds, so that each person gets every kind over time.
        let person = (sequence / Self.kinds.count + sequence % Self.kinds.count) % people + 1
        // A fixed scramble of the sequence: reproducible, and not in step with the kinds.
        let age = timeSpread > 0 ? Int64((UInt64(sequence) &* 2_654_435_761) % UInt64(timeSpread + 1)) : 0
        var data: [String: Any] = [
            "customer_id": "u_\(person)",
            "identifiers": ["id": "u_\(person)", "email": "person\(person)@example.com", "cio_id": String(format: "c%010d", person)],
        ]
        if objectType != "customer" {
            data["delivery_id"] = "d\(runID)\(sequence)"
            data["campaign_id"] = sequence % 40 + 1
            data["action_id"] = sequence % 400 + 1
            data["recipient"] =
                objectType == "sms" || objectType == "whatsapp" ? "+1555\(String(format: "%07d", person))" : "person\(person)@example.com"
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
            "object_type": objectType, "metric": metric, "timestamp": now - age, "data": data,
        ]
        sequence += 1
        // Only strings, numbers and nested dictionaries of them: serialization cannot fail.
        return Array((try? JSONSerialization.data(withJSONObject: event, options: [.sortedKeys])) ?? Data())
    }
}
