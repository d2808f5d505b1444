import Foundation

/// Text made safe for HTML: the only way values reach a console page.
struct HTML: Sendable, ExpressibleByStringInterpolation, CustomStringConvertible {
    /// Markup written by the console itself.
    let markup: String

    init(markup: String) { self.markup = markup }
    init(stringLiteral value: String) { self.markup = value }

    /// `"<td>\(value)</td>"`: interpolated strings are escaped, interpolated HTML is not.
    init(stringInterpolation: Interpolation) { self.markup = stringInterpolation.markup }

    struct Interpolation: StringInterpolationProtocol {
        var markup = ""
        init(literalCapacity: Int, interpolationCount: Int) { markup.reserveCapacity(literalCapacity * 2) }
        mutating func appendLiteral(_ literal: String) { markup += literal }
        mutating func appendInterpolation(_ value: String) { markup += HTML.escape(value) }
        mutating func appendInterpolation(_ value: Int) { markup += value.formatted(.number) }
        mutating func appendInterpolation(_ html: HTML) { markup += html.markup }
        mutating func appendInterpolation(_ parts: [HTML]) { markup += parts.map(\.markup).joined() }
    }

    var description: String { markup }

    static func escape(_ text: String) -> String {
        var escaped = ""
        escaped.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#39;"
            default: escaped.append(character)
            }
        }
        return escaped
    }

    /// A query-string value.
    static func query(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? ""
    }
}
