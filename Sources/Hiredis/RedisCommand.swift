/// One Redis command, encoded once in RESP (an array of bulk strings) when it is built, so that the
/// connection thread hands hiredis one finished buffer instead of formatting every argument again.
public struct RedisCommand: Sendable, Hashable {
    /// The command name, for logs and metrics (arguments are never logged: they carry payloads).
    public let name: String
    /// The command as it goes on the wire.
    let encoded: [UInt8]

    public init(_ name: String, _ arguments: [RedisArgument] = []) {
        self.init(name: name, argumentLists: [arguments])
    }

    public init(_ name: String, _ arguments: RedisArgument...) {
        self.init(name: name, argumentLists: [arguments])
    }

    /// A command whose arguments come in several lists (`EVALSHA sha numkeys keys… args…`), encoded
    /// without joining the lists first.
    init(name: String, argumentLists: [[RedisArgument]]) {
        self.name = name
        var count = 1
        var capacity = 16 + name.utf8.count
        for list in argumentLists {
            count += list.count
            for argument in list { capacity += argument.count + 16 }
        }
        var encoded: [UInt8] = []
        encoded.reserveCapacity(capacity)
        encoded.append(UInt8(ascii: "*"))
        encoded.append(contentsOf: String(count).utf8)
        encoded.append(contentsOf: Self.lineEnd)
        Self.appendBulk(name.utf8, count: name.utf8.count, to: &encoded)
        for list in argumentLists {
            for argument in list {
                switch argument.value {
                case .bytes(let bytes): Self.appendBulk(bytes, count: bytes.count, to: &encoded)
                case .text(let text): Self.appendBulk(text.utf8, count: text.utf8.count, to: &encoded)
                }
            }
        }
        self.encoded = encoded
    }

    private static let lineEnd: [UInt8] = [13, 10]

    private static func appendBulk<Bytes: Collection<UInt8>>(_ bytes: Bytes, count: Int, to encoded: inout [UInt8]) {
        encoded.append(UInt8(ascii: "$"))
        encoded.append(contentsOf: String(count).utf8)
        encoded.append(contentsOf: lineEnd)
        encoded.append(contentsOf: bytes)
        encoded.append(contentsOf: lineEnd)
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

    public init(bytes: [UInt8]) { self.value = .bytes(bytes) }
    public init(_ string: String) { self.value = .text(string) }
    public init<I: BinaryInteger>(_ value: I) { self.value = .text(String(value)) }
    public init(stringLiteral value: String) { self.init(value) }
    public init(integerLiteral value: Int) { self.init(value) }

    /// Length in bytes on the wire.
    var count: Int {
        switch value {
        case .bytes(let bytes): bytes.count
        case .text(let text): text.utf8.count
        }
    }
}
