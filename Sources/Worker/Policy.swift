import CustomerIO

/// What the worker does with events: rules that match `object_type`/`metric` and list actions.
/// The first rule that matches an event decides; an event no rule matches causes no action.
public struct Policy: Sendable, Hashable {
    public var rules: [Rule]

    public init(rules: [Rule]) {
        self.rules = rules
    }

    public struct Rule: Sendable, Hashable {
        public var name: String
        /// Object types the rule applies to; nil means any.
        public var objectTypes: Set<String>?
        /// Metrics the rule applies to; nil means any.
        public var metrics: Set<String>?
        /// Run in order; a suppress always comes last (the profile is gone after it).
        public var actions: [Action]

        public init(name: String, objectTypes: Set<String>?, metrics: Set<String>?, actions: [Action]) {
            self.name = name
            self.objectTypes = objectTypes
            self.metrics = metrics
            self.actions = actions
        }

        func matches(objectType: String, metric: String) -> Bool {
            Policy.selects(objectTypes: objectTypes, metrics: metrics, objectType: objectType, metric: metric)
        }
    }

    /// Whether filters written as in a rule (`object_types`, `metrics`; nil: any) take an event of
    /// this type and metric. Rules and forwarding destinations filter alike.
    static func selects(objectTypes: Set<String>?, metrics: Set<String>?, objectType: String, metric: String) -> Bool {
        (objectTypes?.contains(objectType) ?? true) && (metrics?.contains(metric) ?? true)
    }

    public enum Action: Sendable, Hashable {
        /// Set attributes on the person. Monotonic attributes are only written by an event newer
        /// than the one that last wrote them, so a late retry never moves them back. With
        /// `ifChanged`, the action's attributes are written only when at least one of those
        /// (attributes of the same action) changes from the value cio-relay last wrote: a time
        /// that records when something changed is not moved by a repeat of the change.
        case identify([Attribute], monotonic: Bool, ifChanged: Set<String> = [])
        /// Delete the person and block the identifier (Track API).
        case suppress
        /// Suppress the event's email address at Customer.io's ESP (App API); the person stays.
        case espSuppress(ESPSuppressionType)

        public var isESPSuppression: Bool {
            if case .espSuppress = self { true } else { false }
        }
    }

    public struct Attribute: Sendable, Hashable {
        public var name: String
        public var value: ValueTemplate
        public init(name: String, value: ValueTemplate) {
            self.name = name
            self.value = value
        }
    }

    /// An attribute value: a constant, or a field of the event.
    public enum ValueTemplate: Sendable, Hashable {
        case constant(JSONValue)
        /// `$timestamp`: when the event happened (Unix seconds).
        case timestamp
        case metric
        case objectType
        case eventID
        /// `$data.a.b`: a field of the event's data; the attribute is left out when it is missing.
        case data([String])
    }

    /// True when a rule suppresses addresses at the ESP (and so needs the App API).
    public var suppressesAtTheESP: Bool {
        rules.contains { rule in rule.actions.contains(where: \.isESPSuppression) }
    }

    /// The rule deciding an event, if any.
    public func rule(objectType: String, metric: String) -> Rule? {
        rules.first { $0.matches(objectType: objectType, metric: metric) }
    }
}

/// The changes one event asks for, resolved against the event's fields.
public struct PlannedUpdate: Sendable, Hashable {
    public var person: PersonIdentifier
    /// When the event happened: orders monotonic attributes.
    public var eventTime: Int64
    public var attributes: [String: JSONValue]
    public var monotonicAttributes: Set<String>
    /// Attributes written only if one of their gate attributes changes (`if_changed`).
    public var gates: [String: Set<String>]
    public var suppress: Bool
    /// The ESP suppression asked for, with the event's address; nil when none is asked for, or
    /// the event carries no address.
    public var espSuppression: ESPSuppression?

    public init(
        person: PersonIdentifier, eventTime: Int64, attributes: [String: JSONValue], monotonicAttributes: Set<String>,
        gates: [String: Set<String>] = [:], suppress: Bool, espSuppression: ESPSuppression? = nil
    ) {
        self.person = person
        self.eventTime = eventTime
        self.attributes = attributes
        self.monotonicAttributes = monotonicAttributes
        self.gates = gates
        self.suppress = suppress
        self.espSuppression = espSuppression
    }
}

extension Policy {
    /// What `event` asks for under this policy: nil when no rule applies or its actions are empty.
    /// `fallbackTime` (when the event was received) stands in for a missing `timestamp`.
    public func plan(for event: WebhookEvent, person: PersonIdentifier, fallbackTime: Int64) -> PlannedUpdate? {
        guard let rule = rule(objectType: event.objectType.rawValue, metric: event.metric.rawValue), !rule.actions.isEmpty else {
            return nil
        }
        let time = event.timestamp ?? fallbackTime
        var update = PlannedUpdate(person: person, eventTime: time, attributes: [:], monotonicAttributes: [], suppress: false)
        for action in rule.actions {
            switch action {
            case .suppress:
                update.suppress = true
            case .espSuppress(let type):
                update.espSuppression = event.emailAddress.map { ESPSuppression(type: type, address: $0) }
            case .identify(let attributes, let monotonic, let ifChanged):
                for attribute in attributes {
                    guard let value = attribute.value.resolve(event: event, time: time) else { continue }
                    update.attributes[attribute.name] = value
                    if monotonic { update.monotonicAttributes.insert(attribute.name) }
                    if !ifChanged.isEmpty { update.gates[attribute.name] = ifChanged }
                }
            }
        }
        return update
    }
}

extension WebhookEvent {
    /// The address an email event was sent to (`data.recipient`), else the person's email.
    public var emailAddress: String? {
        if let recipient = data["recipient"]?.stringValue, recipient.contains("@") { return recipient }
        if let email = identifiers.email, email.contains("@") { return email }
        return nil
    }
}

extension Policy.ValueTemplate {
    func resolve(event: WebhookEvent, time: Int64) -> JSONValue? {
        switch self {
        case .constant(let value): return value
        case .timestamp: return .number(Double(time))
        case .metric: return .string(event.metric.rawValue)
        case .objectType: return .string(event.objectType.rawValue)
        case .eventID: return .string(event.eventID)
        case .data(let path):
            var value: JSONValue? = event.data
            for key in path { value = value?[key] }
            if value == .null { return nil }
            return value
        }
    }
}
