import CustomerIO
import EventQueue
import Foundation
import Hiredis
import Logging
import Receiver
import Warehouse
import Worker
import Yams

/// The addresses a process listens on.
public struct ListenerConfiguration: Sendable, Hashable {
    /// Address the webhook and admin ports bind to.
    public var host = "0.0.0.0"
    /// The webhook port: only the webhook paths.
    public var webhookPort = 3000
    /// `/healthz`, `/readyz`, `/metrics` and the console.
    public var adminPort = 9090
    /// `CIO_RELAY_ADMIN_TOKEN`: the console's login, and the key to its changes; nil: read-only.
    public var adminToken: String?
    /// `CIO_RELAY_CONSOLE`: whether the admin port serves the console at all.
    public var console = true

    public init() {}
}

/// Everything a process needs, read from the environment and the optional YAML file of
/// `CIO_RELAY_CONFIG` through the entries of `SettingsTable`. The environment wins over the file,
/// as Kubernetes secrets arrive that way. Each component's configuration type owns its defaults:
/// a setting that is not set leaves the component's default in place.
public struct RelaySettings: Sendable {
    public var redis: RedisConfiguration
    public var queue: EventQueueConfiguration
    public var receiver: ReceiverConfiguration
    public var listeners: ListenerConfiguration
    public var logLevel: Logger.Level
    /// The actions worker and the warehouse writers (consumer knobs, policy, Track API per workspace).
    public var worker: WorkerConfiguration
    /// What every workspace's Track API client shares.
    public var track: TrackClientOptions
    /// The consumer groups of the deployment: a worker runs them, every role creates them at start
    /// (so that events queued before any worker started already count as their lag), and `status`
    /// reports one that is missing.
    public var groups: [String]
    /// `WAREHOUSE_URL`: where the warehouse group writes (and the audit trail of actions goes).
    public var warehouse: WarehouseLocation
    /// Where the policy came from, for the start-up log.
    public var policySource: String

    /// Groups this build can run.
    public static let knownGroups = [ActionsWorker.group, WarehouseWriter.group]

    /// Reads the settings; the first problem stops start-up with a message naming its source.
    /// Each role reads and checks only what it uses: signing keys and limits for the receiver;
    /// warehouse, policy, consumer and Track API for the worker. Redis, the queue, the listeners
    /// and the groups are read for every role (an operator command passes no role); by default
    /// everything is checked.
    public static func load(environment: [String: String], roles: RelayRoles = [.receiver, .worker]) throws(SettingsError) -> RelaySettings {
        let file = try environment[SettingsTable.configFile.variable].map { path throws(SettingsError) in try ConfigFile(path: path) }
        let source = SettingSource(environment: environment, file: file)

        var redis = RedisConfiguration()
        if let (url, place) = source.lookup(SettingsTable.redisURL) {
            do {
                redis = try RedisConfiguration(url: url)
            } catch {
                throw SettingsError(.invalidValue, source: place, error.message)
            }
        }
        redis.tls = try Self.redisTLS(source: source, enabled: redis.tls != nil)
        let sentinelUser = source.lookup(SettingsTable.sentinelUsername)
        let sentinelPassword = source.lookup(SettingsTable.sentinelPassword)
        if redis.sentinel == nil, let (_, place) = sentinelUser ?? sentinelPassword {
            throw SettingsError(.invalidValue, source: place, "is set but \(SettingsTable.redisURL.variable) is not redis+sentinel://")
        }
        redis.sentinel?.username = sentinelUser?.text
        redis.sentinel?.password = sentinelPassword?.text
        if let budget = try source.duration(SettingsTable.redisTimeout) {
            redis.commandTimeout = budget
            redis.connectTimeout = min(budget, redis.connectTimeout)
        }
        redis.poolSize = try source.integer(SettingsTable.redisPoolSize) ?? redis.poolSize
        // Wherever a replica can take over (a cluster, Sentinel), an event is answered 200 only once
        // one has it: without, a primary cut off from its replica acknowledges writes that vanish
        // when the replica is promoted. One Redis keeps 0 (it may have no replica).
        redis.minReplicas = try source.integer(SettingsTable.minReplicas) ?? (redis.clusterSeeds == nil && redis.sentinel == nil ? 0 : 1)
        // Half the budget, leaving the rest for the write itself and a retry on a cluster.
        redis.replicaTimeout = (redis.commandTimeout ?? .seconds(2)) / 2

        var queue = EventQueueConfiguration()
        if let ttl = try source.integer(SettingsTable.dedupTTL) { queue.dedupTTL = .seconds(ttl) }
        queue.partitions = try source.integer(SettingsTable.partitions) ?? queue.partitions
        let dedupTTL = queue.dedupTTL.components.seconds
        if let (prefix, place) = source.lookup(SettingsTable.keyPrefix) {
            guard !prefix.isEmpty, !prefix.contains(where: { $0 == "{" || $0 == "}" || $0.isWhitespace }) else {
                throw SettingsError(.invalidValue, source: place, "must be non-empty, without spaces or braces")
            }
            queue.prefix = prefix
        }

        var receiver = ReceiverConfiguration(workspaces: [])
        if roles.contains(.receiver) {
            receiver = try Self.receiver(source: source, dedupTTL: dedupTTL)
        }

        var listeners = ListenerConfiguration()
        if let (host, place) = source.lookup(SettingsTable.bind) {
            guard !host.isEmpty, !host.contains(where: { $0.isWhitespace }) else {
                throw SettingsError(.invalidValue, source: place, "'\(host)' is not an address (e.g. 0.0.0.0, 127.0.0.1 or ::)")
            }
            listeners.host = host
        }
        listeners.webhookPort = try source.integer(SettingsTable.port) ?? listeners.webhookPort
        listeners.adminPort = try source.integer(SettingsTable.adminPort) ?? listeners.adminPort
        if let (token, place) = source.lookup(SettingsTable.adminToken) {
            guard token.count >= 16, !token.contains(where: { $0.isWhitespace }) else {
                throw SettingsError(.invalidValue, source: place, "must be at least 16 characters without spaces (e.g. openssl rand -hex 24)")
            }
            listeners.adminToken = token
        }
        listeners.console = try source.choice(SettingsTable.console).map { $0 == "on" } ?? listeners.console
        let logLevel = try source.choice(SettingsTable.logLevel).flatMap(Logger.Level.init(rawValue:)) ?? .info

        var settings = RelaySettings(
            redis: redis, queue: queue, receiver: receiver, listeners: listeners, logLevel: logLevel,
            worker: WorkerConfiguration(consumer: ConsumerConfiguration(group: ActionsWorker.group, consumer: "")),
            track: TrackClientOptions(), groups: [], warehouse: .none, policySource: "built-in"
        )
        try settings.loadGroups(source: source)
        if roles.contains(.worker) {
            try settings.loadWorker(source: source)
        }
        return settings
    }

    /// The TLS files and name for `rediss://`, each file loaded once here so that a bad one stops
    /// start-up naming its variable; on a plain `redis://` URL any of them is refused, since it
    /// would silently do nothing.
    private static func redisTLS(source: SettingSource, enabled: Bool) throws(SettingsError) -> RedisTLSConfiguration? {
        let fields: [(Setting, WritableKeyPath<RedisTLSConfiguration, String?>, RedisTLSConfiguration.File?)] = [
            (SettingsTable.redisTLSCAFile, \.caFile, .ca),
            (SettingsTable.redisTLSCertFile, \.certificateFile, .certificate),
            (SettingsTable.redisTLSKeyFile, \.keyFile, .key),
            (SettingsTable.redisTLSServerName, \.serverName, nil),
        ]
        var tls = RedisTLSConfiguration()
        var places: [RedisTLSConfiguration.File: String] = [:]
        for (setting, field, file) in fields {
            guard let (text, place) = source.lookup(setting) else { continue }
            guard enabled else {
                throw SettingsError(
                    .invalidValue, source: place,
                    "is set but \(SettingsTable.redisURL.variable) is plain text: use rediss:// (or rediss+cluster://) for TLS")
            }
            guard !text.isEmpty else { throw SettingsError(.invalidValue, source: place, "must not be empty") }
            tls[keyPath: field] = text
            if let file { places[file] = place }
        }
        guard enabled else { return nil }
        do {
            try tls.check()
        } catch {
            let setting = fields.first { $0.2 == error.file }?.0 ?? SettingsTable.redisTLSCAFile
            throw SettingsError(.invalidValue, source: places[error.file] ?? setting.variable, "\(error)")
        }
        return tls
    }

    /// The receiver's part: signing keys per workspace, the timestamp window and the limits.
    private static func receiver(source: SettingSource, dedupTTL: Int64) throws(SettingsError) -> ReceiverConfiguration {
        var receiver = ReceiverConfiguration(workspaces: try Self.workspaces(environment: source.environment, file: source.file))
        // The window follows the dedup TTL unless set, and may never be wider.
        let tolerance = try source.integer(SettingsTable.timestampTolerance).map(Int64.init) ?? dedupTTL
        guard tolerance <= dedupTTL else {
            throw SettingsError(
                .invalidValue, source: SettingsTable.timestampTolerance.variable,
                "\(tolerance) s is wider than the dedup TTL (\(SettingsTable.dedupTTL.variable), \(dedupTTL) s): a replayed request could pass both checks"
            )
        }
        receiver.timestampTolerance = tolerance
        receiver.maxBodyBytes = try source.integer(SettingsTable.maxBodyBytes) ?? receiver.maxBodyBytes
        receiver.retryAfterSeconds = try source.integer(SettingsTable.retryAfter) ?? receiver.retryAfterSeconds
        receiver.connections.requestTimeout = try source.duration(SettingsTable.requestTimeout) ?? receiver.connections.requestTimeout
        receiver.connections.idleTimeout = try source.duration(SettingsTable.idleTimeout) ?? receiver.connections.idleTimeout
        return receiver
    }

    /// The default workspace from `CUSTOMERIO_WEBHOOK_SECRET` (+ `_PREVIOUS`), plus the file's
    /// `workspaces:` map, each with `signing_keys` (values) and/or `signing_keys_env` (variable names).
    private static func workspaces(environment: [String: String], file: ConfigFile?) throws(SettingsError) -> [Workspace] {
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
                guard !secrets.isEmpty else {
                    throw SettingsError(.missing, source: location, "workspace '\(name)' has no signing_keys or signing_keys_env")
                }
                guard
                    name.utf8.allSatisfy({
                        $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || (0x30...0x39).contains($0) || (0x61...0x7a).contains($0)
                            || (0x41...0x5a).contains($0)
                    })
                else {
                    throw SettingsError(.invalidValue, source: location, "workspace names may use letters, digits, '-' and '_' only")
                }
                workspaces[name] = Workspace(name: name, signingKeys: secrets.map(SigningKey.init))
            }
        }
        if let current = environment[SettingsTable.webhookSecret.variable], !current.isEmpty {
            var keys = [SigningKey(current)]
            if let previous = environment[SettingsTable.previousWebhookSecret.variable], !previous.isEmpty {
                keys.append(SigningKey(previous))
            }
            let name = ReceiverConfiguration.defaultWorkspaceName
            workspaces[name] = Workspace(name: name, signingKeys: keys)
        } else if environment[SettingsTable.previousWebhookSecret.variable].map({ !$0.isEmpty }) == true {
            throw SettingsError(
                .missing, source: "CUSTOMERIO_WEBHOOK_SECRET", "is empty while CUSTOMERIO_WEBHOOK_SECRET_PREVIOUS is set: set the current key too")
        }
        guard !workspaces.isEmpty else {
            throw SettingsError(
                .missing, source: "CUSTOMERIO_WEBHOOK_SECRET",
                "no signing key configured: set CUSTOMERIO_WEBHOOK_SECRET to the reporting webhook's signing key, or list workspaces in the CIO_RELAY_CONFIG file"
            )
        }
        return workspaces.values.sorted { $0.name < $1.name }
    }
}
