/// Short pages: login, refusals and failures.
enum NoticeViews {
    static func login(failed: Bool) -> HTML {
        let notice: HTML = failed ? "<p class=\"notice bad\">That is not the admin token.</p>" : ""
        return """
            \(notice)<form method="post" action="/console/login" class="search"><input type="password" name="token" placeholder="CIO_RELAY_ADMIN_TOKEN" \
            aria-label="admin token" autocomplete="current-password"><button>Log in</button></form>
            """
    }

    static let noLoginNeeded: HTML = """
        <p>The console is read-only and open to whoever reaches the admin port: set CIO_RELAY_ADMIN_TOKEN to require a login and allow changes.</p>\
        <p><a href="/console">Overview</a></p>
        """

    static func tooManyLogins(retryAfterSeconds: Int) -> HTML {
        "<p class=\"notice bad\">Too many logins with a wrong token: try again in \(retryAfterSeconds) s.</p>"
    }

    static let readOnly: HTML = "<p class=\"notice bad\">The console is read-only: set CIO_RELAY_ADMIN_TOKEN to replay or purge.</p>"
    static let logInFirst: HTML = "<p class=\"notice bad\">Log in with the admin token to make changes.</p>"
    static let staleForm: HTML = "<p class=\"notice bad\">The form expired or did not come from this console. Open it again.</p>"

    static func notFound(deadLetter id: String, stream: String) -> HTML {
        "<p class=\"notice bad\">No dead letter \(id) in \(stream).</p>"
    }

    static func badRequest(_ message: String) -> HTML {
        "<p class=\"notice bad\">\(message)</p>"
    }

    /// Redis did not answer; `refreshes` when the page reloads itself.
    static func unavailable(_ error: String, refreshes: Bool) -> HTML {
        let again: HTML = refreshes ? "<p>The page refreshes when Redis is back.</p>" : ""
        return "<p class=\"notice bad\">\(error)</p>\(again)"
    }
}
