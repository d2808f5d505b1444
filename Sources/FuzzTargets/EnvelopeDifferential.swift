@_spi(Fuzzing) import CustomerIO
import Foundation

/// The envelope scanner checked against Foundation's `JSONSerialization` on the same bytes: both
/// accept exactly the valid JSON objects, and they read the same top-level fields and `data`.
/// Where they may differ by design: the scanner takes UTF-8 only (Foundation also guesses UTF-16
/// and UTF-32), refuses nesting deeper than 64 levels (Foundation allows more) and keeps to RFC 8259
/// where Foundation is lenient (a trailing comma, as in `{"a": 1, }`, which it accepts) or strict
/// (a number beyond the range of a Double, as in `1e800`, which it refuses: the grammar allows it,
/// the body is kept verbatim, and the scanner reads it as infinite, written out as `null`).
enum EnvelopeDifferential {
    static let scannerDepthLimit = 64

    static func check(_ bytes: [UInt8]) throws(FuzzFinding) {
        let scanned = bytes.withUnsafeBufferPointer { buffer in
            Result { () throws(MalformedEventError) in try EnvelopeScanner.scan(buffer, buildsData: true) }
        }
        let isUTF8 = String(validating: bytes, as: UTF8.self) != nil
        let reference = isUTF8 ? (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any] : nil
        switch (scanned, reference) {
        case (.failure, nil):
            return
        case (.success, nil):
            if hasNumberBeyondDouble(bytes) { return }
            throw finding("the scanner accepted what Foundation refuses (or is not a JSON object)")
        case (.failure(let error), let object?):
            if depth(of: object) >= scannerDepthLimit || hasTrailingComma(bytes) { return }
            throw finding("the scanner refused a JSON object Foundation reads: \(error.message)")
        case (.success(let fields), let object?):
            try compare(fields.eventID, expected: plainField(object["event_id"]), name: "event_id")
            try compare(fields.objectType, expected: plainField(object["object_type"]), name: "object_type")
            try compare(fields.metric, expected: plainField(object["metric"]), name: "metric")
            try compare(fields.timestamp, expected: timestampField(object["timestamp"]), name: "timestamp")
            try compareData(fields.data, expected: object["data"].map(jsonValue))
        }
    }

    private static func finding(_ message: String) -> FuzzFinding {
        FuzzTarget.envelope.finding(message)
    }

    private static func compare(_ actual: EnvelopeScanner.Field?, expected: EnvelopeScanner.Field?, name: String) throws(FuzzFinding) {
        guard actual == expected else {
            throw finding("\(name): the scanner read \(String(describing: actual)), Foundation \(String(describing: expected))")
        }
    }

    /// `data` alike, numbers to one part in a billion: Foundation rounds long mantissas less
    /// exactly than Swift's `Double(String)` (2.3333333333333337e+58 for
    /// 23333333333333333333333333333333333333333333333333333333.5e3, where the correctly rounded
    /// value, which the scanner reads, is 2.3333333333333334e+58), and goes through `Decimal`
    /// for integers of 70 digits, further off still.
    private static func compareData(_ actual: EnvelopeScanner.Field?, expected: JSONValue?) throws(FuzzFinding) {
        let same: Bool =
            switch (actual, expected) {
            case (nil, nil): true
            case (.json(let value)?, let reference?): alike(value, reference)
            default: false
            }
        guard same else {
            throw finding("data: the scanner read \(String(describing: actual)), Foundation \(String(describing: expected))")
        }
    }

    private static func alike(_ left: JSONValue, _ right: JSONValue) -> Bool {
        switch (left, right) {
        case (.number(let a), .number(let b)):
            return a == b || abs(a - b) <= 1e-9 * max(abs(a), abs(b))
        case (.array(let a), .array(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { alike($0, $1) }
        case (.object(let a), .object(let b)):
            return a.count == b.count && a.allSatisfy { key, value in b[key].map { alike(value, $0) } ?? false }
        default:
            return left == right
        }
    }

    /// What the scanner reports for `event_id`, `object_type` and `metric`.
    private static func plainField(_ value: Any?) -> EnvelopeScanner.Field? {
        switch value {
        case nil: nil
        case let text as String: .string(text)
        case is NSNull: .null
        default: .other
        }
    }

    /// What the scanner reports for `timestamp`: a whole number written as one (no fraction or
    /// exponent) that fits in 64 bits, else as `plainField`.
    private static func timestampField(_ value: Any?) -> EnvelopeScanner.Field? {
        if let number = value as? NSNumber, !isBoolean(number), let integer = integerValue(number) {
            return .integer(integer)
        }
        return plainField(value)
    }

    private static func isBoolean(_ number: NSNumber) -> Bool {
        String(cString: number.objCType) == "c"
    }

    /// The number as a 64-bit integer when Foundation parsed it as an integer literal.
    private static func integerValue(_ number: NSNumber) -> Int64? {
        switch String(cString: number.objCType) {
        case "q", "l", "i", "s": number.int64Value
        case "Q", "L", "I", "S": number.uint64Value <= UInt64(Int64.max) ? Int64(number.uint64Value) : nil
        default: nil
        }
    }

    /// Foundation's object as the scanner's `JSONValue`.
    private static func jsonValue(_ value: Any) -> JSONValue {
        switch value {
        case is NSNull: return .null
        case let text as String: return .string(text)
        case let number as NSNumber:
            return isBoolean(number) ? .bool(number.boolValue) : .number(number.doubleValue)
        case let array as [Any]: return .array(array.map(jsonValue))
        case let object as [String: Any]: return .object(object.mapValues(jsonValue))
        default: return .string("unexpected \(type(of: value))")
        }
    }

    /// The bytes outside string literals, with a `"` standing for each string.
    static func outsideStrings(_ bytes: [UInt8]) -> [UInt8] {
        var result: [UInt8] = []
        var inString = false
        var escaped = false
        for byte in bytes {
            if inString {
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
            } else {
                if byte == UInt8(ascii: "\"") { inString = true }
                result.append(byte)
            }
        }
        return result
    }

    /// Whether a `,` is followed (after whitespace) by `}` or `]` outside strings: JSON does not
    /// allow it, Foundation does.
    static func hasTrailingComma(_ bytes: [UInt8]) -> Bool {
        var afterComma = false
        for byte in outsideStrings(bytes) {
            switch byte {
            case UInt8(ascii: ","): afterComma = true
            case UInt8(ascii: "}"), UInt8(ascii: "]"): if afterComma { return true }
            case 0x20, 0x09, 0x0A, 0x0D: break
            default: afterComma = false
            }
        }
        return false
    }

    /// Whether a number outside strings is too large for a Double.
    static func hasNumberBeyondDouble(_ bytes: [UInt8]) -> Bool {
        let numberBytes = Set("0123456789+-.eE".utf8)
        return outsideStrings(bytes)
            .split { !numberBytes.contains($0) }
            .contains { Double(String(decoding: $0, as: UTF8.self))?.isInfinite == true }
    }

    private static func depth(of value: Any) -> Int {
        switch value {
        case let array as [Any]: 1 + (array.map(depth).max() ?? 0)
        case let object as [String: Any]: 1 + (object.values.map(depth).max() ?? 0)
        default: 0
        }
    }
}
