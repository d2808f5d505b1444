import CustomerIO
import EventQueue

/// How a webhook request ended; each outcome is a label of `cio_relay_webhooks_received_total`.
public enum IntakeOutcome: String, Sendable, CaseIterable {
    case accepted
    case duplicate
    case invalidSignature = "invalid_signature"
    case stale
    case tooLarge = "too_large"
    case malformed
    case unavailable
    case unknownWorkspace = "unknown_workspace"
}

/// A request turned away, with the HTTP status and the JSON error it is answered with.
public struct Rejection: Error, Sendable, Hashable {
    public let outcome: IntakeOutcome
    public let status: Int
    public let message: String

    public init(_ outcome: IntakeOutcome, status: Int, _ message: String) {
        self.outcome = outcome
        self.status = status
        self.message = message
    }
}

/// The decisions of the webhook receiver, free of I/O: which requests to turn away before reading
/// the body, and what to do with a body once read. The HTTP layer runs the Redis step it returns.
public struct WebhookIntake: Sendable {
    public let configuration: ReceiverConfiguration

    public init(configuration: ReceiverConfiguration) {
        self.configuration = configuration
    }

    /// A request that passed the header checks: read at most `bodyLimit` bytes and then `inspect`.
    public struct Admitted: Sendable {
        public let workspace: Workspace
        public let signature: WebhookSignature
        public let bodyLimit: Int
    }

    /// What to do with a verified body.
    public enum Action: Sendable {
        case enqueue(IncomingEvent)
        /// Genuine but unusable: keep it on the dead-letter stream and answer 2xx, since a 4xx
        /// would stall Customer.io's whole feed.
        case deadLetter(RejectedBody)
    }

    /// Checks everything that needs no body: workspace, declared size, signature headers and the
    /// timestamp window. Cheap rejections come first so that junk is never read.
    public func admit(workspace name: String, contentLength: String?, signature: String?, timestamp: String?, now: Int64) -> Result<
        Admitted, Rejection
    > {
        guard let workspace = configuration.workspaces[name] else {
            return .failure(Rejection(.unknownWorkspace, status: 404, "no workspace named '\(name)' is configured"))
        }
        if let contentLength {
            guard let length = Int(contentLength), length >= 0 else {
                return .failure(Rejection(.tooLarge, status: 413, "Content-Length is not a number"))
            }
            if length > configuration.maxBodyBytes {
                return .failure(tooLarge)
            }
        }
        let parsed: WebhookSignature
        do {
            parsed = try WebhookSignature(signature: signature, timestamp: timestamp)
            try parsed.checkFreshness(now: now, tolerance: configuration.timestampTolerance)
        } catch {
            let outcome: IntakeOutcome = error.code == .staleTimestamp ? .stale : .invalidSignature
            return .failure(Rejection(outcome, status: 401, error.message))
        }
        return .success(Admitted(workspace: workspace, signature: parsed, bodyLimit: configuration.maxBodyBytes))
    }

    /// The answer for a body over the limit.
    public var tooLarge: Rejection {
        Rejection(.tooLarge, status: 413, "the body is larger than the limit of \(configuration.maxBodyBytes) bytes")
    }

    /// Verifies the body's signature and decides where it goes.
    public func inspect(body: [UInt8], admitted: Admitted, receivedAt: Int64) -> Result<Action, Rejection> {
        do {
            _ = try admitted.signature.verify(body: body, keys: admitted.workspace.signingKeys)
        } catch {
            return .failure(Rejection(.invalidSignature, status: 401, error.message))
        }
        let workspace = admitted.workspace.name
        do {
            let envelope = try WebhookEnvelope.parse(body)
            return .success(
                .enqueue(
                    IncomingEvent(
                        eventID: envelope.eventID,
                        body: body,
                        workspace: workspace,
                        receivedAt: receivedAt,
                        objectType: envelope.objectType.rawValue,
                        metric: envelope.metric.rawValue
                    )))
        } catch {
            let digest = body.withUnsafeBytes { PayloadDigest.sha256Hex($0) }
            return .success(
                .deadLetter(
                    RejectedBody(
                        body: body, digest: digest, workspace: workspace, receivedAt: receivedAt,
                        reason: .malformed, error: error.message
                    )))
        }
    }
}
