import CustomerIO
import Foundation
import Yams

/// An HTTP endpoint that receives every matching event, signed the Standard Webhooks way, from a
/// consumer group of its own (`forward:<name>`): a destination that fails holds up no other.
public struct ForwardDestination: Sendable {
    /// Letters, digits, '-' and '_': it names the consumer group, metrics and dead letters.
    public var name: String
    public var url: String
    public var signer: StandardWebhookSigner
    /// Object types forwarded; nil means any.
    public var objectTypes: Set<String>?
    /// Metrics forwarded; nil means any.
    public var metrics: Set<String>?
    /// Time for one delivery attempt, connecting included.
    public var timeout: Duration
    /// An event that still fails this long after it was received goes to the dead letters
    /// (reason `forward_failed`), from which it can be replayed to this destination alone.
    public var giveUpAfter: Duration
    /// Deliveries in flight at once.
    public var concurrency: Int

    public init(
        name: String, url: String, signer: StandardWebhookSigner, objectTypes: Set<String>? = nil, metrics: Set<String>? = nil,
        timeout: Duration = .seconds(5), giveUpAfter: Duration = .seconds(86_400), concurrency: Int = 8
    ) {
        self.name = name
        self.url = url
        self.signer = signer
        self.objectTypes = objectTypes
        self.metrics = metrics
        self.timeout = timeout
        self.giveUpAfter = giveUpAfter
        self.concurrency = concurrency
    }

    /// The prefix of the destinations' consumer groups.
    public static let groupPrefix = "forward:"
    /// What `CIO_RELAY_GROUPS` names to run every destination.
    public static let allGroups = "forward"

    /// The consumer group this destination reads from.
    public var group: String { Self.groupPrefix + name }

    /// Whether an event of this type and metric goes to this destination.
    public func matches(objectType: String, metric: String) -> Bool {
        Policy.selects(objectTypes: objectTypes, metrics: metrics, objectType: objectType, metric: metric)
    }
}

extension PolicyParser {
    /// The destination names of a `forward:` list, for the processes that create the groups but
    /// hold no secrets (a receiver). Errors are left to `parse(forward:)`: a malformed entry is
    /// skipped here.
    public static func forwardNames(_ node: Node) -> [String] {
        node.sequence?.compactMap { $0.mapping?["name"]?.string } ?? []
    }

    /// Reads the value of a `forward:` key, naming the line of any error. Secrets come from
    /// `secret` or from the variable `secret_env` names, looked up in `environment`.
    public static func parse(forward node: Node, source: String, environment: [String: String]) throws(PolicyError) -> [ForwardDestination] {
        let context = Context(source: source)
        guard let items = node.sequence else {
            throw context.error(.invalidForward, node, "'forward' must be a list of destinations")
        }
        var destinations: [ForwardDestination] = []
        for (index, item) in items.enumerated() {
            let destination = try context.destination(item, index: index, environment: environment)
            if destinations.contains(where: { $0.name == destination.name }) {
                throw context.error(.invalidForward, item, "two destinations are named '\(destination.name)'")
            }
            destinations.append(destination)
        }
        return destinations
    }
}

extension PolicyParser.Context {
    func destination(_ node: Node, index: Int, environment: [String: String]) throws(PolicyError) -> ForwardDestination {
        guard let mapping = node.mapping else {
            throw error(.invalidForward, node, "destination \(index + 1) must be a mapping with name, url and secret")
        }
        let known: Set<String> = ["name", "url", "secret", "secret_env", "object_types", "metrics", "timeout", "give_up_after", "concurrency"]
        for key in mapping.keys where !known.contains(key.string ?? "") {
            throw error(
                .invalidForward, key,
                "unknown key '\(key.string ?? "?")' in destination \(index + 1); expected \(known.sorted().joined(separator: ", "))")
        }
        guard let nameNode = mapping["name"], let name = nameNode.string, !name.isEmpty, name.utf8.count <= 64,
            name.utf8.allSatisfy({ $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || (0x30...0x39).contains($0) || (0x61...0x7a).contains($0) })
        else {
            throw error(
                .invalidForward, mapping["name"] ?? node, "destination \(index + 1): 'name' must be 1 to 64 lowercase letters, digits, '-' or '_'")
        }
        guard let urlNode = mapping["url"], let url = urlNode.string, let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme ?? ""),
            parsed.host?.isEmpty == false
        else {
            throw error(.invalidForward, mapping["url"] ?? node, "\(name): 'url' must be an http(s) URL")
        }
        let secretNode = mapping["secret"] ?? mapping["secret_env"]
        var secret = mapping["secret"]?.string
        if let variable = mapping["secret_env"]?.string {
            guard let value = environment[variable], !value.isEmpty else {
                throw error(.invalidForward, mapping["secret_env"], "\(name): secret_env names \(variable), which is not set")
            }
            secret = value
        }
        guard let secret, mapping["secret"] == nil || mapping["secret_env"] == nil else {
            throw error(.invalidForward, secretNode ?? node, "\(name): give one of 'secret' (whsec_…) or 'secret_env' (a variable holding it)")
        }
        let signer: StandardWebhookSigner
        do {
            signer = try StandardWebhookSigner(secret: secret)
        } catch {
            throw self.error(.invalidForward, secretNode, "\(name): \(error)")
        }
        var destination = ForwardDestination(
            name: name, url: url, signer: signer,
            objectTypes: try names(mapping["object_types"], key: "object_types", rule: name),
            metrics: try names(mapping["metrics"], key: "metrics", rule: name))
        if let timeout = mapping["timeout"] {
            destination.timeout = try duration(timeout, key: "timeout", destination: name, within: .milliseconds(100) ... .seconds(300))
        }
        if let age = mapping["give_up_after"] {
            destination.giveUpAfter = try duration(age, key: "give_up_after", destination: name, within: .seconds(1) ... .seconds(30 * 86_400))
        }
        if let concurrency = mapping["concurrency"] {
            guard let value = concurrency.int, (1...256).contains(value) else {
                throw error(.invalidForward, concurrency, "\(name): 'concurrency' must be a whole number from 1 to 256")
            }
            destination.concurrency = value
        }
        return destination
    }

    /// A duration written `500ms`, `5s`, `10m`, `24h`, `7d`, or as a number of seconds.
    func duration(_ node: Node, key: String, destination: String, within range: ClosedRange<Duration>) throws(PolicyError) -> Duration {
        let text = node.string ?? ""
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86_400)]
        var value: Duration?
        if let seconds = Double(text) {
            value = .milliseconds(Int64(seconds * 1000))
        } else if let (suffix, scale) = units.first(where: { text.hasSuffix($0.0) && Double(text.dropLast($0.0.count)) != nil }),
            let number = Double(text.dropLast(suffix.count))
        {
            value = .milliseconds(Int64(number * scale * 1000))
        }
        guard let value, range.contains(value) else {
            throw error(
                .invalidForward, node,
                "\(destination): '\(key)' must be a duration from \(range.lowerBound) to \(range.upperBound), like 5s, 500ms, 10m or 24h")
        }
        return value
    }
}
