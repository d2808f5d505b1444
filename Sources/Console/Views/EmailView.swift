/// Whether a page shows emails as they are or masked, and the link that switches. Only someone
/// logged in sees them: a read-only console (no token) has no login, so it masks every email
/// whatever the address asks.
struct EmailView {
    let reveal: Bool
    let mayReveal: Bool

    /// - Parameters:
    ///   - asked: the address asks to reveal (`?reveal=1`).
    ///   - loggedIn: the viewer is logged in.
    init(asked: Bool, loggedIn: Bool) {
        mayReveal = loggedIn
        reveal = loggedIn && asked
    }

    func show(_ text: String) -> String {
        reveal ? text : EmailMask.mask(text)
    }

    /// The link to the same page (`path`, which has a query already) the other way round.
    func toggle(_ path: String) -> HTML {
        guard mayReveal else { return "Emails are masked: revealing them needs the login that CIO_RELAY_ADMIN_TOKEN turns on." }
        return reveal ? "<a href=\"\(HTML(markup: path))\">Mask emails</a>" : "<a href=\"\(HTML(markup: path))&amp;reveal=1\">Reveal emails</a>"
    }
}
