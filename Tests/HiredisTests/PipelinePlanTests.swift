import Testing

@testable import Hiredis

@Suite("Group commit: how queued commands are merged into calls")
struct PipelinePlanTests {
    /// One item of the script `sha` on the stream `stream`, with its own marker and fields.
    private func item(_ marker: String, stream: String = "{p}:events", sha: String = "abc", fields: [RedisArgument] = ["f", "v"])
        -> RedisCommand
    {
        RedisCommand(
            name: "EVALSHA",
            scriptItem: ScriptItem(
                head: ["EVALSHA", RedisArgument(sha)], sharedKeys: [RedisArgument(key: stream)], sharedArguments: ["3600"],
                keys: [RedisArgument(key: marker)], arguments: [RedisArgument(fields.count)] + fields),
            awaitsReplicas: true)
    }

    private func plan(_ commands: [RedisCommand], alone: Set<Int> = [], limits: PipelinePlan.Limits = .init()) -> [[Int]] {
        PipelinePlan(commands, mayMerge: { !alone.contains($0) }, limits: limits).calls.map(\.commands)
    }

    @Test func itemsOfOneScriptAndStreamBecomeOneCallAndPlainCommandsKeepTheirPlaces() {
        let commands = [item("{p}:a"), RedisCommand("PING"), item("{p}:b"), item("{p}:c")]
        #expect(plan(commands) == [[0, 2, 3], [1]])
    }

    @Test func differentStreamsScriptsOrSlotsAreNotMerged() {
        let commands = [
            item("{p}:a"), item("{q}:a", stream: "{q}:events"), item("{p}:b", sha: "def"), item("{x}:a"), item("{p}:c"),
        ]
        // {x}:a names another slot than its stream: kept apart, as a cluster would refuse the call.
        #expect(plan(commands) == [[0, 4], [1], [2], [3]])
    }

    @Test func aCommandBehindItsPreambleGoesAloneInItsPlace() {
        let commands = [item("{p}:a"), RedisCommand("ASKING"), item("{p}:b"), item("{p}:c")]
        #expect(plan(commands, alone: [2]) == [[0, 3], [1], [2]])
    }

    @Test func callsAreCutAtTheItemAndByteLimits() {
        let commands = (0..<5).map { item("{p}:\($0)") }
        #expect(plan(commands, limits: .init(items: 2, itemBytes: 1 << 20)) == [[0, 1], [2, 3], [4]])
        let big = (0..<3).map { item("{p}:\($0)", fields: ["f", RedisArgument(bytes: Array(repeating: 1, count: 600))]) }
        #expect(plan(big, limits: .init(items: 100, itemBytes: 1_400)) == [[0, 1], [2]])
    }

    @Test func aMergedCallIsTheScriptCallWithEveryItemsKeysThenArguments() {
        let commands = [item("{p}:a", fields: ["f", "1"]), item("{p}:b", fields: ["g", "2", "h", "3"])]
        let planned = PipelinePlan(commands, mayMerge: { _ in true })
        var output: [UInt8] = []
        planned.write(commands, to: &output)
        let expected = RedisCommand(
            "EVALSHA", ["abc", "3", RedisArgument(key: "{p}:events"), "{p}:a", "{p}:b", "3600", "2", "f", "1", "4", "g", "2", "h", "3"])
        #expect(String(decoding: output, as: UTF8.self) == String(decoding: expected.encoded, as: UTF8.self))
        // Alone, an item is the same call with one item.
        let alone = RedisCommand("EVALSHA", ["abc", "2", RedisArgument(key: "{p}:events"), "{p}:a", "3600", "2", "f", "1"])
        #expect(commands[0].encoded == alone.encoded)
    }

    @Test func eachItemIsAnsweredFromItsOwnElement() throws {
        let call = PipelinePlan.Call(commands: [4, 7, 9], isScriptItems: true, itemBytes: 0)
        let answers = PipelinePlan.answers(to: .array([.bulkString(Array("1-0".utf8)), .null, .error("WRONGTYPE no")]), of: call, name: "EVALSHA")
        #expect(try answers[0].get() == .bulkString(Array("1-0".utf8)))
        #expect(try answers[1].get() == .null)
        #expect(throws: RedisError.self) { try answers[2].get() }
        if case .failure(let error) = answers[2] { #expect(error.code == .serverError && error.message == "WRONGTYPE no") }
    }

    @Test func aCallThatFailedWholeOrAnsweredTheWrongShapeFailsEveryItem() throws {
        let call = PipelinePlan.Call(commands: [0, 1], isScriptItems: true, itemBytes: 0)
        let refused = PipelinePlan.answers(to: .error("NOSCRIPT No matching script"), of: call, name: "EVALSHA")
        #expect(refused.allSatisfy { (try? $0.get()) == nil } && refused.count == 2)
        let short = PipelinePlan.answers(to: .array([.null]), of: call, name: "EVALSHA")
        #expect(short.count == 2)
        for answer in short {
            if case .failure(let error) = answer { #expect(error.code == .unexpectedReply) } else { Issue.record("must fail") }
        }
        let plain = PipelinePlan.Call(commands: [0], isScriptItems: false, itemBytes: 0)
        #expect(try PipelinePlan.answers(to: .array([]), of: plain, name: "XRANGE")[0].get() == .array([]))
    }
}
