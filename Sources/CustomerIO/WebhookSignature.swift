/// Why a webhook request is not accepted as genuinely from Customer.io.
public struct SignatureError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        let value: String
        /// `X-CIO-Signature` absent or empty.
        public static let missingSignature = Code(value: "missing_signature")
        /// `X-CIO-Signature` is not 64 hex digits.
        public static let malformedSignature = Code(value: "malformed_signature")
        /// `X-CIO-Timestamp` absent or empty.
        public static let missingTimestamp = Code(value: "missing_timestamp")
        /// `X-CIO-Timestamp` is not a whole number of seconds.
        public static let malformedTimestamp = Code(value: "malformed_timestamp")
        /// The timestamp is further from now than the tolerance allows.
        public static let staleTimestamp = Code(value: "stale_timestamp")
        /// The signature matches none of the workspace's keys.
        public static let mismatch = Code(value: "signature_mismatch")
        public var description: String { value }
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }
}

/// The headers Customer.io signs a reporting webhook with, checked for form.
public struct WebhookSignature: Sendable, Hashable {
    public static let signatureHeader = "X-CIO-Signature"
    public static let timestampHeader = "X-CIO-Timestamp"

    /// Unix seconds from `X-CIO-Timestamp`.
    public let timestamp: Int64
    /// The timestamp exactly as sent: it is signed as text, so it is verified as text.
    public let timestampText: String
    /// The 32 bytes of the HMAC, decoded from hex (either case).
    public let digest: [UInt8]

    /// Checks the two header values for presence and form; does not verify anything yet.
    public init(signature: String?, timestamp: String?) throws(SignatureError) {
        guard let signature, !signature.isEmpty else {
            throw SignatureError(.missingSignature, "the \(Self.signatureHeader) header is missing")
        }
        guard let timestamp, !timestamp.isEmpty else {
            throw SignatureError(.missingTimestamp, "the \(Self.timestampHeader) header is missing")
        }
        guard timestamp.utf8.count <= 19, timestamp.utf8.allSatisfy({ (0x30...0x39).contains($0) }), let seconds = Int64(timestamp) else {
            throw SignatureError(.malformedTimestamp, "the \(Self.timestampHeader) header must be Unix seconds")
        }
        guard let digest = Self.decodeHex(signature), digest.count == HMACSHA256.digestLength else {
            throw SignatureError(.malformedSignature, "the \(Self.signatureHeader) header must be 64 hexadecimal digits (HMAC-SHA256)")
        }
        self.timestamp = seconds
        self.timestampText = timestamp
        self.digest = digest
    }

    /// Fails with `staleTimestamp` when the timestamp is more than `tolerance` seconds from `now`.
    public func checkFreshness(now: Int64, tolerance: Int64) throws(SignatureError) {
        let distance = timestamp > now ? timestamp - now : now - timestamp
        guard distance <= tolerance else {
            throw SignatureError(.staleTimestamp, "the \(Self.timestampHeader) header is \(distance) s from now; at most \(tolerance) s is accepted")
        }
    }

    /// Verifies the signature over `v0:<timestamp>:<body>` against each key in turn (current and
    /// previous during a rotation) and returns the index of the key that matched.
    @discardableResult
    public func verify(body: UnsafeRawBufferPointer, keys: [SigningKey]) throws(SignatureError) -> Int {
        var prefix = Array("v0:".utf8)
        prefix.append(contentsOf: timestampText.utf8)
        prefix.append(UInt8(ascii: ":"))
        let matched = prefix.withUnsafeBytes { prefixBuffer -> Int? in
            // Every key is tried even after a match, so timing does not reveal which key matched.
            var matched: Int?
            for (index, key) in keys.enumerated() {
                let expected = key.authenticationCode(parts: [prefixBuffer, body])
                if HMACSHA256.constantTimeEquals(expected, digest), matched == nil {
                    matched = index
                }
            }
            return matched
        }
        guard let matched else {
            throw SignatureError(.mismatch, "the \(Self.signatureHeader) header does not match the body signed with this workspace's keys")
        }
        return matched
    }

    public func verify(body: [UInt8], keys: [SigningKey]) throws(SignatureError) -> Int {
        let result = body.withUnsafeBytes { buffer in
            Result { () throws(SignatureError) in try verify(body: buffer, keys: keys) }
        }
        return try result.get()
    }

    /// Hex of `HMAC-SHA256(key, "v0:<timestamp>:<body>")`: what Customer.io sends (for tests and `send`).
    public static func sign(body: [UInt8], timestamp: Int64, key: SigningKey) -> String {
        sign(body: body, timestampText: String(timestamp), key: key)
    }

    /// The same for a timestamp as sent, byte for byte: the text is what is signed.
    public static func sign(body: [UInt8], timestampText: String, key: SigningKey) -> String {
        let prefix = Array("v0:\(timestampText):".utf8)
        let mac = prefix.withUnsafeBytes { prefixBuffer in
            body.withUnsafeBytes { bodyBuffer in
                key.authenticationCode(parts: [prefixBuffer, bodyBuffer])
            }
        }
        return encodeHex(mac)
    }

    static func decodeHex(_ text: String) -> [UInt8]? {
        var text = text
        return text.withUTF8 { utf8 -> [UInt8]? in
            guard utf8.count % 2 == 0 else { return nil }
            var bytes = [UInt8](repeating: 0, count: utf8.count / 2)
            for index in bytes.indices {
                guard let high = hexDigitValue(utf8[2 * index]), let low = hexDigitValue(utf8[2 * index + 1]) else { return nil }
                bytes[index] = high << 4 | low
            }
            return bytes
        }
    }

    static func encodeHex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            output.append(digits[Int(byte >> 4)])
            output.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: output, as: UTF8.self)
    }
}

/// A webhook signing key. Its description never shows the key, so it is safe in logs.
public struct SigningKey: Sendable, Hashable, CustomStringConvertible {
    public let bytes: [UInt8]
    /// The key's HMAC state, prepared once; nil only if libcrypto failed, which rejects every request.
    let mac: HMACSHA256?

    public init(_ secret: String) {
        self.bytes = Array(secret.utf8)
        self.mac = HMACSHA256(key: bytes)
    }

    public static func == (lhs: SigningKey, rhs: SigningKey) -> Bool { lhs.bytes == rhs.bytes }
    public func hash(into hasher: inout Hasher) { hasher.combine(bytes) }

    /// HMAC-SHA256 of the concatenation of `parts` under this key.
    func authenticationCode(parts: [UnsafeRawBufferPointer]) -> [UInt8] {
        mac?.authenticationCode(parts: parts) ?? []
    }

    public var description: String { "SigningKey(\(bytes.count) bytes, redacted)" }
}

/// The value of a hexadecimal digit (either case), or nil for any other byte.
func hexDigitValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case 0x30...0x39: byte - 0x30
    case 0x61...0x66: byte - 0x61 + 10
    case 0x41...0x46: byte - 0x41 + 10
    default: nil
    }
}
