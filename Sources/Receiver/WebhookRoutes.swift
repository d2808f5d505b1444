import CustomerIO
import EventQueue
import Foundation
import HTTPTypes
import Hiredis
import Hummingbird
import Logging
import Metrics
import NIOCore

/// The webhook endpoints: `POST /webhooks/customerio` (default workspace) and
/// `POST /webhooks/customerio/{workspace}`, storing what they accept in `Queue` (`EventQueue` in
/// a deployment).
public struct WebhookRoutes<Queue: IntakeQueue>: Sendable {
    public let intake: WebhookIntake
    public let queue: Queue
    public let metrics: ReceiverMetrics

    public init(configuration: ReceiverConfiguration, queue: Queue, metrics: ReceiverMetrics = ReceiverMetrics()) {
        self.intake = WebhookIntake(configuration: configuration)
        self.queue = queue
        self.metrics = metrics
    }

    /// The webhook port's responder: the two webhook endpoints, and a JSON 404 or 405 for anything
    /// else. Two fixed paths are matched directly, which costs far less than a general router
    /// (figures in docs/performance.md).
    public func responder() -> WebhookResponder<Queue> {
        WebhookResponder(routes: self)
    }

    func handle(_ request: Request, context: some RequestContext, workspace: String) async -> Response {
        let now = Date()
        let admitted: WebhookIntake.Admitted
        switch intake.admit(
            workspace: workspace,
            contentLength: WebhookHTTP.header(.contentLength, in: request.headers),
            signature: WebhookHTTP.header(WebhookHTTP.signatureField, in: request.headers),
            timestamp: WebhookHTTP.header(WebhookHTTP.timestampField, in: request.headers),
            now: Int64(now.timeIntervalSince1970)
        ) {
        case .success(let value): admitted = value
        case .failure(let rejection): return reject(rejection, workspace: workspace, logger: context.logger)
        }

        let body: [UInt8]
        do {
            var buffer = try await request.body.collect(upTo: admitted.bodyLimit)
            body = buffer.readBytes(length: buffer.readableBytes) ?? []
        } catch is NIOTooManyBytesError {
            return reject(intake.tooLarge, workspace: workspace, logger: context.logger)
        } catch {
            // The client went away mid-body: nothing was stored and nobody is listening.
            return reject(Rejection(.malformed, status: 400, "the request body could not be read"), workspace: workspace, logger: context.logger)
        }

        let receivedAt = Int64(now.timeIntervalSince1970 * 1000)
        switch intake.inspect(body: body, admitted: admitted, receivedAt: receivedAt) {
        case .failure(let rejection):
            return reject(rejection, workspace: workspace, logger: context.logger)
        case .success(let action):
            return await store(action, workspace: workspace, logger: context.logger)
        }
    }

    private func store(_ action: WebhookIntake.Action, workspace: String, logger: Logger) async -> Response {
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
                    return WebhookHTTP.constant(WebhookHTTP.acceptedBody)
                case .duplicate:
                    metrics.record(.duplicate)
                    logger.debug("duplicate event", metadata: ["workspace": "\(workspace)", "event_id": "\(event.eventID)"])
                    return WebhookHTTP.constant(WebhookHTTP.duplicateBody)
                }
            case .deadLetter(let rejected):
                _ = try await queue.deadLetter(rejected)
                metrics.recordEnqueue(since: start)
                metrics.record(.malformed)
                logger.warning(
                    "genuine but malformed event kept as a dead letter", metadata: ["workspace": "\(workspace)", "error": "\(rejected.error)"])
                return WebhookHTTP.json(.ok, ["status": "dead_lettered", "reason": rejected.reason.rawValue, "message": rejected.error])
            }
        } catch {
            let seconds = intake.configuration.retryAfterSeconds
            let rejection = Rejection(.unavailable, status: 503, "the event could not be stored (Redis: \(error.code)); retry in \(seconds) s")
            var response = reject(rejection, workspace: workspace, logger: logger, detail: error.message)
            response.headers[.retryAfter] = String(seconds)
            return response
        }
    }

    private func reject(_ rejection: Rejection, workspace: String, logger: Logger, detail: String? = nil) -> Response {
        metrics.record(rejection.outcome)
        var metadata: Logger.Metadata = ["workspace": "\(workspace)", "outcome": "\(rejection.outcome.rawValue)", "status": "\(rejection.status)"]
        if let detail { metadata["detail"] = "\(detail)" }
        if rejection.outcome == .unavailable {
            logger.error("\(rejection.message)", metadata: metadata)
        } else {
            logger.warning("\(rejection.message)", metadata: metadata)
        }
        return WebhookHTTP.json(HTTPResponse.Status(code: rejection.status), ["error": rejection.outcome.rawValue, "message": rejection.message])
    }

}

/// Answers the webhook port: `POST` to a webhook path goes to `WebhookRoutes`; anything else gets a
/// JSON error, never Hummingbird's plain-text one.
public struct WebhookResponder<Queue: IntakeQueue>: HTTPResponder {
    public typealias Context = BasicRequestContext
    let routes: WebhookRoutes<Queue>

    public func respond(to request: Request, context: Context) async throws -> Response {
        guard let workspace = WebhookHTTP.workspace(inPath: request.uri.path) else {
            return WebhookHTTP.json(
                .notFound,
                ["error": "not_found", "message": "no such endpoint: POST to \(WebhookHTTP.basePath) or \(WebhookHTTP.basePath)/{workspace}"])
        }
        guard request.method == .post else {
            var response = WebhookHTTP.json(.methodNotAllowed, ["error": "method_not_allowed", "message": "only POST is accepted here"])
            response.headers[.allow] = "POST"
            return response
        }
        return await routes.handle(request, context: context, workspace: workspace)
    }
}
