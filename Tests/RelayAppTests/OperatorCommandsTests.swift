import EventQueue
import Foundation
import Hiredis
import RelayApp
import Testing
import TestSupport
import Worker

@Suite("Operator commands: policy check and dead letters")
struct OperatorCommandsTests {

    @Test func policyCheckDescribesAValidFileAndNamesTheLineOfAnError() throws {
        let valid = try OperatorCommands.checkPolicy(path: try writeConfigFile(Policy.defaultYAML))
        #expect(valid.contains("policy OK, 5 rule(s)"))
        #expect(valid.contains("email-bounced: email/bounced → identify(") && valid.contains("; then suppress"))
        let path = try writeConfigFile("policy:\n  - metrics: [opened]\n    actions:\n      - identify: {a: $when}\n")
        #expect {
            try OperatorCommands.checkPolicy(path: path)
        } throws: { error in
            guard let failure = error as? OperatorCommands.Failure else { return false }
            return failure.exitCode == 65 && failure.message.contains("\(path):4")
        }
        #expect(throws: OperatorCommands.Failure.self) { try OperatorCommands.checkPolicy(path: "/nonexistent/policy.yaml") }
    }

    @Test func deadLettersCanBeListedShownReplayedAndPurged() async throws {
        let queue = EventQueue(client: try TestRedis.client(), configuration: EventQueueConfiguration(prefix: TestRedis.uniquePrefix("ops")))
        #expect(try await OperatorCommands.listDeadLetters(queue, from: "-", limit: 10).hasPrefix("no dead letters"))
        var ids: [String] = []
        for (reason, body) in [("track_api_rejected", #"{"event_id":"e1"}"#), ("malformed", "{oops"), ("max_deliveries", #"{"event_id":"e3"}"#)] {
            let reply = try await queue.client.send("XADD", RedisArgument(queue.keys.dead), "*", "body", RedisArgument(body), "ws", "default",
                                                    "rt", "1", "t", "email", "m", "bounced", "reason", RedisArgument(reason), "error", "HTTP 400", "attempts", "2", "failed_at", "5")
            ids.append(reply.string ?? "")
        }
        let listing = try await OperatorCommands.listDeadLetters(queue, from: "-", limit: 2)
        #expect(listing.contains("3 dead letter(s)") && listing.contains("track_api_rejected") && listing.contains("more: dead-letters list --from"))
        let shown = try await OperatorCommands.showDeadLetter(queue, id: ids[0])
        #expect(shown.contains("reason: track_api_rejected") && shown.contains(#"body: {"event_id":"e1"}"#))
        await #expect(throws: OperatorCommands.Failure.self) { try await OperatorCommands.showDeadLetter(queue, id: "1-1") }
        await #expect(throws: OperatorCommands.Failure.self) { try await OperatorCommands.replayDeadLetters(queue, ids: [], all: false) }

        let replayed = try await OperatorCommands.replayDeadLetters(queue, ids: [], all: true)
        #expect(replayed.contains("2 of 2 replayed"), "the malformed one is not replayable: \(replayed)")
        #expect(try await queue.length(of: queue.keys.events) == 2)
        #expect(try await queue.deadLetters().map(\.reason) == ["malformed"])
        await #expect(throws: OperatorCommands.Failure.self) { try await OperatorCommands.replayDeadLetters(queue, ids: [ids[1]], all: false) }

        await #expect(throws: OperatorCommands.Failure.self) { try await OperatorCommands.purgeDeadLetters(queue, confirmed: false) }
        #expect(try await OperatorCommands.purgeDeadLetters(queue, confirmed: true).contains("purged 1"))
        #expect(try await queue.length(of: queue.keys.dead) == 0)
        await queue.client.shutdown()
    }
}
