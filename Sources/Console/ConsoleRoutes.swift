import EventQueue
import Foundation
import Hiredis
import Hummingbird
import Logging
import Operations
import Warehouse

/// The console on the admin port: `/console` (the queue at a glance), `/console/dead-letters`
/// (list, show, replay, purge), `/console/trace` (one event through the system) and
/// `/console/person` (a person's recent actions). Server-rendered HTML with one inline style
/// sheet, no script. Read-only unless `CIO_RELAY_ADMIN_TOKEN` is set (see `ConsoleSecurity`);
/// every change is logged. Emails are masked unless a logged-in viewer asks to reveal them;
/// failed logins are throttled (`LoginThrottle`).
///
/// The routes read requests, run `Operations` and hand typed results to the views (`Views/`),
/// which are functions from those results to HTML.
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

    /// - Parameters:
    ///   - groups: the consumer groups this deployment runs; one missing from Redis is shown as such.
    ///   - lookup: the warehouse to read rows and actions from, nil when this process reads none.
    ///   - warehouse: where the warehouse is, to say so when it is not read from here.
    ///   - activity: what this process saw lately, for the overview.
    public init(
        queue: EventQueue, groups: [String], lookup: (any EventLookup)?, warehouse: WarehouseLocation, security: ConsoleSecurity,
        activity: ConsoleActivity, logger: Logger, throttle: LoginThrottle = LoginThrottle()
    ) {
        self.queue = queue
        self.groups = groups
        self.lookup = lookup
        self.warehouse = warehouse
        self.security = security
        self.activity = activity
        self.logger = logger
        self.throttle = throttle
    }

    /// Dead letters a list page reads at most.
    static let listLimit = 500
    /// The longest id or search term accepted.
    static let maximumInput = 200
    /// The largest form body read.
    static let maximumForm = 16_384

    private var deadLetters: DeadLetterOperations<EventQueue> { DeadLetterOperations(store: queue) }

    public func add(to router: Router<BasicRequestContext>) {
        router.get("/console") { request, _ in await page(request) { viewer in try await overview(viewer) } }
        router.get("/console/dead-letters") { request, _ in await page(request) { viewer in try await deadLetterList(request, viewer) } }
        router.get("/console/dead-letters/show") { request, _ in await page(request) { viewer in try await deadLetter(request, viewer) } }
        router.get("/console/dead-letters/confirm") { request, _ in await page(request) { viewer in try await confirm(request, viewer) } }
        for change in DeadLetterViews.Change.allCases {
            router.post("/console/dead-letters/\(change.rawValue)") { request, _ in await make(change, request) }
        }
        router.get("/console/trace") { request, _ in await page(request) { viewer in try await trace(request, viewer) } }
        router.get("/console/person") { request, _ in await page(request) { viewer in try await person(request, viewer) } }
        router.get("/console/login") { _, _ in login(failed: false) }
        router.post("/console/login") { request, _ in await logIn(request) }
        router.post("/console/logout") { _, _ in logOut() }
    }

    // MARK: Access

    /// Who is looking: with a token set, only someone logged in.
    struct Viewer {
        let session: String?
        var loggedIn: Bool { session != nil }
        static let anonymous = Viewer(session: nil)
    }

    private var now: Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    private func viewer(_ request: Request) -> Viewer? {
        guard security.allowsChanges else { return .anonymous }
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
            return frame("Bad request", section: section, viewer, status: .badRequest, body: NoticeViews.badRequest(error.message))
        }
        let body = NoticeViews.unavailable(String(describing: error), refreshes: refresh != nil)
        return frame("Redis did not answer", section: section, viewer, status: .serviceUnavailable, body: body, refresh: refresh)
    }

    private func frame(_ title: String, section: String, _ viewer: Viewer, status: HTTPResponse.Status = .ok, body: HTML, refresh: Int? = nil)
        -> ConsolePage
    {
        ConsolePage(
            title: title, section: section, body: body, refreshSeconds: refresh, loggedIn: viewer.loggedIn, allowsChanges: security.allowsChanges,
            status: status)
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

    private static func emails(_ request: Request, _ viewer: Viewer) -> EmailView {
        EmailView(asked: request.uri.queryParameters["reveal"] == "1", loggedIn: viewer.loggedIn)
    }

    // MARK: Pages

    private func overview(_ viewer: Viewer) async throws -> ConsolePage {
        let status = try await queue.status(nowMilliseconds: now, expectedGroups: groups)
        return frame("Overview", section: "overview", viewer, body: OverviewView.body(status, activity: activity.window()), refresh: 10)
    }

    private func deadLetterList(_ request: Request, _ viewer: Viewer) async throws -> ConsolePage {
        let reason = try Self.parameter(request, "reason")
        let page = try await deadLetters.page(from: try Self.parameter(request, "from") ?? "-", limit: Self.listLimit)
        let body = DeadLetterViews.list(
            page, reason: reason, done: try Self.parameter(request, "done"), allowsChanges: security.allowsChanges, now: now)
        return frame("Dead letters", section: "dead-letters", viewer, body: body)
    }

    private func deadLetter(_ request: Request, _ viewer: Viewer) async throws -> ConsolePage {
        guard let id = try Self.parameter(request, "id") else { throw ConsoleInputError(message: "which dead letter? add ?id=") }
        guard let letter = try await queue.deadLetter(id: id) else {
            let body = NoticeViews.notFound(deadLetter: id, stream: queue.deadLetterStreamName)
            return frame("Dead letter not found", section: "dead-letters", viewer, status: .notFound, body: body)
        }
        let body = DeadLetterViews.letter(letter, emails: Self.emails(request, viewer), allowsChanges: security.allowsChanges)
        return frame("Dead letter", section: "dead-letters", viewer, body: body)
    }

    private func confirm(_ request: Request, _ viewer: Viewer) async throws -> ConsolePage {
        guard let session = viewer.session else {
            return frame("Read-only", section: "dead-letters", viewer, status: .forbidden, body: NoticeViews.readOnly)
        }
        guard let change = try Self.parameter(request, "action").flatMap(DeadLetterViews.Change.init(rawValue:)) else {
            throw ConsoleInputError(message: "action must be replay, replay-reason or purge")
        }
        let question: DeadLetterViews.Question
        switch change {
        case .replay:
            guard let id = try Self.parameter(request, "id") else { throw ConsoleInputError(message: "which dead letter? add &id=") }
            question = .replay(id: id)
        case .replayReason:
            guard let reason = try Self.parameter(request, "reason") else { throw ConsoleInputError(message: "which reason? add &reason=") }
            question = .replayReason(reason: reason, count: try await deadLetters.replayable(reason: reason).count)
        case .purge:
            question = .purge(count: try await deadLetters.count())
        }
        return frame(
            "Confirm", section: "dead-letters", viewer, body: DeadLetterViews.confirm(question, formToken: security.formToken(session: session)))
    }

    private func trace(_ request: Request, _ viewer: Viewer) async throws -> ConsolePage {
        guard let eventID = try Self.parameter(request, "event_id") else {
            return frame("Trace an event", section: "trace", viewer, body: TraceViews.traceForm(eventID: nil))
        }
        let report = try await EventTraceReport.make(eventID: eventID, queue: queue, lookup: lookup, warehouse: warehouse)
        let body = TraceViews.trace(report, emails: Self.emails(request, viewer), readsWarehouse: lookup != nil, now: now)
        return frame("Trace an event", section: "trace", viewer, body: body)
    }

    private func person(_ request: Request, _ viewer: Viewer) async throws -> ConsolePage {
        guard let query = try Self.parameter(request, "q") else {
            return frame("Person", section: "person", viewer, body: TraceViews.personForm(query: nil))
        }
        guard let lookup else {
            return frame("Person", section: "person", viewer, body: TraceViews.personWithoutWarehouse(query: query, warehouse: warehouse))
        }
        let people = Self.people(matching: query)
        let actions = try await lookup.recentActions(people: people, limit: 100)
        return frame(
            "Person", section: "person", viewer,
            body: TraceViews.person(query: query, people: people, actions: actions, emails: Self.emails(request, viewer)))
    }

    /// How the audit trail may name someone searched for as `query`: as given when it names its
    /// kind (`email:…`), an email, or an id that may be a customer id or a cio_id.
    public static func people(matching query: String) -> [String] {
        let trimmed = query.trimmingCharacters(in: .whitespaces)
        if ["email:", "id:", "cio_id:"].contains(where: trimmed.hasPrefix) { return [trimmed] }
        if trimmed.contains("@") { return ["email:" + trimmed] }
        return ["id:" + trimmed, "cio_id:" + trimmed]
    }

    // MARK: Changes

    /// The fields of the confirmation forms.
    struct ChangeForm: Decodable {
        var csrf: String?
        var id: String?
        var reason: String?
    }

    /// Carries out a confirmed change: only with the token set, a valid session and the form's token.
    private func make(_ change: DeadLetterViews.Change, _ request: Request) async -> Response {
        guard security.allowsChanges else {
            return frame("Read-only", section: "dead-letters", .anonymous, status: .forbidden, body: NoticeViews.readOnly).response()
        }
        guard let viewer = viewer(request), let session = viewer.session else {
            return frame("Log in first", section: "dead-letters", .anonymous, status: .forbidden, body: NoticeViews.logInFirst).response()
        }
        let form = await Self.form(ChangeForm.self, from: request)
        guard let form, security.isFormToken(form.csrf, session: session) else {
            logger.warning("console: refused a change without a valid form token", metadata: ["action": "\(change.rawValue)"])
            return frame("Refused", section: "dead-letters", viewer, status: .forbidden, body: NoticeViews.staleForm).response()
        }
        do {
            let message: String
            switch change {
            case .replay:
                guard let id = form.id, !id.isEmpty, id.count <= Self.maximumInput else { throw ConsoleInputError(message: "no dead letter id") }
                switch try await deadLetters.replay(ids: [id]).outcomes.first?.outcome {
                case .replayed(let entryID): message = "Replayed \(id) as \(entryID)."
                case .notReplayable: message = "\(id) was kept: its body is not a valid event."
                case .notFound, nil: message = "No dead letter \(id): nothing replayed."
                }
                logger.notice("console: replayed a dead letter", metadata: ["id": "\(id)", "result": "\(message)"])
            case .replayReason:
                guard let reason = form.reason, !reason.isEmpty, reason.count <= Self.maximumInput else {
                    throw ConsoleInputError(message: "no reason")
                }
                let replayed = try await deadLetters.replayAll(reason: reason).replayed
                message = "Replayed \(replayed) dead letter(s) of reason \(reason)."
                logger.notice("console: replayed the dead letters of a reason", metadata: ["reason": "\(reason)", "count": "\(replayed)"])
            case .purge:
                let purged = try await deadLetters.purge()
                message = "Purged \(purged) dead letter(s)."
                logger.notice("console: purged the dead letters", metadata: ["count": "\(purged)"])
            }
            return Self.redirect("/console/dead-letters?done=\(HTML.query(message))")
        } catch {
            return failure(error, section: "dead-letters", viewer).response()
        }
    }

    // MARK: Login

    struct LoginForm: Decodable {
        var token: String?
    }

    private func login(failed: Bool) -> Response {
        guard security.allowsChanges else {
            return frame("No login needed", section: "", .anonymous, body: NoticeViews.noLoginNeeded).response()
        }
        return frame("Log in", section: "", .anonymous, status: failed ? .unauthorized : .ok, body: NoticeViews.login(failed: failed)).response()
    }

    private func logIn(_ request: Request) async -> Response {
        if let wait = throttle.wait() {
            let seconds = max(1, Int(wait.components.seconds) + 1)
            logger.warning("console: a login refused unchecked: too many wrong tokens", metadata: ["retry_after_s": "\(seconds)"])
            var response = frame(
                "Too many attempts", section: "", .anonymous, status: .tooManyRequests, body: NoticeViews.tooManyLogins(retryAfterSeconds: seconds)
            ).response()
            response.headers[.retryAfter] = "\(seconds)"
            return response
        }
        let form = await Self.form(LoginForm.self, from: request)
        guard let token = form?.token, security.isToken(token), let session = security.newSession(now: now / 1000) else {
            if security.allowsChanges { throttle.recordFailure() }
            logger.warning("console: a login with a wrong token")
            return login(failed: true)
        }
        logger.notice("console: logged in")
        var response = Self.redirect("/console")
        // Behind a TLS-terminating ingress the cookie is sent over HTTPS only.
        let secure = request.headers.contains { $0.name.canonicalName == "x-forwarded-proto" && $0.value == "https" }
        response.setCookie(
            Cookie(
                name: ConsoleSecurity.cookieName, value: session, maxAge: Int(ConsoleSecurity.sessionLifetime), path: "/console", secure: secure,
                httpOnly: true, sameSite: .strict))
        return response
    }

    private func logOut() -> Response {
        var response = Self.redirect("/console/login")
        response.setCookie(Cookie(name: ConsoleSecurity.cookieName, value: "", maxAge: 0, path: "/console", httpOnly: true, sameSite: .strict))
        return response
    }

    /// A posted form (`application/x-www-form-urlencoded`, at most `maximumForm` bytes) through
    /// Hummingbird's decoder; nil when it is too large or not a form.
    static func form<Form: Decodable>(_ type: Form.Type, from request: Request) async -> Form? {
        guard let buffer = try? await request.body.collect(upTo: maximumForm) else { return nil }
        return try? URLEncodedFormDecoder().decode(Form.self, from: String(buffer: buffer))
    }
}

/// Input the console cannot use, with what is wrong.
struct ConsoleInputError: Error {
    let message: String
}
