import EventQueue
import Operations
import Warehouse

/// `/console/trace` (one event through the system) and `/console/person` (a person's recent
/// actions in the audit trail).
enum TraceViews {
    static func traceForm(eventID: String?) -> HTML {
        """
        <form class="search" method="get" action="/console/trace"><input type="text" name="event_id" placeholder="event_id" value="\(eventID ?? "")" \
        aria-label="event_id"><button>Trace</button></form>
        """
    }

    /// What is known about one event; `readsWarehouse` says whether a warehouse row could have
    /// been looked up.
    static func trace(_ report: EventTraceReport, emails: EmailView, readsWarehouse: Bool, now: Int64) -> HTML {
        let trace = report.queue
        let form = traceForm(eventID: trace.eventID)
        guard report.isKnown else {
            return """
                \(form)<p class="notice">Nothing is known about \(trace.eventID): no dedup marker (never accepted, or longer ago than the dedup TTL), \
                no dead letter\(readsWarehouse ? ", no warehouse row or action" : "").</p>
                """
        }
        let marker =
            trace.markerTTLSeconds.map { "present, expires in \(Readable.duration(seconds: Double($0)))" }
            ?? "none (never accepted, or longer ago than the dedup TTL)"
        let entry: String
        switch trace.entryState {
        case "queued":
            entry =
                "queued \(Readable.ago(milliseconds: trace.receivedAt, now: now)) as \(trace.entryID ?? "?") (\(trace.objectType ?? "?")/\(trace.metric ?? "?"))"
        case "trimmed": entry = "trimmed: every group had finished \(trace.entryID ?? "it")"
        default: entry = "unknown"
        }
        let groups: [HTML] = trace.groups.map { group in
            let state: HTML
            switch group.state {
            case "pending":
                state = """
                    <span class="warn">▲ pending</span> with \(group.consumer ?? "?"), \(group.deliveries ?? 0) deliveries, \
                    idle \(Readable.duration(seconds: group.idleSeconds ?? 0))
                    """
            case "waiting": state = "<span class=\"muted\">○ waiting</span> (not read yet)"
            default: state = "<span class=\"ok\">● done</span>"
            }
            return "<tr><td>\(group.group)</td><td>\(state)</td></tr>"
        }
        let letters: [HTML] = trace.deadLetters.map { letter in
            """
            <tr><td class="id"><a href="/console/dead-letters/show?id=\(HTML.query(letter.id))">\(letter.id)</a></td><td>\(letter.reason)</td>\
            <td>\(letter.group ?? "receiver")</td><td class="num">\(letter.attempts)</td><td>\(emails.show(letter.error))</td></tr>
            """
        }
        let row: HTML =
            report.warehouse.note.map { "\($0)" }
            ?? report.warehouse.row.map {
                "\($0.objectType ?? "?")/\($0.metric ?? "?"), occurred \($0.occurredAt ?? "?"), stored \($0.ingestedAt ?? "?")"
            }
            ?? "none"
        let actions: [HTML] = report.warehouse.actions.map { action in
            """
            <tr><td>\(action.action)</td><td>\(emails.show(action.person))</td><td>\(action.outcome)</td><td>\(emails.show(action.detail ?? ""))</td>\
            <td class="num">\(action.actedAt ?? "?")</td></tr>
            """
        }
        var body: HTML = """
            \(form)<dl><dt>event</dt><dd class="id">\(trace.eventID)</dd><dt>partition</dt><dd>\(trace.partition)</dd>
            <dt>dedup marker</dt><dd>\(marker)</dd><dt>stream entry</dt><dd>\(entry)</dd><dt>warehouse row</dt><dd>\(row)</dd></dl>
            """
        if !groups.isEmpty { body = "\(body)<h2>Consumer groups</h2><div class=\"table\"><table><tbody>\(groups)</tbody></table></div>" }
        if !letters.isEmpty {
            body = """
                \(body)<h2>Dead letters</h2><div class="table"><table><thead><tr><th>id</th><th>reason</th><th>group</th><th class="num">attempts</th>\
                <th>error</th></tr></thead><tbody>\(letters)</tbody></table></div>
                """
        }
        if !actions.isEmpty {
            let toggle = emails.toggle("/console/trace?event_id=\(HTML.query(trace.eventID))")
            body = """
                \(body)<h2>Actions taken</h2><p>\(toggle)</p><div class="table"><table><thead><tr><th>action</th><th>person</th><th>outcome</th>\
                <th>detail</th><th class="num">at</th></tr></thead><tbody>\(actions)</tbody></table></div>
                """
        }
        return body
    }

    static func personForm(query: String?) -> HTML {
        """
        <form class="search" method="get" action="/console/person"><input type="text" name="q" placeholder="id, email or cio_id" value="\(query ?? "")" \
        aria-label="person"><button>Search</button></form>
        """
    }

    /// A person's recent actions, newest first; `people` are the names the audit trail may use.
    static func person(query: String, people: [String], actions: [ActionRow], emails: EmailView) -> HTML {
        let rows: [HTML] = actions.map { action in
            """
            <tr><td class="id"><a href="/console/trace?event_id=\(HTML.query(action.eventID))">\(action.eventID)</a></td><td>\(action.action)</td>\
            <td>\(action.outcome)</td><td>\(emails.show(action.person))</td><td class="num">\(action.actedAt ?? "?")</td></tr>
            """
        }
        let toggle = emails.toggle("/console/person?q=\(HTML.query(query))")
        let empty: HTML = "<tr><td colspan=\"5\" class=\"muted\">No actions recorded for this person.</td></tr>"
        return """
            \(personForm(query: query))<p class="muted">Recent actions for \(people.map(emails.show).joined(separator: " or ")) in the audit trail, \
            newest first. \(toggle)</p>
            <div class="table"><table><thead><tr><th>event</th><th>action</th><th>outcome</th><th>person</th><th class="num">at</th></tr></thead>
            <tbody>\(rows.isEmpty ? [empty] : rows)</tbody></table></div>
            """
    }

    /// The person page of a process that does not read the warehouse.
    static func personWithoutWarehouse(query: String, warehouse: WarehouseLocation) -> HTML {
        """
        \(personForm(query: query))<p class="notice">The audit trail is in the warehouse, which this process does not read (\(warehouse.description)): \
        run the console on a worker with SQLite or PostgreSQL, or query it there.</p>
        """
    }
}
