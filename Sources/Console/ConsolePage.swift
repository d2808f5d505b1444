import Foundation
import Hummingbird

/// A rendered console page: its frame (navigation, who is logged in, the style sheet) around a
/// view's body.
struct ConsolePage {
    let title: String
    /// The navigation entry to mark as current (`overview`, `dead-letters`, `trace`, `person`).
    let section: String
    let body: HTML
    var refreshSeconds: Int?
    var loggedIn: Bool
    var allowsChanges: Bool
    var status: HTTPResponse.Status = .ok

    /// The style sheet (Resources/console.css), compiled into the binary so that the console needs
    /// no file beside it.
    static let styleSheet = String(decoding: PackageResources.console_css, as: UTF8.self)

    /// The whole document.
    var html: HTML {
        let sections = [
            ("overview", "Overview", "/console"), ("dead-letters", "Dead letters", "/console/dead-letters"),
            ("trace", "Trace an event", "/console/trace"), ("person", "Person", "/console/person"),
        ]
        let navigation: [HTML] = sections.map { key, label, path in
            key == section ? "<a href=\"\(path)\" aria-current=\"page\">\(label)</a>" : "<a href=\"\(path)\">\(label)</a>"
        }
        let mode: HTML =
            !allowsChanges
            ? "<span class=\"mode\" title=\"Set CIO_RELAY_ADMIN_TOKEN to allow replays and purges\">read-only</span>"
            : loggedIn ? "<form method=\"post\" action=\"/console/logout\" class=\"inline\"><button class=\"link\">log out</button></form>" : ""
        let refresh: HTML = refreshSeconds.map { "<meta http-equiv=\"refresh\" content=\"\($0)\">" } ?? ""
        return """
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
    }

    func response() -> Response {
        Response(
            status: status,
            headers: [
                .contentType: "text/html; charset=utf-8", .cacheControl: "no-store",
                .contentSecurityPolicy: "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
            ],
            body: ResponseBody(byteBuffer: ByteBuffer(string: html.markup))
        )
    }
}
