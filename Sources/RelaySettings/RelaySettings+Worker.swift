import CustomerIO
import EventQueue
import Foundation
import Receiver
import Warehouse
import Worker
import Yams

#if canImport(Glibc)
    import Glibc
#endif

extension RelaySettings {
    /// The groups of the deployment, read by every role. Without `CIO_RELAY_GROUPS` they follow
    /// `WAREHOUSE_URL`: both groups, or `actions` alone when it is `none`; only a worker parses
    /// the URL itself.
    mutating func loadGroups(source: SettingSource) throws(SettingsError) {
        let setGroups = source.lookup(SettingsTable.groups)
        let variable = setGroups?.source ?? SettingsTable.groups.variable
        // Each forwarding destination reads from a group of its own; `forward` names them all.
        let forwardGroups = (source.file?.node(at: ["forward"]).map(PolicyParser.forwardNames) ?? []).map {
            ForwardDestination.groupPrefix + $0
        }
        let known = Self.knownGroups + forwardGroups
        let available = (known + (forwardGroups.isEmpty ? [] : [ForwardDestination.allGroups])).joined(separator: ", ")
        let withoutWarehouse = source.lookup(SettingsTable.warehouseURL)?.text == WarehouseLocation.none.description
        let named =
            setGroups.map(\.text).map {
                $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            } ?? (withoutWarehouse ? [ActionsWorker.group] : Self.knownGroups) + (forwardGroups.isEmpty ? [] : [ForwardDestination.allGroups])
        groups = []
        for group in named where !groups.contains(group) {
            if group == ForwardDestination.allGroups && !forwardGroups.isEmpty {
                groups += forwardGroups.filter { !groups.contains($0) }
                continue
            }
            guard known.contains(group) else {
                throw SettingsError(.invalidValue, source: variable, "'\(group)': unknown group; groups available: \(available)")
            }
            groups.append(group)
        }
        guard !groups.isEmpty else {
            throw SettingsError(.invalidValue, source: variable, "names no group; groups available: \(available)")
        }
    }

    /// The workers' part: warehouse, consumer knobs, Track API credentials per workspace and the
    /// policy.
    mutating func loadWorker(source: SettingSource) throws(SettingsError) {
        let (warehouseURL, warehousePlace) =
            source.lookup(SettingsTable.warehouseURL) ?? (WarehouseLocation.defaultURL, SettingsTable.warehouseURL.variable)
        let google = WarehouseLocation.GoogleSettings(
            apiURL: source.text(SettingsTable.bigQueryAPIURL), credentialsFile: source.text(SettingsTable.googleCredentials),
            metadataHost: source.text(SettingsTable.metadataHost))
        do {
            warehouse = try WarehouseLocation(url: warehouseURL, google: google)
        } catch {
            // Name the variable the problem is in: the key file, the endpoint, or the URL itself.
            let place =
                error.code == .invalidCredentials
                ? SettingsTable.googleCredentials.variable
                : error.code == .invalidAPIURL ? SettingsTable.bigQueryAPIURL.variable : warehousePlace
            throw SettingsError(.invalidValue, source: place, error.message)
        }
        if groups.contains(WarehouseWriter.group) && warehouse == .none {
            throw SettingsError(
                .invalidValue, source: source.lookup(SettingsTable.groups)?.source ?? SettingsTable.groups.variable,
                "runs the warehouse group while \(SettingsTable.warehouseURL.variable) is none")
        }

        var consumer = worker.consumer
        let (name, namePlace) = source.lookup(SettingsTable.consumerName) ?? (Self.uniqueConsumerName(), SettingsTable.consumerName.variable)
        guard !name.isEmpty, name.utf8.count <= 200, !name.contains(where: { $0.isWhitespace }) else {
            throw SettingsError(.invalidValue, source: namePlace, "must be 1 to 200 characters without spaces")
        }
        consumer.consumer = name
        consumer.batchSize = try source.integer(SettingsTable.batchSize) ?? consumer.batchSize
        consumer.reclaimIdle = try source.duration(SettingsTable.reclaimIdle) ?? consumer.reclaimIdle
        consumer.maxDeliveries = try source.integer(SettingsTable.maxDeliveries) ?? consumer.maxDeliveries
        worker.consumer = consumer
        worker.warehouseBatchSize = try source.integer(SettingsTable.warehouseBatchSize) ?? worker.warehouseBatchSize
        worker.warehouseWriters = try source.integer(SettingsTable.warehouseWriters) ?? worker.warehouseWriters
        worker.warehouseTimeout = try source.duration(SettingsTable.warehouseTimeout) ?? worker.warehouseTimeout
        worker.rateLimit = try source.number(SettingsTable.trackRateLimit) ?? worker.rateLimit
        worker.trackLateWindow = try source.duration(SettingsTable.trackLateWindow) ?? worker.trackLateWindow
        worker.appAPIRateLimit = try source.number(SettingsTable.appAPIRateLimit) ?? worker.appAPIRateLimit
        worker.unchangedWindow = try source.duration(SettingsTable.unchangedWindow) ?? worker.unchangedWindow

        if let version = try source.choice(SettingsTable.trackAPI).flatMap(TrackAPIVersion.init(rawValue:)) {
            track.apiVersion = version
        }
        track.requestTimeout = try source.duration(SettingsTable.trackTimeout) ?? track.requestTimeout
        worker.track = try Self.trackSettings(source: source, options: track)
        worker.appAPI = try Self.appAPISettings(source: source, requestTimeout: track.requestTimeout)

        // Read in full (secrets included) where destinations run; a list that is not even a list
        // of named destinations is refused everywhere.
        if let file = source.file, let node = file.node(at: ["forward"]),
            groups.contains(where: { $0.hasPrefix(ForwardDestination.groupPrefix) })
                || PolicyParser.forwardNames(node).count != (node.sequence?.count ?? -1)
        {
            do {
                worker.forward = try PolicyParser.parse(forward: node, source: file.path, environment: source.environment)
            } catch {
                throw SettingsError(error)
            }
        }
        if let file = source.file, let node = file.node(at: ["policy"]) {
            do {
                worker.policy = try PolicyParser.parse(policy: node, source: file.path)
            } catch {
                throw SettingsError(error)
            }
            policySource = file.path
        }
    }

    /// Credentials of the default workspace from `CUSTOMERIO_*`, and of the file's workspaces from
    /// their `track:` mapping (`site_id`, `api_key` or `api_key_env`, `region`, `url`).
    private static func trackSettings(source: SettingSource, options: TrackClientOptions) throws(SettingsError) -> [String: TrackClientConfiguration]
    {
        func configuration(site: String?, key: String?, region: String?, url: String?, where place: String) throws(SettingsError)
            -> TrackClientConfiguration?
        {
            let site = site.flatMap { $0.isEmpty ? nil : $0 }
            let key = key.flatMap { $0.isEmpty ? nil : $0 }
            guard site != nil || key != nil else { return nil }
            guard let site, let key else {
                throw SettingsError(.missing, source: place, "set both the site id and the Track API key (or neither, to run dry)")
            }
            let base = try apiBaseURL(region: region, url: url, host: \.baseURL, where: place)
            return TrackClientConfiguration(baseURL: base, credentials: TrackCredentials(siteID: site, apiKey: key), options: options)
        }

        let environment = source.environment
        var track: [String: TrackClientConfiguration] = [:]
        if let file = source.file, let entries = try file.mapping(at: ["workspaces"]) {
            for (name, node) in entries {
                guard let trackNode = node.mapping?["track"] else { continue }
                let place = file.location(of: trackNode, path: "workspaces.\(name).track")
                guard let mapping = trackNode.mapping else {
                    throw SettingsError(.invalidFile, source: place, "must be a mapping with site_id, api_key or api_key_env, region, url")
                }
                track[name] = try configuration(
                    site: mapping["site_id"]?.string, key: try apiKey(of: mapping, environment: environment, where: place),
                    region: mapping["region"]?.string, url: mapping["url"]?.string, where: place)
            }
        }
        if let defaultTrack = try configuration(
            site: environment[SettingsTable.siteID.variable], key: environment[SettingsTable.trackAPIKey.variable],
            region: environment[SettingsTable.region.variable].flatMap { $0.isEmpty ? nil : $0 },
            url: environment[SettingsTable.trackURL.variable],
            where: "\(SettingsTable.siteID.variable)/\(SettingsTable.trackAPIKey.variable)"
        ) {
            track[ReceiverConfiguration.defaultWorkspaceName] = defaultTrack
        }
        return track
    }

    /// App API keys: the default workspace's from `CUSTOMERIO_APP_API_KEY` (`CUSTOMERIO_APP_API_URL`,
    /// `CUSTOMERIO_REGION`), and the file's workspaces' from their `app_api:` mapping (`api_key` or
    /// `api_key_env`, `region` (else their `track:` region), `url`).
    private static func appAPISettings(source: SettingSource, requestTimeout: Duration) throws(SettingsError) -> [String: AppAPIClientConfiguration] {
        func configuration(key: String?, region: String?, url: String?, where place: String) throws(SettingsError) -> AppAPIClientConfiguration? {
            guard let key, !key.isEmpty else { return nil }
            let base = try apiBaseURL(region: region, url: url, host: \.appAPIBaseURL, where: place)
            return AppAPIClientConfiguration(baseURL: base, credentials: AppAPICredentials(apiKey: key), requestTimeout: requestTimeout)
        }

        let environment = source.environment
        var apps: [String: AppAPIClientConfiguration] = [:]
        if let file = source.file, let entries = try file.mapping(at: ["workspaces"]) {
            for (name, node) in entries {
                guard let appNode = node.mapping?["app_api"] else { continue }
                let place = file.location(of: appNode, path: "workspaces.\(name).app_api")
                guard let mapping = appNode.mapping else {
                    throw SettingsError(.invalidFile, source: place, "must be a mapping with api_key or api_key_env, region, url")
                }
                for key in mapping.keys where !["api_key", "api_key_env", "region", "url"].contains(key.string ?? "") {
                    throw SettingsError(
                        .invalidFile, source: file.location(of: key, path: "workspaces.\(name).app_api"),
                        "unknown key '\(key.string ?? "?")'; expected api_key or api_key_env, region, url")
                }
                let key = try apiKey(of: mapping, environment: environment, where: place)
                guard key?.isEmpty == false else {
                    throw SettingsError(.missing, source: place, "set api_key or api_key_env (or leave app_api out, to suppress at the ESP dry)")
                }
                let region = mapping["region"]?.string ?? node.mapping?["track"]?.mapping?["region"]?.string
                apps[name] = try configuration(key: key, region: region, url: mapping["url"]?.string, where: place)
            }
        }
        if let defaultApp = try configuration(
            key: environment[SettingsTable.appAPIKey.variable],
            region: environment[SettingsTable.region.variable].flatMap { $0.isEmpty ? nil : $0 },
            url: environment[SettingsTable.appAPIURL.variable],
            where: SettingsTable.appAPIKey.variable
        ) {
            apps[ReceiverConfiguration.defaultWorkspaceName] = defaultApp
        }
        return apps
    }

    /// A workspace's key in its `track:` or `app_api:` mapping: `api_key`, or the value of the
    /// variable `api_key_env` names (which must be set).
    private static func apiKey(of mapping: Node.Mapping, environment: [String: String], where place: String) throws(SettingsError) -> String? {
        guard let variable = mapping["api_key_env"]?.string else { return mapping["api_key"]?.string }
        guard let value = environment[variable], !value.isEmpty else {
            throw SettingsError(.missing, source: place, "api_key_env names \(variable), which is not set")
        }
        return value
    }

    /// A Customer.io API's base URL: `url` when given (an http(s) URL), else the host `host` gives
    /// for `region` (the standard region when none).
    private static func apiBaseURL(region: String?, url: String?, host: (TrackRegion) -> String, where place: String) throws(SettingsError) -> String
    {
        var chosen = TrackRegion.standard
        if let region {
            chosen = TrackRegion(rawValue: try SettingSource.choose(region, for: SettingsTable.region, source: place)) ?? chosen
        }
        guard let url, !url.isEmpty else { return host(chosen) }
        guard let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme ?? ""), parsed.host != nil else {
            throw SettingsError(.invalidValue, source: place, "'\(url)' is not an http(s) URL")
        }
        return url
    }

    /// The host name plus a random suffix: two processes on one host (or in one pod's network
    /// namespace, where both see the pod's host name) must not read as one consumer, or each
    /// would take the other's pending entries for its own. Consumers left behind by restarts are
    /// removed by the workers' upkeep once idle and without pending entries.
    static func uniqueConsumerName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        let host =
            gethostname(&buffer, buffer.count) == 0
            ? String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : ""
        let suffix = String(UInt32.random(in: .min ... .max), radix: 16)
        return "\(host.isEmpty ? "cio-relay" : host)-\(suffix)"
    }
}

extension SettingsError {
    /// A `policy:` or `forward:` block of the file that cannot be used, named by its file and line.
    init(_ error: PolicyError) {
        self.init(.invalidFile, source: "\(error.source)\(error.line.map { ":\($0)" } ?? "")", error.message)
    }
}
