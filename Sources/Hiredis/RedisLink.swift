import CHiredis

/// A connected `RedisSocket` and the hiredis reader that turns its bytes into replies: what a
/// connection thread talks to Redis through, in plain text or TLS alike.
final class RedisLink {
    let socket: RedisSocket
    private let reader: UnsafeMutablePointer<redisReader>
    private var buffer = [UInt8](repeating: 0, count: 64 * 1024)
    /// Replies read since the connection was made; 0 means the server has not answered yet.
    private(set) var repliesRead = 0

    init?(socket: RedisSocket) {
        guard let reader = redisReaderCreate() else { return nil }
        RedisReplyLimits.apply(to: reader)
        self.socket = socket
        self.reader = reader
    }

    deinit {
        redisReaderFree(reader)
    }

    /// Sends `bytes` (commands already in RESP).
    func send(_ bytes: [UInt8], timeout: Duration?) throws(LinkFailure) {
        // withUnsafeBytes only rethrows untyped errors: carry the typed one out in a Result.
        let written = bytes.withUnsafeBytes { raw in Result { () throws(SocketFailure) in try socket.write(raw, timeout: timeout) } }
        if case .failure(let error) = written { throw .socket(error) }
    }

    /// The next reply, reading from the socket as needed, each read waiting at most `timeout`.
    func reply(timeout: Duration?) throws(LinkFailure) -> RedisValue {
        while true {
            var reply: UnsafeMutableRawPointer?
            guard redisReaderGetReply(reader, &reply) == REDIS_OK else {
                let reason = withUnsafeBytes(of: reader.pointee.errstr) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                throw .protocolError(reason.isEmpty ? "unreadable reply" : reason)
            }
            if let reply {
                let value = RedisValue(reply: reply.assumingMemoryBound(to: redisReply.self))
                freeReplyObject(reply)
                repliesRead += 1
                return value
            }
            let read = buffer.withUnsafeMutableBytes { raw in Result { () throws(SocketFailure) in try socket.read(into: raw, timeout: timeout) } }
            let count: Int
            switch read {
            case .success(let bytes): count = bytes
            case .failure(let error): throw .socket(error)
            }
            let fed = buffer.withUnsafeBufferPointer { bytes in
                bytes.baseAddress.map { $0.withMemoryRebound(to: CChar.self, capacity: count) { redisReaderFeed(reader, $0, count) } } ?? REDIS_ERR
            }
            guard fed == REDIS_OK else { throw .protocolError("the reply reader refused the bytes") }
        }
    }
}

/// Why a `RedisLink` could not send or read.
enum LinkFailure: Error {
    case socket(SocketFailure)
    /// The bytes are not RESP (or a reply is over `RedisReplyLimits`).
    case protocolError(String)
}
