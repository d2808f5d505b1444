import Foundation
import Hiredis
import Hummingbird
import HummingbirdTesting
import Metrics
import Receiver
import RelayApp
import RelayMetrics
import TestSupport
import Testing

@Suite("Admin port")
struct AdminRoutesTests {
    @Test func healthReadinessAndMetrics() async throws {
        try await withTestRedis { client in
            let exposition = MetricsExposition(definitions: ReferencePages.metricDefinitions)
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
                #expect(
                    text.contains("# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes "),
                    "process metrics follow the registry's")
                #expect(try await http.execute(uri: "/webhooks/customerio", method: .post).status == .notFound)
            }
        }
    }

    @Test func notReadyWhileRedisIsDown() async throws {
        let server = try await RedisServerProcess.started()
        try await withShutdown(try RedisClient(configuration: RedisConfiguration(url: server.url))) { client in
            let app = Application(
                router: AdminRoutes(redis: client, exposition: MetricsExposition(definitions: ReferencePages.metricDefinitions)).router())
            try await app.test(.router) { http async throws in
                #expect(
                    !String(buffer: try await http.execute(uri: "/metrics", method: .get).body).contains("cio_relay_redis_up"),
                    "no value before the first readiness check")
                #expect(try await http.execute(uri: "/readyz", method: .get).status == .ok)
                #expect(String(buffer: try await http.execute(uri: "/metrics", method: .get).body).contains("cio_relay_redis_up 1"))
                await server.stopped()
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
}
