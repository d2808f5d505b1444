import COpenSSL

/// A stable identity for a body that has no usable `event_id`, so that Customer.io's retries of
/// the same malformed body are kept once rather than once per retry.
public enum PayloadDigest {
    /// Lowercase hex of SHA-256 over the bytes.
    public static func sha256Hex(_ bytes: UnsafeRawBufferPointer) -> String {
        WebhookSignature.encodeHex(sha256(bytes))
    }

    /// SHA-256 over the bytes.
    static func sha256(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: Int(SHA256_DIGEST_LENGTH))
        _ = digest.withUnsafeMutableBufferPointer { output in
            SHA256(bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count, output.baseAddress)
        }
        return digest
    }
}
