import CustomerIO
import EventQueue
import Foundation
import HTTPTypes
import NIOCore
import NIOHTTP1
import Receiver
import TestSupport
import Testing

/// The webhook routes over an in-memory intake queue: what each request stores and how it is
/// answered, without Redis. (IntegrationTests' WebhookRoutesTests run the same routes on Redis.)
@Suite("Webhook routes over an in-memory queue")
struct WebhookRoutesUnitTests {
    static let key = SigningKey("unit-key")

    static func routes(_ queue: InMemoryIntakeQueue) -> WebhookRoutes<InMemoryIntakeQueue> {
        let configuration = ReceiverConfiguration(
            workspaces: [Workspace(name: "default", signingKeys: [key])], maxBodyBytes: 4096, timestampTolerance: 300, retryAfterSeconds: 7)
        return WebhookRoutes(configuration: configuration, queue: queue, logger: .quiet("webhooks"))
    }

    static func post(_ client: WebhookTestClient, body: [UInt8], headers: [String: String]? = nil) async throws -> WebhookTestResponse {
        var fields = HTTPFields()
        for (name, value) in headers ?? customerIOHeaders(body: body, key: key) {
            if let name = HTTPField.Name(name) { fields[name] = value }
        }
        return try await client.execute(uri: "/webhooks/customerio", method: .post, headers: fields, body: ByteBuffer(bytes: body))
    }

    static func text(_ response: WebhookTestResponse) -> String { String(buffer: response.body) }

    @Test func aSignedEventIsStoredOnceAndItsRetryIsADuplicate() async throws {
        let queue = InMemoryIntakeQueue()
        let body = try Fixtures.bytes("email_bounced.json")
        try await withWebhookServer(Self.routes(queue)) { client in
            let first = try await Self.post(client, body: body)
            let second = try await Self.post(client, body: body)
            #expect(Self.text(first) == #"{"status":"accepted"}"# && Self.text(second) == #"{"status":"duplicate"}"#)
        }
        let stored = try #require(queue.events.first)
        #expect(queue.events.count == 1 && stored.body == body && stored.workspace == "default")
        #expect(stored.objectType == "email" && stored.metric == "bounced")
    }

    @Test func aForgedOrStaleRequestStoresNothing() async throws {
        let queue = InMemoryIntakeQueue()
        let body = try Fixtures.bytes("email_sent.json")
        try await withWebhookServer(Self.routes(queue)) { client in
            let forged = try await Self.post(client, body: body, headers: customerIOHeaders(body: body, key: SigningKey("another-key")))
            #expect(forged.status == .unauthorized && Self.text(forged).contains("invalid_signature"))
            let stale = try await Self.post(client, body: body, headers: customerIOHeaders(body: body, key: Self.key, timestamp: 1_000))
            #expect(stale.status == .unauthorized && Self.text(stale).contains("stale"))
        }
        #expect(queue.events.isEmpty && queue.rejected.isEmpty)
    }

    @Test func aGenuineButMalformedBodyIsKeptOnceAndAnswered200() async throws {
        let queue = InMemoryIntakeQueue()
        let body = Array(#"{"event_id": 42}"#.utf8)
        try await withWebhookServer(Self.routes(queue)) { client in
            for _ in 0..<2 {
                let answer = try await Self.post(client, body: body)
                #expect(answer.status == .ok && Self.text(answer).contains(#""status":"dead_lettered""#))
            }
        }
        #expect(queue.events.isEmpty)
        #expect(queue.rejected.count == 1 && queue.rejected.first?.reason == .malformed && queue.rejected.first?.body == body)
    }

    @Test func aQueueThatCannotStoreIsAnswered503WithRetryAfter() async throws {
        let queue = InMemoryIntakeQueue()
        queue.setUnavailable(true)
        let body = try Fixtures.bytes("email_clicked.json")
        try await withWebhookServer(Self.routes(queue)) { client in
            let answer = try await Self.post(client, body: body)
            #expect(answer.status == .serviceUnavailable && answer.headers[.retryAfter] == "7")
            #expect(Self.text(answer).contains("retry in 7 s"))
            queue.setUnavailable(false)
            #expect(try await Self.post(client, body: body).status == .ok, "Customer.io's retry lands once the queue is back")
        }
        #expect(queue.events.count == 1)
    }

    @Test func otherPathsAndMethodsGetJSONErrors() async throws {
        try await withWebhookServer(Self.routes(InMemoryIntakeQueue())) { client in
            let missing = try await client.execute(uri: "/elsewhere", method: .post)
            #expect(missing.status == .notFound && missing.headers[.contentType] == "application/json")
            let get = try await client.execute(uri: "/webhooks/customerio", method: .get)
            #expect(get.status == .methodNotAllowed && get.headers[.allow] == "POST")
        }
    }

    /// An error's text can carry what the request sent (here a workspace name from the path):
    /// the JSON body escapes it, whatever the bytes.
    @Test func errorBodiesAreJSONWhateverTheRequestSent() throws {
        let name = "we\"ird\\name\u{1}\té"
        let start = Self.routes(InMemoryIntakeQueue()).start(method: .POST, target: "/webhooks/customerio/" + name, headers: [:])
        guard case .reply(let reply, closing: false) = start else {
            Issue.record("an unknown workspace is answered from the head, got \(start)")
            return
        }
        #expect(reply.status == .notFound)
        let text = String(buffer: reply.body)
        let object = try #require(
            try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: String], "not a JSON object of strings: \(text)")
        #expect(object == ["error": "unknown_workspace", "message": "no workspace named '\(name)' is configured"])
        #expect(text.hasPrefix(#"{"error":"unknown_workspace","message":"#), "keys in sorted order: \(text)")
    }
}
