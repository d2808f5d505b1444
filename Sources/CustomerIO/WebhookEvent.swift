import Foundation

/// Why a correctly signed body is not a usable event. Such a body is still kept (dead letters).
public struct MalformedEventError: Error, Sendable, Hashable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The fields every reporting webhook carries at the top level: enough to deduplicate and route
/// an event without interpreting its `data`.
public struct WebhookEnvelope: Sendable, Hashable, Decodable {
    /// The event's ULID: Customer.io's deduplication key.
    public let eventID: String
    public let objectType: ObjectType
    public let metric: Metric
    /// When the event happened (Unix seconds), if the payload says.
    public let timestamp: Int64?

    /// Longest `event_id` accepted: ULIDs have 26 characters; this leaves room for other schemes
    /// while keeping Redis keys small.
    public static let maximumEventIDLength = 128

    enum CodingKeys: String, CodingKey {
        case eventID = "event_id"
        case objectType = "object_type"
        case metric
        case timestamp
    }

    public init(eventID: String, objectType: ObjectType, metric: Metric, timestamp: Int64?) {
        self.eventID = eventID
        self.objectType = objectType
        self.metric = metric
        self.timestamp = timestamp
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        eventID = try container.decode(String.self, forKey: .eventID)
        objectType = try container.decode(ObjectType.self, forKey: .objectType)
        metric = try container.decode(Metric.self, forKey: .metric)
        // Only informative here: a timestamp in an unexpected form must not cost the event.
        timestamp = try? container.decodeIfPresent(Int64.self, forKey: .timestamp)
    }

    /// Parses the top level of a webhook body, failing with a message that says what is wrong.
    public static func parse(_ body: Data) throws(MalformedEventError) -> WebhookEnvelope {
        try parse(body, as: WebhookEnvelope.self)
    }

    /// Parses a body as `T` (an envelope or a whole event) and checks the envelope's fields.
    static func parse<T: Decodable & HasEnvelope>(_ body: Data, as type: T.Type) throws(MalformedEventError) -> T {
        let value: T
        do {
            value = try JSONDecoder().decode(T.self, from: body)
        } catch let DecodingError.keyNotFound(key, _) {
            throw MalformedEventError("the body has no \"\(key.stringValue)\" field")
        } catch let DecodingError.typeMismatch(_, context) where !context.codingPath.isEmpty {
            throw MalformedEventError("field \"\(Self.path(context))\" has the wrong type")
        } catch let DecodingError.valueNotFound(_, context) {
            throw MalformedEventError("field \"\(Self.path(context))\" is null")
        } catch {
            throw MalformedEventError("the body is not a JSON object")
        }
        let envelope = value.envelope
        guard !envelope.eventID.isEmpty else {
            throw MalformedEventError("\"event_id\" is empty")
        }
        guard envelope.eventID.utf8.count <= maximumEventIDLength else {
            throw MalformedEventError("\"event_id\" is longer than \(maximumEventIDLength) bytes")
        }
        return value
    }

    private static func path(_ context: DecodingError.Context) -> String {
        context.codingPath.map(\.stringValue).joined(separator: ".")
    }
}

protocol HasEnvelope {
    var envelope: WebhookEnvelope { get }
}

extension WebhookEnvelope: HasEnvelope {
    var envelope: WebhookEnvelope { self }
}

/// A whole reporting webhook event: the envelope plus its `data`, kept as JSON so that fields
/// Customer.io adds later pass through untouched.
public struct WebhookEvent: Sendable, Hashable, Decodable, HasEnvelope {
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

    enum CodingKeys: String, CodingKey { case data }

    public init(from decoder: any Decoder) throws {
        envelope = try WebhookEnvelope(from: decoder)
        data = try decoder.container(keyedBy: CodingKeys.self).decodeIfPresent(JSONValue.self, forKey: .data) ?? .null
    }

    public static func parse(_ body: Data) throws(MalformedEventError) -> WebhookEvent {
        try WebhookEnvelope.parse(body, as: WebhookEvent.self)
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
