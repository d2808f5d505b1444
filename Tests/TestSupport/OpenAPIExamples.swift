import Foundation

/// Builds one example payload per event schema of Customer.io's reporting-webhook OpenAPI file,
/// so that tests cover every object type and metric the vendor documents.
public struct OpenAPIExamples {
    public struct Example {
        /// The schema name, such as `email_bounced`.
        public let schema: String
        /// The object type implied by the group the schema belongs to (`email_event` → `email`).
        public let objectType: String
        public let metric: String
        public let payload: [String: Any]
        /// True when the schema's `metric` enum disagreed with its name and the name was used
        /// (the vendor file's `push_drafted` says `attempted`).
        public let metricCorrected: Bool

        public func body() throws -> Data {
            try JSONSerialization.data(withJSONObject: payload, options: [.sortedKeys])
        }
    }

    private let schemas: [String: Any]
    private let document: [String: Any]

    public init(document: [String: Any]) throws {
        guard let components = document["components"] as? [String: Any], let schemas = components["schemas"] as? [String: Any] else {
            throw TestSetupError("the OpenAPI file has no components.schemas")
        }
        self.document = document
        self.schemas = schemas
    }

    /// One example per leaf schema under the webhook request body's `oneOf` groups.
    public func all() throws -> [Example] {
        guard let webhooks = document["webhooks"] as? [String: Any],
            let webhook = webhooks["reportingWebhook"] as? [String: Any],
            let post = webhook["post"] as? [String: Any],
            let requestBody = post["requestBody"] as? [String: Any],
            let content = requestBody["content"] as? [String: Any],
            let json = content["application/json"] as? [String: Any],
            let schema = json["schema"] as? [String: Any],
            let groups = schema["oneOf"] as? [[String: Any]]
        else {
            throw TestSetupError("the OpenAPI file has no reportingWebhook request body")
        }
        var examples: [Example] = []
        for group in groups {
            guard let groupName = Self.refName(group), let groupSchema = schemas[groupName] as? [String: Any],
                let leaves = groupSchema["oneOf"] as? [[String: Any]], groupName.hasSuffix("_event")
            else {
                throw TestSetupError("unexpected group \(group)")
            }
            let objectType = String(groupName.dropLast("_event".count))
            for leaf in leaves {
                guard let leafName = Self.refName(leaf) else { throw TestSetupError("unexpected leaf \(leaf)") }
                guard var payload = example(leaf, depth: 0) as? [String: Any] else {
                    throw TestSetupError("\(leafName) does not produce an object")
                }
                // One schema spells the field `object_type_type`; a real payload has `object_type`.
                if payload["object_type"] == nil { payload["object_type"] = objectType }
                guard let enumMetric = payload["metric"] as? String else { throw TestSetupError("\(leafName) has no metric") }
                // Schema names are `<object type>_<metric>` (`person_<metric>` for customers).
                let prefix = objectType == "customer" ? "person_" : objectType + "_"
                let metric = leafName.hasPrefix(prefix) ? String(leafName.dropFirst(prefix.count)) : enumMetric
                payload["metric"] = metric
                examples.append(
                    Example(schema: leafName, objectType: objectType, metric: metric, payload: payload, metricCorrected: metric != enumMetric))
            }
        }
        return examples
    }

    private static func refName(_ schema: [String: Any]) -> String? {
        (schema["$ref"] as? String)?.split(separator: "/").last.map(String.init)
    }

    private func resolve(_ schema: [String: Any]) -> [String: Any] {
        if let name = Self.refName(schema), let target = schemas[name] as? [String: Any] {
            return resolve(target)
        }
        return schema
    }

    private func example(_ raw: [String: Any], depth: Int) -> Any {
        let schema = resolve(raw)
        guard depth < 12 else { return NSNull() }
        if let values = schema["enum"] as? [Any], let first = values.first { return first }
        if let parts = schema["allOf"] as? [[String: Any]] {
            var merged: [String: Any] = [:]
            for part in parts {
                if let object = example(part, depth: depth + 1) as? [String: Any] {
                    merged.merge(object) { _, new in new }
                }
            }
            return merged
        }
        if let options = (schema["oneOf"] ?? schema["anyOf"]) as? [[String: Any]] {
            // The first option that is not `null`.
            let option = options.first { (resolve($0)["type"] as? String) != "null" } ?? options[0]
            return example(option, depth: depth + 1)
        }
        let type = schema["type"] as? String ?? (schema["properties"] != nil ? "object" : "string")
        if type != "object", let value = schema["example"] { return value }
        switch type {
        case "object":
            var object: [String: Any] = [:]
            for (name, property) in schema["properties"] as? [String: [String: Any]] ?? [:] {
                object[name] = example(property, depth: depth + 1)
            }
            return object
        case "array":
            return [example(schema["items"] as? [String: Any] ?? [:], depth: depth + 1)]
        case "integer": return 1
        case "number": return 1.5
        case "boolean": return true
        case "null": return NSNull()
        default: return "example"
        }
    }
}
