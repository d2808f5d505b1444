import Testing

@testable import CustomerIO

@Suite("HMAC-SHA256 with prepared keys")
struct HMACSHA256Tests {
    private func mac(key: [UInt8], _ parts: [[UInt8]]) throws -> String {
        let prepared = try #require(HMACSHA256(key: key))
        return WebhookSignature.encodeHex(Self.withBuffers(parts) { prepared.authenticationCode(parts: $0) })
    }

    private static func withBuffers<R>(
        _ parts: ArraySlice<[UInt8]>, _ buffers: [UnsafeRawBufferPointer] = [], _ body: ([UnsafeRawBufferPointer]) -> R
    ) -> R {
        guard let first = parts.first else { return body(buffers) }
        return first.withUnsafeBytes { withBuffers(parts.dropFirst(), buffers + [$0], body) }
    }

    private static func withBuffers<R>(_ parts: [[UInt8]], _ body: ([UnsafeRawBufferPointer]) -> R) -> R {
        withBuffers(parts[...], [], body)
    }

    // RFC 4231 test cases 1, 2, 6 and 7: a short key, a key shorter than the output, and two keys
    // longer than a block (which are hashed first).
    @Test func rfc4231Vectors() throws {
        #expect(
            try mac(key: [UInt8](repeating: 0x0B, count: 20), [Array("Hi There".utf8)])
                == "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
        #expect(
            try mac(key: Array("Jefe".utf8), [Array("what do ya want for nothing?".utf8)])
                == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        #expect(
            try mac(key: [UInt8](repeating: 0xAA, count: 131), [Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8)])
                == "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
        let long =
            "This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm."
        #expect(
            try mac(key: [UInt8](repeating: 0xAA, count: 131), [Array(long.utf8)])
                == "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2")
    }

    @Test func partsAreMACedAsTheirConcatenationAndTheKeyIsReusable() throws {
        let key = Array("Jefe".utf8)
        let whole = try mac(key: key, [Array("what do ya want for nothing?".utf8)])
        #expect(try mac(key: key, [Array("what do ya ".utf8), [], Array("want for nothing?".utf8)]) == whole)
        let prepared = try #require(HMACSHA256(key: key))
        let first = Array("what do ya want for nothing?".utf8).withUnsafeBytes { prepared.authenticationCode(parts: [$0]) }
        let second = Array("what do ya want for nothing?".utf8).withUnsafeBytes { prepared.authenticationCode(parts: [$0]) }
        #expect(first == second)
        #expect(WebhookSignature.encodeHex(first) == whole)
    }

    @Test func aKeyOfExactlyOneBlockIsUsedAsIs() throws {
        // 64 bytes: padded with nothing and not hashed. Checked against Python's hmac module:
        // hmac.new(b"k" * 64, b"v0:1:{}", "sha256").hexdigest()
        #expect(
            try mac(key: Array(repeating: UInt8(ascii: "k"), count: 64), [Array("v0:1:{}".utf8)])
                == "fc9d3eff94fa786e0ea644009d5350fead7b6ab139889637453a439b8bfd55bd")
    }
}
