import CustomerIO
import EventQueue
import Foundation
import Hiredis
import Logging
import NIOCore
import NIOHTTP1

/// The webhook endpoints: `POST /webhooks/customerio` (default workspace) and
/// `POST /webhooks/customerio/{workspace}`, storing what they accept in `Queue` (`EventQueue` in
/// a deployment). Free of the connection: `WebhookHandler` feeds it a request's head, then its
/// body, and writes the replies it returns.
public struct WebhookRoutes<Queue: IntakeQueue>: Sendable {
    public let intake: WebhookIntake
    public let queue: Queue
    public let metrics: ReceiverMetrics
    let logger: Logger

    public init(
        configuration: ReceiverConfiguration, queue: Queue, metrics: ReceiverMetrics = ReceiverMetrics(),
        logger: Logger = Logger(label: "cio-relay.webhooks")
    ) {
        self.intake = WebhookIntake(configuration: configuration)
        self.queue = queue
        self.metrics = metrics
        self.logger = logger
    }

    /// A request whose head passed every check: read its body, then `finish`.
    public struct Admission: Sendable {
        let admitted: WebhookIntake.Admitted
        /// Milliseconds since the Unix epoch when the head arrived.
        let receivedAt: Int64
        /// The most body bytes to read.
        public var bodyLimit: Int { admitted.bodyLimit }
    }

    /// What to do once a request's head has arrived.
    public enum Start: Sendable {
        case readBody(Admission)
        /// Answer without using the body. With `closing`, close the connection after the answer
        /// instead of reading the rest of a body declared too large.
        case reply(WebhookReply, closing: Bool)
    }

    /// Decides on a request from its head alone: the path and method, then the header checks of
    /// `WebhookIntake.admit`. Cheap rejections come first so that junk is never read.
    public func start(method: HTTPMethod, target: String, headers: HTTPHeaders, now: Date = Date()) -> Start {
        guard let workspace = WebhookHTTP.workspace(inTarget: target) else {
            return .reply(
                WebhookReply(
                    .notFound,
                    json: [
                        "error": "not_found", "message": "no such endpoint: POST to \(WebhookHTTP.basePath) or \(WebhookHTTP.basePath)/{workspace}",
                    ]),
                closing: false)
        }
        guard method == .POST else {
            return .reply(
                WebhookReply(
                    .methodNotAllowed, json: ["error": "method_not_allowed", "message": "only POST is accepted here"], headers: [("Allow", "POST")]),
                closing: false)
        }
        switch intake.admit(
            workspace: workspace,
            contentLength: WebhookHTTP.header(WebhookHTTP.contentLength, in: headers),
            signature: WebhookHTTP.header(WebhookHTTP.signature, in: headers),
            timestamp: WebhookHTTP.header(WebhookHTTP.timestamp, in: headers),
            now: Int64(now.timeIntervalSince1970)
        ) {
        case .success(let admitted):
            return .readBody(Admission(admitted: admitted, receivedAt: Int64(now.timeIntervalSince1970 * 1000)))
        case .failure(let rejection):
            return .reply(reject(rejection, workspace: workspace), closing: rejection.outcome == .tooLarge)
        }
    }

    /// The answer to a body that grew past the limit while it was read.
    public func bodyTooLarge(_ admission: Admission) -> WebhookReply {
        reject(intake.tooLarge, workspace: admission.admitted.workspace.name)
    }

    /// The answer to a request whose body did not arrive whole (the client went away): nothing is
    /// stored, and the count shows it.
    public func bodyIncomplete(_ admission: Admission) {
        _ = reject(Rejection(.malformed, status: 400, "the request body could not be read"), workspace: admission.admitted.workspace.name)
    }

    /// Verifies the body, stores what it holds and answers.
    public func finish(_ admission: Admission, body: [UInt8]) async -> WebhookReply {
        let workspace = admission.admitted.workspace.name
        switch intake.inspect(body: body, admitted: admission.admitted, receivedAt: admission.receivedAt) {
        case .failure(let rejection):
            return reject(rejection, workspace: workspace)
        case .success(let action):
            return await store(action, workspace: workspace)
        }
    }

    private func store(_ action: WebhookIntake.Action, workspace: String) async -> WebhookReply {
        let start = ContinuousClock.now
        do {
            switch action {
            case .enqueue(let event):
                // Bounded by the Redis command timeout: the answer comes well inside Customer.io's 4 s.
                let outcome = try await queue.enqueue(event)
                metrics.recordEnqueue(since: start)
                switch outcome {
                case .accepted:
                    metrics.record(.accepted)
                    return .accepted
                case .duplicate:
                    metrics.record(.duplicate)
                    logger.debug("duplicate event", metadata: ["workspace": "\(workspace)", "event_id": "\(event.eventID)"])
                    return .duplicate
                }
            case .deadLetter(let rejected):
                _ = try await queue.deadLetter(rejected)
                metrics.recordEnqueue(since: start)
                metrics.record(.malformed)
                logger.warning(
                    "genuine but malformed event kept as a dead letter", metadata: ["workspace": "\(workspace)", "error": "\(rejected.error)"])
                return WebhookReply(.ok, json: ["status": "dead_lettered", "reason": rejected.reason.rawValue, "message": rejected.error])
            }
        } catch {
            let seconds = intake.configuration.retryAfterSeconds
            let rejection = Rejection(.unavailable, status: 503, "the event could not be stored (Redis: \(error.code)); retry in \(seconds) s")
            var reply = reject(rejection, workspace: workspace, detail: error.message)
            reply.headers.append(("Retry-After", String(seconds)))
            return reply
        }
    }

    private func reject(_ rejection: Rejection, workspace: String, detail: String? = nil) -> WebhookReply {
        metrics.record(rejection.outcome)
        var metadata: Logger.Metadata = ["workspace": "\(workspace)", "outcome": "\(rejection.outcome.rawValue)", "status": "\(rejection.status)"]
        if let detail { metadata["detail"] = "\(detail)" }
        if rejection.outcome == .unavailable {
            logger.error("\(rejection.message)", metadata: metadata)
        } else {
            logger.warning("\(rejection.message)", metadata: metadata)
        }
        return WebhookReply(
            HTTPResponseStatus(statusCode: rejection.status), json: ["error": rejection.outcome.rawValue, "message": rejection.message])
    }
}
