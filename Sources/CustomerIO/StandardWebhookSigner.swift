import Foundation

/// Signs deliveries the Standard Webhooks way (standardwebhooks.com): `webhook-signature` is
/// `v1,` and the base64 HMAC-SHA256 of `{webhook-id}.{webhook-timestamp}.{body}` under the
/// secret's key, the bytes after `whsec_` decoded from base64.
public struct StandardWebhookSigner: Sendable {
    /// Why a secret cannot be used.
    public struct SecretError: Error, Sendable, Hashable, CustomStringConvertible {
        public let description: String
    }

    private let hmac: HMACSHA256

    /// - Parameter secret: `whsec_` followed by the key in base64 (Standard Webhooks recommends
    ///   24 to 64 bytes).
    public init(secret: String) throws(SecretError) {
        guard secret.hasPrefix("whsec_") else {
            throw SecretError(description: "a Standard Webhooks secret starts with whsec_ (then the key in base64)")
        }
        guard let key = Data(base64Encoded: String(secret.dropFirst("whsec_".count))), !key.isEmpty else {
            throw SecretError(description: "the part after whsec_ is not base64")
        }
        guard key.count >= 24 && key.count <= 64 else {
            throw SecretError(description: "the key is \(key.count) bytes; Standard Webhooks keys are 24 to 64")
        }
        guard let hmac = HMACSHA256(key: Array(key)) else {
            throw SecretError(description: "libcrypto could not set up HMAC-SHA256")
        }
        self.hmac = hmac
    }

    /// The `webhook-signature` header of one delivery.
    public func signature(id: String, timestamp: Int64, body: [UInt8]) -> String {
        let prefix = Array("\(id).\(timestamp).".utf8)
        let code = prefix.withUnsafeBytes { head in body.withUnsafeBytes { tail in hmac.authenticationCode(parts: [head, tail]) } }
        return "v1," + Data(code).base64EncodedString()
    }
}
