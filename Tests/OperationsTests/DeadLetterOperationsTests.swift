import EventQueue
import Foundation
import Operations
import TestSupport
import Testing

@Suite("Dead letters: paging, replay and purge, against an in-memory store")
struct DeadLetterOperationsTests {
    /// Every third dead letter is malformed.
    static func store(count: Int) -> InMemoryDeadLetterStore {
        InMemoryDeadLetterStore(count: count) { $0 % 3 == 0 ? .malformed : .trackAPIRejected }
    }

    @Test func replayingAllReadsEveryPageAndLeavesTheMalformedOnes() async throws {
        // More than two pages of 1,000: a pager that stopped after one would replay 667.
        let store = Self.store(count: 2_500)
        let report = try await DeadLetterOperations(store: store).replayAll()
        #expect(report.replayed == 1_667 && report.outcomes.count == 1_667)
        #expect(store.replayed.count == 1_667)
        #expect(try await store.deadLetterCount() == 833, "the malformed ones stay")
        #expect(try await DeadLetterOperations(store: store).replayable().isEmpty)
    }

    @Test func replayingAReasonReplaysOnlyThatReason() async throws {
        let store = InMemoryDeadLetterStore(count: 10) { $0 <= 4 ? .maxDeliveries : .trackAPIRejected }
        let report = try await DeadLetterOperations(store: store).replayAll(reason: DeadLetterReason.maxDeliveries.rawValue)
        #expect(report.outcomes.map(\.id) == ["1-0", "2-0", "3-0", "4-0"])
        #expect(try await store.deadLetters(from: "-", count: 100).allSatisfy { $0.reason == "track_api_rejected" })
    }

    @Test func aPageSaysWhereTheNextOneStarts() async throws {
        let operations = DeadLetterOperations(store: Self.store(count: 5))
        let first = try await operations.page(limit: 2)
        #expect(first.letters.map(\.id) == ["1-0", "2-0"] && first.total == 5 && first.next == "(2-0")
        let last = try await operations.page(from: "(4-0", limit: 2)
        #expect(last.letters.map(\.id) == ["5-0"] && last.next == nil)
    }

    @Test func theCommandLineListsShowsReplaysAndPurges() async throws {
        let store = Self.store(count: 3)
        let listing = try await OperatorCommands.listDeadLetters(store, from: "-", limit: 2)
        #expect(listing.hasPrefix("3 dead letter(s) in memory:dead; showing 2:"), "\(listing)")
        #expect(listing.contains("1-0\ttrack_api_rejected\t3\tdefault\temail/bounced\tHTTP 400"))
        #expect(listing.hasSuffix("more: dead-letters list --from '(2-0'"))

        let shown = try await OperatorCommands.showDeadLetter(store, id: "1-0")
        #expect(shown.hasPrefix("id: 1-0\n") && shown.contains("reason: track_api_rejected") && shown.hasSuffix(#"body: {"event_id":"e1"}"#))
        await #expect(throws: OperationFailure.self) { try await OperatorCommands.showDeadLetter(store, id: "9-0") }

        // Naming a malformed one fails the command (status 1) after replaying the rest.
        let failure = await #expect(throws: OperationFailure.self) {
            try await OperatorCommands.replayDeadLetters(store, ids: ["1-0", "3-0", "8-0"], all: false)
        }
        #expect(failure?.status == .failure)
        #expect(failure?.message.contains("1-0: replayed as") == true && failure?.message.contains("3-0: kept") == true)
        #expect(
            failure?.message.contains("8-0: no such dead letter") == true && failure?.message.hasSuffix("1 of 3 replayed onto memory:events") == true)
        let usage = await #expect(throws: OperationFailure.self) { try await OperatorCommands.replayDeadLetters(store, ids: ["1-0"], all: true) }
        #expect(usage?.status == .usage)

        let unconfirmed = await #expect(throws: OperationFailure.self) { try await OperatorCommands.purgeDeadLetters(store, confirmed: false) }
        #expect(unconfirmed?.status == .usage && unconfirmed?.message.contains("all 2 dead letter(s)") == true)
        #expect(try await OperatorCommands.purgeDeadLetters(store, confirmed: true) == "purged 2 dead letter(s) from memory:dead")
        #expect(try await OperatorCommands.listDeadLetters(store, from: "-", limit: 2) == "no dead letters in memory:dead")
    }
}

@Suite("Dead letters as JSON for scripts")
struct DeadLetterListingTests {
    @Test func theListingNamesEveryFieldByMeaning() async throws {
        let store = InMemoryDeadLetterStore(count: 3) { $0 == 2 ? .malformed : .trackAPIRejected }
        let text = try await OperatorCommands.listDeadLettersAsJSON(store, from: "-", limit: 2)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(object["total"] as? Int == 3 && object["stream"] as? String == "memory:dead" && object["next"] as? String == "(2-0")
        let letters = try #require(object["letters"] as? [[String: Any]])
        #expect(letters.map { $0["id"] as? String } == ["1-0", "2-0"])
        let first = try #require(letters.first)
        #expect(first["reason"] as? String == "track_api_rejected" && first["attempts"] as? Int == 3 && first["failed_at"] as? Int == 2_000)
        #expect(first["event_id"] as? String == "e1" && first["body"] as? String == #"{"event_id":"e1"}"#)
        #expect(first["object_type"] as? String == "email" && first["metric"] as? String == "bounced" && first["workspace"] as? String == "default")
        #expect(letters[1]["reason"] as? String == "malformed")
    }
}

@Suite("Durations and sizes as people read them")
struct ReadableTests {
    @Test(arguments: [
        (0.04, "0.0 s"), (-3, "0.0 s"), (59.9, "59.9 s"), (60, "1.0 min"), (3_599, "60.0 min"), (3_600, "1.0 h"),
        (172_799, "48.0 h"), (172_800, "2.0 d"),
    ])
    func durations(seconds: Double, text: String) {
        #expect(Readable.duration(seconds: seconds) == text)
    }

    @Test func agesAndSizes() {
        #expect(Readable.ago(milliseconds: 1_000, now: 5_000) == "4.0 s ago")
        #expect(Readable.ago(milliseconds: nil, now: 5_000) == "—")
        #expect(Readable.bytes(512) == "512 B" && Readable.bytes(1_536) == "1.5 KiB" && Readable.bytes(3 << 30) == "3.0 GiB")
    }
}
