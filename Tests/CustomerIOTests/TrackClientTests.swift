import Foundation
import TestSupport
import Testing

@testable import CustomerIO

@Suite("Track API: retry decisions, batch packing, identifiers")
struct TrackRulesTests {
    let policy = TrackRetryPolicy(
        maximumAttempts: 4, initialBackoff: .milliseconds(100), maximumBackoff: .seconds(1), maximumRetryAfter: .seconds(10))

    @Test func successAndPermanentAnswersAreNotRetried() {
        #expect(policy.decide(status: 200, retryAfter: nil, attempt: 1, random: 0.5) == .succeeded)
        #expect(policy.decide(status: 207, retryAfter: nil, attempt: 1, random: 0.5) == .succeeded)
        for status in [400, 401, 403, 404, 413, 422] {
            #expect(policy.decide(status: status, retryAfter: nil, attempt: 1, random: 0.5) == .rejected, "HTTP \(status)")
        }
    }

    @Test func throttlingServerErrorsAndTransportErrorsAreRetriedWithBackoff() {
        for status in [429, 500, 502, 503, nil] as [Int?] {
            guard case .retry(let delay) = policy.decide(status: status, retryAfter: nil, attempt: 3, random: 0.999) else {
                Issue.record("\(String(describing: status)) must be retried")
                continue
            }
            // Attempt 3: 100 ms × 2² = 400 ms, with jitter below it.
            #expect(delay > .milliseconds(390) && delay <= .milliseconds(400))
        }
        #expect(policy.decide(status: 500, retryAfter: nil, attempt: 1, random: 0) == .retry(after: .zero))
        // Capped by the maximum backoff.
        #expect(policy.decide(status: 500, retryAfter: nil, attempt: 3, random: 1) != .retry(after: .seconds(2)))
        #expect(policy.decide(status: 500, retryAfter: nil, attempt: 4, random: 0.5) == .unavailable, "the last attempt gives up")
    }

    @Test func retryAfterIsHonouredAsSecondsOrHTTPDateAndTooLongGivesUp() {
        #expect(policy.decide(status: 429, retryAfter: "3", attempt: 1, random: 0.1) == .retry(after: .seconds(3)))
        let now = Date(timeIntervalSince1970: 1_767_225_600)  // Thu, 01 Jan 2026 00:00:00 GMT
        #expect(
            policy.decide(status: 503, retryAfter: "Thu, 01 Jan 2026 00:00:05 GMT", attempt: 1, now: now, random: 0) == .retry(after: .seconds(5)))
        #expect(policy.decide(status: 429, retryAfter: "3600", attempt: 1, random: 0.1) == .unavailable)
        // Unreadable Retry-After: plain backoff.
        #expect(policy.decide(status: 429, retryAfter: "soon", attempt: 1, random: 1) == .retry(after: .milliseconds(100)))
    }

    @Test func packerKeepsOrderSplitsAtTheRequestLimitAndReportsOversizedItems() throws {
        let packer = JSONArrayPacker.trackBatch(maximumRequestBytes: 100, maximumItemBytes: 40)
        let items = [
            Array(repeating: UInt8(ascii: "1"), count: 30), Array(repeating: UInt8(ascii: "2"), count: 30),
            Array(repeating: UInt8(ascii: "3"), count: 41), Array(repeating: UInt8(ascii: "4"), count: 30),
            Array(repeating: UInt8(ascii: "5"), count: 5),
        ]
        let (requests, oversized) = packer.pack(items)
        #expect(oversized == [2])
        #expect(requests.map(\.items) == [[0, 1], [3, 4]])
        for request in requests {
            #expect(request.body.count <= 100)
            // Items made of digits are JSON numbers: the body must be a valid batch document.
            let json = try #require(try JSONSerialization.jsonObject(with: Data(request.body)) as? [String: Any])
            #expect((json["batch"] as? [Any])?.count == request.items.count)
        }
    }

    @Test func packerStartsANewRequestAtTheItemLimit() {
        let packer = JSONArrayPacker(opening: #"{"rows":["#, closing: "]}", maximumRequestBytes: 1_000, maximumItemBytes: 100, maximumItems: 2)
        let (requests, oversized) = packer.pack((1...5).map { Array(String($0).utf8) })
        #expect(oversized.isEmpty)
        #expect(requests.map(\.items) == [[0, 1], [2, 3], [4]])
        #expect(String(decoding: requests[0].body, as: UTF8.self) == #"{"rows":[1,2]}"#)
    }

    @Test func personIsCioIDThenIDThenEmail() {
        #expect(Identifiers(id: "u1", email: "a@b.example", cioID: "c1").person == .cioID("c1"))
        #expect(Identifiers(id: "u1", email: "a@b.example", cioID: "").person == .id("u1"))
        #expect(Identifiers(id: nil, email: "a@b.example", cioID: nil).person == .email("a@b.example"))
        #expect(Identifiers(id: "", email: nil, cioID: nil).person == nil)
        #expect(PersonIdentifier.cioID("c1").pathComponent == "cio_c1")
        #expect(PersonIdentifier.email("a+b@x.example").pathComponent == "a%2Bb@x.example")
        #expect(PersonIdentifier.id("a/b c").pathComponent == "a%2Fb%20c")
    }

    @Test func jsonSerializationIsCompactSortedAndKeepsWholeNumbersIntegral() {
        let value = JSONValue.object(["b": .number(1_767_230_000), "a": .array([.bool(true), .null, .number(1.5)]), "c": .string("q\"\\\n\u{01}é")])
        #expect(String(decoding: value.serialized(), as: UTF8.self) == #"{"a":[true,null,1.5],"b":1767230000,"c":"q\"\\\n\u0001é"}"#)
    }

    @Test func regionsAndCredentials() {
        #expect(TrackRegion.us.baseURL == "https://track.customer.io")
        #expect(TrackRegion.eu.baseURL == "https://track-eu.customer.io")
        let credentials = TrackCredentials(siteID: "site", apiKey: "secret-key")
        #expect(credentials.authorization == "Basic " + Data("site:secret-key".utf8).base64EncodedString())
        #expect(!"\(credentials)".contains("secret-key"))
        #expect(TrackClientConfiguration(baseURL: "http://x/", credentials: credentials).baseURL == "http://x")
    }
}

@Suite("Track API client against a local test server")
struct TrackClientTests {
    func client(_ server: ScriptedHTTPServer, version: TrackAPIVersion = .v2, attempts: Int = 4, timeout: Duration = .seconds(5)) -> TrackClient {
        TrackClient(
            configuration: TrackClientConfiguration(
                baseURL: server.baseURL,
                credentials: TrackCredentials(siteID: "site-1", apiKey: "key-1"),
                apiVersion: version,
                requestTimeout: timeout,
                retry: TrackRetryPolicy(maximumAttempts: attempts, initialBackoff: .milliseconds(20), maximumBackoff: .milliseconds(100))
            ))
    }

    let operations: [TrackOperation] = [
        .identify(.cioID("c1"), attributes: ["email_bounced": .bool(true), "email_bounced_at": .number(1_767_230_000)]),
        .identify(.email("x@y.example"), attributes: ["unsubscribed": .bool(true)]),
        .suppress(.cioID("c1")),
    ]

    @Test func batchCarriesEveryOperationWithBasicAuth() async throws {
        try await withShutdown(try await ScriptedHTTPServer()) { server in
            let results = await client(server).send(operations)
            #expect(results.allSatisfy { (try? $0.get()) != nil })
            let request = try #require(server.requests.first)
            #expect(server.requests.count == 1)
            #expect(request.method == "POST" && request.path == "/api/v2/batch")
            #expect(request.authorization == "Basic " + Data("site-1:key-1".utf8).base64EncodedString())
            let batch = request.batch
            #expect(batch.count == 3)
            #expect(batch[0]["type"] as? String == "person")
            #expect(batch[0]["action"] as? String == "identify")
            #expect(batch[0]["identifiers"] as? [String: String] == ["cio_id": "c1"])
            #expect((batch[0]["attributes"] as? [String: Any])?["email_bounced_at"] as? Int == 1_767_230_000)
            #expect(batch[1]["identifiers"] as? [String: String] == ["email": "x@y.example"])
            #expect(batch[2]["action"] as? String == "suppress")
            #expect(batch[2]["attributes"] == nil)
        }
    }

    @Test func a207FailsExactlyTheItemsItNames() async throws {
        try await withShutdown(try await ScriptedHTTPServer()) { server in
            server.script(.itemErrors([1]))
            let results = await client(server).send(operations)
            #expect((try? results[0].get()) != nil)
            #expect((try? results[2].get()) != nil)
            guard case .failure(let error) = results[1] else {
                Issue.record("item 1 must fail")
                return
            }
            #expect(error.code == .itemRejected && error.isPermanent)
            #expect(error.message.contains("value too long"))
        }
    }

    @Test func throttlingAndServerErrorsAreRetriedHonouringRetryAfter() async throws {
        try await withShutdown(try await ScriptedHTTPServer()) { server in
            server.script(.init(status: 429, headers: ["Retry-After": "1"]), .init(status: 500), .ok)
            let results = await client(server).send(operations)
            #expect(results.allSatisfy { (try? $0.get()) != nil })
            let requests = server.requests
            #expect(requests.count == 3)
            if requests.count == 3 {
                #expect(requests[1].receivedAt - requests[0].receivedAt >= .seconds(1), "Retry-After: 1 is respected")
                #expect(requests[2].body == requests[0].body, "the same batch is sent again")
            }
        }
    }

    @Test(arguments: [400, 401])
    func clientErrorsArePermanentAndNotRetried(status: Int) async throws {
        try await withShutdown(try await ScriptedHTTPServer()) { server in
            server.script(.init(status: status, body: #"{"meta":{"error":"bad"}}"#))
            let results = await client(server).send(operations)
            #expect(server.requests.count == 1)
            for result in results {
                guard case .failure(let error) = result else {
                    Issue.record("HTTP \(status) must fail the operations")
                    continue
                }
                #expect(error.code == .rejected && error.status == status && error.isPermanent)
                #expect(error.message.contains("\(status)"))
            }
        }
    }

    @Test func aServerThatNeverAnswersTimesOutAndIsReportedUnavailable() async throws {
        try await withShutdown(try await ScriptedHTTPServer(fallback: .init(delay: .seconds(30)))) { server in
            let start = ContinuousClock.now
            let results = await client(server, attempts: 2, timeout: .milliseconds(300)).send(Array(operations.prefix(1)))
            #expect(ContinuousClock.now - start < .seconds(3))
            guard case .failure(let error) = results[0] else {
                Issue.record("a hanging server must fail the operation")
                return
            }
            #expect(error.code == .unavailable && !error.isPermanent)
            #expect(server.requests.count == 2)
        }
    }

    @Test func operationsOfARequestWithAnAttemptWithoutAnAnswerMayStillLand() async throws {
        // The first attempt times out and the retry succeeds: the first may still reach the server
        // (what was sent on a cut link is delivered when it heals), so the caller must know.
        try await withShutdown(try await ScriptedHTTPServer()) { server in
            server.script(.init(delay: .seconds(1)))
            let retried = await client(server, attempts: 2, timeout: .milliseconds(300)).deliver(Array(operations.prefix(2)))
            #expect(retried.results.allSatisfy { (try? $0.get()) != nil }, "the retry went through")
            #expect(retried.mayStillLand == [0, 1])
            let answered = await client(server).deliver(operations)
            #expect(answered.mayStillLand.isEmpty, "every attempt was answered")
            server.script(.init(status: 503), .init(status: 503))
            let refused = await client(server, attempts: 2).deliver(Array(operations.prefix(1)))
            #expect((try? refused.results[0].get()) == nil && refused.mayStillLand.isEmpty, "a 503 is an answer: nothing can land later")
        }
    }

    @Test func v1SendsOneRequestPerOperation() async throws {
        try await withShutdown(try await ScriptedHTTPServer()) { server in
            let results = await client(server, version: .v1).send(operations)
            #expect(results.allSatisfy { (try? $0.get()) != nil })
            let requests = server.requests
            #expect(requests.map(\.method) == ["PUT", "PUT", "POST"])
            #expect(requests.map(\.path) == ["/api/v1/customers/cio_c1", "/api/v1/customers/x@y.example", "/api/v1/customers/cio_c1/suppress"])
            #expect((requests.first?.json as? [String: Any])?["email_bounced"] as? Bool == true)
        }
    }

    @Test func oversizedOperationsFailWithoutARequest() async throws {
        try await withShutdown(try await ScriptedHTTPServer()) { server in
            let big = TrackOperation.identify(.id("u1"), attributes: ["blob": .string(String(repeating: "x", count: 40_000))])
            let results = await client(server).send([big])
            guard case .failure(let error) = results[0] else {
                Issue.record("an item over 32 KB must fail")
                return
            }
            #expect(error.code == .tooLarge)
            #expect(server.requests.isEmpty)
        }
    }
}
