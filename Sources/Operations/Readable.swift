import Foundation

/// Durations, ages and sizes as people read them: one set of formatters for the command line and
/// the console.
public enum Readable {
    /// `0.4 s`, `12.0 min`, `3.5 h`, `2.0 d`: one decimal, the largest unit that keeps the number
    /// above one (below a minute in seconds). Negative durations (clock skew) read as 0.
    public static func duration(seconds: Double) -> String {
        let value = max(0, seconds)
        switch value {
        case ..<60: return String(format: "%.1f s", value)
        case ..<3600: return String(format: "%.1f min", value / 60)
        case ..<172_800: return String(format: "%.1f h", value / 3600)
        default: return String(format: "%.1f d", value / 86_400)
        }
    }

    /// How long before `now` a moment was (both in milliseconds since the Unix epoch): `4.0 s ago`,
    /// or `—` when it is not known.
    public static func ago(milliseconds: Int64?, now: Int64) -> String {
        guard let milliseconds else { return "—" }
        return duration(seconds: Double(now - milliseconds) / 1000) + " ago"
    }

    /// `512 B`, `1.5 KiB`, … `2.0 TiB`.
    public static func bytes(_ value: Int) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var size = Double(value)
        var unit = 0
        while size >= 1024 && unit < units.count - 1 {
            size /= 1024
            unit += 1
        }
        return unit == 0 ? "\(value) B" : String(format: "%.1f ", size) + units[unit]
    }

    /// A moment in milliseconds since the Unix epoch as ISO 8601.
    public static func timestamp(_ milliseconds: Int64) -> String {
        Date(timeIntervalSince1970: Double(milliseconds) / 1000).formatted(.iso8601)
    }
}

/// The JSON that `--json` prints: keys in snake case, sorted, so that output is stable.
func snakeCaseJSON(_ value: some Encodable) throws -> String {
    let encoder = JSONEncoder()
    encoder.keyEncodingStrategy = .convertToSnakeCase
    encoder.outputFormatting = [.sortedKeys]
    return String(decoding: try encoder.encode(value), as: UTF8.self)
}
