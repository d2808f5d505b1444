import Foundation

/// Why a correctly signed body is not a usable event. Such a body is still kept (dead letters).
public struct MalformedEventError: Error, Sendable, Hashable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The fields every reporting webhook carries at the top level: enough to deduplicate and route
/// an event without interpreting its `data`.
public struct WebhookEnvelope: Sendable, Hashable {
    /// The event's ULID: Customer.io's deduplication key.
    public let eventID: String
    public let objectType: ObjectType
    public let metric: Metric
    /// When the event happened (Unix seconds), if the payload says so as a whole number. Only
    /// informative here: a timestamp in another form must not cost the event.
    public let timestamp: Int64?

    /// Longest `event_id` accepted: ULIDs have 26 characters; this leaves room for other schemes
    /// while keeping Redis keys small.
    public static let maximumEventIDLength = 128

    public init(eventID: String, objectType: ObjectType, metric: Metric, timestamp: Int64?) {
        self.eventID = eventID
        self.objectType = objectType
        self.metric = metric
        self.timestamp = timestamp
    }

    /// Parses the top level of a webhook body (which must be a valid JSON object), failing with a
    /// message that says what is wrong.
    public static func parse(_ body: [UInt8]) throws(MalformedEventError) -> WebhookEnvelope {
        try envelope(from: scan(body, buildsData: false))
    }

    static func scan(_ body: [UInt8], buildsData: Bool) throws(MalformedEventError) -> EnvelopeScanner.Fields {
        let scanned = body.withUnsafeBufferPointer { buffer in
            Result { () throws(MalformedEventError) in try EnvelopeScanner.scan(buffer, buildsData: buildsData) }
        }
        return try scanned.get()
    }

    static func envelope(from fields: EnvelopeScanner.Fields) throws(MalformedEventError) -> WebhookEnvelope {
        let eventID = try requiredString("event_id", fields.eventID)
        guard !eventID.isEmpty else {
            throw MalformedEventError("\"event_id\" is empty")
        }
        guard eventID.utf8.count <= maximumEventIDLength else {
            throw MalformedEventError("\"event_id\" is longer than \(maximumEventIDLength) bytes")
        }
        var timestamp: Int64?
        if case .integer(let value) = fields.timestamp { timestamp = value }
        return WebhookEnvelope(
            eventID: eventID,
            objectType: ObjectType(try requiredString("object_type", fields.objectType)),
            metric: Metric(try requiredString("metric", fields.metric)),
            timestamp: timestamp
        )
    }

    private static func requiredString(_ key: String, _ field: EnvelopeScanner.Field?) throws(MalformedEventError) -> String {
        switch field {
        case .string(let value): return value
        case nil: throw MalformedEventError("the body has no \"\(key)\" field")
        case .null: throw MalformedEventError("field \"\(key)\" is null")
        case .integer, .other, .json: throw MalformedEventError("field \"\(key)\" has the wrong type")
        }
    }
}

/// A whole reporting webhook event: the envelope plus its `data`, kept as JSON so that fields
/// Customer.io adds later pass through untouched.
public struct WebhookEvent: Sendable, Hashable {
    public let envelope: WebhookEnvelope
    public let data: JSONValue

    public var eventID: String { envelope.eventID }
    public var objectType: ObjectType { envelope.objectType }
    public var metric: Metric { envelope.metric }
    public var timestamp: Int64? { envelope.timestamp }

    /// The person the event is about, from `data.identifiers`.
    public var identifiers: Identifiers {
        let identifiers = data["identifiers"]
        return Identifiers(
            id: identifiers?["id"]?.stringValue,
            email: identifiers?["email"]?.stringValue ?? data["email_address"]?.stringValue,
            cioID: identifiers?["cio_id"]?.stringValue
        )
    }

    /// Parses a whole body in one pass: the envelope as `WebhookEnvelope.parse` does, and `data`.
    public static func parse(_ body: [UInt8]) throws(MalformedEventError) -> WebhookEvent {
        let fields = try WebhookEnvelope.scan(body, buildsData: true)
        let envelope = try WebhookEnvelope.envelope(from: fields)
        guard case .json(let data) = fields.data else {
            return WebhookEvent(envelope: envelope, data: .null)
        }
        return WebhookEvent(envelope: envelope, data: data)
    }
}

/// The identifiers of a person as a webhook reports them; any may be absent.
public struct Identifiers: Sendable, Hashable {
    public let id: String?
    public let email: String?
    public let cioID: String?

    public init(id: String?, email: String?, cioID: String?) {
        self.id = id
        self.email = email
        self.cioID = cioID
    }
}
