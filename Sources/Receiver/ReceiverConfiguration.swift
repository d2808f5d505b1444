import CustomerIO

/// The signing keys of one Customer.io workspace (one reporting webhook).
public struct Workspace: Sendable, Hashable {
    /// Name used in the URL (`/webhooks/customerio/{name}`) and stored with each event.
    public var name: String
    /// Keys that verify a signature: the current one first, then any previous one during a rotation.
    public var signingKeys: [SigningKey]

    public init(name: String, signingKeys: [SigningKey]) {
        self.name = name
        self.signingKeys = signingKeys
    }
}

/// Limits and workspaces of the webhook receiver. How long Redis gets to store an event before the
/// answer is 503 is the Redis client's command timeout (`RedisConfiguration.commandTimeout`).
public struct ReceiverConfiguration: Sendable {
    /// The workspace served at `/webhooks/customerio` without a name.
    public static let defaultWorkspaceName = "default"

    public var workspaces: [String: Workspace]
    /// Largest accepted body. Customer.io's biggest payloads carry a message's HTML (`content`).
    public var maxBodyBytes: Int
    /// How far `X-CIO-Timestamp` may be from now, in seconds. Must not exceed the dedup TTL, so that a
    /// replayed request is either too old or a duplicate.
    public var timestampTolerance: Int64
    /// Seconds sent in `Retry-After` with a 503.
    public var retryAfterSeconds: Int
    /// Time and header space per connection of the webhook port.
    public var connections: ConnectionLimits

    public init(
        workspaces: [Workspace] = [],
        maxBodyBytes: Int = 1 << 20,
        timestampTolerance: Int64 = 7 * 24 * 3600,
        retryAfterSeconds: Int = 5,
        connections: ConnectionLimits = ConnectionLimits()
    ) {
        self.workspaces = Dictionary(workspaces.map { ($0.name, $0) }, uniquingKeysWith: { _, last in last })
        self.maxBodyBytes = maxBodyBytes
        self.timestampTolerance = timestampTolerance
        self.retryAfterSeconds = retryAfterSeconds
        self.connections = connections
    }
}
