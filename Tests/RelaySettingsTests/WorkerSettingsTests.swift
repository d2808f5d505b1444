import CustomerIO
import EventQueue
import Foundation
import TestSupport
import Testing
import Warehouse
import Worker

@testable import RelaySettings

@Suite("Worker configuration from the environment and the YAML file")
struct WorkerSettingsTests {
    let base = ["CUSTOMERIO_WEBHOOK_SECRET": "current"]

    private func load(_ environment: [String: String], roles: RelayRoles = [.receiver, .worker]) throws(SettingsError) -> RelaySettings {
        try RelaySettings.load(environment: environment, roles: roles)
    }

    @Test func defaultsRunDryWithTheBuiltInPolicy() throws {
        let settings = try load(base)
        let worker = settings.worker
        #expect(settings.groups == ["actions", "warehouse"])
        #expect(settings.warehouse == .sqlite(path: "./data/events.sqlite"))
        #expect(worker.consumer.batchSize == 500 && worker.consumer.maxDeliveries == 10 && worker.rateLimit == 100)
        #expect(worker.warehouseBatchSize == 2000)
        #expect(worker.warehouseWriters == 2)
        #expect(worker.consumer.reclaimIdle == .seconds(60))
        #expect(worker.consumer.group == "actions")
        #expect(worker.track.isEmpty, "no credentials: dry run")
        #expect(worker.policy == Policy.builtIn && settings.policySource == "built-in")
        #expect(!worker.consumer.consumer.isEmpty)
    }

    @Test func environmentKnobsAndCredentials() throws {
        let worker = try load(
            base.merging([
                "CIO_RELAY_BATCH_SIZE": "200", "CIO_RELAY_RECLAIM_IDLE": "30", "CIO_RELAY_MAX_DELIVERIES": "4",
                "CIO_RELAY_TRACK_RATE_LIMIT": "12.5", "CIO_RELAY_CONSUMER_NAME": "pod-7", "CIO_RELAY_GROUPS": "actions",
                "CUSTOMERIO_SITE_ID": "site", "CUSTOMERIO_TRACK_API_KEY": "key", "CUSTOMERIO_REGION": "EU",
                "CIO_RELAY_TRACK_API": "v1", "CIO_RELAY_TRACK_TIMEOUT": "3",
            ]) { $1 }
        ).worker
        #expect(worker.consumer.batchSize == 200 && worker.consumer.reclaimIdle == .seconds(30) && worker.consumer.maxDeliveries == 4)
        #expect(worker.rateLimit == 12.5 && worker.consumer.consumer == "pod-7")
        let track = try #require(worker.track["default"])
        #expect(track.baseURL == "https://track-eu.customer.io")
        #expect(track.credentials.siteID == "site" && track.apiVersion == .v1 && track.requestTimeout == .seconds(3))
        #expect(worker.consumer.group == "actions")
        let overridden = try load(
            base.merging(["CUSTOMERIO_SITE_ID": "s", "CUSTOMERIO_TRACK_API_KEY": "k", "CUSTOMERIO_TRACK_URL": "http://127.0.0.1:9/"]) { $1 }
        ).worker
        #expect(overridden.track["default"]?.baseURL == "http://127.0.0.1:9")
    }

    @Test(arguments: [
        ("CIO_RELAY_BATCH_SIZE", "0"), ("CIO_RELAY_WAREHOUSE_BATCH_SIZE", "20000"), ("CIO_RELAY_WAREHOUSE_WRITERS", "0"),
        ("CIO_RELAY_RECLAIM_IDLE", "soon"), ("CIO_RELAY_MAX_DELIVERIES", "-1"),
        ("CIO_RELAY_TRACK_RATE_LIMIT", "0"), ("CIO_RELAY_CONSUMER_NAME", "two words"), ("WAREHOUSE_URL", "mysql://db/events"),
        ("CIO_RELAY_GROUPS", "reports"), ("CIO_RELAY_TRACK_API", "v3"), ("CIO_RELAY_TRACK_TIMEOUT", "0"),
    ])
    func badValuesNameTheirVariable(variable: String, value: String) {
        let failure = settingsError(base.merging([variable: value]) { $1 })
        #expect(failure?.source.contains(variable) == true, "\(String(describing: failure))")
    }

    @Test func theWarehouseGroupNeedsAWarehouse() throws {
        #expect(try load(base.merging(["WAREHOUSE_URL": "none"]) { $1 }).groups == ["actions"])
        #expect(settingsError(base.merging(["WAREHOUSE_URL": "none", "CIO_RELAY_GROUPS": "actions,warehouse"]) { $1 })?.source == "CIO_RELAY_GROUPS")
        let postgres = try load(base.merging(["WAREHOUSE_URL": "postgres://relay:pw@db:5432/events", "CIO_RELAY_GROUPS": "warehouse"]) { $1 })
        #expect(postgres.groups == ["warehouse"] && postgres.warehouse == .postgres(url: "postgres://relay:pw@db:5432/events"))
    }

    @Test func aBigQueryWarehouseReadsGooglesVariablesAndNamesTheOneThatIsWrong() throws {
        let bigquery = base.merging(["WAREHOUSE_URL": "bigquery://my-project/cio_events?location=EU"]) { $1 }
        let onGKE = try load(bigquery)
        guard case .bigquery(let configuration) = onGKE.warehouse else {
            Issue.record("not a BigQuery warehouse: \(onGKE.warehouse)")
            return
        }
        #expect(configuration.target == BigQueryTarget(project: "my-project", dataset: "cio_events", location: "EU"))
        #expect(
            configuration.credentials == .metadataServer(host: "metadata.google.internal")
                && configuration.apiURL == "https://bigquery.googleapis.com")
        let emulator = try load(bigquery.merging(["BIGQUERY_API_URL": "http://127.0.0.1:9050"]) { $1 })
        #expect(
            emulator.warehouse
                == .bigquery(
                    BigQuerySink.Configuration(
                        target: BigQueryTarget(project: "my-project", dataset: "cio_events", location: "EU"), apiURL: "http://127.0.0.1:9050",
                        credentials: .none)))
        #expect(settingsError(bigquery.merging(["WAREHOUSE_URL": "bigquery://X/events"]) { $1 })?.source == "WAREHOUSE_URL")
        #expect(
            settingsError(bigquery.merging(["GOOGLE_APPLICATION_CREDENTIALS": "/nonexistent/key.json"]) { $1 })?.source
                == "GOOGLE_APPLICATION_CREDENTIALS")
        #expect(settingsError(bigquery.merging(["BIGQUERY_API_URL": "ftp://x"]) { $1 })?.source == "BIGQUERY_API_URL")
    }

    @Test func partialCredentialsAndBadRegionsAreRefused() {
        #expect(settingsError(base.merging(["CUSTOMERIO_SITE_ID": "site"]) { $1 })?.message.contains("both") == true)
        #expect(settingsError(base.merging(["CUSTOMERIO_TRACK_API_KEY": "key"]) { $1 }) != nil)
        #expect(
            settingsError(base.merging(["CUSTOMERIO_SITE_ID": "s", "CUSTOMERIO_TRACK_API_KEY": "k", "CUSTOMERIO_REGION": "ap"]) { $1 })?.message
                .contains("us or eu") == true)
        #expect(
            settingsError(base.merging(["CUSTOMERIO_SITE_ID": "s", "CUSTOMERIO_TRACK_API_KEY": "k", "CUSTOMERIO_TRACK_URL": "ftp://x"]) { $1 }) != nil
        )
    }

    @Test func fileWorkspacesPolicyAndKnobs() throws {
        let path = try writeConfigFile(
            """
            workspaces:
              eu-brand:
                signing_keys: [k1]
                track:
                  site_id: eu-site
                  api_key_env: EU_TRACK_KEY
                  region: eu
              quiet:
                signing_keys: [k2]
            worker:
              batch_size: 50
              track_rate_limit: 20
            policy:
              - name: only-bounces
                metrics: [bounced]
                actions:
                  - suppress
            """)
        let settings = try load(["CIO_RELAY_CONFIG": path, "EU_TRACK_KEY": "secret"])
        let worker = settings.worker
        #expect(worker.track.keys.sorted() == ["eu-brand"], "a workspace without track settings runs dry")
        #expect(worker.track["eu-brand"]?.baseURL == "https://track-eu.customer.io")
        #expect(worker.consumer.batchSize == 50 && worker.rateLimit == 20)
        #expect(worker.policy.rules.map(\.name) == ["only-bounces"] && settings.policySource == path)

        let badPolicy = try writeConfigFile(
            """
            workspaces:
              a:
                signing_keys: [k1]
            policy:
              - metrics: [bounced]
                actions:
                  - identify:
                      when: $nope
            """)
        let failure = settingsError(["CIO_RELAY_CONFIG": badPolicy])
        #expect(failure?.source == "\(badPolicy):8", "\(String(describing: failure))")
        #expect(failure?.message.contains("$nope") == true)

        let unsetKey = try writeConfigFile(
            """
            workspaces:
              a:
                signing_keys: [k1]
                track: {site_id: s, api_key_env: NOT_SET_ANYWHERE}
            """)
        #expect(settingsError(["CIO_RELAY_CONFIG": unsetKey])?.message.contains("NOT_SET_ANYWHERE") == true)
    }

    @Test func appAPIKeysWindowAndBudgetFromTheEnvironmentAndTheFile() throws {
        let defaults = try load(base).worker
        #expect(defaults.appAPI.isEmpty && defaults.appAPIRateLimit == 10 && defaults.unchangedWindow == .seconds(86_400))
        let environment = try load(
            base.merging([
                "CUSTOMERIO_APP_API_KEY": "app-key", "CUSTOMERIO_REGION": "eu", "CIO_RELAY_APP_API_RATE_LIMIT": "5",
                "CIO_RELAY_UNCHANGED_WINDOW": "0",
            ]) { $1 }
        ).worker
        #expect(environment.appAPI["default"]?.baseURL == "https://api-eu.customer.io")
        #expect(environment.appAPIRateLimit == 5 && environment.unchangedWindow == .zero)
        #expect(!"\(environment.appAPI)".contains("app-key"), "the key never appears in a description")
        let overridden = try load(base.merging(["CUSTOMERIO_APP_API_KEY": "k", "CUSTOMERIO_APP_API_URL": "http://127.0.0.1:9/"]) { $1 }).worker
        #expect(overridden.appAPI["default"]?.baseURL == "http://127.0.0.1:9")
        #expect(
            settingsError(base.merging(["CUSTOMERIO_APP_API_KEY": "k", "CUSTOMERIO_APP_API_URL": "ftp://x"]) { $1 })?.source
                == "CUSTOMERIO_APP_API_KEY")

        let path = try writeConfigFile(
            """
            workspaces:
              eu-brand:
                signing_keys: [k1]
                track: {site_id: s, api_key: t, region: eu}
                app_api:
                  api_key_env: EU_APP_KEY
              us-brand:
                signing_keys: [k2]
                app_api: {api_key: a2, url: "http://127.0.0.1:8/"}
            """)
        let file = try load(["CIO_RELAY_CONFIG": path, "EU_APP_KEY": "secret"]).worker
        #expect(file.appAPI["eu-brand"]?.baseURL == "https://api-eu.customer.io", "the track region applies")
        #expect(file.appAPI["us-brand"]?.baseURL == "http://127.0.0.1:8")
        let unknownKey = try writeConfigFile(
            """
            workspaces:
              a:
                signing_keys: [k1]
                app_api: {key: a}
            """)
        let failure = settingsError(["CIO_RELAY_CONFIG": unknownKey])
        #expect(failure?.message.contains("unknown key 'key'") == true, "\(String(describing: failure))")
        #expect(failure?.source.hasPrefix("\(unknownKey):4") == true, "\(String(describing: failure))")
    }

    @Test func forwardDestinationsReadFromGroupsOfTheirOwn() throws {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
        let path = try writeConfigFile(
            """
            workspaces:
              a:
                signing_keys: [k1]
            forward:
              - name: analytics
                url: http://127.0.0.1:9/cio
                secret_env: FWD_SECRET
              - name: alerts
                url: http://127.0.0.1:9/alerts
                secret: \(secret)
                metrics: [spammed]
            """)
        let settings = try load(["CIO_RELAY_CONFIG": path, "FWD_SECRET": secret])
        #expect(settings.groups == ["actions", "warehouse", "forward:analytics", "forward:alerts"], "forward runs by default")
        #expect(settings.worker.forward.map(\.name) == ["analytics", "alerts"])
        let one = try load(["CIO_RELAY_CONFIG": path, "FWD_SECRET": secret, "CIO_RELAY_GROUPS": "forward:alerts"])
        #expect(one.groups == ["forward:alerts"])
        let all = try load(["CIO_RELAY_CONFIG": path, "FWD_SECRET": secret, "CIO_RELAY_GROUPS": "actions,forward"])
        #expect(all.groups == ["actions", "forward:analytics", "forward:alerts"])
        // A receiver creates the groups but holds no forwarding secret; nor does an actions worker.
        #expect(try load(["CIO_RELAY_CONFIG": path], roles: [.receiver]).groups.contains("forward:analytics"))
        #expect(try load(["CIO_RELAY_CONFIG": path, "CIO_RELAY_GROUPS": "actions"]).worker.forward.isEmpty)
        #expect(
            settingsError(["CIO_RELAY_CONFIG": path, "FWD_SECRET": secret, "CIO_RELAY_GROUPS": "forward:nope"])?.message.contains("unknown group")
                == true)
        #expect(settingsError(["CIO_RELAY_CONFIG": path])?.message.contains("FWD_SECRET, which is not set") == true)

        let bad = try writeConfigFile(
            """
            workspaces:
              a:
                signing_keys: [k1]
            forward:
              - name: analytics
                url: ftp://collector
                secret: \(secret)
            """)
        let failure = settingsError(["CIO_RELAY_CONFIG": bad])
        #expect(failure?.source == "\(bad):6" && failure?.message.contains("'url' must be an http(s) URL") == true, "\(String(describing: failure))")
    }

    @Test func aWorkerNeedsNoSigningKey() throws {
        #expect(throws: SettingsError.self) { try load([:]) }
        let worker = try load(["CUSTOMERIO_SITE_ID": "s", "CUSTOMERIO_TRACK_API_KEY": "k"], roles: [.worker]).worker
        #expect(worker.track["default"] != nil)
    }

    @Test func eachRoleChecksOnlyWhatItUses() throws {
        let policyFile = try writeConfigFile(
            """
            policy:
              - metrics: [bounced]
                actions:
                  - identify:
                      when: $nope
            """)
        let workerOnlyFaults = base.merging(["WAREHOUSE_URL": "mysql://db/events", "CIO_RELAY_CONFIG": policyFile]) { $1 }
        // A receiver never opens the warehouse nor runs the policy: their faults do not stop it.
        let receiver = try load(workerOnlyFaults, roles: [.receiver])
        #expect(receiver.groups == ["actions", "warehouse"])
        #expect(throws: SettingsError.self) { try load(workerOnlyFaults, roles: [.worker]) }
        #expect(throws: SettingsError.self) { try load(base.merging(["WAREHOUSE_URL": "mysql://db/events"]) { $1 }, roles: [.worker]) }
        // A worker and an operator command need no signing key, and ignore the receiver's limits.
        let receiverFault = ["CIO_RELAY_MAX_BODY_BYTES": "-5"]
        #expect(throws: SettingsError.self) { try load(base.merging(receiverFault) { $1 }, roles: [.receiver]) }
        #expect(try load(receiverFault, roles: [.worker]).groups == ["actions", "warehouse"])
        #expect(try load(receiverFault.merging(["WAREHOUSE_URL": "none"]) { $1 }, roles: []).groups == ["actions"])
        // Every role reads the groups, so every role refuses a bad one.
        for roles: RelayRoles in [[], [.receiver], [.worker]] {
            #expect(throws: SettingsError.self) { try load(base.merging(["CIO_RELAY_GROUPS": "reports"]) { $1 }, roles: roles) }
        }
    }

    @Test func twoProcessesOnOneHostGetDifferentConsumerNames() throws {
        let first = try load([:], roles: [.worker]).worker.consumer.consumer
        let second = try load([:], roles: [.worker]).worker.consumer.consumer
        #expect(first != second, "\(first) and \(second) would read as one consumer")
    }
}
