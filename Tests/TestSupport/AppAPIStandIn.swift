import Foundation

/// Customer.io's App API (ESP suppression), played by `Tests/IntegrationTests/Resources/app-api-standin.py`,
/// which validates every request against the vendor's OpenAPI description with openapi-core.
public final class AppAPIStandIn: ShutdownAfterTest {
    /// The key the stand-in accepts as the bearer token.
    public static let key = "app-key"
    private let server: PythonServerProcess

    /// One request the stand-in received, with what the OpenAPI check found wrong (nothing: valid).
    public struct Received: Sendable, Hashable {
        public let method: String
        public let suppressionType: String?
        public let address: String?
        public let problems: [String]
    }

    public init() async throws {
        let spec = TestBigQuery.root.appendingPathComponent("Tests/IntegrationTests/Resources/customerio-app-api-esp-suppression.openapi.json").path
        server = try await PythonServerProcess.started(script: "app-api-standin.py", arguments: [spec, Self.key], missing: "openapi-core")
    }

    public var baseURL: String { server.baseURL }

    /// The next answers, one per request: (status, headers); after them, 200.
    public func script(_ answers: [(status: Int, headers: [String: String])]) throws {
        try server.post("/__script", answers.map { ["status": $0.status, "headers": $0.headers] as [String: Any] })
    }

    /// Every request received so far.
    public func received() throws -> [Received] {
        guard let list = try server.get("/__requests") as? [[String: Any]] else { throw TestSetupError("/__requests is not a list") }
        return list.map {
            Received(
                method: $0["method"] as? String ?? "", suppressionType: $0["suppression_type"] as? String, address: $0["address"] as? String,
                problems: $0["problems"] as? [String] ?? ["no verdict recorded"])
        }
    }

    public func shutdown() async {
        await server.shutdown()
    }
}
