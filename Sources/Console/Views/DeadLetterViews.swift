import EventQueue
import Foundation
import Operations

/// `/console/dead-letters`: the list, one dead letter, and the confirmation of a change.
enum DeadLetterViews {
    /// The changes the console can make, each confirmed on a page of its own and then posted.
    enum Change: String, CaseIterable {
        case replay
        case replayReason = "replay-reason"
        case purge
    }

    /// The list, filtered to `reason` when given; `done` is the notice of a change just made.
    static func list(_ page: DeadLetterPage, reason: String?, done: String?, allowsChanges: Bool, now: Int64) -> HTML {
        let letters = page.letters
        let reasons = Dictionary(grouping: letters, by: \.reason).mapValues(\.count)
        let shown = letters.filter { reason == nil || $0.reason == reason }
        var filters: [HTML] = [
            reason == nil
                ? "<a href=\"/console/dead-letters\" aria-current=\"true\">all \(letters.count)</a>"
                : "<a href=\"/console/dead-letters\">all \(letters.count)</a>"
        ]
        for (name, count) in reasons.sorted(by: { $0.key < $1.key }) {
            let link = "/console/dead-letters?reason=\(HTML.query(name))"
            filters.append(
                name == reason ? "<a href=\"\(link)\" aria-current=\"true\">\(name) \(count)</a>" : "<a href=\"\(link)\">\(name) \(count)</a>")
        }
        let rows: [HTML] = shown.map { letter in
            """
            <tr><td class="id"><a href="/console/dead-letters/show?id=\(HTML.query(letter.id))">\(letter.id)</a></td><td>\(letter.reason)</td>\
            <td>\(letter.event.kind)</td><td class="num">\(letter.attempts)</td>\
            <td class="num">\(Readable.ago(milliseconds: letter.failedAt, now: now))</td><td>\(EmailMask.mask(String(letter.error.prefix(160))))</td></tr>
            """
        }
        var actions: HTML = ""
        if allowsChanges, !letters.isEmpty {
            let replayReason: HTML =
                reason.map {
                    "<a class=\"button secondary\" href=\"/console/dead-letters/confirm?action=replay-reason&amp;reason=\(HTML.query($0))\">Replay all \($0)…</a>"
                } ?? ""
            actions =
                "<div class=\"actions\">\(replayReason)<a class=\"button secondary\" href=\"/console/dead-letters/confirm?action=purge\">Purge all…</a></div>"
        }
        let notice: HTML = done.map { "<p class=\"notice\">\($0)</p>" } ?? ""
        let more: HTML = page.next.map { "<p><a href=\"/console/dead-letters?from=\(HTML.query($0))\">More…</a></p>" } ?? ""
        let first = letters.count < page.total ? " of the first \(letters.count.formatted())" : ""
        let empty: HTML = "<tr><td colspan=\"6\" class=\"muted\">No dead letters.</td></tr>"
        return """
            \(notice)<p class="muted">\(page.total) in \(page.stream); showing \(shown.count)\(first).</p>
            <div class="filters">\(filters)</div>\(actions)
            <div class="table"><table><thead><tr><th>id</th><th>reason</th><th>type/metric</th><th class="num">attempts</th><th class="num">failed</th>\
            <th>error</th></tr></thead>
            <tbody>\(rows.isEmpty ? [empty] : rows)</tbody></table></div>\(more)
            """
    }

    /// One dead letter: its fields, what can be done with it, its payload.
    static func letter(_ letter: DeadLetter, emails: EmailView, allowsChanges: Bool) -> HTML {
        let fields: [HTML] = letter.details.map { "<dt>\($0.name)</dt><dd>\(emails.show($0.value))</dd>" }
        let trace: HTML =
            letter.eventID.map { "<a class=\"button secondary\" href=\"/console/trace?event_id=\(HTML.query($0))\">Trace this event</a>" } ?? ""
        let replay: HTML =
            allowsChanges && letter.isReplayable
            ? "<a class=\"button\" href=\"/console/dead-letters/confirm?action=replay&amp;id=\(HTML.query(letter.id))\">Replay…</a>"
            : letter.isReplayable
                ? "<span class=\"muted\">Read-only: set CIO_RELAY_ADMIN_TOKEN to replay.</span>"
                : "<span class=\"muted\">Not replayable: its body is not a valid event.</span>"
        return """
            <dl><dt>id</dt><dd class="id">\(letter.id)</dd>\(fields)</dl>
            <div class="actions">\(replay)\(trace)</div>
            <h2>Payload</h2><p>\(emails.toggle("/console/dead-letters/show?id=\(HTML.query(letter.id))"))</p><pre>\(emails.show(letter.prettyBody))</pre>
            """
    }

    /// What a change will do, asked before it is done.
    enum Question {
        case replay(id: String)
        case replayReason(reason: String, count: Int)
        case purge(count: Int)

        var change: Change {
            switch self {
            case .replay: .replay
            case .replayReason: .replayReason
            case .purge: .purge
            }
        }
    }

    /// The confirmation form of a change, carrying the form token of the session.
    static func confirm(_ question: Question, formToken: String) -> HTML {
        let text: HTML
        var hidden: [HTML] = []
        switch question {
        case .replay(let id):
            text = "Put dead letter <span class=\"id\">\(id)</span> back on the events stream?"
            hidden.append("<input type=\"hidden\" name=\"id\" value=\"\(id)\">")
        case .replayReason(let reason, let count):
            text = "Put all \(count) dead letters of reason \(reason) back on the events stream?"
            hidden.append("<input type=\"hidden\" name=\"reason\" value=\"\(reason)\">")
        case .purge(let count):
            text = "Delete all \(count) dead letters for good? This cannot be undone."
        }
        let purge = question.change == .purge
        return """
            <p>\(text)</p>
            <form method="post" action="/console/dead-letters/\(question.change.rawValue)">\(hidden)<input type="hidden" name="csrf" value="\(formToken)">
            <div class="actions"><button class="\(purge ? "danger" : "")">Yes, \(purge ? "purge" : "replay")</button>\
            <a class="button secondary" href="/console/dead-letters">Cancel</a></div></form>
            """
    }
}
