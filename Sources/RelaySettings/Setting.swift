/// One entry of the settings table: the variable and YAML key it is read from, the values it takes
/// and what it means. The same entry parses the value, words the error for a bad one, and writes
/// its row of docs/configuration.md (`cio-relay config --markdown`).
public struct Setting: Sendable {
    /// The values a setting takes; numbers carry their range, which the parser enforces.
    public enum Kind: Sendable {
        /// A whole number.
        case integer(ClosedRange<Int>)
        /// Seconds as a plain number, fractions allowed.
        case seconds(ClosedRange<Double>)
        /// A plain number, fractions allowed.
        case number(ClosedRange<Double>)
        /// One of a few words, compared without case.
        case choice([String])
        /// Text that the setting's reader checks itself (URLs, names).
        case text
        /// Text that is never printed.
        case secret
    }

    public let variable: String
    /// Where the setting sits in the YAML file, as `limits.dedup_ttl`; nil when only the
    /// environment sets it (secrets, and what the file's own sections replace).
    public let filePath: [String]?
    public let kind: Kind
    /// What the setting does, for the docs.
    public let summary: String
    /// The default in words, where it is not a constant (the host name, another setting).
    public let defaultNote: String?
    /// The value in effect in loaded settings; the docs show it for settings loaded from an empty
    /// environment, so the default column is whatever the code does when nothing is set.
    public let value: @Sendable (RelaySettings) -> String?

    init(
        _ variable: String, file: String? = nil, _ kind: Kind, default defaultNote: String? = nil,
        _ summary: String, value: @escaping @Sendable (RelaySettings) -> String? = { _ in nil }
    ) {
        self.variable = variable
        self.filePath = file.map { $0.split(separator: ".").map(String.init) }
        self.kind = kind
        self.summary = summary
        self.defaultNote = defaultNote
        self.value = value
    }

    /// The accepted values, in words: "1024 … 67108864", "us or eu".
    public var valuesDescription: String {
        switch kind {
        case .integer(let range): "\(range.lowerBound) … \(range.upperBound)"
        case .seconds(let range), .number(let range): "\(Self.format(range.lowerBound)) … \(Self.format(range.upperBound))"
        case .choice(let options): Self.alternatives(options)
        case .text, .secret: ""
        }
    }

    /// "a or b", "a, b or c".
    static func alternatives(_ options: [String]) -> String {
        guard let last = options.last else { return "" }
        return options.count == 1 ? last : options.dropLast().joined(separator: ", ") + " or " + last
    }

    /// A number without a needless ".0".
    static func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }
}
