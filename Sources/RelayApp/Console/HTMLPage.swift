import Foundation
import Hummingbird

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

/// The frame of every console page: navigation, who is logged in, the style sheet.
struct ConsolePage {
    let title: String
    let section: String
    let body: HTML
    var refreshSeconds: Int?
    var loggedIn: Bool
    var allowsChanges: Bool
    var status: HTTPResponse.Status = .ok

    func response() -> Response {
        let sections = [("overview", "Overview", "/console"), ("dead-letters", "Dead letters", "/console/dead-letters"),
                        ("trace", "Trace an event", "/console/trace"), ("person", "Person", "/console/person")]
        let navigation: [HTML] = sections.map { key, label, path in
            key == section ? "<a href=\"\(path)\" aria-current=\"page\">\(label)</a>" : "<a href=\"\(path)\">\(label)</a>"
        }
        let mode: HTML = !allowsChanges
            ? "<span class=\"mode\" title=\"Set CIO_RELAY_ADMIN_TOKEN to allow replays and purges\">read-only</span>"
            : loggedIn ? "<form method=\"post\" action=\"/console/logout\" class=\"inline\"><button class=\"link\">log out</button></form>" : ""
        let refresh: HTML = refreshSeconds.map { "<meta http-equiv=\"refresh\" content=\"\($0)\">" } ?? ""
        let page: HTML = """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            \(refresh)<title>\(title) · cio-relay</title>
            <style>\(HTML(markup: Self.styleSheet))</style></head>
            <body><header><a class="brand" href="/console">cio-relay</a><nav>\(navigation)</nav>\(mode)</header>
            <main><h1>\(title)</h1>
            \(body)
            </main></body></html>
            """
        return Response(
            status: status,
            headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store", .contentSecurityPolicy: "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: page.markup))
        )
    }

    /// One style sheet, inline: no asset from anywhere. Status colours always come with a word and
    /// a symbol, so they read in grey too.
    static let styleSheet = """
        :root{--fg:#1d2433;--muted:#5b6475;--line:#e3e6ec;--bg:#f7f8fa;--card:#fff;--ok:#1f7a4d;--warn:#9a6200;--bad:#b42318;--accent:#2f5bd3}
        *{box-sizing:border-box}body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--fg);background:var(--bg)}
        header{display:flex;flex-wrap:wrap;align-items:center;gap:.5rem 1.25rem;padding:.75rem 1.25rem;background:var(--card);border-bottom:1px solid var(--line)}
        .brand{font-weight:700;color:var(--fg);text-decoration:none;letter-spacing:.01em}
        nav{display:flex;flex-wrap:wrap;gap:.25rem 1rem}nav a{color:var(--muted);text-decoration:none;padding:.15rem 0}nav a[aria-current]{color:var(--fg);border-bottom:2px solid var(--accent)}
        .mode{margin-left:auto;font-size:.8rem;color:var(--muted);border:1px solid var(--line);border-radius:1rem;padding:.05rem .6rem}
        header form.inline{margin-left:auto}
        main{max-width:72rem;margin:0 auto;padding:1rem 1.25rem 3rem}h1{font-size:1.35rem;margin:.5rem 0 1rem}h2{font-size:1.05rem;margin:1.75rem 0 .5rem}
        .cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(11rem,1fr));gap:.75rem}
        .card{background:var(--card);border:1px solid var(--line);border-radius:.5rem;padding:.75rem 1rem}.card .label{color:var(--muted);font-size:.8rem}.card .value{font-size:1.5rem;font-variant-numeric:tabular-nums}
        .table{overflow-x:auto;background:var(--card);border:1px solid var(--line);border-radius:.5rem}
        table{border-collapse:collapse;width:100%}th,td{padding:.45rem .75rem;text-align:left;border-bottom:1px solid var(--line);vertical-align:top}th{font-size:.8rem;color:var(--muted);font-weight:600;white-space:nowrap}
        tr:last-child td{border-bottom:0}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}td.id,.id{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.85rem}td.id{white-space:nowrap}dd.id{word-break:break-all}
        .ok{color:var(--ok)}.warn{color:var(--warn)}.bad{color:var(--bad)}.muted{color:var(--muted)}
        pre{background:var(--card);border:1px solid var(--line);border-radius:.5rem;padding:.75rem 1rem;overflow-x:auto;font-size:.85rem}
        dl{display:grid;grid-template-columns:max-content 1fr;gap:.35rem 1rem;background:var(--card);border:1px solid var(--line);border-radius:.5rem;padding:.75rem 1rem}dt{color:var(--muted)}dd{margin:0;word-break:break-word}
        form.search{display:flex;gap:.5rem;flex-wrap:wrap;margin-bottom:1rem}input[type=text],input[type=password]{flex:1;min-width:14rem;padding:.45rem .6rem;border:1px solid var(--line);border-radius:.35rem;font:inherit}
        button,.button{font:inherit;padding:.45rem .9rem;border-radius:.35rem;border:1px solid var(--accent);background:var(--accent);color:#fff;cursor:pointer;text-decoration:none;display:inline-block}
        .button.secondary,button.secondary{background:var(--card);color:var(--accent)}button.danger{background:var(--bad);border-color:var(--bad)}button.link{background:none;border:0;color:var(--accent);padding:0}
        .filters{display:flex;flex-wrap:wrap;gap:.4rem;margin-bottom:.75rem}.filters a{border:1px solid var(--line);border-radius:1rem;padding:.1rem .7rem;text-decoration:none;color:var(--fg);background:var(--card);font-size:.85rem}.filters a[aria-current]{border-color:var(--accent);color:var(--accent)}
        .notice{background:#eef3ff;border:1px solid #c9d6fb;border-radius:.5rem;padding:.6rem .9rem;margin-bottom:1rem}.notice.bad{background:#fdf0ef;border-color:#f3c5c1}
        .actions{display:flex;gap:.5rem;flex-wrap:wrap;margin:1rem 0}
        a{color:var(--accent)}
        @media (max-width:40rem){main{padding:.75rem}th,td{padding:.4rem .5rem}.card .value{font-size:1.25rem}}
        """
}

/// Durations as people read them.
enum RelativeTime {
    static func describe(seconds: Double) -> String {
        let value = max(0, seconds)
        switch value {
        case ..<1: return "now"
        case ..<60: return "\(Int(value)) s"
        case ..<3600: return "\(Int(value / 60)) min"
        case ..<172_800: return String(format: "%.1f h", value / 3600)
        default: return String(format: "%.1f d", value / 86_400)
        }
    }

    static func ago(milliseconds: Int64?, now: Int64) -> String {
        guard let milliseconds else { return "—" }
        let text = describe(seconds: Double(now - milliseconds) / 1000)
        return text == "now" ? text : text + " ago"
    }
}
