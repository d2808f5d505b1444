/// The channel or subject of a reporting webhook event (`object_type`). Known values have
/// constants; any other value is kept as it came, since Customer.io adds types over time.
public struct ObjectType: OpenStringValue {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    public static let customer = ObjectType("customer")
    public static let email = ObjectType("email")
    public static let push = ObjectType("push")
    public static let inApp = ObjectType("in_app")
    public static let sms = ObjectType("sms")
    public static let slack = ObjectType("slack")
    public static let webhook = ObjectType("webhook")
    public static let whatsapp = ObjectType("whatsapp")

    /// The metrics Customer.io documents for each object type.
    public static let documentedMetrics: [ObjectType: Set<Metric>] = [
        .customer: [.subscribed, .unsubscribed, .subscriptionPreferencesChanged],
        .email: [
            .drafted, .attempted, .sent, .delivered, .opened, .clicked, .converted, .unsubscribed, .bounced, .dropped, .spammed, .failed,
            .undeliverable,
        ],
        .push: [.drafted, .attempted, .sent, .delivered, .opened, .clicked, .converted, .bounced, .dropped, .failed, .undeliverable],
        .inApp: [.drafted, .attempted, .sent, .opened, .clicked, .converted, .failed, .undeliverable],
        .sms: [.drafted, .attempted, .sent, .delivered, .clicked, .converted, .bounced, .failed, .undeliverable, .replied],
        .slack: [.drafted, .attempted, .sent, .clicked, .failed, .undeliverable],
        .webhook: [.drafted, .attempted, .sent, .clicked, .failed, .undeliverable],
        .whatsapp: [.drafted, .attempted, .sent, .delivered, .opened, .clicked, .converted, .bounced, .dropped, .failed, .undeliverable, .replied],
    ]

    /// True for the object types Customer.io documents.
    public var isKnown: Bool { Self.documentedMetrics[self] != nil }
}

/// What happened to the object (`metric`): sent, delivered, bounced… Unknown values are kept.
public struct Metric: OpenStringValue {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    public static let drafted = Metric("drafted")
    public static let attempted = Metric("attempted")
    public static let sent = Metric("sent")
    public static let delivered = Metric("delivered")
    public static let opened = Metric("opened")
    public static let clicked = Metric("clicked")
    public static let converted = Metric("converted")
    public static let unsubscribed = Metric("unsubscribed")
    public static let subscribed = Metric("subscribed")
    public static let subscriptionPreferencesChanged = Metric("cio_subscription_preferences_changed")
    public static let bounced = Metric("bounced")
    public static let dropped = Metric("dropped")
    public static let spammed = Metric("spammed")
    public static let failed = Metric("failed")
    public static let undeliverable = Metric("undeliverable")
    public static let replied = Metric("replied")

    /// True when Customer.io documents this metric for `objectType`.
    public func isDocumented(for objectType: ObjectType) -> Bool {
        ObjectType.documentedMetrics[objectType]?.contains(self) ?? false
    }
}

/// A string-valued vocabulary that stays open: known values are constants, any other value is kept
/// as it came. Encoded as a plain JSON string.
public protocol OpenStringValue: RawRepresentable<String>, Sendable, Hashable, Codable, CustomStringConvertible {
    init(rawValue: String)
}

extension OpenStringValue {
    public init(_ rawValue: String) { self.init(rawValue: rawValue) }

    public var description: String { rawValue }

    public init(from decoder: any Decoder) throws {
        self.init(rawValue: try decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}
