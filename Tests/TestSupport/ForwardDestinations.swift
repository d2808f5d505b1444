import Foundation

/// Forwarding destinations, played by `Tests/IntegrationTests/Resources/forward-destination.py`:
/// each path is one destination; every delivery is checked with the `standardwebhooks` package.
public final class ForwardDestinations: ShutdownAfterTest {
    /// The Standard Webhooks secret every destination verifies with.
    public static let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    private let server: PythonServerProcess

    /// One delivery received.
    public struct Delivery: Sendable, Hashable {
        public let path: String
        /// `webhook-id`.
        public let id: String
        public let verified: Bool
        public let error: String
        /// False for a request the destination held without answering.
        public let answered: Bool
    }

    public init() async throws {
        server = try await PythonServerProcess.started(script: "forward-destination.py", arguments: [Self.secret], missing: "standardwebhooks")
    }

    /// The URL of the destination at `path`.
    public func url(_ path: String) -> String { server.baseURL + path }

    /// Makes the destination at `path` fail its next `count` requests with `status` (and
    /// `Retry-After`), or hold them without an answer.
    public func fail(_ path: String, next count: Int, status: Int = 500, retryAfter: String? = nil, hang: Bool = false) throws {
        var rule: [String: Any] = ["fail": count, "status": status, "hang": hang]
        if let retryAfter { rule["retry_after"] = retryAfter }
        try server.post("/__set", [path: rule])
    }

    /// Every delivery received so far, by any destination.
    public func deliveries() throws -> [Delivery] {
        guard let list = try server.get("/__received") as? [[String: Any]] else { throw TestSetupError("/__received is not a list") }
        return list.map {
            Delivery(
                path: $0["path"] as? String ?? "", id: $0["id"] as? String ?? "", verified: $0["verified"] as? Bool ?? false,
                error: $0["error"] as? String ?? "", answered: $0["answered"] as? Bool ?? false)
        }
    }

    public func shutdown() async {
        await server.shutdown()
    }
}
