import Foundation
import LoadGenerator
import TestSupport
import Testing

@Suite("The sender against a local HTTP server")
struct WebhookSenderTests {
    @Test func everyRequestInFlightHasAConnectionSoTheLatencyIsTheServers() async throws {
        // Found by the partition soak: through a shared client's 8 connections per host, the
        // requests beyond 8 in flight waited for a connection, and that wait was recorded as the
        // receiver's latency (4 s answers from a receiver that answered within 2 s).
        let server = try await ScriptedHTTPServer(fallback: .init(body: #"{"status":"accepted"}"#, delay: .milliseconds(500)))
        var configuration = WebhookSender.Configuration(url: server.baseURL + "/webhooks/customerio", secret: "sender-test-key")
        configuration.concurrency = 16
        let summary = await WebhookSender(configuration: configuration).send(count: 16, feed: .generated(SampleEventGenerator(runID: "s"))) { _ in }
        await server.shutdown()
        #expect(summary.answers["accepted"] == 16, "\(summary.answers) \(summary.errors)")
        let slowest = try #require(summary.latenciesMilliseconds.max())
        #expect(slowest < 900, "16 requests at once, each answered after 500 ms: the slowest took \(slowest) ms")
    }
}
