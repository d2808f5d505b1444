import Foundation
import Hiredis
import Hummingbird
import HummingbirdTesting
import Receiver
import RelayApp
import Metrics
import RelayMetrics
import Testing
import TestSupport

@Suite("Admin port")
struct AdminRoutesTests {
    @Test func healthReadinessAndMetrics() async throws {
        try await withTestRedis { client in
            let exposition = MetricsExposition()
            ReceiverMetrics.webhooksReceived.counter("accepted", factory: exposition.factory).increment()
            let app = Application(router: AdminRoutes(redis: client, exposition: exposition).router())
            try await app.test(.router) { http async throws in
                #expect(try await http.execute(uri: "/healthz", method: .get).status == .ok)
                #expect(try await http.execute(uri: "/readyz", method: .get).status == .ok)
                let metrics = try await http.execute(uri: "/metrics", method: .get)
                #expect(metrics.status == .ok)
                let text = String(buffer: metrics.body)
                #expect(text.contains(#"cio_relay_webhooks_received_total{outcome="accepted"} 1"#))
                #expect(text.contains("# HELP cio_relay_webhooks_received_total Webhook requests by outcome"))
                #expect(text.contains("# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes "), "process metrics follow the registry's")
                #expect(try await http.execute(uri: "/webhooks/customerio", method: .post).status == .notFound)
            }
        }
    }

    @Test func notReadyWhileRedisIsDown() async throws {
        let server = try RedisServerProcess()
        try await withShutdown(try RedisClient(configuration: RedisConfiguration(url: server.url))) { client in
            let app = Application(router: AdminRoutes(redis: client, exposition: MetricsExposition()).router())
            try await app.test(.router) { http async throws in
                #expect(!String(buffer: try await http.execute(uri: "/metrics", method: .get).body).contains("cio_relay_redis_up"),
                        "no value before the first readiness check")
                #expect(try await http.execute(uri: "/readyz", method: .get).status == .ok)
                #expect(String(buffer: try await http.execute(uri: "/metrics", method: .get).body).contains("cio_relay_redis_up 1"))
                server.stop()
                let start = ContinuousClock.now
                #expect(try await http.execute(uri: "/readyz", method: .get).status == .serviceUnavailable)
                #expect(ContinuousClock.now - start < .seconds(2))
                #expect(String(buffer: try await http.execute(uri: "/metrics", method: .get).body).contains("cio_relay_redis_up 0"))
                #expect(try await http.execute(uri: "/healthz", method: .get).status == .ok, "the process itself is still healthy")
            }
        }
    }

    /// Every family a process can export, each recorded once: the exposition has `HELP` and `TYPE`
    /// for each, and no family that the reference (docs/operations.md) does not list.
    @Test func everyFamilyIsDocumentedAndHasHelpAndType() throws {
        let exposition = MetricsExposition()
        for definition in ReferencePages.metricDefinitions where !definition.name.hasPrefix("process_") {
            let values = definition.labels.map { _ in "x" }
            switch definition.kind {
            case .counter: Counter(label: definition.name, dimensions: Array(zip(definition.labels, values)), factory: exposition.factory).increment()
            case .gauge: Gauge(label: definition.name, dimensions: Array(zip(definition.labels, values)), factory: exposition.factory).record(1)
            case .histogram: Metrics.Timer(label: definition.name, dimensions: Array(zip(definition.labels, values)), factory: exposition.factory).recordSeconds(1)
            }
        }
        let lines = String(decoding: exposition.render(), as: UTF8.self).split(separator: "\n")
        var types: [String: String] = [:]
        var helped: Set<String> = []
        for line in lines where line.hasPrefix("# ") {
            let parts = line.split(separator: " ", maxSplits: 3).map(String.init)
            if parts[1] == "TYPE" { types[parts[2]] = parts[3] }
            if parts[1] == "HELP", parts.count == 4, !parts[3].isEmpty { helped.insert(parts[2]) }
        }
        let documented = Dictionary(uniqueKeysWithValues: ReferencePages.metricDefinitions.map { ($0.name, $0.kind.rawValue) })
        #expect(types == documented, "exported families and types differ from the reference")
        #expect(helped == Set(documented.keys), "families without HELP: \(Set(documented.keys).subtracting(helped).sorted())")
    }
}
