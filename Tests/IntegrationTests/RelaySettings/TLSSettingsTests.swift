import Hiredis
import TestSupport
import Testing

@testable import RelaySettings

/// Needs the test certificates that the test command makes (`CIO_RELAY_TEST_TLS_DIR`).
@Suite("TLS files in the settings")
struct TLSSettingsTests {
    let base = ["CUSTOMERIO_WEBHOOK_SECRET": "current"]

    /// The load error of `environment`, as text.
    func refusal(_ environment: [String: String]) -> String? {
        #expect(throws: SettingsError.self) { try RelaySettings.load(environment: base.merging(environment) { $1 }) }.map(\.description)
    }

    @Test func tlsFilesAreReadAtStartAndNamedWhenUnusable() throws {
        let settings = try RelaySettings.load(
            environment: base.merging([
                "REDIS_URL": "rediss://cache.example.org:6380",
                "CIO_RELAY_REDIS_TLS_CA_FILE": try TestTLS.file("ca.crt"),
                "CIO_RELAY_REDIS_TLS_CERT_FILE": try TestTLS.file("client.crt"),
                "CIO_RELAY_REDIS_TLS_KEY_FILE": try TestTLS.file("client.key"),
                "CIO_RELAY_REDIS_TLS_SERVER_NAME": "redis.internal",
            ]) { $1 })
        #expect(
            settings.redis.tls
                == RedisTLSConfiguration(
                    caFile: try TestTLS.file("ca.crt"), certificateFile: try TestTLS.file("client.crt"), keyFile: try TestTLS.file("client.key"),
                    serverName: "redis.internal"))
        let missingCA = refusal(["REDIS_URL": "rediss://h:6380", "CIO_RELAY_REDIS_TLS_CA_FILE": "/nonexistent/ca.pem"])
        #expect(missingCA?.hasPrefix("CIO_RELAY_REDIS_TLS_CA_FILE: /nonexistent/ca.pem: cannot be read") == true, "\(String(describing: missingCA))")
        let badKey = refusal([
            "REDIS_URL": "rediss://h:6380", "CIO_RELAY_REDIS_TLS_CERT_FILE": try TestTLS.file("client.crt"),
            "CIO_RELAY_REDIS_TLS_KEY_FILE": try TestTLS.file("server.key"),
        ])
        #expect(
            badKey?.hasPrefix("CIO_RELAY_REDIS_TLS_KEY_FILE:") == true && badKey?.contains("does not belong") == true, "\(String(describing: badKey))"
        )
    }
}
