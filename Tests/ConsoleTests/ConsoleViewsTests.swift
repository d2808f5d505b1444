import Foundation
import Hummingbird
import TestSupport
import Testing
import Warehouse

@testable import Console
@testable import EventQueue
@testable import Operations

/// The console's views are functions from Operations' results to HTML: checked here without a
/// server, on results built in memory. (IntegrationTests' ConsoleTests drive the routes.)
@Suite("Console views")
struct ConsoleViewsTests {
    static let hostile = "<script>alert(1)</script>"

    static func status(groups: [GroupStatus], replicas: Int = 1, minimum: Int = 1) -> QueueStatus {
        QueueStatus(
            stream: "cio:{0}:events", streamLength: 12_345, deadLetterStream: "cio:{0}:dead", deadLetters: 3, partitions: [],
            dedupKeys: 5_000, dedupKeysExact: false, redisUsedMemoryBytes: 3 << 20, redisMaxMemoryBytes: 12 << 20, redisPrimaries: 1,
            replicas: [PrimaryReplicas(primary: "10.0.0.1:6379", connectedReplicas: replicas)], minReplicas: minimum, groups: groups)
    }

    static func group(_ name: String, lag: Int = 0, age: Double? = nil, missing: Bool = false) -> GroupStatus {
        GroupStatus(
            name: name, lag: lag, pending: 0, oldestUnprocessedAgeSeconds: age,
            consumers: [ConsumerStatus(name: "worker-\(name)", pending: 0, idleSeconds: 90)], partitions: [], missing: missing)
    }

    @Test func theOverviewNamesEachGroupsStateInWordsAndEscapesNames() {
        let status = Self.status(groups: [
            Self.group("actions"), Self.group("warehouse", age: 75), Self.group("late", age: 400), Self.group(Self.hostile, missing: true),
        ])
        let html = OverviewView.body(status, activity: ConsoleActivity.Window(seconds: 0, intake: ["accepted": 7], track: [:])).markup
        #expect(html.contains("● ok") && html.contains("▲ behind") && html.contains("■ stalled") && html.contains("■ missing"))
        #expect(html.contains("12,345") && html.contains("≈ 5,000") && html.contains("3.0 MiB of 12.0 MiB (25 %)"))
        #expect(html.contains("idle") && html.contains("1.5 min"), "a consumer's idle time is read with Readable")
        #expect(!html.contains("<script>") && html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
        #expect(!html.contains("fewer than CIO_RELAY_REDIS_MIN_REPLICAS"))
        #expect(html.contains("<td>accepted</td><td class=\"num\">7</td>") && html.contains("since this process started"))
    }

    @Test func eachForwardingDestinationHasARowOfItsDeliveries() {
        let status = Self.status(groups: [Self.group("forward:analytics"), Self.group("forward:alerts")])
        let window = ConsoleActivity.Window(
            seconds: 60, intake: [:], track: [:],
            forward: [
                "analytics delivered": 1200, "analytics filtered": 300, "alerts failed": 4, "alerts gave_up": 1, "\(Self.hostile) delivered": 1,
            ])
        let html = OverviewView.body(status, activity: window).markup
        #expect(html.contains("<td>forward:analytics</td>"), "each destination's group has its row in the groups table")
        #expect(html.contains("<h2>Forwarding (this process)</h2>"))
        #expect(html.contains(#"<tr><td>alerts</td><td class="num">0</td><td class="num">4</td><td class="num">1</td><td class="num">0</td></tr>"#))
        #expect(
            html.contains(
                #"<tr><td>analytics</td><td class="num">1,200</td><td class="num">0</td><td class="num">0</td><td class="num">300</td></tr>"#))
        #expect(!html.contains("<script>"))
        // A process without destinations shows no such table.
        #expect(!OverviewView.body(status, activity: ConsoleActivity.Window(seconds: 0, intake: [:], track: [:])).markup.contains("Forwarding"))
        // The counters are read per destination and outcome from the exposition text.
        let text = """
            cio_relay_forward_deliveries_total{destination="analytics",outcome="delivered"} 5
            cio_relay_forward_deliveries_total{destination="analytics",outcome="failed"} 2
            """
        #expect(
            ConsoleActivity.counters(in: text, family: "cio_relay_forward_deliveries_total", labels: "destination", "outcome")
                == ["analytics delivered": 5, "analytics failed": 2])
    }

    @Test func aPrimaryBelowTheMinimumIsAnnounced() {
        let html = OverviewView.body(
            Self.status(groups: [], replicas: 0, minimum: 1), activity: ConsoleActivity.Window(seconds: 30, intake: [:], track: [:])
        ).markup
        #expect(html.contains("10.0.0.1:6379 has 0 connected replica(s)") && html.contains("answered 503"))
        #expect(html.contains("No consumer group yet"))
    }

    static func letters(_ count: Int) async throws -> [DeadLetter] {
        try await InMemoryDeadLetterStore(count: count) { $0 == 2 ? .malformed : .trackAPIRejected }.deadLetters(from: "-", count: count)
    }

    @Test func theListMasksEmailsFiltersByReasonAndOffersChangesOnlyWhenAllowed() async throws {
        let letters = try await Self.letters(3)
        let page = DeadLetterPage(letters: letters, total: 10, stream: "cio:{0}:dead", next: "(3-0")
        let html = DeadLetterViews.list(page, reason: "track_api_rejected", done: Self.hostile, allowsChanges: true, now: 62_000).markup
        #expect(html.contains("10 in cio:{0}:dead; showing 2 of the first 3."))
        #expect(html.contains("track_api_rejected 2") && html.contains("malformed 1"))
        #expect(html.contains("p•••@e•••.com") && !html.contains("person1@example.com"), "emails in errors are masked")
        #expect(html.contains("1.0 min ago"), "failed 60 s before now")
        #expect(html.contains("Replay all track_api_rejected…") && html.contains("Purge all…"))
        #expect(html.contains("href=\"/console/dead-letters?from=%283-0\">More…"))
        #expect(html.contains("&lt;script&gt;") && !html.contains("<script>"), "the notice of a change is escaped")
        let readOnly = DeadLetterViews.list(page, reason: nil, done: nil, allowsChanges: false, now: 62_000).markup
        #expect(!readOnly.contains("Purge all") && !readOnly.contains("Replay all"))
    }

    @Test func oneLetterRevealsEmailsOnlyWhenAskedByALoggedInViewer() async throws {
        let letters = try await Self.letters(2)
        let masked = DeadLetterViews.letter(letters[0], emails: EmailView(asked: true, loggedIn: false), allowsChanges: false).markup
        #expect(!masked.contains("person1@example.com") && masked.contains("revealing them needs the login"))
        #expect(masked.contains("Read-only: set CIO_RELAY_ADMIN_TOKEN to replay.") && masked.contains("Trace this event"))
        let revealed = DeadLetterViews.letter(letters[0], emails: EmailView(asked: true, loggedIn: true), allowsChanges: true).markup
        #expect(revealed.contains("person1@example.com") && revealed.contains("Mask emails") && revealed.contains("action=replay&amp;id=1-0"))
        let malformed = DeadLetterViews.letter(letters[1], emails: EmailView(asked: false, loggedIn: true), allowsChanges: true).markup
        #expect(malformed.contains("Not replayable") && !malformed.contains("action=replay"))
        #expect(malformed.contains("&quot;event_id&quot; : &quot;e2&quot;"), "the payload is pretty-printed and escaped")
    }

    @Test func aConfirmationCarriesTheFormTokenAndEscapesWhatItNames() {
        let html = DeadLetterViews.confirm(.replayReason(reason: Self.hostile, count: 4), formToken: "t0k\"en").markup
        #expect(html.contains("Put all 4 dead letters of reason &lt;script&gt;"))
        #expect(html.contains("name=\"reason\" value=\"&lt;script&gt;alert(1)&lt;/script&gt;\""))
        #expect(html.contains("name=\"csrf\" value=\"t0k&quot;en\"") && html.contains("action=\"/console/dead-letters/replay-reason\""))
        #expect(DeadLetterViews.confirm(.purge(count: 2), formToken: "x").markup.contains("class=\"danger\""))
    }

    @Test func everyPageCarriesTheStyleSheetFromItsResourceAndAStrictPolicy() throws {
        let page = ConsolePage(title: Self.hostile, section: "trace", body: "<p>x</p>", loggedIn: false, allowsChanges: false)
        let html = page.html.markup
        #expect(ConsolePage.styleSheet.contains(":root{--fg:") && html.contains(ConsolePage.styleSheet))
        #expect(html.contains("<title>&lt;script&gt;") && html.contains("aria-current=\"page\">Trace an event") && html.contains("read-only"))
        let response = page.response()
        #expect(response.headers[.contentSecurityPolicy]?.hasPrefix("default-src 'none'") == true)
        #expect(response.headers[.cacheControl] == "no-store")
    }

    @Test func formsAreReadWithHummingbirdsDecoder() throws {
        let form = try URLEncodedFormDecoder().decode(ConsoleRoutes.ChangeForm.self, from: "csrf=a%2Bb%3D&id=1%2F2-0&unknown=1")
        #expect(form.csrf == "a+b=" && form.id == "1/2-0" && form.reason == nil)
        #expect(try URLEncodedFormDecoder().decode(ConsoleRoutes.LoginForm.self, from: "").token == nil)
    }

    @Test func aPersonSearchNamesEveryWayTheAuditTrailMayNameThem() {
        #expect(ConsoleRoutes.people(matching: " jane@example.com ") == ["email:jane@example.com"])
        #expect(ConsoleRoutes.people(matching: "u_1") == ["id:u_1", "cio_id:u_1"])
        #expect(ConsoleRoutes.people(matching: "cio_id:c1") == ["cio_id:c1"])
    }
}
