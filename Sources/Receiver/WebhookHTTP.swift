import CustomerIO
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The HTTP side of the webhook port that does not depend on the queue: its paths, its headers
/// and its JSON answers.
enum WebhookHTTP {
    static let signatureField = HTTPField.Name(WebhookSignature.signatureHeader)!
    static let timestampField = HTTPField.Name(WebhookSignature.timestampHeader)!

    static let basePath = "/webhooks/customerio"
    private static let basePathBytes = Array(basePath.utf8)

    /// The workspace a request path names: `/webhooks/customerio` the default one,
    /// `/webhooks/customerio/{workspace}` that one (a trailing slash is ignored); nil for any other path.
    static func workspace(inPath path: String) -> String? {
        var path = path
        return path.withUTF8 { bytes -> String? in
            let slash = UInt8(ascii: "/")
            guard bytes.starts(with: basePathBytes) else { return nil }
            var rest = bytes[basePathBytes.count...]
            if rest.last == slash { rest = rest.dropLast() }
            if rest.isEmpty { return ReceiverConfiguration.defaultWorkspaceName }
            guard rest.first == slash else { return nil }
            rest = rest.dropFirst()
            guard !rest.isEmpty, !rest.contains(slash) else { return nil }
            return String(decoding: rest, as: UTF8.self)
        }
    }

    /// A request header's value, repeated ones joined with ", " as HTTP combines them. A plain loop,
    /// because `HTTPFields`' own subscript joins through an unspecialized lazy join that costs more
    /// than the rest of the header checks together.
    static func header(_ name: HTTPField.Name, in fields: HTTPFields) -> String? {
        var value: String?
        for field in fields where field.name == name {
            value = value.map { "\($0), \(field.value)" } ?? field.value
        }
        return value
    }

    // The two answers of the hot path, built once.
    static let acceptedBody = ByteBuffer(string: #"{"status":"accepted"}"#)
    static let duplicateBody = ByteBuffer(string: #"{"status":"duplicate"}"#)

    static func constant(_ body: ByteBuffer) -> Response {
        Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: body))
    }

    static func json(_ status: HTTPResponse.Status, _ fields: [String: String]) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])) ?? Data("{}".utf8)
        return Response(
            status: status,
            headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: data))
        )
    }
}
