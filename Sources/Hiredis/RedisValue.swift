/// A reply from Redis, covering every RESP2 reply type. Strings are kept as bytes so that replies
/// are binary-safe; `string` decodes them as UTF-8 when that is what the caller expects.
public enum RedisValue: Sendable, Hashable {
    /// A status reply such as `OK` or `PONG`.
    case simpleString(String)
    /// A bulk string, byte for byte.
    case bulkString([UInt8])
    case integer(Int64)
    /// An array reply; elements may be arrays themselves.
    case array([RedisValue])
    /// A nil bulk string or nil array.
    case null
    /// An error reply nested inside an array (a top-level error reply is thrown instead).
    case error(String)

    /// The reply as text: status replies and bulk strings decoded as UTF-8, integers formatted.
    public var string: String? {
        switch self {
        case .simpleString(let value): value
        case .bulkString(let bytes): String(decoding: bytes, as: UTF8.self)
        case .integer(let value): String(value)
        case .array, .null, .error: nil
        }
    }

    /// The reply as raw bytes, for bulk and status replies.
    public var bytes: [UInt8]? {
        switch self {
        case .bulkString(let bytes): bytes
        case .simpleString(let value): Array(value.utf8)
        default: nil
        }
    }

    /// The reply as an integer: integer replies, and strings holding a decimal number.
    public var integer: Int64? {
        switch self {
        case .integer(let value): value
        case .bulkString, .simpleString: string.flatMap { Int64($0) }
        default: nil
        }
    }

    public var array: [RedisValue]? {
        if case .array(let values) = self { return values }
        return nil
    }
}
