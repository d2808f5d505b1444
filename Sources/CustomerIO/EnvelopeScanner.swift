/// Validates a JSON document and picks the envelope fields out of its top-level object in one
/// pass. Without `data` it builds no tree: the receiver's hot path needs only `event_id`,
/// `object_type`, `metric` and `timestamp`, and `JSONDecoder` cost it about a tenth of its CPU.
/// With `data` (the worker) it also builds that field's value, still in the same pass; decoding
/// it with `JSONDecoder` took the worker about 60% of its CPU.
///
/// Public only as SPI, for the differential fuzzer that compares it with Foundation's parser.
@_spi(Fuzzing) public struct EnvelopeScanner {
    /// What a top-level field held.
    public enum Field: Equatable {
        case string(String)
        case integer(Int64)
        case null
        case other
        /// The value of `data`, when asked for.
        case json(JSONValue)
    }

    /// The top-level fields the envelope is made of; a field the body lacks is nil. Kept in named
    /// slots rather than a dictionary: hashing every top-level key cost more than scanning it.
    public struct Fields {
        public var eventID: Field?
        public var objectType: Field?
        public var metric: Field?
        public var timestamp: Field?
        public var data: Field?
    }

    private static let maximumDepth = 64

    private let bytes: UnsafeBufferPointer<UInt8>
    private let buildsData: Bool
    private var index = 0

    private init(_ bytes: UnsafeBufferPointer<UInt8>, buildsData: Bool) {
        self.bytes = bytes
        self.buildsData = buildsData
    }

    /// The wanted top-level fields of a valid JSON object (and `data` as `.json` when `buildsData`),
    /// or an error saying what is wrong.
    public static func scan(_ body: UnsafeBufferPointer<UInt8>, buildsData: Bool = false) throws(MalformedEventError) -> Fields {
        // Validated in place: decoding the whole body into a String only to check it cost an allocation and a copy.
        guard (try? UTF8Span(validating: body.span)) != nil else {
            throw MalformedEventError("the body is not a JSON object (not valid UTF-8)")
        }
        var scanner = EnvelopeScanner(body, buildsData: buildsData)
        do {
            let fields = try scanner.topLevelObject()
            scanner.skipWhitespace()
            guard scanner.index == body.count else { throw SyntaxError(offset: scanner.index) }
            return fields
        } catch let error as SyntaxError {
            throw MalformedEventError("the body is not a JSON object (invalid JSON at byte \(error.offset))")
        } catch {
            throw MalformedEventError("the body is not a JSON object")
        }
    }

    private struct SyntaxError: Error {
        let offset: Int
    }

    private var current: UInt8? { index < bytes.count ? bytes[index] : nil }

    private func fail() -> SyntaxError { SyntaxError(offset: index) }

    private mutating func skipWhitespace() {
        while let byte = current, byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 {
            index += 1
        }
    }

    private mutating func expect(_ byte: UInt8) throws(SyntaxError) {
        skipWhitespace()
        guard current == byte else { throw fail() }
        index += 1
    }

    private mutating func topLevelObject() throws(SyntaxError) -> Fields {
        skipWhitespace()
        guard current == UInt8(ascii: "{") else { throw fail() }
        var fields = Fields()
        try object { (scanner: inout EnvelopeScanner, key: RawString) throws(SyntaxError) in
            if key.is("event_id") {
                fields.eventID = try scanner.field(isTimestamp: false)
            } else if key.is("object_type") {
                fields.objectType = try scanner.field(isTimestamp: false)
            } else if key.is("metric") {
                fields.metric = try scanner.field(isTimestamp: false)
            } else if key.is("timestamp") {
                fields.timestamp = try scanner.field(isTimestamp: true)
            } else if scanner.buildsData && key.is("data") {
                fields.data = try scanner.value(depth: 1, building: true).map(Field.json) ?? .null
            } else {
                _ = try scanner.value(depth: 1, building: false)
            }
        }
        return fields
    }

    /// Reads `element, element, …` up to `closing`; the cursor is on the opening bracket.
    private mutating func elements(closing: UInt8, _ element: (inout EnvelopeScanner) throws(SyntaxError) -> Void) throws(SyntaxError) {
        index += 1
        skipWhitespace()
        if current == closing {
            index += 1
            return
        }
        while true {
            try element(&self)
            skipWhitespace()
            guard let next = current else { throw fail() }
            index += 1
            if next == closing { return }
            guard next == UInt8(ascii: ",") else { throw SyntaxError(offset: index - 1) }
        }
    }

    /// Reads an object, handing each key to `member`, which reads the value after it.
    private mutating func object(_ member: (inout EnvelopeScanner, RawString) throws(SyntaxError) -> Void) throws(SyntaxError) {
        try elements(closing: UInt8(ascii: "}")) { (scanner: inout EnvelopeScanner) throws(SyntaxError) in
            scanner.skipWhitespace()
            guard scanner.current == UInt8(ascii: "\"") else { throw scanner.fail() }
            let key = try scanner.rawString()
            try scanner.expect(UInt8(ascii: ":"))
            scanner.skipWhitespace()
            try member(&scanner, key)
        }
    }

    private mutating func field(isTimestamp: Bool) throws(SyntaxError) -> Field {
        switch current {
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "n"):
            _ = try value(depth: 1, building: false)
            return .null
        default:
            let start = index
            _ = try value(depth: 1, building: false)
            if isTimestamp, let integer = Int64(String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)) {
                return .integer(integer)
            }
            return .other
        }
    }

    /// Reads any JSON value, checking its syntax; returns it only when `building` (else nil).
    private mutating func value(depth: Int, building: Bool) throws(SyntaxError) -> JSONValue? {
        guard depth <= Self.maximumDepth else { throw fail() }
        skipWhitespace()
        guard let byte = current else { throw fail() }
        switch byte {
        case UInt8(ascii: "\""):
            let raw = try rawString()
            return building ? .string(raw.text) : nil
        case UInt8(ascii: "{"):
            var members: [String: JSONValue] = [:]
            try object { (scanner: inout EnvelopeScanner, key: RawString) throws(SyntaxError) in
                if let member = try scanner.value(depth: depth + 1, building: building) { members[key.text] = member }
            }
            return building ? .object(members) : nil
        case UInt8(ascii: "["):
            var elements: [JSONValue] = []
            try self.elements(closing: UInt8(ascii: "]")) { (scanner: inout EnvelopeScanner) throws(SyntaxError) in
                if let element = try scanner.value(depth: depth + 1, building: building) { elements.append(element) }
            }
            return building ? .array(elements) : nil
        case UInt8(ascii: "t"):
            try literal("true")
            return building ? .bool(true) : nil
        case UInt8(ascii: "f"):
            try literal("false")
            return building ? .bool(false) : nil
        case UInt8(ascii: "n"):
            try literal("null")
            return building ? .null : nil
        default:
            let start = index
            try number()
            guard building else { return nil }
            return .number(Double(String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)) ?? 0)
        }
    }

    private mutating func literal(_ text: StaticString) throws(SyntaxError) {
        let count = text.utf8CodeUnitCount
        guard index + count <= bytes.count else { throw fail() }
        for offset in 0..<count where bytes[index + offset] != text.utf8Start[offset] {
            throw fail()
        }
        index += count
    }

    private mutating func digits() -> Int {
        let start = index
        while let byte = current, (0x30...0x39).contains(byte) { index += 1 }
        return index - start
    }

    private mutating func number() throws(SyntaxError) {
        if current == UInt8(ascii: "-") { index += 1 }
        if current == UInt8(ascii: "0") {
            index += 1
        } else if digits() == 0 {
            throw fail()
        }
        if current == UInt8(ascii: ".") {
            index += 1
            guard digits() > 0 else { throw fail() }
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            index += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { index += 1 }
            guard digits() > 0 else { throw fail() }
        }
    }

    /// The inside of a string literal, checked for syntax. Decoding it into a `String` is left to
    /// whoever needs the text: skipped values and the keys of skipped objects never are.
    private struct RawString {
        let bytes: UnsafeBufferPointer<UInt8>
        let hasEscapes: Bool

        var text: String { hasEscapes ? EnvelopeScanner.unescape(bytes) : String(decoding: bytes, as: UTF8.self) }

        /// Whether the string is `name`, compared without decoding unless it has escapes.
        func `is`(_ name: StaticString) -> Bool {
            let expected = UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount)
            return hasEscapes ? text.utf8.elementsEqual(expected) : bytes.elementsEqual(expected)
        }
    }

    /// Reads a string and returns it unescaped.
    private mutating func string() throws(SyntaxError) -> String {
        try rawString().text
    }

    /// Reads a string literal (the cursor is on its opening quote).
    private mutating func rawString() throws(SyntaxError) -> RawString {
        index += 1
        let start = index
        var hasEscapes = false
        // Set after a high surrogate: the escape that follows (checked to be a low one) may be one.
        var lowSurrogateAllowed = false
        while true {
            // Most of a string is plain bytes: skip them in a tight loop before looking closer.
            while index < bytes.count, bytes[index] >= 0x20, bytes[index] != UInt8(ascii: "\""), bytes[index] != UInt8(ascii: "\\") {
                index += 1
            }
            guard let byte = current else { throw fail() }
            if byte == UInt8(ascii: "\"") { break }
            guard byte >= 0x20 else { throw fail() }
            if byte == UInt8(ascii: "\\") {
                hasEscapes = true
                index += 1
                guard let escaped = current else { throw fail() }
                if escaped == UInt8(ascii: "u") {
                    guard let unit = Self.codeUnit(in: bytes, at: index + 1) else { throw fail() }
                    // A surrogate must come in a pair, high then low, as Foundation (and PostgreSQL's
                    // jsonb) require: a lone one is no character, and the body would pass here only to
                    // be refused by the warehouse.
                    if (0xDC00...0xDFFF).contains(unit) {
                        guard lowSurrogateAllowed else { throw fail() }
                        lowSurrogateAllowed = false
                    } else if (0xD800...0xDBFF).contains(unit) {
                        guard index + 10 < bytes.count, bytes[index + 5] == UInt8(ascii: "\\"), bytes[index + 6] == UInt8(ascii: "u"),
                            let low = Self.codeUnit(in: bytes, at: index + 7), (0xDC00...0xDFFF).contains(low)
                        else { throw fail() }
                        lowSurrogateAllowed = true
                    }
                    index += 4
                } else {
                    guard "\"\\/bfnrt".utf8.contains(escaped) else { throw fail() }
                }
            }
            index += 1
        }
        let raw = UnsafeBufferPointer(rebasing: bytes[start..<index])
        index += 1
        return RawString(bytes: raw, hasEscapes: hasEscapes)
    }

    /// The UTF-16 code unit of the four hex digits at `offset` of `buffer`, if they are four hex
    /// digits: for checking `\u` escapes while scanning and for decoding them when unescaping.
    private static func codeUnit(in buffer: UnsafeBufferPointer<UInt8>, at offset: Int) -> UInt32? {
        guard offset + 3 < buffer.count else { return nil }
        var unit: UInt32 = 0
        for position in offset..<(offset + 4) {
            guard let digit = hexDigitValue(buffer[position]) else { return nil }
            unit = unit << 4 | UInt32(digit)
        }
        return unit
    }

    /// Unescapes the inside of a string already checked for syntax.
    fileprivate static func unescape(_ raw: UnsafeBufferPointer<UInt8>) -> String {
        var output: [UInt8] = []
        output.reserveCapacity(raw.count)
        var position = 0
        while position < raw.count {
            let byte = raw[position]
            guard byte == UInt8(ascii: "\\") else {
                output.append(byte)
                position += 1
                continue
            }
            let escaped = raw[position + 1]
            position += 2
            switch escaped {
            case UInt8(ascii: "b"): output.append(0x08)
            case UInt8(ascii: "f"): output.append(0x0C)
            case UInt8(ascii: "n"): output.append(0x0A)
            case UInt8(ascii: "r"): output.append(0x0D)
            case UInt8(ascii: "t"): output.append(0x09)
            case UInt8(ascii: "u"):
                // Checked while scanning: four hex digits, and surrogates in pairs.
                var scalar = codeUnit(in: raw, at: position) ?? 0xFFFD
                position += 4
                // A high surrogate followed by an escaped low surrogate is one character.
                if (0xD800...0xDBFF).contains(scalar), position + 5 < raw.count, raw[position] == UInt8(ascii: "\\"),
                    raw[position + 1] == UInt8(ascii: "u")
                {
                    if let low = codeUnit(in: raw, at: position + 2), (0xDC00...0xDFFF).contains(low) {
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        position += 6
                    }
                }
                output.append(contentsOf: String(Character(Unicode.Scalar(scalar) ?? "\u{FFFD}")).utf8)
            default: output.append(escaped)
            }
        }
        return String(decoding: output, as: UTF8.self)
    }
}
