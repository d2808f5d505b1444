import EventQueue
import HTTPTypes
import HummingbirdTesting
import Logging
import NIOCore
import Receiver
import ServiceLifecycle

/// An answer of the webhook server, as a test reads it.
public struct WebhookTestResponse: Sendable {
    public let status: HTTPResponse.Status
    public let headers: HTTPFields
    public let body: ByteBuffer
}

/// Sends requests to a webhook server on loopback, each on a connection of its own.
public struct WebhookTestClient: Sendable {
    public let port: Int

    public func execute(uri: String, method: HTTPRequest.Method, headers: HTTPFields = [:], body: ByteBuffer? = nil) async throws
        -> WebhookTestResponse
    {
        let client = TestClient(host: "127.0.0.1", port: port)
        client.connect()
        do {
            let response = try await client.execute(TestClient.Request(uri, method: method, headers: headers, body: body))
            try await client.shutdown()
            return WebhookTestResponse(status: response.status, headers: response.headers, body: response.body ?? ByteBuffer())
        } catch {
            try? await client.shutdown()
            throw error
        }
    }
}

/// Runs the webhook server of `routes` on a free loopback port while `body` runs, then shuts it
/// down gracefully, as a deployment does on SIGTERM.
public func withWebhookServer<Queue: IntakeQueue, T: Sendable>(
    _ routes: WebhookRoutes<Queue>, limits: ConnectionLimits = ConnectionLimits(), logger: Logger = .quiet("webhook-test"),
    _ body: (WebhookTestClient) async throws -> T
) async throws -> T {
    let (ports, announce) = AsyncStream.makeStream(of: Int.self)
    let server = WebhookServer.make(routes: routes, limits: limits, host: "127.0.0.1", port: 0, logger: logger) { channel in
        announce.yield(channel.localAddress?.port ?? 0)
        announce.finish()
    }
    let group = ServiceGroup(services: [server], gracefulShutdownSignals: [], logger: logger)
    return try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next(), port > 0 else {
            await group.triggerGracefulShutdown()
            throw TestSetupError("the webhook server did not start")
        }
        do {
            let result = try await body(WebhookTestClient(port: port))
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return result
        } catch {
            await group.triggerGracefulShutdown()
            try? await tasks.waitForAll()
            throw error
        }
    }
}
