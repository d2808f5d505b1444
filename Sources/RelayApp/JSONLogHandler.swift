import Foundation
import Logging
import Synchronization

/// Writes one JSON object per line to standard error: `ts`, `level`, `logger`, `msg`, then the
/// metadata. Values under sensitive keys are replaced, and anything shaped like an email address
/// is masked, so that secrets, signatures and addresses never reach the logs.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    private let label: String
    private let output: @Sendable (String) -> Void

    public init(label: String, level: Logger.Level = .info, output: @escaping @Sendable (String) -> Void = JSONLogHandler.standardError) {
        self.label = label
        self.logLevel = level
        self.output = output
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields: [String: Any] = [
            "ts": Self.timestamp(),
            "level": event.level.rawValue,
            "logger": label,
            "msg": LogRedactor.scrub(event.message.description),
        ]
        let merged = metadata.merging(event.metadata ?? [:], uniquingKeysWith: { _, new in new })
        for (key, value) in merged where fields[key] == nil {
            fields[key] = LogRedactor.isSensitive(key: key) ? "[redacted]" : LogRedactor.scrub(value.description)
        }
        guard let data = try? JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys]) else { return }
        output(String(decoding: data, as: UTF8.self))
    }

    private static func timestamp() -> String {
        Date().formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted))
    }

    private static let stderrLock = Mutex(())

    /// Writes a line to standard error, one writer at a time so that lines never interleave.
    public static let standardError: @Sendable (String) -> Void = { line in
        stderrLock.withLock { _ in
            FileHandle.standardError.write(Data((line + "\n").utf8))
        }
    }
}

/// Keeps secrets and personal data out of log lines.
enum LogRedactor {
    private static let sensitiveKeyParts = ["secret", "password", "signature", "token", "api_key", "apikey", "authorization", "email"]

    static func isSensitive(key: String) -> Bool {
        let lowered = key.lowercased()
        return sensitiveKeyParts.contains { lowered.contains($0) }
    }

    /// Replaces every `local@domain.tld`-shaped word with `[email]`.
    static func scrub(_ text: String) -> String {
        guard text.contains("@") else { return text }
        var output = ""
        var word = ""
        func flush() {
            // Sentence punctuation after an address is not part of it.
            var trailing = ""
            while let last = word.last, ".!?:".contains(last) {
                trailing.insert(last, at: trailing.startIndex)
                word.removeLast()
            }
            output += (looksLikeEmail(word) ? "[email]" : word) + trailing
            word = ""
        }
        for character in text {
            if character.isWhitespace || "<>\"',;()[]{}".contains(character) {
                flush()
                output.append(character)
            } else {
                word.append(character)
            }
        }
        flush()
        return output
    }

    private static func looksLikeEmail(_ word: String) -> Bool {
        guard let at = word.firstIndex(of: "@"), at != word.startIndex else { return false }
        let domain = word[word.index(after: at)...]
        return domain.contains(".") && !domain.hasPrefix(".") && !domain.hasSuffix(".")
    }
}
