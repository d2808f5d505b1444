import CustomerIO
import Foundation

/// Signed webhook requests written to files instead of sent: the corpus that wrk replays in the
/// receiver benchmarks (`Benchmarks/webhooks.lua`), made by the same generator and signature as
/// `cio-relay send`, so that neither exists a second time in a benchmark script.
///
/// Requests are dealt round-robin over `files` files `<prefix>.0`, `<prefix>.1`, … (one per wrk
/// thread). Every request in a file has the same length (an `X-Bench-Pad` header makes up the
/// difference) and the file's first line is that length: wrk's Lua then reads request N with one
/// fixed-size read instead of parsing the corpus up front. That matters because wrk creates its
/// threads one after another, calling each one's `init` first, and starts the clock only after the
/// last: a slow `init` lets the first threads send untimed requests that still count.
public struct RequestCorpus: Sendable {
    /// The request target and `Host` header, e.g. `/webhooks/customerio` and `127.0.0.1`.
    public var path = "/webhooks/customerio"
    public var host = "127.0.0.1"
    public let key: SigningKey

    public init(secret: String) {
        key = SigningKey(secret)
    }

    /// Writes `count` requests of the next events of `feed`, signed at `timestamp`, over `files`
    /// files named `<prefix>.<n>`; answers how many were written (fewer when `feed` runs out).
    public func write(count: Int, feed: EventFeed, files: Int, prefix: String, timestamp: Int64 = Int64(Date().timeIntervalSince1970)) throws -> Int {
        var feed = feed
        var bodies: [[UInt8]] = []
        while bodies.count < count, let body = feed.next(now: timestamp) {
            bodies.append(body)
        }
        let unpadded = bodies.map { request($0, timestamp: timestamp, pad: 0).count }
        // The longest request gets a one-byte pad; every other one is padded up to its length.
        let size = (unpadded.max() ?? 0) + 1
        var contents = Array(repeating: Array("\(size)\n".utf8), count: max(1, files))
        for (index, body) in bodies.enumerated() {
            contents[index % contents.count] += request(body, timestamp: timestamp, pad: size - unpadded[index])
        }
        for (number, bytes) in contents.enumerated() {
            let path = "\(prefix).\(number)"
            guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else {
                throw CorpusError(path: path)
            }
        }
        return bodies.count
    }

    /// One HTTP/1.1 request, headers padded by `pad` bytes (`X-Bench-Pad` of at least one byte).
    func request(_ body: [UInt8], timestamp: Int64, pad: Int) -> [UInt8] {
        let signature = WebhookSignature.sign(body: body, timestamp: timestamp, key: key)
        let head = """
            POST \(path) HTTP/1.1\r
            Host: \(host)\r
            Content-Type: application/json\r
            \(WebhookSignature.timestampHeader): \(timestamp)\r
            \(WebhookSignature.signatureHeader): \(signature)\r
            X-Bench-Pad: \(String(repeating: "x", count: pad))\r
            Content-Length: \(body.count)\r
            \r

            """
        return Array(head.utf8) + body
    }

    /// A corpus file that could not be written.
    public struct CorpusError: Error, CustomStringConvertible {
        public let path: String
        public var description: String { "cannot write \(path)" }
    }
}
