/// A configuration problem found at start-up. It names the variable or file location at fault so
/// that the operator can fix it without reading code.
public struct SettingsError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        let value: String
        /// A value that does not parse or is out of range.
        public static let invalidValue = Code(value: "invalid_value")
        /// Something required is not set.
        public static let missing = Code(value: "missing")
        /// The YAML file cannot be read or has the wrong shape.
        public static let invalidFile = Code(value: "invalid_file")
        public var description: String { value }
    }

    public let code: Code
    /// The environment variable or `file:line key` that is wrong.
    public let source: String
    public let message: String

    public init(_ code: Code, source: String, _ message: String) {
        self.code = code
        self.source = source
        self.message = message
    }

    public var description: String { "\(source): \(message)" }
}
