import TestSupport
import Testing

@testable import CustomerIO

@Suite("X-CIO-Signature verification")
struct WebhookSignatureTests {
    @Test(arguments: Fixtures.signatures.sorted(by: { $0.key < $1.key }))
    func vendorVectorsVerify(file: String, expected: String) throws {
        let body = try Fixtures.bytes(file)
        #expect(WebhookSignature.sign(body: body, timestamp: Fixtures.timestamp, key: Fixtures.signingKey) == expected)
        let signature = try WebhookSignature(signature: expected, timestamp: String(Fixtures.timestamp))
        #expect(try signature.verify(body: body, keys: [Fixtures.signingKey]) == 0)
        // Upper-case hex is the same signature.
        let upper = try WebhookSignature(signature: expected.uppercased(), timestamp: String(Fixtures.timestamp))
        #expect(try upper.verify(body: body, keys: [Fixtures.signingKey]) == 0)
    }

    @Test func aChangedBodyOrTimestampFails() throws {
        let body = try Fixtures.bytes("email_bounced.json")
        let expected = try #require(Fixtures.signatures["email_bounced.json"])
        var tampered = body
        tampered[tampered.count - 3] ^= 0x01
        let signature = try WebhookSignature(signature: expected, timestamp: String(Fixtures.timestamp))
        #expect(throws: SignatureError(.mismatch, "the X-CIO-Signature header does not match the body signed with this workspace's keys")) {
            try signature.verify(body: tampered, keys: [Fixtures.signingKey])
        }
        let otherTime = try WebhookSignature(signature: expected, timestamp: String(Fixtures.timestamp + 1))
        #expect(throws: SignatureError.self) { try otherTime.verify(body: body, keys: [Fixtures.signingKey]) }
    }

    @Test func rotationAcceptsEitherKeyAndNoOther() throws {
        let body = try Fixtures.bytes("email_sent.json")
        let old = Fixtures.signingKey
        let new = SigningKey("brand-new-key")
        let signedWithOld = try WebhookSignature(signature: WebhookSignature.sign(body: body, timestamp: 1, key: old), timestamp: "1")
        let signedWithNew = try WebhookSignature(signature: WebhookSignature.sign(body: body, timestamp: 1, key: new), timestamp: "1")
        #expect(try signedWithOld.verify(body: body, keys: [new, old]) == 1)
        #expect(try signedWithNew.verify(body: body, keys: [new, old]) == 0)
        #expect(throws: SignatureError.self) { try signedWithOld.verify(body: body, keys: [new]) }
        #expect(throws: SignatureError.self) { try signedWithOld.verify(body: body, keys: [SigningKey("unknown"), new]) }
        #expect(throws: SignatureError.self) { try signedWithOld.verify(body: body, keys: []) }
    }

    @Test(
        arguments: [
            (nil, "1767235000", SignatureError.Code.missingSignature),
            ("", "1767235000", .missingSignature),
            (String(repeating: "a", count: 64), nil, .missingTimestamp),
            (String(repeating: "a", count: 64), "", .missingTimestamp),
            (String(repeating: "g", count: 64), "1767235000", .malformedSignature),
            (String(repeating: "a", count: 63), "1767235000", .malformedSignature),
            (String(repeating: "a", count: 62), "1767235000", .malformedSignature),
            (String(repeating: "a", count: 66), "1767235000", .malformedSignature),
            ("sha256=" + String(repeating: "a", count: 64), "1767235000", .malformedSignature),
            (" " + String(repeating: "a", count: 64), "1767235000", .malformedSignature),
            (String(repeating: "a", count: 64), "17672350.5", .malformedTimestamp),
            (String(repeating: "a", count: 64), "-1767235000", .malformedTimestamp),
            (String(repeating: "a", count: 64), "2026-01-01T00:00:00Z", .malformedTimestamp),
            (String(repeating: "a", count: 64), "99999999999999999999999", .malformedTimestamp),
        ] as [(String?, String?, SignatureError.Code)])
    func malformedHeadersAreRejected(signature: String?, timestamp: String?, code: SignatureError.Code) {
        do {
            _ = try WebhookSignature(signature: signature, timestamp: timestamp)
            Issue.record("expected \(code)")
        } catch {
            #expect(error.code == code)
        }
    }

    @Test func freshnessWindow() throws {
        let signature = try WebhookSignature(signature: String(repeating: "a", count: 64), timestamp: "1000")
        try signature.checkFreshness(now: 1300, tolerance: 300)
        try signature.checkFreshness(now: 700, tolerance: 300)
        #expect(throws: SignatureError.self) { try signature.checkFreshness(now: 1301, tolerance: 300) }
        #expect(throws: SignatureError.self) { try signature.checkFreshness(now: 699, tolerance: 300) }
    }

    @Test func keysNeverPrintThemselves() {
        #expect(!"\(SigningKey("super-secret-value"))".contains("super-secret"))
    }
}
