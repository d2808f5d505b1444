import CustomerIO
import Foundation

/// Headers Customer.io would send with `body`.
public func customerIOHeaders(body: [UInt8], key: SigningKey, timestamp: Int64 = Int64(Date().timeIntervalSince1970)) -> [String: String] {
    [
        WebhookSignature.timestampHeader: String(timestamp),
        WebhookSignature.signatureHeader: WebhookSignature.sign(body: body, timestamp: timestamp, key: key),
        "Content-Type": "application/json",
    ]
}
