import EventQueue
import Foundation
import Hiredis
import Hummingbird
import Logging
import Warehouse

/// The console on the admin port: `/console` (the queue at a glance), `/console/dead-letters`
/// (list, show, replay, purge), `/console/trace` (one event through the system) and
/// `/console/person` (a person's recent actions). Server-rendered HTML with one inline style
/// sheet, no script. Read-only unless `CIO_RELAY_ADMIN_TOKEN` is set (see `ConsoleSecurity`);
/// every change is logged. Emails are masked unless a logged-in viewer asks to reveal them;
/// failed logins are throttled (`LoginThrottle`).
public struct ConsoleRoutes: Sendable {
    public let queue: EventQueue
    /// The groups this deployment runs: a missing one is shown as such.
    public let groups: [String]
    public let lookup: (any EventLookup)?
    public let warehouse: WarehouseLocation
    public let security: ConsoleSecurity
    public let activity: ConsoleActivity
    public let logger: Logger
    /// Failed logins allowed before logins are refused for a while.
    public let throttle: LoginThrottle

    public init(
        queue: EventQueue, groups: [String], lookup: (any EventLookup)?, warehouse: WarehouseLocation, security: ConsoleSecurity, activity: ConsoleActivity, logger: Logger,
        throttle: LoginThrottle = LoginThrottle()
    ) {
        self.throttle = throttle
        self.queue = queue
        self.groups = groups
        self.lookup = lookup
        self.warehouse = warehouse
        self.security = security
        self.activity = activity
        self.logger = logger
    }

    /// Dead letters a list page reads at most.
    static let listLimit = 500
    /// The longest id or search term accepted.
    static let maximumInput = 200

    public func add(to router: Router<BasicRequestContext>) {
        router.get("/console") { request, _ in await page(request) { viewer in try await overview(viewer) } }
        router.get("/console/dead-letters") { request, _ in await page(request) { viewer in try await deadLetters(request, viewer) } }
        router.get("/console/dead-letters/show") { request, _ in await page(request) { viewer in try await deadLetter(request, viewer) } }
        router.get("/console/dead-letters/confirm") { request, _ in await page(request) { viewer in try await confirm(request, viewer) } }
        for action in ChangeAction.allCases {
            router.post("/console/dead-letters/\(action.rawValue)") { request, _ in await change(action, request) }
        }
        router.get("/console/trace") { request, _ in await page(request) { viewer in try await trace(request, viewer) } }
        router.get("/console/person") { request, _ in await page(request) { viewer in try await person(request, viewer) } }
        router.get("/console/login") { request, _ in login(request, failed: false) }
        router.post("/console/login") { request, _ in await logIn(request) }
        router.post("/console/logout") { _, _ in logOut() }
    }

    // MARK: Access

    /// Who is looking: with a token set, only someone logged in.
    struct Viewer {
        let session: String?
        var loggedIn: Bool { session != nil }
    }

    private var now: Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    private func viewer(_ request: Request) -> Viewer? {
        guard security.allowsChanges else { return Viewer(session: nil) }
        let session = request.cookies[ConsoleSecurity.cookieName]?.value
        return security.isSession(session, now: now / 1000) ? Viewer(session: session) : nil
    }

    /// Renders a page for an allowed viewer; Redis errors become a 503 page, bad input a 400.
    private func page(_ request: Request, _ render: (Viewer) async throws -> ConsolePage) async -> Response {
        guard let viewer = viewer(request) else { return Self.redirect("/console/login") }
        do {
            return try await render(viewer).response()
        } catch {
            return failure(error, section: "", viewer, refresh: 10).response()
        }
    }

    /// Bad input as a 400; anything else (Redis did not answer) as a 503, refreshed after
    /// `refresh` seconds when given (a page reached by GET).
    private func failure(_ error: any Error, section: String, _ viewer: Viewer, refresh: Int? = nil) -> ConsolePage {
        if let error = error as? ConsoleInputError {
            return frame("Bad request", section: section, viewer, status: .badRequest, body: "<p class=\"notice bad\">\(error.message)</p>")
        }
        let again: HTML = refresh == nil ? "" : "<p>The page refreshes when Redis is back.</p>"
        return frame("Redis did not answer", section: section, viewer, status: .serviceUnavailable, body: "<p class=\"notice bad\">\(String(describing: error))</p>\(again)", refresh: refresh)
    }

    /// The answer to a change asked of a read-only console.
    private func readOnly(_ viewer: Viewer) -> ConsolePage {
        frame("Read-only", section: "dead-letters", viewer, status: .forbidden, body: "<p class=\"notice bad\">The console is read-only: set CIO_RELAY_ADMIN_TOKEN to replay or purge.</p>")
    }

    private func frame(_ title: String, section: String, _ viewer: Viewer, status: HTTPResponse.Status = .ok, body: HTML, refresh: Int? = nil) -> ConsolePage {
        ConsolePage(title: title, section: section, body: body, refreshSeconds: refresh, loggedIn: viewer.loggedIn, allowsChanges: security.allowsChanges, status: status)
    }

    private static func redirect(_ location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location])
    }

    /// A query parameter, refused when longer than an id can be.
    private static func parameter(_ request: Request, _ name: String) throws(ConsoleInputError) -> String? {
        guard let value = request.uri.queryParameters[Substring(name)].map(String.init), !value.isEmpty else { return nil }
        guard value.count <= maximumInput else { throw ConsoleInputError(message: "\(name) is longer than \(maximumInput) characters") }
        return value
    }

    // MARK: Overview

    private func overview(_ viewer: Viewer) async throws -> ConsolePage {
        let now = self.now
        let status = try await queue.status(nowMilliseconds: now, expectedGroups: groups)
        let memory = status.redisMaxMemoryBytes > 0
            ? "\(OperatorCommands.bytes(status.redisUsedMemoryBytes)) of \(OperatorCommands.bytes(status.redisMaxMemoryBytes)) (\(status.redisUsedMemoryBytes * 100 / status.redisMaxMemoryBytes) %)"
            : "\(OperatorCommands.bytes(status.redisUsedMemoryBytes)), no maxmemory"
        let cards: HTML = """
            <div class="cards">
            \(Self.card("Events in the stream", "\(status.streamLength.formatted())"))
            \(Self.card("Dead letters", "\(status.deadLetters.formatted())", link: "/console/dead-letters"))
            \(Self.card("Dedup keys", (status.dedupKeysExact ? "" : "≈ ") + status.dedupKeys.formatted()))
            \(Self.card("Redis memory", memory + (status.redisPrimaries > 1 ? " over \(status.redisPrimaries) primaries" : "")))
            \(Self.card("Replicas per primary", status.replicas.map { "\($0.primary): \($0.connectedReplicas)" }.joined(separator: ", ") + " (minimum \(status.minReplicas))"))
            </div>
            """
        let short: HTML = status.primariesBelowMinimum.isEmpty ? "" : """
            <p class="notice bad">■ \(status.primariesBelowMinimum.map { "\($0.primary) has \($0.connectedReplicas) connected replica(s)" }.joined(separator: "; ")), fewer than CIO_RELAY_REDIS_MIN_REPLICAS=\(status.minReplicas): the events of its partitions are answered 503 until a replica is back.</p>
            """
        let groupRows: [HTML] = status.groups.map { group in
            let health = Self.health(group)
            return "<tr><td>\(group.name)</td><td class=\"\(health.css)\">\(health.label)</td><td class=\"num\">\(group.lag)</td><td class=\"num\">\(group.pending)</td><td class=\"num\">\(group.oldestUnprocessedAgeSeconds.map { RelativeTime.describe(seconds: $0) } ?? "—")</td><td class=\"num\">\(group.consumers.count)</td></tr>"
        }
        var body: HTML = """
            \(short)\(cards)
            <h2>Consumer groups</h2>
            <div class="table"><table><thead><tr><th>group</th><th>state</th><th class="num">lag</th><th class="num">pending</th><th class="num">oldest unprocessed</th><th class="num">consumers</th></tr></thead>
            <tbody>\(groupRows.isEmpty ? ["<tr><td colspan=\"6\" class=\"muted\">No consumer group yet: no role has started.</td></tr>"] : groupRows)</tbody></table></div>
            """
        if status.partitions.count > 1 {
            let rows: [HTML] = status.groups.flatMap { group in
                group.partitions.map { partition in
                    "<tr><td>\(group.name)</td><td class=\"num\">\(partition.partition)</td><td class=\"num\">\(partition.lag)</td><td class=\"num\">\(partition.pending)</td><td class=\"num\">\(partition.oldestUnprocessedAgeSeconds.map { RelativeTime.describe(seconds: $0) } ?? "—")</td></tr>"
                }
            }
            body = "\(body)<h2>Partitions</h2><div class=\"table\"><table><thead><tr><th>group</th><th class=\"num\">partition</th><th class=\"num\">lag</th><th class=\"num\">pending</th><th class=\"num\">oldest unprocessed</th></tr></thead><tbody>\(rows)</tbody></table></div>"
        }
        let consumers: [HTML] = status.groups.flatMap { group in
            group.consumers.map { consumer in
                "<tr><td>\(group.name)</td><td class=\"id\">\(consumer.name)</td><td class=\"num\">\(consumer.pending)</td><td class=\"num\">\(RelativeTime.describe(seconds: consumer.idleSeconds))</td></tr>"
            }
        }
        if !consumers.isEmpty {
            body = "\(body)<h2>Consumers</h2><div class=\"table\"><table><thead><tr><th>group</th><th>consumer</th><th class=\"num\">pending</th><th class=\"num\">idle</th></tr></thead><tbody>\(consumers)</tbody></table></div>"
        }
        let window = activity.window()
        let span = window.seconds < 1 ? "since this process started" : "last \(RelativeTime.describe(seconds: window.seconds)), this process"
        body = "\(body)<h2>Activity (\(span))</h2><div class=\"cards\">\(Self.counts("Webhooks by outcome", window.intake, empty: "none received by this process"))\(Self.counts("Track API answers", window.track, empty: "no Track API calls from this process"))</div>"
        return frame("Overview", section: "overview", viewer, body: body, refresh: 10)
    }

    private static func card(_ label: String, _ value: String, link: String? = nil) -> HTML {
        let shown: HTML = link.map { "<a href=\"\($0)\">\(value)</a>" } ?? "\(value)"
        return "<div class=\"card\"><div class=\"label\">\(label)</div><div class=\"value\">\(shown)</div></div>"
    }

    private static func counts(_ title: String, _ counts: [String: Double], empty: String) -> HTML {
        let rows: [HTML] = counts.filter { $0.value > 0 }.sorted { $0.value > $1.value }.map { key, value in
            "<tr><td>\(key)</td><td class=\"num\">\(Int(value))</td></tr>"
        }
        return "<div class=\"card\"><div class=\"label\">\(title)</div><table><tbody>\(rows.isEmpty ? ["<tr><td class=\"muted\">\(empty)</td></tr>"] : rows)</tbody></table></div>"
    }

    /// A group's state as a word, a symbol and a colour: colour alone is never the message.
    private static func health(_ group: GroupStatus) -> (label: String, css: String) {
        if group.missing { return ("■ missing", "bad") }
        let age = group.oldestUnprocessedAgeSeconds ?? 0
        if age >= 300 { return ("■ stalled", "bad") }
        if age >= 60 || group.lag >= 10_000 { return ("▲ behind", "warn") }
        return ("● ok", "ok")
    }

    // MARK: Dead letters

    private func deadLetters(_ request: Request, _ viewer: Viewer) async throws -> ConsolePage {
        let reason = try Self.parameter(request, "reason")
        let start = try Self.parameter(request, "from") ?? "-"
        let letters = try await queue.deadLetters(from: start, count: Self.listLimit)
        let total = try await queue.deadLetterCount()
        let reasons = Dictionary(grouping: letters, by: \.reason).mapValues(\.count)
        let shown = letters.filter { reason == nil || $0.reason == reason }
        let now = self.now
        var filters: [HTML] = [reason == nil ? "<a href=\"/console/dead-letters\" aria-current=\"true\">all \(letters.count)</a>" : "<a href=\"/console/dead-letters\">all \(letters.count)</a>"]
        for (name, count) in reasons.sorted(by: { $0.key < $1.key }) {
            let link = "/console/dead-letters?reason=\(HTML.query(name))"
            filters.append(name == reason ? "<a href=\"\(link)\" aria-current=\"true\">\(name) \(count)</a>" : "<a href=\"\(link)\">\(name) \(count)</a>")
        }
        let rows: [HTML] = shown.map { letter in
            let failed = letter.entry.string("failed_at").flatMap { Int64($0) }
            return """
                <tr><td class="id"><a href="/console/dead-letters/show?id=\(HTML.query(letter.id))">\(letter.id)</a></td><td>\(letter.reason)</td>\
                <td>\(letter.entry.string("t") ?? "?")/\(letter.entry.string("m") ?? "?")</td><td class="num">\(letter.attempts)</td>\
                <td class="num">\(RelativeTime.ago(milliseconds: failed, now: now))</td><td>\(EmailMask.mask(String(letter.error.prefix(160))))</td></tr>
                """
        }
        var actions: HTML = ""
        if security.allowsChanges, !letters.isEmpty {
            let replayReason: HTML = reason.map { "<a class=\"button secondary\" href=\"/console/dead-letters/confirm?action=replay-reason&amp;reason=\(HTML.query($0))\">Replay all \($0)…</a>" } ?? ""
            actions = "<div class=\"actions\">\(replayReason)<a class=\"button secondary\" href=\"/console/dead-letters/confirm?action=purge\">Purge all…</a></div>"
        }
        let done: HTML = (try Self.parameter(request, "done")).map { "<p class=\"notice\">\($0)</p>" } ?? ""
        let more: HTML = letters.count == Self.listLimit ? "<p><a href=\"/console/dead-letters?from=\(HTML.query("(" + (letters.last?.id ?? "")))\">More…</a></p>" : ""
        let body: HTML = """
            \(done)<p class="muted">\(total) in \(queue.layout.deadName); showing \(shown.count)\(letters.count < total ? " of the first \(letters.count.formatted())" : "").</p>
            <div class="filters">\(filters)</div>\(actions)
            <div class="table"><table><thead><tr><th>id</th><th>reason</th><th>type/metric</th><th class="num">attempts</th><th class="num">failed</th><th>error</th></tr></thead>
            <tbody>\(rows.isEmpty ? ["<tr><td colspan=\"6\" class=\"muted\">No dead letters.</td></tr>"] : rows)</tbody></table></div>\(more)
            """
        return frame("Dead letters", section: "dead-letters", viewer, body: body)
    }

    private func deadLetter(_ request: Request, _ viewer: Viewer) async throws -> ConsolePage {
        guard let id = try Self.parameter(request, "id") else { throw ConsoleInputError(message: "which dead letter? add ?id=") }
        let emails = EmailView(request, viewer)
        guard let letter = try await queue.deadLetter(id: id) else {
            return frame("Dead letter not found", section: "dead-letters", viewer, status: .notFound, body: "<p class=\"notice bad\">No dead letter \(id) in \(queue.layout.deadName).</p>")
        }
        let fields: [HTML] = letter.entry.fields.keys.sorted().filter { $0 != "body" }.map { name in
            "<dt>\(name)</dt><dd>\(emails.show(letter.entry.string(name) ?? ""))</dd>"
        }
        let body = letter.entry.string("body") ?? ""
        let pretty = (try? JSONSerialization.jsonObject(with: Data(body.utf8), options: [.fragmentsAllowed]))
            .flatMap { try? JSONSerialization.data(withJSONObject: $0, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes, .fragmentsAllowed]) }
            .map { String(decoding: $0, as: UTF8.self) } ?? body
        let eventID = (try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])?["event_id"] as? String
        let trace: HTML = eventID.map { "<a class=\"button secondary\" href=\"/console/trace?event_id=\(HTML.query($0))\">Trace this event</a>" } ?? ""
        let replay: HTML = security.allowsChanges && letter.isReplayable
            ? "<a class=\"button\" href=\"/console/dead-letters/confirm?action=replay&amp;id=\(HTML.query(id))\">Replay…</a>"
            : letter.isReplayable ? "<span class=\"muted\">Read-only: set CIO_RELAY_ADMIN_TOKEN to replay.</span>" : "<span class=\"muted\">Not replayable: its body is not a valid event.</span>"
        let page: HTML = """
            <dl><dt>id</dt><dd class="id">\(letter.id)</dd>\(fields)</dl>
            <div class="actions">\(replay)\(trace)</div>
            <h2>Payload</h2><p>\(emails.toggle("/console/dead-letters/show?id=\(HTML.query(id))"))</p><pre>\(emails.show(pretty))</pre>
            """
        return frame("Dead letter", section: "dead-letters", viewer, body: page)
    }

    /// The changes the console can make.
    enum ChangeAction: String, CaseIterable {
        case replay
        case replayReason = "replay-reason"
        case purge
    }

    private func confirm(_ request: Request, _ viewer: Viewer) async throws -> ConsolePage {
        guard let session = viewer.session else { return readOnly(viewer) }
        guard let action = try Self.parameter(request, "action").flatMap(ChangeAction.init(rawValue:)) else {
            throw ConsoleInputError(message: "action must be replay, replay-reason or purge")
        }
        let question: HTML
        var hidden: [HTML] = []
        switch action {
        case .replay:
            guard let id = try Self.parameter(request, "id") else { throw ConsoleInputError(message: "which dead letter? add &id=") }
            question = "Put dead letter <span class=\"id\">\(id)</span> back on the events stream?"
            hidden.append("<input type=\"hidden\" name=\"id\" value=\"\(id)\">")
        case .replayReason:
            guard let reason = try Self.parameter(request, "reason") else { throw ConsoleInputError(message: "which reason? add &reason=") }
            let count = try await replayable(reason: reason).count
            question = "Put all \(count) dead letters of reason \(reason) back on the events stream?"
            hidden.append("<input type=\"hidden\" name=\"reason\" value=\"\(reason)\">")
        case .purge:
            question = "Delete all \(try await queue.deadLetterCount()) dead letters for good? This cannot be undone."
        }
        let body: HTML = """
            <p>\(question)</p>
            <form method="post" action="/console/dead-letters/\(action.rawValue)">\(hidden)<input type="hidden" name="csrf" value="\(security.formToken(session: session))">
            <div class="actions"><button class="\(action == .purge ? "danger" : "")">Yes, \(action == .purge ? "purge" : "replay")</button><a class="button secondary" href="/console/dead-letters">Cancel</a></div></form>
            """
        return frame("Confirm", section: "dead-letters", viewer, body: body)
    }

    /// The dead letters of `reason` that a replay can put back.
    private func replayable(reason: String) async throws(RedisError) -> [DeadLetter] {
        try await queue.deadLetters(count: 100_000).filter { $0.reason == reason && $0.isReplayable }
    }

    /// Carries out a confirmed change: only with the token set, a valid session and the form's token.
    private func change(_ action: ChangeAction, _ request: Request) async -> Response {
        guard security.allowsChanges else { return readOnly(Viewer(session: nil)).response() }
        guard let viewer = viewer(request), let session = viewer.session else {
            return frame("Log in first", section: "dead-letters", Viewer(session: nil), status: .forbidden, body: "<p class=\"notice bad\">Log in with the admin token to make changes.</p>").response()
        }
        let form = await Self.form(request)
        guard security.isFormToken(form["csrf"], session: session) else {
            logger.warning("console: refused a change without a valid form token", metadata: ["action": "\(action.rawValue)"])
            return frame("Refused", section: "dead-letters", viewer, status: .forbidden, body: "<p class=\"notice bad\">The form expired or did not come from this console. Open it again.</p>").response()
        }
        do {
            let message: String
            switch action {
            case .replay:
                guard let id = form["id"], !id.isEmpty, id.count <= Self.maximumInput else { throw ConsoleInputError(message: "no dead letter id") }
                switch try await queue.replay(deadLetterID: id) {
                case .replayed(let entryID): message = "Replayed \(id) as \(entryID)."
                case .notFound: message = "No dead letter \(id): nothing replayed."
                case .notReplayable: message = "\(id) was kept: its body is not a valid event."
                }
                logger.notice("console: replayed a dead letter", metadata: ["id": "\(id)", "result": "\(message)"])
            case .replayReason:
                guard let reason = form["reason"], !reason.isEmpty, reason.count <= Self.maximumInput else { throw ConsoleInputError(message: "no reason") }
                var replayed = 0
                for letter in try await replayable(reason: reason) {
                    if case .replayed = try await queue.replay(deadLetterID: letter.id) { replayed += 1 }
                }
                message = "Replayed \(replayed) dead letter(s) of reason \(reason)."
                logger.notice("console: replayed the dead letters of a reason", metadata: ["reason": "\(reason)", "count": "\(replayed)"])
            case .purge:
                let purged = try await queue.purgeDeadLetters()
                message = "Purged \(purged) dead letter(s)."
                logger.notice("console: purged the dead letters", metadata: ["count": "\(purged)"])
            }
            return Self.redirect("/console/dead-letters?done=\(HTML.query(message))")
        } catch {
            return failure(error, section: "dead-letters", viewer).response()
        }
    }

    // MARK: Trace and person

    private func trace(_ request: Request, _ viewer: Viewer) async throws -> ConsolePage {
        let eventID = try Self.parameter(request, "event_id")
        let emails = EmailView(request, viewer)
        let form: HTML = "<form class=\"search\" method=\"get\" action=\"/console/trace\"><input type=\"text\" name=\"event_id\" placeholder=\"event_id\" value=\"\(eventID ?? "")\" aria-label=\"event_id\"><button>Trace</button></form>"
        guard let eventID else { return frame("Trace an event", section: "trace", viewer, body: form) }
        let report = try await EventTraceReport.make(eventID: eventID, queue: queue, lookup: lookup, warehouse: warehouse)
        let show = emails.show
        let now = self.now
        guard report.isKnown else {
            return frame("Trace an event", section: "trace", viewer, body: "\(form)<p class=\"notice\">Nothing is known about \(eventID): no dedup marker (never accepted, or longer ago than the dedup TTL), no dead letter\(lookup == nil ? "" : ", no warehouse row or action").</p>")
        }
        let trace = report.queue
        let marker = trace.markerTTLSeconds.map { "present, expires in \(RelativeTime.describe(seconds: Double($0)))" } ?? "none (never accepted, or longer ago than the dedup TTL)"
        let entry: String
        switch trace.entryState {
        case "queued": entry = "queued \(RelativeTime.ago(milliseconds: trace.receivedAt, now: now)) as \(trace.entryID ?? "?") (\(trace.objectType ?? "?")/\(trace.metric ?? "?"))"
        case "trimmed": entry = "trimmed: every group had finished \(trace.entryID ?? "it")"
        default: entry = "unknown"
        }
        let groups: [HTML] = trace.groups.map { group in
            let state: HTML
            switch group.state {
            case "pending": state = "<span class=\"warn\">▲ pending</span> with \(group.consumer ?? "?"), \(group.deliveries ?? 0) deliveries, idle \(RelativeTime.describe(seconds: group.idleSeconds ?? 0))"
            case "waiting": state = "<span class=\"muted\">○ waiting</span> (not read yet)"
            default: state = "<span class=\"ok\">● done</span>"
            }
            return "<tr><td>\(group.group)</td><td>\(state)</td></tr>"
        }
        let letters: [HTML] = trace.deadLetters.map { letter in
            "<tr><td class=\"id\"><a href=\"/console/dead-letters/show?id=\(HTML.query(letter.id))\">\(letter.id)</a></td><td>\(letter.reason)</td><td>\(letter.group ?? "receiver")</td><td class=\"num\">\(letter.attempts)</td><td>\(show(letter.error))</td></tr>"
        }
        let row: HTML = report.warehouse.note.map { "\($0)" }
            ?? report.warehouse.row.map { "\($0.objectType ?? "?")/\($0.metric ?? "?"), occurred \($0.occurredAt ?? "?"), stored \($0.ingestedAt ?? "?")" }
            ?? "none"
        let actions: [HTML] = report.warehouse.actions.map { action in
            "<tr><td>\(action.action)</td><td>\(show(action.person))</td><td>\(action.outcome)</td><td>\(show(action.detail ?? ""))</td><td class=\"num\">\(action.actedAt ?? "?")</td></tr>"
        }
        let toggle = emails.toggle("/console/trace?event_id=\(HTML.query(eventID))")
        var body: HTML = """
            \(form)<dl><dt>event</dt><dd class="id">\(eventID)</dd><dt>partition</dt><dd>\(trace.partition)</dd>
            <dt>dedup marker</dt><dd>\(marker)</dd><dt>stream entry</dt><dd>\(entry)</dd><dt>warehouse row</dt><dd>\(row)</dd></dl>
            """
        if !groups.isEmpty { body = "\(body)<h2>Consumer groups</h2><div class=\"table\"><table><tbody>\(groups)</tbody></table></div>" }
        if !letters.isEmpty {
            body = "\(body)<h2>Dead letters</h2><div class=\"table\"><table><thead><tr><th>id</th><th>reason</th><th>group</th><th class=\"num\">attempts</th><th>error</th></tr></thead><tbody>\(letters)</tbody></table></div>"
        }
        if !actions.isEmpty {
            body = "\(body)<h2>Actions taken</h2><p>\(toggle)</p><div class=\"table\"><table><thead><tr><th>action</th><th>person</th><th>outcome</th><th>detail</th><th class=\"num\">at</th></tr></thead><tbody>\(actions)</tbody></table></div>"
        }
        return frame("Trace an event", section: "trace", viewer, body: body)
    }

    private func person(_ request: Request, _ viewer: Viewer) async throws -> ConsolePage {
        let query = try Self.parameter(request, "q")
        let emails = EmailView(request, viewer)
        let form: HTML = "<form class=\"search\" method=\"get\" action=\"/console/person\"><input type=\"text\" name=\"q\" placeholder=\"id, email or cio_id\" value=\"\(query ?? "")\" aria-label=\"person\"><button>Search</button></form>"
        guard let query else { return frame("Person", section: "person", viewer, body: form) }
        guard let lookup else {
            return frame("Person", section: "person", viewer, body: "\(form)<p class=\"notice\">The audit trail is in the warehouse, which this process does not read (\(warehouse.description)): run the console on a worker with SQLite or PostgreSQL, or query it there.</p>")
        }
        let people = Self.people(matching: query)
        let show = emails.show
        let rows: [HTML] = try await lookup.recentActions(people: people, limit: 100).map { action in
            "<tr><td class=\"id\"><a href=\"/console/trace?event_id=\(HTML.query(action.eventID))\">\(action.eventID)</a></td><td>\(action.action)</td><td>\(action.outcome)</td><td>\(show(action.person))</td><td class=\"num\">\(action.actedAt ?? "?")</td></tr>"
        }
        let toggle = emails.toggle("/console/person?q=\(HTML.query(query))")
        let body: HTML = """
            \(form)<p class="muted">Recent actions for \(people.map(show).joined(separator: " or ")) in the audit trail, newest first. \(toggle)</p>
            <div class="table"><table><thead><tr><th>event</th><th>action</th><th>outcome</th><th>person</th><th class="num">at</th></tr></thead>
            <tbody>\(rows.isEmpty ? ["<tr><td colspan=\"5\" class=\"muted\">No actions recorded for this person.</td></tr>"] : rows)</tbody></table></div>
            """
        return frame("Person", section: "person", viewer, body: body)
    }

    /// How the audit trail may name someone searched for as `query`: as given when it names its
    /// kind (`email:…`), an email, or an id that may be a customer id or a cio_id.
    public static func people(matching query: String) -> [String] {
        let trimmed = query.trimmingCharacters(in: .whitespaces)
        if ["email:", "id:", "cio_id:"].contains(where: trimmed.hasPrefix) { return [trimmed] }
        if trimmed.contains("@") { return ["email:" + trimmed] }
        return ["id:" + trimmed, "cio_id:" + trimmed]
    }

    // MARK: Login

    private func login(_ request: Request, failed: Bool) -> Response {
        let viewer = Viewer(session: nil)
        guard security.allowsChanges else {
            return frame("No login needed", section: "", viewer, body: "<p>The console is read-only and open to whoever reaches the admin port: set CIO_RELAY_ADMIN_TOKEN to require a login and allow changes.</p><p><a href=\"/console\">Overview</a></p>").response()
        }
        let notice: HTML = failed ? "<p class=\"notice bad\">That is not the admin token.</p>" : ""
        return frame("Log in", section: "", viewer, status: failed ? .unauthorized : .ok, body: """
            \(notice)<form method="post" action="/console/login" class="search"><input type="password" name="token" placeholder="CIO_RELAY_ADMIN_TOKEN" aria-label="admin token" autocomplete="current-password"><button>Log in</button></form>
            """).response()
    }

    private func logIn(_ request: Request) async -> Response {
        if let wait = throttle.wait() {
            let seconds = max(1, Int(wait.components.seconds) + 1)
            logger.warning("console: a login refused unchecked: too many wrong tokens", metadata: ["retry_after_s": "\(seconds)"])
            var response = frame("Too many attempts", section: "", Viewer(session: nil), status: .tooManyRequests,
                body: "<p class=\"notice bad\">Too many logins with a wrong token: try again in \(seconds) s.</p>").response()
            response.headers[.retryAfter] = "\(seconds)"
            return response
        }
        let form = await Self.form(request)
        guard let token = form["token"], security.isToken(token), let session = security.newSession(now: now / 1000) else {
            if security.allowsChanges { throttle.recordFailure() }
            logger.warning("console: a login with a wrong token")
            return login(request, failed: true)
        }
        logger.notice("console: logged in")
        var response = Self.redirect("/console")
        // Behind a TLS-terminating ingress the cookie is sent over HTTPS only.
        let secure = request.headers.contains { $0.name.canonicalName == "x-forwarded-proto" && $0.value == "https" }
        response.setCookie(Cookie(name: ConsoleSecurity.cookieName, value: session, maxAge: Int(ConsoleSecurity.sessionLifetime), path: "/console", secure: secure, httpOnly: true, sameSite: .strict))
        return response
    }

    private func logOut() -> Response {
        var response = Self.redirect("/console/login")
        response.setCookie(Cookie(name: ConsoleSecurity.cookieName, value: "", maxAge: 0, path: "/console", httpOnly: true, sameSite: .strict))
        return response
    }

    /// The fields of a posted form (`application/x-www-form-urlencoded`, at most 16 KiB).
    static func form(_ request: Request) async -> [String: String] {
        guard let buffer = try? await request.body.collect(upTo: 16_384) else { return [:] }
        var fields: [String: String] = [:]
        for pair in String(buffer: buffer).split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ text: Substring) -> String? { text.replacingOccurrences(of: "+", with: " ").removingPercentEncoding }
            guard let name = parts.first.flatMap(decode) else { continue }
            fields[name] = parts.count > 1 ? decode(parts[1]) : ""
        }
        return fields
    }
}

/// Whether a page shows emails as they are (`?reveal=1`) or masked, and the link that switches.
/// Only someone logged in sees them: a read-only console (no token) has no login, so it masks
/// every email whatever the address asks.
struct EmailView {
    let reveal: Bool
    let mayReveal: Bool

    init(_ request: Request, _ viewer: ConsoleRoutes.Viewer) {
        mayReveal = viewer.loggedIn
        reveal = mayReveal && request.uri.queryParameters["reveal"] == "1"
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

/// Input the console cannot use, with what is wrong.
struct ConsoleInputError: Error {
    let message: String
}
