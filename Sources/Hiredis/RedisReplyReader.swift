import CHiredis

extension RedisValue {
    /// The value of a reply hiredis has read. Types of RESP3, which this client never asks for
    /// (it sends no `HELLO 3`), come out as `.null`.
    init(reply pointer: UnsafeMutablePointer<redisReply>) {
        let reply = pointer.pointee
        switch reply.type {
        case REDIS_REPLY_STRING:
            self = .bulkString(Self.bytes(reply.str, reply.len))
        case REDIS_REPLY_STATUS:
            self = .simpleString(String(decoding: Self.bytes(reply.str, reply.len), as: UTF8.self))
        case REDIS_REPLY_ERROR:
            self = .error(String(decoding: Self.bytes(reply.str, reply.len), as: UTF8.self))
        case REDIS_REPLY_INTEGER:
            self = .integer(Int64(reply.integer))
        case REDIS_REPLY_ARRAY:
            var elements: [RedisValue] = []
            elements.reserveCapacity(Int(reply.elements))
            for index in 0..<Int(reply.elements) {
                elements.append(reply.element[index].map(RedisValue.init(reply:)) ?? .null)
            }
            self = .array(elements)
        default:
            self = .null
        }
    }

    private static func bytes(_ pointer: UnsafeMutablePointer<CChar>?, _ length: Int) -> [UInt8] {
        guard let pointer, length > 0 else { return [] }
        return Array(UnsafeRawBufferPointer(start: pointer, count: length))
    }
}

/// Bounds what a reply may make hiredis allocate. hiredis 0.14 (Debian 12) allocates an array's
/// element table as soon as it reads the header, whatever count the header claims: `*444444441`
/// made it ask for 3.5 GB (found by the reply fuzzer). An array above the limit is refused
/// instead, as a protocol error: the connection drops and reconnects. No reply of this client's
/// commands comes near it (a read is at most `CIO_RELAY_BATCH_SIZE` entries).
enum RedisReplyLimits {
    static let maximumElements: Int32 = 1 << 20

    private static let defaults: redisReplyObjectFunctions = {
        // hiredis keeps its default functions private: copy them from a reader.
        guard let reader = redisReaderCreate() else { preconditionFailure("hiredis could not allocate a reply reader") }
        defer { redisReaderFree(reader) }
        return reader.pointee.fn.pointee
    }()

    private nonisolated(unsafe) static let limited: UnsafeMutablePointer<redisReplyObjectFunctions> = {
        var functions = defaults
        functions.createArray = { task, elements in
            guard elements <= RedisReplyLimits.maximumElements else { return nil }
            return RedisReplyLimits.defaults.createArray(task, elements)
        }
        let pointer = UnsafeMutablePointer<redisReplyObjectFunctions>.allocate(capacity: 1)
        pointer.initialize(to: functions)
        return pointer
    }()

    /// Makes `reader` refuse arrays above the limit.
    static func apply(to reader: UnsafeMutablePointer<redisReader>?) {
        reader?.pointee.fn = limited
    }
}

/// Reads RESP bytes with hiredis' own reader, outside any connection: how the fuzzer puts hostile
/// server bytes through the same conversion every reply takes.
@_spi(Fuzzing) public enum RedisReplyReader {
    /// The complete replies in `bytes`, and whether the reader stopped at a protocol error;
    /// with `split`, the bytes are fed in two pieces, as they may arrive from a socket.
    public static func values(from bytes: [UInt8], feedingAt split: Int? = nil) -> (values: [RedisValue], protocolError: Bool) {
        guard let reader = redisReaderCreate() else { return ([], true) }
        defer { redisReaderFree(reader) }
        RedisReplyLimits.apply(to: reader)
        let pieces = split.map { [bytes[..<min($0, bytes.count)], bytes[min($0, bytes.count)...]] } ?? [bytes[...]]
        var values: [RedisValue] = []
        for piece in pieces {
            let fed = piece.withUnsafeBufferPointer { buffer in
                buffer.baseAddress.map { $0.withMemoryRebound(to: CChar.self, capacity: buffer.count) { redisReaderFeed(reader, $0, buffer.count) } }
                    ?? REDIS_OK
            }
            guard fed == REDIS_OK else { return (values, true) }
            while true {
                var reply: UnsafeMutableRawPointer?
                guard redisReaderGetReply(reader, &reply) == REDIS_OK else { return (values, true) }
                guard let reply else { break }
                values.append(RedisValue(reply: reply.assumingMemoryBound(to: redisReply.self)))
                freeReplyObject(reply)
            }
        }
        return (values, false)
    }
}
