/// An error from the Redis client: a code that callers can switch on, plus context for humans.
public struct RedisError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        enum Value: String, Sendable {
            case connectionFailed = "connection_failed"
            case connectionLost = "connection_lost"
            case timeout
            case serverError = "server_error"
            case protocolError = "protocol_error"
            case invalidURL = "invalid_url"
            case shutdown
            case cancelled
            case unexpectedReply = "unexpected_reply"
            case crossSlot = "cross_slot"
            case replicationShortfall = "replication_shortfall"
            case unknownMaster = "unknown_master"
        }
        let value: Value

        /// Connecting (or `AUTH`/`SELECT` right after connecting) failed; retried after a backoff.
        public static let connectionFailed = Code(value: .connectionFailed)
        /// The connection broke while the command was in flight: it may or may not have run.
        public static let connectionLost = Code(value: .connectionLost)
        /// No reply within the configured time.
        public static let timeout = Code(value: .timeout)
        /// Redis answered with an error reply (`ERR`, `NOSCRIPT`, `WRONGTYPE`…).
        public static let serverError = Code(value: .serverError)
        public static let protocolError = Code(value: .protocolError)
        public static let invalidURL = Code(value: .invalidURL)
        /// The client was shut down before the command ran.
        public static let shutdown = Code(value: .shutdown)
        /// The calling task was cancelled before a reply arrived.
        public static let cancelled = Code(value: .cancelled)
        /// The reply had a type the caller did not expect.
        public static let unexpectedReply = Code(value: .unexpectedReply)
        /// The command's keys hash to different cluster slots: a programming error, never sent.
        public static let crossSlot = Code(value: .crossSlot)
        /// The write ran, but fewer replicas than `minReplicas` confirmed it in time: it may be lost
        /// if its primary fails now.
        public static let replicationShortfall = Code(value: .replicationShortfall)
        /// Every Sentinel that answered knows no master of the configured name: a configuration
        /// error, not an outage.
        public static let unknownMaster = Code(value: .unknownMaster)

        public var description: String { value.rawValue }
    }

    public let code: Code
    /// What happened, in words: the server's error text, the socket error, the URL problem.
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// True for failures that say nothing about the command itself (the server was unreachable,
    /// slow or went away): the caller may retry.
    public var isUnavailable: Bool {
        code == .connectionFailed || code == .connectionLost || code == .timeout || code == .replicationShortfall
    }

    /// The first word of a server error reply, such as `NOSCRIPT` or `WRONGTYPE`.
    public var serverErrorPrefix: Substring? {
        guard code == .serverError else { return nil }
        return message.split(separator: " ", maxSplits: 1).first
    }

    public var description: String { "RedisError(\(code)): \(message)" }
}
