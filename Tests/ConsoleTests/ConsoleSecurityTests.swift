import Foundation
import Metrics
import Receiver
import RelayMetrics
import Testing

@testable import Console

@Suite("Console sessions, login throttle and activity")
struct ConsoleSecurityTests {
    @Test func aSessionIsSignedExpiresAndCannotBeForged() throws {
        let security = ConsoleSecurity(token: "a-token-of-sixteen-chars")
        let session = try #require(security.newSession(now: 1_000))
        #expect(security.isSession(session, now: 1_000) && security.isSession(session, now: 1_000 + 12 * 3600 - 1))
        #expect(!security.isSession(session, now: 1_000 + 12 * 3600), "expired after 12 h")
        let expiry = try #require(Int(session.prefix { $0 != "." }))
        #expect(!security.isSession("\(expiry + 100)" + session.drop { $0 != "." }, now: 1_000), "a changed expiry breaks the signature")
        #expect(!ConsoleSecurity(token: "another-token-0000000").isSession(session, now: 1_000), "another token's sessions are not valid")
        #expect(security.isFormToken(security.formToken(session: session), session: session))
        #expect(!security.isFormToken(security.formToken(session: session), session: security.newSession(now: 2_000) ?? ""))
        #expect(security.isToken("a-token-of-sixteen-chars") && !security.isToken("a-token-of-sixteen-char"))
        let readOnly = ConsoleSecurity(token: nil)
        #expect(!readOnly.allowsChanges && readOnly.newSession(now: 1) == nil && !readOnly.isToken(""))
    }

    @Test func activityIsTheDifferenceOfTheProcesssOwnCounters() {
        let exposition = MetricsExposition(definitions: ReceiverMetrics.definitions)
        let activity = ConsoleActivity(exposition: exposition)
        let accepted = ReceiverMetrics.webhooksReceived.counter("accepted", factory: exposition.factory)
        accepted.increment(by: 5)
        activity.sample()
        accepted.increment(by: 3)
        ReceiverMetrics.webhooksReceived.counter("duplicate", factory: exposition.factory).increment()
        let window = activity.window()
        #expect(window.intake == ["accepted": 3, "duplicate": 1], "\(window.intake)")
        #expect(
            ConsoleActivity.counters(
                in: "x_total{status=\"200\",route=\"a\"} 2\nx_total{route=\"b\",status=\"200\"} 3\nx_total{status=\"429\"} 1\n", family: "x_total",
                labels: "status") == ["200": 5, "429": 1])
    }

    @Test func theThrottleForgetsFailuresOlderThanItsWindow() {
        let throttle = LoginThrottle(limit: 2, window: .seconds(60))
        let start = ContinuousClock.now
        throttle.recordFailure(now: start)
        #expect(throttle.wait(now: start + .seconds(1)) == nil)
        throttle.recordFailure(now: start + .seconds(10))
        #expect(throttle.wait(now: start + .seconds(20)) == .seconds(40))
        #expect(throttle.wait(now: start + .seconds(60)) == nil, "the first failure has aged out")
    }
}
