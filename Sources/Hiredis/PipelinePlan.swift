/// How a batch of queued commands goes on the wire: every command as a call of its own, except
/// script items (`ScriptItem`), which are merged into one call per script and shared keys, up to a
/// size. This is the connection's group commit: it never waits for more commands, it only merges
/// what is already queued, so a lone command goes out exactly as before.
struct PipelinePlan {
    /// One call on the wire and the commands (indices into the batch) it answers, in item order.
    struct Call {
        var commands: [Int]
        /// A call of script items: its reply is an array with one element per command.
        let isScriptItems: Bool
        /// Bytes of the items' own keys and arguments, against `Limits.itemBytes`.
        var itemBytes: Int
    }

    /// How far merging goes. One call runs as one script in Redis, blocking every other client while
    /// it runs; these bounds keep that to about a millisecond.
    struct Limits: Sendable, Hashable {
        var items = 128
        var itemBytes = 1 << 20
    }

    private(set) var calls: [Call] = []

    /// - Parameter mayMerge: false for a command that must go right after the one before it (the
    ///   command behind an `ASKING`): it is sent alone, in its place.
    init(_ commands: [RedisCommand], mayMerge: (Int) -> Bool, limits: Limits = Limits()) {
        calls.reserveCapacity(commands.count)
        // Calls still taking items, as indices into `calls`; few (one per script and shared keys).
        var open: [Int] = []
        for (index, command) in commands.enumerated() {
            guard case .scriptItem(let item) = command.wire else {
                calls.append(Call(commands: [index], isScriptItems: false, itemBytes: 0))
                continue
            }
            let bytes = item.keys.bytes.count + item.arguments.bytes.count
            let merges = mayMerge(index)
            if merges,
                let slot = open.firstIndex(where: { call in
                    let candidate = calls[call]
                    guard candidate.commands.count < limits.items, candidate.itemBytes + bytes <= limits.itemBytes else { return false }
                    guard case .scriptItem(let first) = commands[candidate.commands[0]].wire else { return false }
                    return first.mergesWith(item)
                })
            {
                calls[open[slot]].commands.append(index)
                calls[open[slot]].itemBytes += bytes
                continue
            }
            if merges { open.append(calls.count) }
            calls.append(Call(commands: [index], isScriptItems: true, itemBytes: bytes))
        }
    }

    /// Appends every call, in order, to `output`.
    func write(_ commands: [RedisCommand], to output: inout [UInt8]) {
        for call in calls {
            if call.isScriptItems {
                let items = call.commands.lazy.map { index -> ScriptItem in
                    guard case .scriptItem(let item) = commands[index].wire else { preconditionFailure("planned as a script item") }
                    return item
                }
                output.appendRESP(size: ScriptItem.mergedSize(of: items)) { ScriptItem.writeMerged(items, to: &$0) }
            } else {
                commands[call.commands[0]].append(to: &output)
            }
        }
    }

    /// Each command's own answer from its call's reply: the reply itself for a plain call; for script
    /// items, the element of the array at the item's position (an error element as that item's
    /// failure), and the call's error or an unexpected shape as every item's failure.
    static func answers(to reply: RedisValue, of call: Call, name: String) -> [Result<RedisValue, RedisError>] {
        if case .error(let message) = reply {
            return Array(repeating: .failure(RedisError(.serverError, message)), count: call.commands.count)
        }
        guard call.isScriptItems else { return [.success(reply)] }
        guard case .array(let elements) = reply, elements.count == call.commands.count else {
            let error = RedisError(
                .unexpectedReply, "\(name) with \(call.commands.count) items answered \(reply) instead of one reply per item")
            return Array(repeating: .failure(error), count: call.commands.count)
        }
        return elements.map { element in
            if case .error(let message) = element { return .failure(RedisError(.serverError, message)) }
            return .success(element)
        }
    }
}

extension RedisCommand {
    /// Appends the command alone in RESP.
    func append(to output: inout [UInt8]) {
        switch wire {
        case .encoded(let bytes): output.append(contentsOf: bytes)
        case .scriptItem(let item):
            output.appendRESP(size: ScriptItem.mergedSize(of: CollectionOfOne(item))) { ScriptItem.writeMerged(CollectionOfOne(item), to: &$0) }
        }
    }
}

extension [UInt8] {
    /// Appends `size` bytes written in place by `write`, which must fill them exactly.
    mutating func appendRESP(size: Int, _ write: (inout RESPWriter) -> Void) {
        let start = count
        append(contentsOf: repeatElement(0, count: size))
        withUnsafeMutableBufferPointer { all in
            var writer = RESPWriter(buffer: UnsafeMutableBufferPointer(rebasing: all[start...]))
            write(&writer)
            precondition(writer.position == size, "RESP size computed wrong")
        }
    }
}
