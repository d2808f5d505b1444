import CustomerIO
import Yams

/// A policy that cannot be used, with the place in the file that says so.
public struct PolicyError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        let value: String
        public static let invalidYAML = Code(value: "invalid_yaml")
        public static let invalidRule = Code(value: "invalid_rule")
        public static let invalidAction = Code(value: "invalid_action")
        public static let invalidAttribute = Code(value: "invalid_attribute")
        /// A `forward:` destination that cannot be used.
        public static let invalidForward = Code(value: "invalid_forward")
        public var description: String { value }
    }

    public let code: Code
    /// File (or other source) name.
    public let source: String
    /// 1-based line, when known.
    public let line: Int?
    public let message: String

    public var description: String {
        "\(source)\(line.map { ":\($0)" } ?? ""): \(message)"
    }
}

/// Reads the `policy:` list of a YAML document into a `Policy`, naming the line of any error.
public enum PolicyParser {
    /// Attribute names and values are limited by the Track API.
    static let maximumAttributeNameBytes = 150
    static let maximumAttributeValueBytes = 1000

    /// Parses a document whose top level has a `policy:` list. A document without `policy:` is an error.
    public static func parse(yaml: String, source: String) throws(PolicyError) -> Policy {
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch {
            throw PolicyError(code: .invalidYAML, source: source, line: nil, message: "not valid YAML: \(error)")
        }
        guard let node = root?.mapping?["policy"] else {
            throw PolicyError(code: .invalidRule, source: source, line: root?.mark?.line, message: "no 'policy:' list at the top level")
        }
        return try parse(policy: node, source: source)
    }

    /// Parses the value of a `policy:` key.
    public static func parse(policy node: Node, source: String) throws(PolicyError) -> Policy {
        let context = Context(source: source)
        guard let items = node.sequence else {
            throw context.error(.invalidRule, node, "'policy' must be a list of rules")
        }
        var rules: [Policy.Rule] = []
        for (index, item) in items.enumerated() {
            rules.append(try context.rule(item, index: index))
        }
        return Policy(rules: rules)
    }

    /// Reads nodes of the file, naming the place of each error.
    struct Context {
        let source: String

        func error(_ code: PolicyError.Code, _ node: Node?, _ message: String) -> PolicyError {
            PolicyError(code: code, source: source, line: node?.mark?.line, message: message)
        }

        func rule(_ node: Node, index: Int) throws(PolicyError) -> Policy.Rule {
            guard let mapping = node.mapping else {
                throw error(.invalidRule, node, "rule \(index + 1) must be a mapping with metrics and actions")
            }
            let known: Set<String> = ["name", "object_types", "metrics", "actions"]
            for key in mapping.keys {
                guard let name = key.string, known.contains(name) else {
                    throw error(
                        .invalidRule, key,
                        "unknown key '\(key.string ?? "?")' in rule \(index + 1); expected \(known.sorted().joined(separator: ", "))")
                }
            }
            let name = mapping["name"]?.string ?? "rule \(index + 1)"
            guard mapping["metrics"] != nil || mapping["object_types"] != nil else {
                throw error(.invalidRule, node, "\(name): give 'metrics' and/or 'object_types' (use \"*\" for any)")
            }
            let objectTypes = try names(mapping["object_types"], key: "object_types", rule: name)
            let metrics = try names(mapping["metrics"], key: "metrics", rule: name)
            guard let actionsNode = mapping["actions"] else {
                throw error(.invalidRule, node, "\(name): 'actions' is missing (an empty list means: no action)")
            }
            guard let actionItems = actionsNode.sequence else {
                throw error(.invalidAction, actionsNode, "\(name): 'actions' must be a list")
            }
            var actions: [Policy.Action] = []
            for item in actionItems {
                let action = try self.action(item, rule: name)
                if action.isESPSuppression {
                    // Suppression at the ESP is about the address, not the profile: it may follow
                    // `suppress`, and is sent before it either way.
                    if actions.contains(where: \.isESPSuppression) {
                        throw error(.invalidAction, item, "\(name): one 'esp_suppress' per rule (an address is suppressed once)")
                    }
                } else if actions.contains(.suppress) {
                    throw error(
                        .invalidAction, item, "\(name): nothing may follow 'suppress': it deletes the profile, so later updates would be lost")
                }
                actions.append(action)
            }
            return Policy.Rule(name: name, objectTypes: objectTypes, metrics: metrics, actions: actions)
        }

        /// A list of names (or one name); `*` anywhere means any, returned as nil.
        func names(_ node: Node?, key: String, rule: String) throws(PolicyError) -> Set<String>? {
            guard let node else { return nil }
            var values: [String] = []
            if let single = node.scalar?.string {
                values = [single]
            } else if let items = node.sequence {
                for item in items {
                    guard let text = item.scalar?.string, !text.isEmpty else {
                        throw error(.invalidRule, item, "\(rule): every entry of '\(key)' must be a non-empty name")
                    }
                    values.append(text)
                }
            } else {
                throw error(.invalidRule, node, "\(rule): '\(key)' must be a name or a list of names")
            }
            guard !values.isEmpty else {
                throw error(.invalidRule, node, "\(rule): '\(key)' is empty: it would match nothing (use \"*\" for any)")
            }
            return values.contains("*") ? nil : Set(values)
        }

        func action(_ node: Node, rule: String) throws(PolicyError) -> Policy.Action {
            if node.scalar?.string == "suppress" { return .suppress }
            guard let mapping = node.mapping else {
                throw error(.invalidAction, node, "\(rule): an action is 'suppress', an 'esp_suppress:' or an 'identify:' mapping")
            }
            if let type = mapping["esp_suppress"] {
                return try espSuppress(type, mapping: mapping, rule: rule)
            }
            for key in mapping.keys where !["identify", "monotonic", "if_changed"].contains(key.string ?? "") {
                throw error(
                    .invalidAction, key,
                    "\(rule): unknown action key '\(key.string ?? "?")'; expected 'identify' (with optional 'monotonic' and 'if_changed'), 'esp_suppress' or 'suppress'"
                )
            }
            guard let identify = mapping["identify"] else {
                throw error(.invalidAction, node, "\(rule): the action has no 'identify:' attributes")
            }
            var monotonic = false
            if let flag = mapping["monotonic"] {
                guard let value = flag.bool else {
                    throw error(.invalidAction, flag, "\(rule): 'monotonic' must be true or false")
                }
                monotonic = value
            }
            guard let attributes = identify.mapping, !attributes.isEmpty else {
                throw error(.invalidAction, identify, "\(rule): 'identify' needs a mapping of attribute names to values")
            }
            var result: [Policy.Attribute] = []
            for (key, value) in attributes {
                guard let name = key.string, !name.isEmpty, name.utf8.count <= maximumAttributeNameBytes,
                    !name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
                else {
                    throw error(
                        .invalidAttribute, key,
                        "\(rule): attribute names must be 1 to \(maximumAttributeNameBytes) bytes of text without control characters")
                }
                result.append(Policy.Attribute(name: name, value: try template(value, attribute: name, rule: rule)))
            }
            var ifChanged: Set<String> = []
            if let gates = mapping["if_changed"] {
                ifChanged = try names(gates, key: "if_changed", rule: rule) ?? []
                for gate in ifChanged where !result.contains(where: { $0.name == gate }) {
                    throw error(.invalidAction, gates, "\(rule): 'if_changed' names '\(gate)', which this identify does not write")
                }
                if ifChanged.isEmpty {
                    throw error(.invalidAction, gates, "\(rule): 'if_changed' must name attributes of this identify, not \"*\"")
                }
            }
            return .identify(result, monotonic: monotonic, ifChanged: ifChanged)
        }

        /// `esp_suppress: TYPE`, alone in its mapping.
        func espSuppress(_ node: Node, mapping: Node.Mapping, rule: String) throws(PolicyError) -> Policy.Action {
            let types = ESPSuppressionType.allCases.map(\.rawValue).joined(separator: ", ")
            guard mapping.count == 1 else {
                throw error(.invalidAction, node, "\(rule): 'esp_suppress' stands alone in its action (- esp_suppress: TYPE)")
            }
            guard let text = node.scalar?.string, let type = ESPSuppressionType(rawValue: text) else {
                throw error(.invalidAction, node, "\(rule): 'esp_suppress' takes a suppression type: one of \(types)")
            }
            return .espSuppress(type)
        }

        func template(_ node: Node, attribute: String, rule: String) throws(PolicyError) -> Policy.ValueTemplate {
            guard let scalar = node.scalar else {
                throw error(.invalidAttribute, node, "\(rule): attribute '\(attribute)' must be a single value")
            }
            let text = scalar.string
            if scalar.style == .plain {
                if text == "null" || text == "~" || text.isEmpty { return .constant(.null) }
                if let bool = node.bool { return .constant(.bool(bool)) }
                if let int = node.int { return .constant(.number(Double(int))) }
                if let double = node.float, double.isFinite { return .constant(.number(double)) }
            }
            if text.hasPrefix("$$") { return .constant(.string(String(text.dropFirst()))) }
            if text.hasPrefix("$") {
                switch text {
                case "$timestamp": return .timestamp
                case "$metric": return .metric
                case "$object_type": return .objectType
                case "$event_id": return .eventID
                default:
                    let path = text.dropFirst().split(separator: ".", omittingEmptySubsequences: false).map(String.init)
                    guard path.count >= 2, path[0] == "data", path.dropFirst().allSatisfy({ !$0.isEmpty }) else {
                        throw error(
                            .invalidAttribute, node,
                            "\(rule): attribute '\(attribute)': unknown reference '\(text)'; use $timestamp, $metric, $object_type, $event_id or $data.<field>[.<field>…] ($$ for a literal $)"
                        )
                    }
                    return .data(Array(path.dropFirst()))
                }
            }
            guard text.utf8.count <= maximumAttributeValueBytes else {
                throw error(.invalidAttribute, node, "\(rule): attribute '\(attribute)' is longer than \(maximumAttributeValueBytes) bytes")
            }
            return .constant(.string(text))
        }
    }
}
