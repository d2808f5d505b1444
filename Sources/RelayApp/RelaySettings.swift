import CustomerIO
import EventQueue
import Foundation
import Hiredis
import Logging
import Receiver
import Yams

/// Everything `cio-relay serve` needs, read from the environment and the optional YAML file of
/// `CIO_RELAY_CONFIG`. The environment wins over the file, as Kubernetes secrets arrive that way.
public struct RelaySettings: Sendable {
    public var redis: RedisConfiguration
    public var queue: EventQueueConfiguration
    public var receiver: ReceiverConfiguration
    /// Address the webhook and admin ports bind to.
    public var host: String
    public var port: Int
    public var adminPort: Int
    public var logLevel: Logger.Level
    public var worker: WorkerSettings

    /// Reads the settings; the first problem stops start-up with a message naming its source.
    /// A webhook signing key is required only where webhooks are received (`serve`, `run`).
    public static func load(environment: [String: String], requireSigningKeys: Bool = true) throws(SettingsError) -> RelaySettings {
        let file = try environment["CIO_RELAY_CONFIG"].map { path throws(SettingsError) in try ConfigFile(path: path) }
        let source = SettingSource(environment: environment, file: file)

        var redis: RedisConfiguration
        do {
            redis = try RedisConfiguration(url: source.string(env: "REDIS_URL", file: ["redis", "url"]) ?? "redis://127.0.0.1:6379")
        } catch {
            throw SettingsError(.invalidValue, source: "REDIS_URL", error.message)
        }
        // Time Redis gets to store an event before the receiver answers 503: well inside the 4 s
        // that Customer.io waits.
        let budget = try source.duration(env: "CIO_RELAY_REDIS_TIMEOUT", file: ["limits", "redis_timeout"], default: .seconds(2), range: 0.01...3.5)
        redis.commandTimeout = budget
        redis.connectTimeout = min(budget, .seconds(1))
        redis.poolSize = try source.integer(env: "CIO_RELAY_REDIS_POOL_SIZE", file: ["redis", "pool_size"], default: 1, range: 1...64)

        let dedupTTL = try source.integer(env: "CIO_RELAY_DEDUP_TTL", file: ["limits", "dedup_ttl"], default: 7 * 24 * 3600, range: 1...(365 * 24 * 3600))
        let tolerance = try source.integer(env: "CIO_RELAY_TIMESTAMP_TOLERANCE", file: ["limits", "timestamp_tolerance"], default: dedupTTL, range: 1...(365 * 24 * 3600))
        guard tolerance <= dedupTTL else {
            throw SettingsError(.invalidValue, source: "CIO_RELAY_TIMESTAMP_TOLERANCE",
                "\(tolerance) s is wider than the dedup TTL (CIO_RELAY_DEDUP_TTL, \(dedupTTL) s): a replayed request could pass both checks")
        }
        let maxBody = try source.integer(env: "CIO_RELAY_MAX_BODY_BYTES", file: ["limits", "max_body_bytes"], default: 1 << 20, range: 1024...(64 << 20))
        let retryAfter = try source.integer(env: "CIO_RELAY_RETRY_AFTER", file: ["limits", "retry_after"], default: 5, range: 1...3600)
        let prefix = source.string(env: "CIO_RELAY_KEY_PREFIX", file: ["redis", "key_prefix"]) ?? "cio"
        guard !prefix.isEmpty, !prefix.contains(where: { $0 == "{" || $0 == "}" || $0.isWhitespace }) else {
            throw SettingsError(.invalidValue, source: "CIO_RELAY_KEY_PREFIX", "must be non-empty, without spaces or braces")
        }

        let workspaces = try Self.workspaces(environment: environment, file: file, required: requireSigningKeys)
        let levelText = source.string(env: "LOG_LEVEL", file: ["log_level"]) ?? "info"
        guard let logLevel = Logger.Level(rawValue: levelText.lowercased()) else {
            throw SettingsError(.invalidValue, source: "LOG_LEVEL", "must be one of trace, debug, info, notice, warning, error, critical")
        }

        return RelaySettings(
            redis: redis,
            queue: EventQueueConfiguration(prefix: prefix, dedupTTL: .seconds(dedupTTL)),
            receiver: ReceiverConfiguration(
                workspaces: workspaces,
                maxBodyBytes: maxBody,
                timestampTolerance: Int64(tolerance),
                retryAfterSeconds: retryAfter
            ),
            host: source.string(env: "CIO_RELAY_BIND", file: ["bind"]) ?? "0.0.0.0",
            port: try source.integer(env: "PORT", file: ["port"], default: 3000, range: 1...65535),
            adminPort: try source.integer(env: "ADMIN_PORT", file: ["admin_port"], default: 9090, range: 1...65535),
            logLevel: logLevel,
            worker: try WorkerSettings.load(source: source)
        )
    }

    /// The default workspace from `CUSTOMERIO_WEBHOOK_SECRET` (+ `_PREVIOUS`), plus the file's
    /// `workspaces:` map, each with `signing_keys` (values) and/or `signing_keys_env` (variable names).
    private static func workspaces(environment: [String: String], file: ConfigFile?, required: Bool) throws(SettingsError) -> [Workspace] {
        var workspaces: [String: Workspace] = [:]
        if let entries = try file?.mapping(at: ["workspaces"]) {
            for (name, node) in entries {
                let location = file?.location(of: node, path: "workspaces.\(name)") ?? name
                var secrets = try file?.strings(in: node, key: "signing_keys", path: "workspaces.\(name)") ?? []
                for variable in try file?.strings(in: node, key: "signing_keys_env", path: "workspaces.\(name)") ?? [] {
                    guard let value = environment[variable], !value.isEmpty else {
                        throw SettingsError(.missing, source: location, "signing_keys_env names \(variable), which is not set")
                    }
                    secrets.append(value)
                }
                if secrets.isEmpty && !required { continue }  // a worker needs only the workspace's Track settings
                guard !secrets.isEmpty else {
                    throw SettingsError(.missing, source: location, "workspace '\(name)' has no signing_keys or signing_keys_env")
                }
                guard name.utf8.allSatisfy({ $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || (0x30...0x39).contains($0) || (0x61...0x7a).contains($0) || (0x41...0x5a).contains($0) }) else {
                    throw SettingsError(.invalidValue, source: location, "workspace names may use letters, digits, '-' and '_' only")
                }
                workspaces[name] = Workspace(name: name, signingKeys: secrets.map(SigningKey.init))
            }
        }
        if let current = environment["CUSTOMERIO_WEBHOOK_SECRET"], !current.isEmpty {
            var keys = [SigningKey(current)]
            if let previous = environment["CUSTOMERIO_WEBHOOK_SECRET_PREVIOUS"], !previous.isEmpty {
                keys.append(SigningKey(previous))
            }
            let name = ReceiverConfiguration.defaultWorkspaceName
            workspaces[name] = Workspace(name: name, signingKeys: keys)
        } else if environment["CUSTOMERIO_WEBHOOK_SECRET_PREVIOUS"].map({ !$0.isEmpty }) == true {
            throw SettingsError(.missing, source: "CUSTOMERIO_WEBHOOK_SECRET", "is empty while CUSTOMERIO_WEBHOOK_SECRET_PREVIOUS is set: set the current key too")
        }
        if workspaces.isEmpty && !required { return [] }
        guard !workspaces.isEmpty else {
            throw SettingsError(.missing, source: "CUSTOMERIO_WEBHOOK_SECRET",
                "no signing key configured: set CUSTOMERIO_WEBHOOK_SECRET to the reporting webhook's signing key, or list workspaces in the CIO_RELAY_CONFIG file")
        }
        return workspaces.values.sorted { $0.name < $1.name }
    }
}

/// Looks a setting up in the environment first, then in the file, and parses it with errors that
/// name where the bad value came from.
struct SettingSource {
    let environment: [String: String]
    let file: ConfigFile?

    func string(env: String, file path: [String]) -> String? {
        if let value = environment[env], !value.isEmpty { return value }
        return file?.scalar(at: path)?.value
    }

    func integer(env: String, file path: [String], default fallback: Int, range: ClosedRange<Int>) throws(SettingsError) -> Int {
        guard let (text, source) = lookup(env: env, path: path) else { return fallback }
        guard let value = Int(text.trimmingCharacters(in: .whitespaces)), range.contains(value) else {
            throw SettingsError(.invalidValue, source: source, "'\(text)' is not a whole number between \(range.lowerBound) and \(range.upperBound)")
        }
        return value
    }

    /// Seconds as a plain number, fractions allowed (`2`, `0.5`).
    func duration(env: String, file path: [String], default fallback: Duration, range: ClosedRange<Double>) throws(SettingsError) -> Duration {
        guard let value = try number(env: env, file: path, range: range, unit: "a number of seconds") else { return fallback }
        return .milliseconds(Int64((value * 1000).rounded()))
    }

    /// A plain number, fractions allowed; nil when not set.
    func number(env: String, file path: [String], range: ClosedRange<Double>, unit: String = "a number") throws(SettingsError) -> Double? {
        guard let (text, source) = lookup(env: env, path: path) else { return nil }
        guard let value = Double(text.trimmingCharacters(in: .whitespaces)), value.isFinite, range.contains(value) else {
            throw SettingsError(.invalidValue, source: source, "'\(text)' is not \(unit) between \(range.lowerBound) and \(range.upperBound)")
        }
        return value
    }

    func lookup(env: String, path: [String]) -> (String, String)? {
        if let value = environment[env], !value.isEmpty { return (value, env) }
        if let file, let scalar = file.scalar(at: path) {
            return (scalar.value, file.location(of: scalar.node, path: path.joined(separator: ".")) + " (or \(env))")
        }
        return nil
    }
}

/// The YAML file of `CIO_RELAY_CONFIG`, kept as nodes so that errors can name a line.
struct ConfigFile {
    let path: String
    let root: Node

    init(path: String) throws(SettingsError) {
        self.path = path
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw SettingsError(.invalidFile, source: "CIO_RELAY_CONFIG", "cannot read \(path): \(error.localizedDescription)")
        }
        do {
            guard let root = try Yams.compose(yaml: text) else {
                self.root = Node.mapping(.init([]))
                return
            }
            guard root.mapping != nil else {
                throw SettingsError(.invalidFile, source: path, "the top level must be a mapping (key: value)")
            }
            self.root = root
        } catch let error as SettingsError {
            throw error
        } catch {
            throw SettingsError(.invalidFile, source: path, "not valid YAML: \(error)")
        }
    }

    func location(of node: Node, path keyPath: String) -> String {
        if let line = node.mark?.line { return "\(path):\(line) \(keyPath)" }
        return "\(path) \(keyPath)"
    }

    func node(at keyPath: [String]) -> Node? {
        var node: Node? = root
        for key in keyPath {
            node = node?.mapping?[key]
        }
        return node
    }

    func scalar(at keyPath: [String]) -> (value: String, node: Node)? {
        guard let node = node(at: keyPath), let value = node.string else { return nil }
        return (value, node)
    }

    func mapping(at keyPath: [String]) throws(SettingsError) -> [(String, Node)]? {
        guard let node = node(at: keyPath) else { return nil }
        guard let mapping = node.mapping else {
            throw SettingsError(.invalidFile, source: location(of: node, path: keyPath.joined(separator: ".")), "must be a mapping of names to settings")
        }
        var entries: [(String, Node)] = []
        for (key, value) in mapping {
            guard let name = key.string else {
                throw SettingsError(.invalidFile, source: location(of: key, path: keyPath.joined(separator: ".")), "keys must be text")
            }
            entries.append((name, value))
        }
        return entries
    }

    /// A list of strings under `key` of `node` (a single string is a list of one).
    func strings(in node: Node, key: String, path keyPath: String) throws(SettingsError) -> [String] {
        guard let value = node.mapping?[key] else { return [] }
        if let single = value.scalar?.string { return [single] }
        guard let items = value.sequence else {
            throw SettingsError(.invalidFile, source: location(of: value, path: "\(keyPath).\(key)"), "must be a string or a list of strings")
        }
        var strings: [String] = []
        for item in items {
            guard let text = item.scalar?.string, !text.isEmpty else {
                throw SettingsError(.invalidFile, source: location(of: item, path: "\(keyPath).\(key)"), "every entry must be a non-empty string")
            }
            strings.append(text)
        }
        return strings
    }
}
