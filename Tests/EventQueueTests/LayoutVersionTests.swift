import EventQueue
import Foundation
import Testing

@Suite("The Redis layout version")
struct LayoutVersionTests {
    private func entry(_ fields: [String: String]) -> StreamEntry {
        StreamEntry(address: EntryAddress(partition: 0, streamID: "1-0", qualified: false), fields: fields.mapValues { Array($0.utf8) })
    }

    @Test func entriesWithoutAVersionAreOfLayoutOneAndReadable() throws {
        try RedisLayout.checkReadable([entry(["body": "{}", "ws": "default"]), entry(["body": "{}", "v": "1"])])
    }

    @Test(arguments: ["2", "17", "x", "0", ""])
    func anEntryOfANewerOrUnknownLayoutIsRefusedNamingItAndTheKnownOne(version: String) {
        let refused = #expect(throws: QueueLayoutError.self) {
            try RedisLayout.checkReadable([entry(["body": "{}"]), entry(["body": "{}", "v": version])])
        }
        #expect(refused?.recorded == Int(version).flatMap { $0 > 0 ? $0 : nil })
        #expect(refused?.message.contains("entry 1-0 was written with Redis layout") == true, "\(String(describing: refused))")
        #expect(refused?.message.contains("reads layouts up to \(RedisLayout.current)") == true)
    }

    /// Raw entries as release 0.1.0 wrote them to Redis, captured by `scripts/upgrade-test.sh
    /// v0.1.0 FIXTURE` from its running receivers and workers: every later release must read them.
    @Test func entriesWrittenByRelease010StillDecode() throws {
        let url = try #require(Bundle.module.url(forResource: "layout-1-release-0.1.0", withExtension: "json", subdirectory: "Fixtures"))
        let fixture = try JSONDecoder().decode(LayoutFixture.self, from: Data(contentsOf: url))
        #expect(fixture.writtenBy.hasPrefix("cio-relay 0.1.0"))
        #expect(fixture.events.count == 5 && fixture.dead.count == 5 && fixture.markers.count == 5)

        let events = fixture.events.map { $0.entry }
        try RedisLayout.checkReadable(events)
        for event in events.map(\.event) {
            let body = try #require(try JSONSerialization.jsonObject(with: Data(event.body)) as? [String: Any])
            #expect(event.workspace == "default")
            #expect(event.objectType == body["object_type"] as? String && event.metric == body["metric"] as? String, "\(event.kind)")
            #expect(event.receivedAt.map { $0 > 1_700_000_000_000 } == true)
        }

        let letters = fixture.dead.map { DeadLetter(entry: $0.entry) }
        try RedisLayout.checkReadable(letters.map(\.entry))
        let malformed = try #require(letters.first { $0.reason == DeadLetterReason.malformed.rawValue })
        #expect(!malformed.isReplayable && malformed.group == nil && malformed.attempts == 0 && !malformed.event.body.isEmpty)
        for letter in letters where letter.group != nil {
            #expect(DeadLetterReason(rawValue: letter.reason) != nil, "\(letter.reason)")
            #expect(letter.isReplayable && letter.group == "actions" && letter.attempts >= 1 && letter.failedAt != nil)
            #expect(letter.entryID.flatMap(StreamID.init) != nil && letter.event.objectType != nil && letter.event.metric != nil)
        }

        for marker in fixture.markers {
            #expect(marker.key.hasPrefix("cio:{0}:seen:"))
            #expect(StreamID(marker.value) != nil, "a dedup marker holds the entry id: \(marker.value)")
        }
        #expect(fixture.records == ["cio:{0}:partitions": "1"])
    }
}

/// The JSON that `capture_layout` of IntegrationTests/chaos.py writes.
private struct LayoutFixture: Decodable {
    struct Entry: Decodable {
        let id: String
        let fields: [[String]]

        var entry: StreamEntry {
            var values: [String: [UInt8]] = [:]
            for pair in fields where pair.count == 2 { values[pair[0]] = Array(pair[1].utf8) }
            return StreamEntry(address: EntryAddress(partition: 0, streamID: id, qualified: false), fields: values)
        }
    }
    struct Marker: Decodable {
        let key: String
        let value: String
    }

    let writtenBy: String
    let events: [Entry]
    let dead: [Entry]
    let markers: [Marker]
    let records: [String: String]

    enum CodingKeys: String, CodingKey {
        case writtenBy = "written_by"
        case events, dead, markers, records
    }
}
