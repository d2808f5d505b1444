import CustomerIO

/// Everything one batch asks of one person, merged into at most one identify and one suppress.
public struct MergedUpdate: Sendable, Hashable {
    public var workspace: String
    public var person: PersonIdentifier
    public var attributes: [String: JSONValue]
    /// For each monotonic attribute kept, the time of the event whose value it holds.
    public var monotonicTimes: [String: Int64]
    /// Attributes written only when one of their gate attributes changes (`if_changed`).
    public var gates: [String: Set<String>] = [:]
    public var suppress: Bool
    /// Addresses to suppress at the ESP (App API), in the order the events asked.
    public var espSuppressions: [ESPSuppression] = []
    /// Positions in the batch of the events merged here.
    public var entries: [Int]

    /// The Track API operations, attributes first: a suppressed profile is gone.
    public var operations: (identify: TrackOperation?, suppress: TrackOperation?) {
        (attributes.isEmpty ? nil : .identify(person, attributes: attributes), suppress ? .suppress(person) : nil)
    }
}

/// Merges the updates of a batch per workspace and person. Events are taken in stream order: a
/// later event's value wins, except that a monotonic attribute keeps the value of the newest event
/// (by event time), whatever order the events arrived in.
public enum PersonUpdates {
    public static func merge(_ planned: [(index: Int, workspace: String, update: PlannedUpdate)]) -> [MergedUpdate] {
        struct Key: Hashable {
            let workspace: String
            let person: PersonIdentifier
        }
        var order: [Key] = []
        var merged: [Key: MergedUpdate] = [:]
        for (index, workspace, update) in planned {
            let key = Key(workspace: workspace, person: update.person)
            var current =
                merged[key]
                ?? {
                    order.append(key)
                    return MergedUpdate(
                        workspace: workspace, person: update.person, attributes: [:], monotonicTimes: [:], suppress: false, entries: [])
                }()
            current.entries.append(index)
            current.suppress = current.suppress || update.suppress
            if let suppression = update.espSuppression, !current.espSuppressions.contains(suppression) {
                current.espSuppressions.append(suppression)
            }
            for (name, value) in update.attributes {
                if update.monotonicAttributes.contains(name) {
                    if let kept = current.monotonicTimes[name], kept > update.eventTime { continue }
                    current.monotonicTimes[name] = update.eventTime
                } else {
                    current.monotonicTimes[name] = nil
                }
                current.attributes[name] = value
                current.gates[name] = update.gates[name]
            }
            merged[key] = current
        }
        return order.compactMap { merged[$0] }
    }
}
