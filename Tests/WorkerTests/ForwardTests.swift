import CustomerIO
import Foundation
import Testing
import Worker
import Yams

@Suite("Forwarding without a network: signatures, the circuit breaker, the forward: block")
struct ForwardTests {
    @Test func signaturesMatchTheStandardWebhooksReference() throws {
        // Computed with the standardwebhooks package (1.1.0): Webhook(secret).sign(id, timestamp, body).
        let signer = try StandardWebhookSigner(secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        #expect(
            signer.signature(id: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: 1_614_265_330, body: Array(#"{"test": 2432232314}"#.utf8))
                == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        for bad in ["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_not base64!", "whsec_c2hvcnQ="] {
            #expect(throws: StandardWebhookSigner.SecretError.self, "\(bad)") { try StandardWebhookSigner(secret: bad) }
        }
    }

    @Test func theBreakerOpensAfterFailuresInARowProbesAfterTheCooldownAndBacksOff() {
        var breaker = CircuitBreaker(threshold: 3, cooldown: .seconds(10), maximumCooldown: .seconds(15))
        let start = ContinuousClock.now
        breaker.record(success: false, now: start)
        breaker.record(success: false, now: start)
        breaker.record(success: true, now: start)
        #expect(!breaker.isOpen, "a success resets the count")
        for _ in 0..<3 { breaker.record(success: false, now: start) }
        #expect(breaker.isOpen)
        let early = breaker.mayDeliver(now: start + .seconds(9))
        #expect(!early, "held back during the cool-down")
        let probe = breaker.mayDeliver(now: start + .seconds(10))
        #expect(probe, "the cool-down is over: one probe")
        let second = breaker.mayDeliver(now: start + .seconds(10))
        #expect(!second, "only one probe at a time")
        breaker.record(success: false, now: start + .seconds(11))
        #expect(
            breaker.state == .open(until: start + .seconds(26), cooldown: .seconds(15)), "a failed probe doubles the cool-down, up to the maximum")
        let next = breaker.mayDeliver(now: start + .seconds(26))
        #expect(next)
        breaker.record(success: true, now: start + .seconds(27))
        #expect(breaker.state == .closed(failuresInARow: 0))
    }

    private func parse(_ yaml: String, environment: [String: String] = [:]) throws(PolicyError) -> [ForwardDestination] {
        guard let node = (try? Yams.compose(yaml: yaml))??.mapping?["forward"] else { return [] }
        return try PolicyParser.parse(forward: node, source: "relay.yaml", environment: environment)
    }

    @Test func theForwardBlockReadsItsOptionsAndNamesTheLineOfAnError() throws {
        let destinations = try parse(
            """
            forward:
              - name: analytics
                url: https://collector.internal/cio
                secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
                object_types: [email]
                metrics: [opened, clicked]
                timeout: 5s
              - name: alerts
                url: http://alerts.internal/hook
                secret_env: ALERTS_SECRET
                metrics: spammed
                give_up_after: 2h
                concurrency: 2
            """, environment: ["ALERTS_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"])
        #expect(destinations.map(\.group) == ["forward:analytics", "forward:alerts"])
        #expect(
            destinations[0].objectTypes == ["email"] && destinations[0].metrics == ["opened", "clicked"] && destinations[0].timeout == .seconds(5))
        #expect(destinations[1].giveUpAfter == .seconds(7200) && destinations[1].concurrency == 2 && destinations[1].objectTypes == nil)
        #expect(destinations[0].matches(objectType: "email", metric: "opened") && !destinations[0].matches(objectType: "email", metric: "sent"))

        let cases: [(String, Int, String)] = [
            ("forward:\n  - name: a\n    url: ftp://x\n    secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n", 3, "'url' must be an http(s) URL"),
            ("forward:\n  - name: a\n    url: http://x\n    secret: nope\n", 4, "starts with whsec_"),
            ("forward:\n  - name: a\n    url: http://x\n    secret_env: UNSET_VARIABLE\n", 4, "UNSET_VARIABLE, which is not set"),
            ("forward:\n  - name: A b\n    url: http://x\n", 2, "'name' must be 1 to 64 lowercase"),
            (
                "forward:\n  - name: a\n    url: http://x\n    secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n    timeout: soon\n", 5,
                "'timeout' must be a duration"
            ),
            (
                "forward:\n  - name: a\n    url: http://x\n    secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n    retries: 3\n", 5,
                "unknown key 'retries'"
            ),
            (
                "forward:\n  - name: a\n    url: http://x\n    secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n  - name: a\n    url: http://y\n    secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n",
                5, "two destinations are named 'a'"
            ),
            ("forward: {name: a}\n", 1, "must be a list of destinations"),
        ]
        for (yaml, line, message) in cases {
            do {
                _ = try parse(yaml)
                Issue.record("accepted: \(yaml)")
            } catch {
                #expect(error.line == line && error.message.contains(message), "\(error) for \(yaml)")
            }
        }
    }
}
