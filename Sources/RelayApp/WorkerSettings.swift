import CustomerIO
import EventQueue
import Foundation
import Warehouse
import Worker
import Yams

#if canImport(Glibc)
import Glibc
#endif

/// Settings of the workers (`cio-relay work` and `run`): consumer knobs, Track API credentials per
/// workspace, and the policy.
public struct WorkerSettings: Sendable {
    /// The consumer groups this process runs.
    public var groups: [String]
    public var consumerName: String
    public var batchSize: Int
    public var warehouseBatchSize: Int
    public var warehouseWriters: Int
    public var reclaimIdle: Duration
    public var maxDeliveries: Int
    /// Track API requests per second per workspace, shared by all replicas.
    public var rateLimit: Double
    /// Track API settings per workspace; a workspace without credentials runs dry.
    public var track: [String: TrackClientConfiguration]
    public var policy: Policy
    /// Where the policy came from, for the start-up log.
    public var policySource: String
    /// `WAREHOUSE_URL`: where the warehouse group writes (and the audit trail of actions goes).
    public var warehouse: WarehouseLocation

    /// Groups this build can run.
    public static let knownGroups = [ActionsWorker.group, WarehouseWriter.group]

    public func configuration() -> WorkerConfiguration {
        WorkerConfiguration(
            consumer: ConsumerConfiguration(group: ActionsWorker.group, consumer: consumerName, batchSize: batchSize, reclaimIdle: reclaimIdle, maxDeliveries: maxDeliveries),
            policy: policy,
            track: track,
            rateLimit: rateLimit,
            warehouseBatchSize: warehouseBatchSize,
            warehouseWriters: warehouseWriters
        )
    }

    static func load(source: SettingSource) throws(SettingsError) -> WorkerSettings {
        let warehouse: WarehouseLocation
        do {
            warehouse = try WarehouseLocation(url: source.string(env: "WAREHOUSE_URL", file: ["warehouse", "url"]) ?? WarehouseLocation.defaultURL)
        } catch {
            throw SettingsError(.invalidValue, source: "WAREHOUSE_URL", error.message)
        }
        let defaultGroups = warehouse == .none ? ActionsWorker.group : "\(ActionsWorker.group),\(WarehouseWriter.group)"
        let groupsText = source.string(env: "CIO_RELAY_GROUPS", file: ["worker", "groups"]) ?? defaultGroups
        let groups = groupsText.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        for group in groups where !knownGroups.contains(group) {
            throw SettingsError(.invalidValue, source: "CIO_RELAY_GROUPS", "'\(group)': unknown group; groups available: \(knownGroups.joined(separator: ", "))")
        }
        guard !groups.isEmpty else {
            throw SettingsError(.invalidValue, source: "CIO_RELAY_GROUPS", "names no group; groups available: \(knownGroups.joined(separator: ", "))")
        }
        if groups.contains(WarehouseWriter.group) && warehouse == .none {
            throw SettingsError(.invalidValue, source: "CIO_RELAY_GROUPS", "runs the warehouse group while WAREHOUSE_URL is none")
        }
        let consumerName = source.string(env: "CIO_RELAY_CONSUMER_NAME", file: ["worker", "consumer_name"]) ?? hostName()
        guard !consumerName.isEmpty, consumerName.utf8.count <= 200, !consumerName.contains(where: { $0.isWhitespace }) else {
            throw SettingsError(.invalidValue, source: "CIO_RELAY_CONSUMER_NAME", "must be 1 to 200 characters without spaces")
        }
        let policy: Policy
        let policySource: String
        if let file = source.file, let node = file.node(at: ["policy"]) {
            do {
                policy = try PolicyParser.parse(policy: node, source: file.path)
            } catch {
                throw SettingsError(.invalidFile, source: "\(error.source)\(error.line.map { ":\($0)" } ?? "")", error.message)
            }
            policySource = file.path
        } else {
            policy = .builtIn
            policySource = "built-in"
        }
        return WorkerSettings(
            groups: groups,
            consumerName: consumerName,
            batchSize: try source.integer(env: "CIO_RELAY_BATCH_SIZE", file: ["worker", "batch_size"], default: 500, range: 1...10_000),
            warehouseBatchSize: try source.integer(env: "CIO_RELAY_WAREHOUSE_BATCH_SIZE", file: ["worker", "warehouse_batch_size"], default: 2000, range: 1...10_000),
            warehouseWriters: try source.integer(env: "CIO_RELAY_WAREHOUSE_WRITERS", file: ["worker", "warehouse_writers"], default: 2, range: 1...16),
            reclaimIdle: try source.duration(env: "CIO_RELAY_RECLAIM_IDLE", file: ["worker", "reclaim_idle"], default: .seconds(60), range: 1...86_400),
            maxDeliveries: try source.integer(env: "CIO_RELAY_MAX_DELIVERIES", file: ["worker", "max_deliveries"], default: 10, range: 1...1000),
            rateLimit: try source.number(env: "CIO_RELAY_TRACK_RATE_LIMIT", file: ["worker", "track_rate_limit"], range: 0.1...100_000) ?? 100,
            track: try trackSettings(source: source),
            policy: policy,
            policySource: policySource,
            warehouse: warehouse
        )
    }

    /// Credentials of the default workspace from `CUSTOMERIO_*`, and of the file's workspaces from
    /// their `track:` mapping (`site_id`, `api_key` or `api_key_env`, `region`, `url`).
    private static func trackSettings(source: SettingSource) throws(SettingsError) -> [String: TrackClientConfiguration] {
        let environment = source.environment
        let versionText = source.string(env: "CIO_RELAY_TRACK_API", file: ["worker", "track_api"]) ?? "v2"
        guard let version = TrackAPIVersion(rawValue: versionText.lowercased()) else {
            throw SettingsError(.invalidValue, source: "CIO_RELAY_TRACK_API", "must be v2 (batch) or v1")
        }
        let timeout = try source.duration(env: "CIO_RELAY_TRACK_TIMEOUT", file: ["worker", "track_timeout"], default: .seconds(10), range: 0.1...120)

        func configuration(site: String?, key: String?, region: String?, url: String?, where place: String) throws(SettingsError) -> TrackClientConfiguration? {
            let site = site.flatMap { $0.isEmpty ? nil : $0 }
            let key = key.flatMap { $0.isEmpty ? nil : $0 }
            guard site != nil || key != nil else { return nil }
            guard let site, let key else {
                throw SettingsError(.missing, source: place, "set both the site id and the Track API key (or neither, to run dry)")
            }
            let regionName = (region ?? "us").lowercased()
            guard let region = TrackRegion(rawValue: regionName) else {
                throw SettingsError(.invalidValue, source: place, "region '\(regionName)' must be us or eu")
            }
            var base = region.baseURL
            if let url, !url.isEmpty {
                guard let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme ?? ""), parsed.host != nil else {
                    throw SettingsError(.invalidValue, source: place, "'\(url)' is not an http(s) URL")
                }
                base = url
            }
            return TrackClientConfiguration(baseURL: base, credentials: TrackCredentials(siteID: site, apiKey: key), apiVersion: version, requestTimeout: timeout)
        }

        var track: [String: TrackClientConfiguration] = [:]
        if let file = source.file, let entries = try file.mapping(at: ["workspaces"]) {
            for (name, node) in entries {
                guard let trackNode = node.mapping?["track"] else { continue }
                let place = file.location(of: trackNode, path: "workspaces.\(name).track")
                guard let mapping = trackNode.mapping else {
                    throw SettingsError(.invalidFile, source: place, "must be a mapping with site_id, api_key or api_key_env, region, url")
                }
                var key = mapping["api_key"]?.string
                if let variable = mapping["api_key_env"]?.string {
                    guard let value = environment[variable], !value.isEmpty else {
                        throw SettingsError(.missing, source: place, "api_key_env names \(variable), which is not set")
                    }
                    key = value
                }
                track[name] = try configuration(site: mapping["site_id"]?.string, key: key, region: mapping["region"]?.string, url: mapping["url"]?.string, where: place)
            }
        }
        if let defaultTrack = try configuration(
            site: environment["CUSTOMERIO_SITE_ID"], key: environment["CUSTOMERIO_TRACK_API_KEY"],
            region: environment["CUSTOMERIO_REGION"], url: environment["CUSTOMERIO_TRACK_URL"],
            where: "CUSTOMERIO_SITE_ID/CUSTOMERIO_TRACK_API_KEY"
        ) {
            track["default"] = defaultTrack
        }
        return track
    }

    private static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return "cio-relay" }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty ? "cio-relay" : name
    }
}
