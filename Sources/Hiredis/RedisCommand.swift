/// One Redis command, encoded once in RESP (an array of bulk strings) when it is built, so that the
/// connection thread hands hiredis one finished buffer instead of formatting every argument again.
public struct RedisCommand: Sendable, Hashable {
    /// The command name, for logs and metrics (arguments are never logged: they carry payloads).
    public let name: String
    /// What goes on the wire.
    let wire: Wire
    /// Which cluster slot the command's keys (the arguments made with `RedisArgument(key:)`) hash to.
    public let route: RedisRoute
    /// The command's acknowledgement must reach the replicas (`RedisConfiguration.minReplicas`):
    /// the connection follows the batch holding it with one `WAIT`.
    public let awaitsReplicas: Bool

    enum Wire: Sendable, Hashable {
        /// A whole command in RESP.
        case encoded([UInt8])
        /// One item of a script call that the connection may merge with others (`ScriptItem`).
        case scriptItem(ScriptItem)
    }

    /// - Parameters:
    ///   - name: the command, e.g. `EVALSHA`.
    ///   - awaitsReplicas: answer only once the configured number of replicas has the write
    ///     (`RedisConfiguration.minReplicas`): what an acknowledged event needs.
    public init(_ name: String, _ arguments: [RedisArgument], awaitsReplicas: Bool = false) {
        self.init(name: name, argumentLists: [arguments], awaitsReplicas: awaitsReplicas)
    }

    public init(_ name: String, _ arguments: RedisArgument...) {
        self.init(name: name, argumentLists: [arguments])
    }

    /// A command whose arguments come in several lists (`EVALSHA sha numkeys keys… args…`), encoded
    /// without joining the lists first.
    init(name: String, argumentLists: [[RedisArgument]], awaitsReplicas: Bool = false) {
        self.name = name
        self.awaitsReplicas = awaitsReplicas
        self.route = RedisRoute(keys: argumentLists.joined().lazy.filter(\.isKey))
        var elements = 1
        var size = RESPWriter.bulkSize(name.utf8.count)
        for list in argumentLists {
            elements += list.count
            for argument in list { size += RESPWriter.bulkSize(argument.count) }
        }
        size += RESPWriter.headerSize(elements)
        // Sized exactly and written in place: appending piece by piece cost more than the rest of
        // the enqueue path together.
        self.wire = .encoded(
            [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
                var writer = RESPWriter(buffer: buffer)
                writer.writeHeader(elements)
                writer.writeBulk(name)
                for list in argumentLists {
                    for argument in list { writer.write(argument) }
                }
                initialized = writer.position
            })
    }

    /// One item of a script call (`EVALSHA sha` or `EVAL source` as `head`), which the connection
    /// merges with the items of other calls queued with it (`ScriptItem`).
    init(name: String, scriptItem: ScriptItem, awaitsReplicas: Bool) {
        self.name = name
        self.awaitsReplicas = awaitsReplicas
        self.route = scriptItem.route
        self.wire = .scriptItem(scriptItem)
    }

    /// The command alone in RESP (a script item as a call with this one item).
    var encoded: [UInt8] {
        if case .encoded(let bytes) = wire { return bytes }
        var bytes: [UInt8] = []
        append(to: &bytes)
        return bytes
    }
}

/// One item of a call of a script written to take many items at once: its `KEYS` are the shared
/// keys and then each item's keys, its `ARGV` the shared arguments and then each item's arguments,
/// and it answers an array with one reply per item, in order (an error reply for an item that
/// failed). Items of the same script with the same shared keys and arguments that are queued on a
/// connection together are sent as one call: group commit, one script run for many events, each
/// still answered from its own reply.
struct ScriptItem: Sendable, Hashable {
    /// `EVALSHA sha` or `EVAL source`, as two bulk strings.
    let head: EncodedArguments
    let sharedKeys: EncodedArguments
    let sharedArguments: EncodedArguments
    let keys: EncodedArguments
    let arguments: EncodedArguments
    let route: RedisRoute

    init(head: [RedisArgument], sharedKeys: [RedisArgument], sharedArguments: [RedisArgument], keys: [RedisArgument], arguments: [RedisArgument]) {
        self.head = EncodedArguments(head)
        self.sharedKeys = EncodedArguments(sharedKeys)
        self.sharedArguments = EncodedArguments(sharedArguments)
        self.keys = EncodedArguments(keys)
        self.arguments = EncodedArguments(arguments)
        self.route = RedisRoute(keys: (sharedKeys + keys).lazy.filter(\.isKey))
    }

    /// Whether `other` may go in the same call: same script, shared keys and shared arguments, and
    /// keys in the same cluster slot (a call naming two slots is refused by a cluster).
    func mergesWith(_ other: ScriptItem) -> Bool {
        route == other.route && head == other.head && sharedKeys == other.sharedKeys && sharedArguments == other.sharedArguments
    }

    /// Bytes of the call carrying `items` (which merge with each other).
    static func mergedSize(of items: some Collection<ScriptItem>) -> Int {
        guard let first = items.first else { return 0 }
        let (elements, keyCount) = counts(of: items, first: first)
        var size = first.head.bytes.count + first.sharedKeys.bytes.count + first.sharedArguments.bytes.count
        for item in items { size += item.keys.bytes.count + item.arguments.bytes.count }
        return size + RESPWriter.headerSize(elements) + RESPWriter.bulkSize(RESPWriter.digitCount(keyCount))
    }

    /// Writes the call carrying `items`: head, key count, shared keys, each item's keys, shared
    /// arguments, each item's arguments.
    static func writeMerged(_ items: some Collection<ScriptItem>, to writer: inout RESPWriter) {
        guard let first = items.first else { return }
        let (elements, keyCount) = counts(of: items, first: first)
        writer.writeHeader(elements)
        writer.write(first.head)
        writer.writeBulk(decimal: keyCount)
        writer.write(first.sharedKeys)
        for item in items { writer.write(item.keys) }
        writer.write(first.sharedArguments)
        for item in items { writer.write(item.arguments) }
    }

    /// The call's elements (head, key count, keys and arguments) and its keys.
    private static func counts(of items: some Collection<ScriptItem>, first: ScriptItem) -> (elements: Int, keys: Int) {
        var elements = first.head.count + 1 + first.sharedKeys.count + first.sharedArguments.count
        var keys = first.sharedKeys.count
        for item in items {
            elements += item.keys.count + item.arguments.count
            keys += item.keys.count
        }
        return (elements, keys)
    }
}

/// Arguments already encoded as RESP bulk strings, and how many there are.
struct EncodedArguments: Sendable, Hashable {
    let bytes: [UInt8]
    let count: Int

    init(_ arguments: [RedisArgument]) {
        count = arguments.count
        let size = arguments.reduce(0) { $0 + RESPWriter.bulkSize($1.count) }
        bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
            var writer = RESPWriter(buffer: buffer)
            for argument in arguments { writer.write(argument) }
            initialized = writer.position
        }
    }
}

/// Writes RESP into a buffer sized beforehand with `headerSize` and `bulkSize`.
struct RESPWriter {
    let buffer: UnsafeMutableBufferPointer<UInt8>
    private(set) var position = 0

    init(buffer: UnsafeMutableBufferPointer<UInt8>) {
        self.buffer = buffer
    }

    /// `*<count>\r\n`
    static func headerSize(_ count: Int) -> Int { 3 + digitCount(count) }
    /// `$<length>\r\n<bytes>\r\n`
    static func bulkSize(_ length: Int) -> Int { 5 + digitCount(length) + length }

    static func digitCount(_ value: Int) -> Int {
        var digits = 1
        var rest = value / 10
        while rest > 0 {
            digits += 1
            rest /= 10
        }
        return digits
    }

    mutating func writeHeader(_ count: Int) {
        write(byte: UInt8(ascii: "*"))
        write(decimal: count)
        writeLineEnd()
    }

    mutating func writeBulk(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { writeBulk($0) }
    }

    mutating func write(_ argument: RedisArgument) {
        switch argument.value {
        case .bytes(let bytes): writeBulk(bytes)
        case .text(let text): writeBulk(text)
        }
    }

    /// A non-negative integer as a bulk string.
    mutating func writeBulk(decimal value: Int) {
        write(byte: UInt8(ascii: "$"))
        write(decimal: Self.digitCount(value))
        writeLineEnd()
        write(decimal: value)
        writeLineEnd()
    }

    /// Arguments encoded beforehand, copied as they are.
    mutating func write(_ encoded: EncodedArguments) {
        encoded.bytes.withUnsafeBytes { copy($0) }
    }

    mutating func writeBulk(_ text: String) {
        var text = text
        text.withUTF8 { writeBulk(UnsafeRawBufferPointer($0)) }
    }

    private mutating func writeBulk(_ bytes: UnsafeRawBufferPointer) {
        write(byte: UInt8(ascii: "$"))
        write(decimal: bytes.count)
        writeLineEnd()
        copy(bytes)
        writeLineEnd()
    }

    private mutating func copy(_ bytes: UnsafeRawBufferPointer) {
        guard !bytes.isEmpty else { return }
        UnsafeMutableRawBufferPointer(UnsafeMutableBufferPointer(rebasing: buffer[position..<position + bytes.count])).copyMemory(from: bytes)
        position += bytes.count
    }

    private mutating func write(byte: UInt8) {
        buffer[position] = byte
        position += 1
    }

    private mutating func writeLineEnd() {
        write(byte: 13)
        write(byte: 10)
    }

    /// A non-negative integer in decimal.
    private mutating func write(decimal value: Int) {
        let end = position + Self.digitCount(value)
        var rest = value
        var index = end
        repeat {
            index -= 1
            buffer[index] = UInt8(ascii: "0") + UInt8(rest % 10)
            rest /= 10
        } while rest > 0
        position = end
    }
}

/// A command argument: text, bytes or a number, sent as a bulk string. Text and numbers are kept as
/// strings (short ones need no allocation) and written straight into the command's encoding.
public struct RedisArgument: Sendable, Hashable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
    enum Value: Sendable, Hashable {
        case bytes([UInt8])
        case text(String)
    }
    let value: Value
    /// The argument names a key: it decides the command's cluster slot.
    let isKey: Bool

    public init(bytes: [UInt8]) {
        self.value = .bytes(bytes)
        self.isKey = false
    }
    public init(_ string: String) {
        self.value = .text(string)
        self.isKey = false
    }
    public init<I: BinaryInteger>(_ value: I) {
        self.value = .text(String(value))
        self.isKey = false
    }
    /// A key name: the commands that carry it are routed by its slot, and refused when their keys
    /// hash to different slots.
    public init(key: String) {
        self.value = .text(key)
        self.isKey = true
    }
    public init(stringLiteral value: String) { self.init(value) }
    public init(integerLiteral value: Int) { self.init(value) }

    /// The cluster slot of the argument's bytes, read in place.
    var slot: Int {
        switch value {
        case .bytes(let bytes): ClusterSlot.of(bytes)
        case .text(let text): ClusterSlot.of(text.utf8)
        }
    }

    /// Length in bytes on the wire.
    var count: Int {
        switch value {
        case .bytes(let bytes): bytes.count
        case .text(let text): text.utf8.count
        }
    }
}

/// Where a command may be sent in a Redis Cluster, from the slots of its keys.
public enum RedisRoute: Sendable, Hashable {
    /// No key: any node serves it (`PING`, `SCRIPT LOAD`); per-node commands go through
    /// `RedisClient.primaries()`.
    case anyNode
    /// Every key hashes to this slot.
    case slot(Int)
    /// The keys hash to different slots: a cluster refuses the command (`CROSSSLOT`), so the client
    /// refuses it before sending, on a single Redis too, so that tests there catch it.
    case crossSlot([Int])

    init(keys: some Sequence<RedisArgument>) {
        var slots: [Int] = []
        for key in keys {
            let slot = key.slot
            if !slots.contains(slot) { slots.append(slot) }
        }
        switch slots.count {
        case 0: self = .anyNode
        case 1: self = .slot(slots[0])
        default: self = .crossSlot(slots)
        }
    }
}
