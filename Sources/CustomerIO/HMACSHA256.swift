import COpenSSL

/// HMAC-SHA256 (RFC 2104) on libcrypto's SHA-256 digest, for one key.
///
/// The key's inner and outer pads are hashed once, here; each MAC starts from copies of those two
/// digest states instead of hashing both pads again for every request.
final class HMACSHA256: @unchecked Sendable {
    static let digestLength = 32
    private static let blockLength = 64

    // Written only by `init`; afterwards `EVP_MD_CTX_copy_ex` only reads them, so concurrent MACs
    // can share them (hence @unchecked Sendable).
    private let inner: OpaquePointer
    private let outer: OpaquePointer

    /// Nil only when libcrypto cannot allocate or hash.
    init?(key: [UInt8]) {
        // A key longer than a block is replaced by its digest (RFC 2104, section 2).
        var block = key.count > Self.blockLength ? key.withUnsafeBytes(PayloadDigest.sha256) : key
        guard block.count <= Self.blockLength else { return nil }
        block += [UInt8](repeating: 0, count: Self.blockLength - block.count)
        guard let inner = Self.start(with: block.map { $0 ^ 0x36 }) else { return nil }
        guard let outer = Self.start(with: block.map { $0 ^ 0x5C }) else {
            EVP_MD_CTX_free(inner)
            return nil
        }
        self.inner = inner
        self.outer = outer
    }

    deinit {
        EVP_MD_CTX_free(inner)
        EVP_MD_CTX_free(outer)
    }

    /// The MAC of the concatenation of `parts`, computed without joining them into one buffer;
    /// empty if libcrypto fails, which never equals a 32-byte signature.
    func authenticationCode(parts: [UnsafeRawBufferPointer]) -> [UInt8] {
        guard let context = EVP_MD_CTX_new() else { return [] }
        defer { EVP_MD_CTX_free(context) }
        var innerDigest = [UInt8](repeating: 0, count: Self.digestLength)
        var output = [UInt8](repeating: 0, count: Self.digestLength)
        guard EVP_MD_CTX_copy_ex(context, inner) == 1 else { return [] }
        for part in parts where part.count > 0 {
            guard EVP_DigestUpdate(context, part.baseAddress, part.count) == 1 else { return [] }
        }
        guard Self.finish(context, into: &innerDigest),
            EVP_MD_CTX_copy_ex(context, outer) == 1,
            EVP_DigestUpdate(context, innerDigest, innerDigest.count) == 1,
            Self.finish(context, into: &output)
        else { return [] }
        return output
    }

    /// A SHA-256 context that has absorbed `pad`.
    private static func start(with pad: [UInt8]) -> OpaquePointer? {
        guard let context = EVP_MD_CTX_new() else { return nil }
        guard EVP_DigestInit_ex(context, EVP_sha256(), nil) == 1, EVP_DigestUpdate(context, pad, pad.count) == 1 else {
            EVP_MD_CTX_free(context)
            return nil
        }
        return context
    }

    private static func finish(_ context: OpaquePointer, into digest: inout [UInt8]) -> Bool {
        var length: UInt32 = 0
        let ok = digest.withUnsafeMutableBufferPointer { EVP_DigestFinal_ex(context, $0.baseAddress, &length) == 1 }
        return ok && length == digestLength
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

/// HMAC-SHA256 of text under a text key, as lowercase hex: for values cio-relay signs itself (the
/// console's sessions and form tokens), on the same implementation as the webhook signatures.
public struct TextSigner: Sendable {
    private let hmac: HMACSHA256

    /// Nil only when libcrypto cannot allocate or hash.
    public init?(key: String) {
        guard let hmac = HMACSHA256(key: Array(key.utf8)) else { return nil }
        self.hmac = hmac
    }

    public func signature(_ message: String) -> String {
        var message = message
        let code = message.withUTF8 { hmac.authenticationCode(parts: [UnsafeRawBufferPointer($0)]) }
        return code.map { String($0, radix: 16).leftPadded(to: 2) }.joined()
    }

    /// Whether `signature` is the signature of `message`, compared in constant time.
    public func verify(_ signature: String, of message: String) -> Bool {
        HMACSHA256.constantTimeEquals(Array(signature.utf8), Array(self.signature(message).utf8))
    }
}

extension String {
    fileprivate func leftPadded(to length: Int) -> String {
        count >= length ? self : String(repeating: "0", count: length - count) + self
    }
}
