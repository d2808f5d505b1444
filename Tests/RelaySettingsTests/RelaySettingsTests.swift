import CustomerIO
import EventQueue
import Foundation
import Hiredis
import Receiver
import TestSupport
import Testing

@testable import RelaySettings

@Suite("Configuration from the environment and the YAML file")
struct RelaySettingsTests {
    let base = ["CUSTOMERIO_WEBHOOK_SECRET": "current"]

    @Test func defaults() throws {
        let settings = try RelaySettings.load(environment: base)
        #expect(settings.listeners.webhookPort == 3000)
        #expect(settings.listeners.adminPort == 9090)
        #expect(settings.redis.host == "127.0.0.1")
        #expect(settings.redis.port == 6379)
        #expect(settings.queue.prefix == "cio")
        #expect(settings.queue.dedupTTL == .seconds(604_800))
        #expect(settings.receiver.timestampTolerance == 604_800)
        #expect(settings.receiver.maxBodyBytes == 1_048_576)
        #expect(settings.redis.commandTimeout == .seconds(2))
        #expect(settings.receiver.workspaces["default"]?.signingKeys.count == 1)
    }

    @Test func environmentKnobs() throws {
        let settings = try RelaySettings.load(
            environment: base.merging([
                "CUSTOMERIO_WEBHOOK_SECRET_PREVIOUS": "old",
                "REDIS_URL": "redis://u:p@redis.svc:6380/2",
                "PORT": "8080", "ADMIN_PORT": "9191",
                "CIO_RELAY_DEDUP_TTL": "86400", "CIO_RELAY_TIMESTAMP_TOLERANCE": "3600",
                "CIO_RELAY_MAX_BODY_BYTES": "262144", "CIO_RELAY_REDIS_TIMEOUT": "0.5",
            ]) { $1 })
        #expect(settings.receiver.workspaces["default"]?.signingKeys.count == 2)
        #expect(settings.redis.host == "redis.svc")
        #expect(settings.redis.database == 2)
        #expect(settings.listeners.webhookPort == 8080)
        #expect(settings.listeners.adminPort == 9191)
        #expect(settings.queue.dedupTTL == .seconds(86400))
        #expect(settings.receiver.timestampTolerance == 3600)
        #expect(settings.receiver.maxBodyBytes == 262_144)
        #expect(settings.redis.commandTimeout == .milliseconds(500))
    }

    @Test(arguments: [
        ("CIO_RELAY_DEDUP_TTL", "a week"),
        ("CIO_RELAY_DEDUP_TTL", "0"),
        ("CIO_RELAY_TIMESTAMP_TOLERANCE", "-5"),
        ("CIO_RELAY_MAX_BODY_BYTES", "1MB"),
        ("CIO_RELAY_REDIS_TIMEOUT", "10"),
        ("PORT", "70000"),
        ("ADMIN_PORT", "x"),
        ("REDIS_URL", "localhost:6379"),
        ("LOG_LEVEL", "loud"),
        ("CIO_RELAY_KEY_PREFIX", "a{b}"),
    ])
    func aBadValueNamesItsVariable(variable: String, value: String) {
        let failure = settingsError(base.merging([variable: value]) { $1 })
        #expect(failure?.source == variable, "\(String(describing: failure))")
        #expect(failure?.code == .invalidValue)
    }

    @Test func toleranceWiderThanTheDedupTTLIsRefused() throws {
        let failure = settingsError(base.merging(["CIO_RELAY_DEDUP_TTL": "600", "CIO_RELAY_TIMESTAMP_TOLERANCE": "601"]) { $1 })
        #expect(failure?.source == "CIO_RELAY_TIMESTAMP_TOLERANCE")
        #expect(failure?.message.contains("replayed") == true)
        // The tolerance follows a shorter TTL by default.
        #expect(try RelaySettings.load(environment: base.merging(["CIO_RELAY_DEDUP_TTL": "600"]) { $1 }).receiver.timestampTolerance == 600)
    }

    @Test func aMissingSecretIsExplained() {
        let failure = settingsError([:])
        #expect(failure?.code == .missing)
        #expect(failure?.source == "CUSTOMERIO_WEBHOOK_SECRET")
        #expect(settingsError(["CUSTOMERIO_WEBHOOK_SECRET_PREVIOUS": "old"])?.source == "CUSTOMERIO_WEBHOOK_SECRET")
    }

    @Test func workspacesAndLimitsFromTheFile() throws {
        let path = try writeConfigFile(
            """
            workspaces:
              eu-brand:
                signing_keys: [k1, k2]
              us:
                signing_keys_env: [US_KEY]
            limits:
              dedup_ttl: 7200
              max_body_bytes: 65536
            """)
        let settings = try RelaySettings.load(environment: ["CIO_RELAY_CONFIG": path, "US_KEY": "from-env", "CIO_RELAY_MAX_BODY_BYTES": "131072"])
        #expect(settings.receiver.workspaces.keys.sorted() == ["eu-brand", "us"])
        #expect(settings.receiver.workspaces["eu-brand"]?.signingKeys.count == 2)
        #expect(settings.receiver.workspaces["us"]?.signingKeys.first?.bytes == Array("from-env".utf8))
        #expect(settings.queue.dedupTTL == .seconds(7200))
        #expect(settings.receiver.timestampTolerance == 7200)
        #expect(settings.receiver.maxBodyBytes == 131_072, "the environment wins over the file")
    }

    @Test func fileErrorsNameTheLine() throws {
        let badValue = try writeConfigFile(
            """
            workspaces:
              a:
                signing_keys: k
            limits:
              dedup_ttl: soon
            """)
        let failure = settingsError(["CIO_RELAY_CONFIG": badValue])
        #expect(failure?.source.contains("\(badValue):5 limits.dedup_ttl") == true, "\(String(describing: failure))")

        let noKeys = try writeConfigFile(
            """
            workspaces:
              a:
                other: 1
            """)
        #expect(settingsError(["CIO_RELAY_CONFIG": noKeys])?.source == "\(noKeys):3 workspaces.a")

        let unsetVariable = try writeConfigFile(
            """
            workspaces:
              a:
                signing_keys_env: NOT_SET_ANYWHERE
            """)
        #expect(settingsError(["CIO_RELAY_CONFIG": unsetVariable])?.message.contains("NOT_SET_ANYWHERE") == true)

        #expect(settingsError(["CIO_RELAY_CONFIG": try writeConfigFile("- just\n- a list\n")])?.code == .invalidFile)
        #expect(settingsError(["CIO_RELAY_CONFIG": try writeConfigFile("a: [unclosed\n")])?.code == .invalidFile)
        #expect(settingsError(["CIO_RELAY_CONFIG": "/nonexistent/cio.yaml"])?.source == "CIO_RELAY_CONFIG")
    }
}

@Suite("TLS and console settings")
struct SecuritySettingsTests {
    let base = ["CUSTOMERIO_WEBHOOK_SECRET": "current"]

    /// The load error of `environment`, as text.
    func refusal(_ environment: [String: String]) -> String? {
        settingsError(base.merging(environment) { $1 })?.description
    }

    @Test func tlsSettingsOnAPlainURLAreRefused() {
        let refused = refusal(["REDIS_URL": "redis://h:6379", "CIO_RELAY_REDIS_TLS_SERVER_NAME": "redis.internal"])
        #expect(refused?.hasPrefix("CIO_RELAY_REDIS_TLS_SERVER_NAME: is set but REDIS_URL is plain text") == true, "\(String(describing: refused))")
    }

    @Test func theConsoleCanBeTurnedOff() throws {
        #expect(try RelaySettings.load(environment: base).listeners.console)
        #expect(try !RelaySettings.load(environment: base.merging(["CIO_RELAY_CONSOLE": "off"]) { $1 }).listeners.console)
        #expect(refusal(["CIO_RELAY_CONSOLE": "maybe"])?.hasPrefix("CIO_RELAY_CONSOLE") == true)
    }

    @Test func theACLRuleOfARoleAllowsOnlyItsCommandsOnItsKeys() {
        let serve = RedisACL.rule(for: [.serve], prefix: "cio")
        #expect(serve.hasPrefix("resetkeys ~cio:* resetchannels -@all +"))
        #expect(serve.contains("+evalsha") && serve.contains("+xadd"))
        #expect(!serve.contains("+xrange") && !serve.contains("+xreadgroup"), "a receiver cannot read events")
        #expect(
            RedisACL.commands(for: [.work, .operator]) == Array(Set(RedisACL.commands(for: [.work]) + RedisACL.commands(for: [.operator]))).sorted())
        #expect(RedisACL.roles("work,operator") == [.work, .operator])
        #expect(RedisACL.roles("admin") == nil)
    }
}

@Suite("Replicated acknowledgements by default")
struct MinReplicasDefaultTests {
    let base = ["CUSTOMERIO_WEBHOOK_SECRET": "current"]

    @Test func aClusterWaitsForOneReplicaUnlessToldOtherwise() throws {
        let cluster = ["REDIS_URL": "redis+cluster://10.0.0.1:6379,10.0.0.2:6379"]
        #expect(try RelaySettings.load(environment: base.merging(cluster) { $1 }).redis.minReplicas == 1)
        #expect(try RelaySettings.load(environment: base.merging(["REDIS_URL": "rediss+cluster://10.0.0.1:6379"]) { $1 }).redis.minReplicas == 1)
        #expect(
            try RelaySettings.load(environment: base.merging(cluster) { $1 }.merging(["CIO_RELAY_REDIS_MIN_REPLICAS": "0"]) { $1 }).redis.minReplicas
                == 0)
        #expect(
            try RelaySettings.load(environment: base.merging(cluster) { $1 }.merging(["CIO_RELAY_REDIS_MIN_REPLICAS": "2"]) { $1 }).redis.minReplicas
                == 2)
    }

    @Test func sentinelWaitsForOneReplicaAndTakesItsOwnCredentials() throws {
        let sentinel = ["REDIS_URL": "redis+sentinel://s1:26379,s2:26379/mymaster", "CIO_RELAY_REDIS_SENTINEL_PASSWORD": "sentinel-pw"]
        let settings = try RelaySettings.load(environment: base.merging(sentinel) { $1 })
        #expect(settings.redis.minReplicas == 1)
        #expect(settings.redis.sentinel?.password == "sentinel-pw" && settings.redis.password == nil)
        #expect(SettingsTable.redisURL.value(settings) == "redis+sentinel://s1:26379,s2:26379/mymaster")
        do {
            _ = try RelaySettings.load(environment: base.merging(["REDIS_URL": "redis://h:6379", "CIO_RELAY_REDIS_SENTINEL_PASSWORD": "x"]) { $1 })
            Issue.record("Sentinel credentials without a Sentinel URL must be refused")
        } catch {
            #expect(error.description.hasPrefix("CIO_RELAY_REDIS_SENTINEL_PASSWORD: is set but REDIS_URL is not redis+sentinel://"), "\(error)")
        }
    }

    @Test func oneRedisDoesNotWaitUnlessToldTo() throws {
        #expect(try RelaySettings.load(environment: base).redis.minReplicas == 0)
        #expect(
            try RelaySettings.load(environment: base.merging(["REDIS_URL": "redis://h:6379", "CIO_RELAY_REDIS_MIN_REPLICAS": "1"]) { $1 }).redis
                .minReplicas == 1)
    }
}
