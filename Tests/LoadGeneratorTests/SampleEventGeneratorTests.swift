import CustomerIO
import Foundation
import Testing

@testable import LoadGenerator

@Suite("Generated events for cio-relay send")
struct SampleEventGeneratorTests {
    @Test func everyDocumentedTypeAndMetricComesAsAValidEventWithItsOwnID() throws {
        var generator = SampleEventGenerator(runID: "t1")
        let count = SampleEventGenerator.kinds.count
        var seen: Set<String> = []
        var ids: Set<String> = []
        for _ in 0..<(2 * count) {
            let event = try WebhookEvent.parse(generator.next(now: 1_767_235_000))
            #expect(event.timestamp == 1_767_235_000)
            seen.insert("\(event.objectType.rawValue)/\(event.metric.rawValue)")
            ids.insert(event.eventID)
            if event.objectType != .customer { #expect(event.data["delivery_id"] != nil) }
            if event.metric == .clicked { #expect(event.data["href"] != nil) }
        }
        let documented = Set(ObjectType.documentedMetrics.flatMap { type, metrics in metrics.map { "\(type.rawValue)/\($0.rawValue)" } })
        #expect(seen == documented)
        #expect(ids.count == 2 * count, "every event has an id of its own")
    }

    @Test func peopleAndTimesStayWithinTheirBoundsAndEveryPersonGetsEveryKind() throws {
        var generator = SampleEventGenerator(runID: "t2", people: 4, timeSpread: 600)
        let count = SampleEventGenerator.kinds.count
        var pairs: Set<String> = []
        var times: Set<Int64> = []
        for _ in 0..<(8 * count) {
            let event = try WebhookEvent.parse(generator.next(now: 1_767_235_000))
            let person = try #require(event.identifiers.id)
            #expect(["u_1", "u_2", "u_3", "u_4"].contains(person))
            let time = try #require(event.timestamp)
            #expect((1_767_234_400...1_767_235_000).contains(time))
            pairs.insert("\(person) \(event.objectType.rawValue)/\(event.metric.rawValue)")
            times.insert(time)
        }
        #expect(pairs.count == 4 * count, "each of the 4 people got each of the \(count) kinds")
        #expect(times.count > count, "times are spread, not all now")
    }

    @Test func payloadFilesAreReadFromAFileOrADirectory() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("payloads-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try Data("{\"b\":1}".utf8).write(to: directory.appendingPathComponent("b.json"))
        try Data("{\"a\":1}".utf8).write(to: directory.appendingPathComponent("a.json"))
        try Data("ignored".utf8).write(to: directory.appendingPathComponent("notes.txt"))
        #expect(try PayloadFiles.load(path: directory.path) == [Array("{\"a\":1}".utf8), Array("{\"b\":1}".utf8)])
        #expect(try PayloadFiles.load(path: directory.appendingPathComponent("b.json").path) == [Array("{\"b\":1}".utf8)])
        #expect(throws: PayloadFiles.Error(code: .notFound, path: directory.appendingPathComponent("missing").path)) {
            try PayloadFiles.load(path: directory.appendingPathComponent("missing").path)
        }
        try FileManager.default.removeItem(at: directory.appendingPathComponent("a.json"))
        try FileManager.default.removeItem(at: directory.appendingPathComponent("b.json"))
        #expect(throws: PayloadFiles.Error(code: .empty, path: directory.path)) { try PayloadFiles.load(path: directory.path) }
    }
}
