import CustomerIO
import NIOCore
import NIOHTTP1

/// An answer of the webhook port: status, JSON body and any extra headers.
public struct WebhookReply: Sendable {
    public var status: HTTPResponseStatus
    public var body: ByteBuffer
    /// Beyond `Content-Type` and `Content-Length`: `Retry-After`, `Allow`.
    public var headers: [(String, String)]

    init(_ status: HTTPResponseStatus, body: ByteBuffer, headers: [(String, String)] = []) {
        self.status = status
        self.body = body
        self.headers = headers
    }

    /// A JSON object of string fields, keys sorted. Written by `JSONValue`, not Foundation's
    /// `JSONSerialization`, which took a third of the CPU of a request turned away from its head
    /// (its dictionary bridging and dynamic casts): a flood of rejected requests must not cost more
    /// than accepted ones.
    init(_ status: HTTPResponseStatus, json fields: [String: String], headers: [(String, String)] = []) {
        self.init(status, body: ByteBuffer(bytes: JSONValue.object(fields.mapValues(JSONValue.string)).serialized()), headers: headers)
    }

    // The two answers of the hot path, built once.
    static let accepted = WebhookReply(.ok, body: ByteBuffer(string: #"{"status":"accepted"}"#))
    static let duplicate = WebhookReply(.ok, body: ByteBuffer(string: #"{"status":"duplicate"}"#))
}

/// The HTTP side of the webhook port that does not depend on the queue: its paths and headers.
enum WebhookHTTP {
    static let basePath = "/webhooks/customerio"
    private static let basePathBytes = Array(basePath.utf8)

    /// The workspace a request target names: `/webhooks/customerio` the default one,
    /// `/webhooks/customerio/{workspace}` that one (a trailing slash and a query are ignored); nil
    /// for any other path.
    static func workspace(inTarget target: String) -> String? {
        var target = target
        return target.withUTF8 { bytes -> String? in
            let slash = UInt8(ascii: "/")
            guard bytes.starts(with: basePathBytes) else { return nil }
            var rest = bytes[basePathBytes.count...]
            if let query = rest.firstIndex(of: UInt8(ascii: "?")) { rest = rest[..<query] }
            if rest.last == slash { rest = rest.dropLast() }
            if rest.isEmpty { return ReceiverConfiguration.defaultWorkspaceName }
            guard rest.first == slash else { return nil }
            rest = rest.dropFirst()
            guard !rest.isEmpty, !rest.contains(slash) else { return nil }
            return String(decoding: rest, as: UTF8.self)
        }
    }

    /// A request header's value, repeated ones joined with ", " as HTTP combines them (so that a
    /// repeated signature never verifies). NIO's lookup compares names without regard to case.
    static func header(_ name: String, in headers: HTTPHeaders) -> String? {
        let values = headers[name]
        return values.isEmpty ? nil : values.joined(separator: ", ")
    }

    static let contentLength = "Content-Length"
    static let signature = WebhookSignature.signatureHeader
    static let timestamp = WebhookSignature.timestampHeader
}
