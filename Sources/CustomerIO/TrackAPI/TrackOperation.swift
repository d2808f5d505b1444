import Foundation

/// How the Track API addresses a person: Customer.io's own id, the workspace's id, or an email.
public enum PersonIdentifier: Sendable, Hashable {
    case cioID(String)
    case id(String)
    case email(String)

    /// The `{identifier}` of a v1 path: `cio_<cio_id>`, the id, or the email, percent-encoded.
    var pathComponent: String {
        let raw: String
        switch self {
        case .cioID(let value): raw = "cio_" + value
        case .id(let value): raw = value
        case .email(let value): raw = value
        }
        return percentEncodedPathSegment(raw)
    }

    /// The `identifiers` object of a v2 batch item.
    var batchIdentifiers: JSONValue {
        switch self {
        case .cioID(let value): .object(["cio_id": .string(value)])
        case .id(let value): .object(["id": .string(value)])
        case .email(let value): .object(["email": .string(value)])
        }
    }

    /// The identifier itself.
    public var value: String {
        switch self {
        case .cioID(let value), .id(let value), .email(let value): value
        }
    }

    /// Which kind of identifier, for logs (the value may be an email address and is not logged).
    public var kind: String {
        switch self {
        case .cioID: "cio_id"
        case .id: "id"
        case .email: "email"
        }
    }
}

/// `text` as one segment of a URL path: everything but unreserved characters and `@`
/// percent-encoded (a `+` or `/` in an id or an address must not change the path).
func percentEncodedPathSegment(_ text: String) -> String {
    text.addingPercentEncoding(withAllowedCharacters: pathSegmentAllowed) ?? text
}

private let pathSegmentAllowed = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~@")

extension Identifiers {
    /// The identifier to send: `cio_id` when present, else `id`, else `email`; nil when the event
    /// names nobody usable.
    public var person: PersonIdentifier? {
        if let cioID, !cioID.isEmpty { return .cioID(cioID) }
        if let id, !id.isEmpty { return .id(id) }
        if let email, !email.isEmpty { return .email(email) }
        return nil
    }
}

/// One change to a person through the Track API.
public enum TrackOperation: Sendable, Hashable {
    /// Create or update the person with these attributes.
    case identify(PersonIdentifier, attributes: [String: JSONValue])
    /// Delete the person and keep the identifier from being added again.
    case suppress(PersonIdentifier)

    public var person: PersonIdentifier {
        switch self {
        case .identify(let person, _), .suppress(let person): person
        }
    }

    public var action: String {
        switch self {
        case .identify: "identify"
        case .suppress: "suppress"
        }
    }

    /// The operation as an item of a v2 batch.
    var batchItem: JSONValue {
        var item: [String: JSONValue] = [
            "type": .string("person"),
            "identifiers": person.batchIdentifiers,
            "action": .string(action),
        ]
        if case .identify(_, let attributes) = self {
            item["attributes"] = .object(attributes)
        }
        return .object(item)
    }
}
