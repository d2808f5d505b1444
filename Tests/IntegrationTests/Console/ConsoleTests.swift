import Console
import CustomerIO
import EventQueue
import Foundation
import Hiredis
import Hummingbird
import HummingbirdTesting
import Logging
import Metrics
import Operations
import Receiver
import RelayApp
import RelayMetrics
import TestSupport
import Testing
import Warehouse

/// The console's pages and actions against real Redis and a SQLite warehouse.
@Suite("Console on the admin port")
struct ConsoleTests {
    static let token = "console-test-token-0123456789"

    /// What a test works with: the queue, the warehouse and a few events in known states.
    struct Scene {
        let queue: EventQueue
        let sink: SQLiteSink
        /// Accepted, stored in the warehouse, an action recorded.
        let acted: String
        /// Accepted, then dead-lettered by the actions group; its body carries markup and an email.
        let dead: String
        let deadLetterID: String
    }

    /// Runs `body` over a fresh scene: a queue on the test Redis and a SQLite warehouse of its own.
    static func withScene(_ body: @escaping @Sendable (Scene, String) async throws -> Void) async throws {
        try await withTestQueue(prefix: "console") { queue in
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("console-\(UUID().uuidString).sqlite").path
            defer { try? FileManager.default.removeItem(atPath: path) }
            try await SQLiteSink(path: path).withRunning { sink in
                _ = try await sink.migrate()
                try await body(try await Self.scene(queue: queue, sink: sink), path)
            }
        }
    }

    /// Runs `body` with a console (token or none) over a fresh scene.
    func withConsole(token: String?, _ body: @escaping @Sendable (any TestClientProtocol, Scene) async throws -> Void) async throws {
        try await Self.withScene { scene, path in
            let console = ConsoleRoutes(
                queue: scene.queue, groups: ["actions", "warehouse"], lookup: scene.sink, warehouse: .sqlite(path: path),
                security: ConsoleSecurity(token: token),
                activity: ConsoleActivity(exposition: MetricsExposition(definitions: ReferencePages.metricDefinitions)),
                logger: Logger(label: "console-test")
            )
            let app = Application(
                router: AdminRoutes(
                    redis: scene.queue.client, exposition: MetricsExposition(definitions: ReferencePages.metricDefinitions), console: console
                ).router())
            try await app.test(.router) { http in try await body(http, scene) }
        }
    }

    static func scene(queue: EventQueue, sink: SQLiteSink) async throws -> Scene {
        let acted = Fixtures.newEventID()
        let dead = Fixtures.newEventID()
        let hostile = Array(
            #"{"event_id":"\#(dead)","object_type":"email","metric":"bounced","timestamp":1767225600,"data":{"identifiers":{"email":"victim@example.org"},"subject":"<script>alert(1)</script>"}}"#
                .utf8)
        for (id, body) in [(acted, Fixtures.event(id: acted, metric: "bounced")), (dead, hostile)] {
            _ = try await queue.enqueue(
                IncomingEvent(
                    eventID: id, body: body, workspace: "default", receivedAt: Int64(Date().timeIntervalSince1970 * 1000), objectType: "email",
                    metric: "bounced"))
        }
        let consumer = try GroupConsumer(
            queue: queue, configuration: ConsumerConfiguration(group: "actions", consumer: "worker-a", blockTime: .milliseconds(50)))
        try await consumer.createGroup()
        try await queue.createGroup("warehouse")
        let batch = try await consumer.readNew()
        for delivered in batch {
            if delivered.entry.string("body")?.contains(dead) == true {
                try await consumer.deadLetter(
                    delivered, reason: .trackAPIRejected, error: "400 for <b>victim@example.org</b>", now: Int64(Date().timeIntervalSince1970 * 1000))
            } else {
                try await consumer.acknowledge([delivered.entry.id])
            }
        }
        await consumer.shutdown()
        let body = Fixtures.event(id: acted, metric: "bounced")
        _ = try await sink.write([
            WarehouseRow(
                event: try WebhookEvent.parse(body), workspace: "default", receivedAt: 1_767_235_000_123, body: String(decoding: body, as: UTF8.self))
        ])
        try await sink.record([
            ActionRecord(eventID: acted, workspace: "default", person: "email:a@example.org", action: "suppress", outcome: "applied", detail: nil)
        ])
        let letter = try #require(try await queue.deadLetters().first)
        return Scene(queue: queue, sink: sink, acted: acted, dead: dead, deadLetterID: letter.id)
    }

    static func text(_ response: TestResponse) -> String { String(buffer: response.body) }

    @Test func withoutATokenEveryPageReadsAndNothingChanges() async throws {
        try await withConsole(token: nil) { http, scene in
            let overview = try await http.execute(uri: "/console", method: .get)
            #expect(overview.status == .ok && overview.headers[.contentType] == "text/html; charset=utf-8")
            let page = Self.text(overview)
            #expect(page.contains("read-only") && page.contains("<td>actions</td>") && page.contains("<td>warehouse</td>"), "\(page)")
            #expect(page.contains("http-equiv=\"refresh\""), "the overview refreshes itself, without script")
            #expect(!page.contains("<script"), "no script on any page")
            let list = Self.text(try await http.execute(uri: "/console/dead-letters", method: .get))
            #expect(list.contains(scene.deadLetterID) && list.contains("track_api_rejected"))
            #expect(!list.contains("Purge all"), "no change offered while read-only")
            // Changes are refused outright, whatever the form says.
            let refused = try await http.execute(
                uri: "/console/dead-letters/purge", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                body: ByteBuffer(string: "csrf=x"))
            #expect(refused.status == .forbidden)
            #expect(try await scene.queue.deadLetterCount() == 1)
            #expect(try await http.execute(uri: "/console/dead-letters/confirm?action=purge", method: .get).status == .forbidden)
        }
    }

    /// Logs in with the token; the session cookie (`name=value`).
    static func logIn(_ http: any TestClientProtocol, token: String = Self.token) async throws -> String {
        let login = try await http.execute(
            uri: "/console/login", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
            body: ByteBuffer(string: "token=\(token)"))
        return try #require(login.headers[.setCookie]?.split(separator: ";").first.map(String.init))
    }

    @Test func hostileFieldsAreEscapedAndEmailsRevealedOnlyAfterALogin() async throws {
        try await withConsole(token: nil) { http, scene in
            let uri = "/console/dead-letters/show?id=\(scene.deadLetterID.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")"
            let page = Self.text(try await http.execute(uri: uri, method: .get))
            #expect(!page.contains("<script>alert(1)</script>") && page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "\(page)")
            #expect(!page.contains("<b>victim") && page.contains("&lt;b&gt;"))
            #expect(!page.contains("victim@example.org") && page.contains("v•••@e•••.org"), "emails masked by default")
            // Read-only, there is no login: asking to reveal changes nothing.
            let asked = Self.text(try await http.execute(uri: uri + "&reveal=1", method: .get))
            #expect(!asked.contains("victim@example.org") && asked.contains("revealing them needs the login"), "\(asked)")
            #expect(EmailMask.mask("to jane.doe@mail.example.com, cc b@x.io") == "to j•••@m•••.com, cc b•••@x•••.io")
        }
        try await withConsole(token: Self.token) { http, scene in
            let uri = "/console/dead-letters/show?id=\(scene.deadLetterID.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")"
            let session: HTTPFields = [.cookie: try await Self.logIn(http)]
            #expect(!Self.text(try await http.execute(uri: uri, method: .get, headers: session)).contains("victim@example.org"), "masked until asked")
            let revealed = Self.text(try await http.execute(uri: uri + "&reveal=1", method: .get, headers: session))
            #expect(revealed.contains("victim@example.org") && !revealed.contains("<script>alert"), "\(revealed)")
        }
    }

    @Test func failedLoginsAreThrottled() async throws {
        try await withConsole(token: Self.token) { http, _ in
            let form: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]
            for _ in 0..<5 {
                let wrong = try await http.execute(
                    uri: "/console/login", method: .post, headers: form, body: ByteBuffer(string: "token=not-the-token-at-all"))
                #expect(wrong.status == .unauthorized)
            }
            // Past five failures a minute, logins are refused unchecked, the right token too.
            let throttled = try await http.execute(
                uri: "/console/login", method: .post, headers: form, body: ByteBuffer(string: "token=\(Self.token)"))
            #expect(throttled.status == .tooManyRequests && throttled.headers[.setCookie] == nil)
            let retryAfter = try #require(throttled.headers[.retryAfter].flatMap { Int($0) })
            #expect((1...60).contains(retryAfter))
        }
    }

    @Test func withATokenEveryPageNeedsTheLoginAndChangesNeedTheFormToken() async throws {
        try await withConsole(token: Self.token) { http, scene in
            let anonymous = try await http.execute(uri: "/console/trace?event_id=\(scene.acted)", method: .get)
            #expect(anonymous.status == .seeOther && anonymous.headers[.location] == "/console/login")
            let form: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]
            let wrong = try await http.execute(uri: "/console/login", method: .post, headers: form, body: ByteBuffer(string: "token=not-the-token"))
            #expect(wrong.status == .unauthorized && wrong.headers[.setCookie] == nil)
            let login = try await http.execute(uri: "/console/login", method: .post, headers: form, body: ByteBuffer(string: "token=\(Self.token)"))
            #expect(login.status == .seeOther)
            let setCookie = try #require(login.headers[.setCookie])
            #expect(setCookie.contains("HttpOnly") && setCookie.contains("SameSite=Strict") && setCookie.contains("Path=/console"))
            let cookie = try #require(setCookie.split(separator: ";").first.map(String.init))
            let session: HTTPFields = [.cookie: cookie]

            let confirm = Self.text(
                try await http.execute(uri: "/console/dead-letters/confirm?action=replay&id=\(scene.deadLetterID)", method: .get, headers: session))
            let csrf = try #require(confirm.firstMatch(of: /name="csrf" value="([0-9a-f]+)"/)?.output.1).description
            var posted = form
            posted[.cookie] = cookie
            // Without the form token, with a wrong one, or without the session: refused, nothing replayed.
            for body in ["id=\(scene.deadLetterID)", "id=\(scene.deadLetterID)&csrf=\(String(repeating: "0", count: 64))"] {
                #expect(
                    try await http.execute(uri: "/console/dead-letters/replay", method: .post, headers: posted, body: ByteBuffer(string: body)).status
                        == .forbidden)
            }
            #expect(
                try await http.execute(
                    uri: "/console/dead-letters/replay", method: .post, headers: form,
                    body: ByteBuffer(string: "id=\(scene.deadLetterID)&csrf=\(csrf)")
                ).status == .forbidden)
            #expect(try await scene.queue.deadLetterCount() == 1)

            let replayed = try await http.execute(
                uri: "/console/dead-letters/replay", method: .post, headers: posted, body: ByteBuffer(string: "id=\(scene.deadLetterID)&csrf=\(csrf)")
            )
            #expect(replayed.status == .seeOther && replayed.headers[.location]?.hasPrefix("/console/dead-letters?done=Replayed") == true)
            #expect(try await scene.queue.deadLetterCount() == 0)
            let list = Self.text(try await http.execute(uri: replayed.headers[.location] ?? "", method: .get, headers: session))
            #expect(list.contains("Replayed \(scene.deadLetterID) as ") && list.contains("No dead letters."), "\(list)")

            let loggedOut = try await http.execute(uri: "/console/logout", method: .post, headers: session)
            #expect(loggedOut.headers[.setCookie]?.contains("Max-Age=0") == true)
        }
    }

    @Test func replayAllOfAReasonAndPurgeAreConfirmedPosts() async throws {
        try await withConsole(token: Self.token) { http, scene in
            let form: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]
            let cookie = try await Self.logIn(http)
            var posted = form
            posted[.cookie] = cookie
            let confirm = Self.text(
                try await http.execute(
                    uri: "/console/dead-letters/confirm?action=replay-reason&reason=track_api_rejected", method: .get, headers: [.cookie: cookie]))
            #expect(confirm.contains("Put all 1 dead letters of reason track_api_rejected back"), "\(confirm)")
            let csrf = try #require(confirm.firstMatch(of: /name="csrf" value="([0-9a-f]+)"/)?.output.1).description
            let replayed = try await http.execute(
                uri: "/console/dead-letters/replay-reason", method: .post, headers: posted,
                body: ByteBuffer(string: "reason=track_api_rejected&csrf=\(csrf)"))
            #expect(replayed.headers[.location]?.contains("Replayed%201%20dead%20letter") == true)
            _ = try await scene.queue.client.send("XADD", RedisArgument(scene.queue.keys.dead), "*", "body", "{}", "reason", "malformed")
            let purged = try await http.execute(
                uri: "/console/dead-letters/purge", method: .post, headers: posted, body: ByteBuffer(string: "csrf=\(csrf)"))
            #expect(purged.status == .seeOther && purged.headers[.location]?.contains("Purged%201") == true)
            #expect(try await scene.queue.deadLetterCount() == 0)
        }
    }

    @Test func aTraceFollowsAnEventThroughTheQueueAndTheWarehouse() async throws {
        try await withConsole(token: nil) { http, scene in
            let acted = Self.text(try await http.execute(uri: "/console/trace?event_id=\(scene.acted)", method: .get))
            #expect(acted.contains("present, expires in") && acted.contains("queued") && acted.contains("email/bounced"), "\(acted)")
            #expect(acted.contains("● done") && acted.contains("○ waiting"), "actions acknowledged it; the warehouse group has not read it")
            #expect(
                acted.contains("suppress") && acted.contains("applied") && acted.contains("a•••@e•••.org") && !acted.contains("email:a@example.org"))
            let dead = Self.text(try await http.execute(uri: "/console/trace?event_id=\(scene.dead)", method: .get))
            #expect(
                dead.contains("track_api_rejected") && dead.contains(scene.deadLetterID) && dead.contains("warehouse row</dt><dd>none"), "\(dead)")
            let unknown = Self.text(try await http.execute(uri: "/console/trace?event_id=01NOTHINGHERE", method: .get))
            #expect(unknown.contains("Nothing is known about 01NOTHINGHERE"))
            let hostile = try await http.execute(uri: "/console/trace?event_id=%3Cimg%20src%3Dx%3E", method: .get)
            #expect(!Self.text(hostile).contains("<img src=x>"))
            #expect(try await http.execute(uri: "/console/trace?event_id=\(String(repeating: "x", count: 300))", method: .get).status == .badRequest)
            let person = Self.text(try await http.execute(uri: "/console/person?q=a%40example.org", method: .get))
            #expect(person.contains(scene.acted) && person.contains("suppress"), "\(person)")
            #expect(ConsoleRoutes.people(matching: "u_1") == ["id:u_1", "cio_id:u_1"])
        }
    }

    @Test func cioRelayTraceOnAcceptedDuplicateDeadLetteredAndUnknownIDs() async throws {
        try await Self.withScene { scene, path in
            let (queue, sink) = (scene.queue, scene.sink)
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            // A duplicate of the acted event: Customer.io's retry is answered duplicate, and its trace is the original's.
            let retry = IncomingEvent(
                eventID: scene.acted, body: Fixtures.event(id: scene.acted, metric: "bounced"), workspace: "default", receivedAt: now,
                objectType: "email", metric: "bounced")
            #expect(try await queue.enqueue(retry) == .duplicate)
            let acted = try await EventTraceReport.make(eventID: scene.acted, queue: queue, lookup: sink, warehouse: .sqlite(path: path))
            let text = acted.text(nowMilliseconds: now)
            #expect(
                text.contains("dedup marker: present") && text.contains("queued") && text.contains("group actions: done")
                    && text.contains("group warehouse: waiting"), "\(text)")
            #expect(text.contains("warehouse row: email/bounced") && text.contains("action suppress email:a@example.org: applied"), "\(text)")
            let json = try #require(try JSONSerialization.jsonObject(with: Data(try acted.json().utf8)) as? [String: Any])
            #expect((json["queue"] as? [String: Any])?["entry_state"] as? String == "queued")
            let dead = try await EventTraceReport.make(eventID: scene.dead, queue: queue, lookup: sink, warehouse: .sqlite(path: path)).text(
                nowMilliseconds: now)
            #expect(
                dead.contains("dead letter \(scene.deadLetterID): track_api_rejected (group actions), 1 attempts")
                    && dead.contains("warehouse row: none"), "\(dead)")
            let unknown = try await EventTraceReport.make(eventID: "01UNKNOWN", queue: queue, lookup: sink, warehouse: .sqlite(path: path))
            #expect(!unknown.isKnown && unknown.text(nowMilliseconds: now).contains("dedup marker: none"))
            // Once every group is done and the stream trimmed, the marker still names the entry.
            try await queue.acknowledgeAll(group: "warehouse")
            _ = try await queue.trimAcknowledged()
            let trimmed = try await EventTraceReport.make(eventID: scene.acted, queue: queue, lookup: sink, warehouse: .sqlite(path: path)).text(
                nowMilliseconds: now)
            #expect(trimmed.contains("trimmed (every group had finished it)") && trimmed.contains("group warehouse: done"), "\(trimmed)")
        }
    }
}

extension EventQueue {
    /// Reads and acknowledges everything a group has not read (test set-up).
    func acknowledgeAll(group: String) async throws {
        let consumer = try GroupConsumer(
            queue: self, configuration: ConsumerConfiguration(group: group, consumer: "drain", blockTime: .milliseconds(50)))
        while true {
            let batch = try await consumer.readNew()
            if batch.isEmpty { break }
            try await consumer.acknowledge(batch.map(\.entry.id))
        }
        await consumer.shutdown()
    }
}
