import COpenSSL

/// HMAC-SHA256 through libcrypto's one-shot `HMAC`.
enum HMACSHA256 {
    static let digestLength = 32

    /// The MAC of the concatenation of `parts`, computed without joining them into one buffer.
    static func authenticationCode(key: [UInt8], parts: [UnsafeRawBufferPointer]) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: digestLength)
        guard let context = HMAC_CTX_new() else { return [] }
        defer { HMAC_CTX_free(context) }
        let ok = key.withUnsafeBufferPointer { keyBuffer -> Bool in
            guard HMAC_Init_ex(context, keyBuffer.baseAddress, Int32(keyBuffer.count), EVP_sha256(), nil) == 1 else { return false }
            for part in parts where part.count > 0 {
                guard HMAC_Update(context, part.baseAddress?.assumingMemoryBound(to: UInt8.self), part.count) == 1 else { return false }
            }
            var length: UInt32 = 0
            return output.withUnsafeMutableBufferPointer { HMAC_Final(context, $0.baseAddress, &length) == 1 } && length == 32
        }
        // An empty MAC never equals a 32-byte signature, so a libcrypto failure rejects the request.
        return ok ? output : []
    }

    /// Compares two byte strings in time that depends only on their length.
    static func constantTimeEquals(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        guard lhs.count == rhs.count, !lhs.isEmpty else { return false }
        return lhs.withUnsafeBytes { left in
            rhs.withUnsafeBytes { right in
                CRYPTO_memcmp(left.baseAddress, right.baseAddress, left.count) == 0
            }
        }
    }
}
