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
            (objectTypes?.contains(objectType) ?? true) && (metrics?.contains(metric) ?? true)
        }
    }

    public enum Action: Sendable, Hashable {
        /// Set attributes on the person. Monotonic attributes are only written by an event newer
        /// than the one that last wrote them, so a late retry never moves them back.
        case identify([Attribute], monotonic: Bool)
        case suppress
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
    public var suppress: Bool

    public init(person: PersonIdentifier, eventTime: Int64, attributes: [String: JSONValue], monotonicAttributes: Set<String>, suppress: Bool) {
        self.person = person
        self.eventTime = eventTime
        self.attributes = attributes
        self.monotonicAttributes = monotonicAttributes
        self.suppress = suppress
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
            case .identify(let attributes, let monotonic):
                for attribute in attributes {
                    guard let value = attribute.value.resolve(event: event, time: time) else { continue }
                    update.attributes[attribute.name] = value
                    if monotonic { update.monotonicAttributes.insert(attribute.name) }
                }
            }
        }
        return update
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
