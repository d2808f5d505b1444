import Foundation

/// Customer.io's App API (ESP suppression), played by `Tests/IntegrationTests/Resources/app-api-standin.py`,
/// which validates every request against the vendor's OpenAPI description with openapi-core.
public final class AppAPIStandIn: ShutdownAfterTest {
    /// The key the stand-in accepts as the bearer token.
    public static let key = "app-key"
    public let port: Int
    private let pid: pid_t

    /// One request the stand-in received, with what the OpenAPI check found wrong (nothing: valid).
    public struct Received: Sendable, Hashable {
        public let method: String
        public let suppressionType: String?
        public let address: String?
        public let problems: [String]
    }

    public init() throws {
        let portFile = FileManager.default.temporaryDirectory.appendingPathComponent("app-api-port-\(UUID().uuidString)")
        let resources = TestBigQuery.root.appendingPathComponent("Tests/IntegrationTests/Resources")
        let command = [
            resources.appendingPathComponent("app-api-standin.py").path,
            resources.appendingPathComponent("customerio-app-api-esp-suppression.openapi.json").path, Self.key,
        ].map(TestBigQuery.shellQuoted).joined(separator: " ")
        pid = try TestProcess.spawn(["/bin/sh", "-c", "exec python3 \(command) > \(TestBigQuery.shellQuoted(portFile.path))"])
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            if let text = try? String(contentsOf: portFile, encoding: .utf8), let port = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
                self.port = port
                try? FileManager.default.removeItem(at: portFile)
                return
            }
            usleep(50_000)
        }
        kill(pid, SIGKILL)
        throw TestSetupError("app-api-standin.py did not start (openapi-core missing? run scripts/test.sh)")
    }

    public var baseURL: String { "http://127.0.0.1:\(port)" }

    /// The next answers, one per request: (status, headers); after them, 200.
    public func script(_ answers: [(status: Int, headers: [String: String])]) throws {
        let steps = answers.map { ["status": $0.status, "headers": $0.headers] as [String: Any] }
        let body = String(decoding: try JSONSerialization.data(withJSONObject: steps), as: UTF8.self)
        let (status, text) = try TestProcess.output(
            ofShell: "exec curl -fsS -X POST --data-binary \(TestBigQuery.shellQuoted(body)) \(baseURL)/__script")
        guard status == 0 else { throw TestSetupError("the App API stand-in refused the script (curl exit \(status)): \(text)") }
    }

    /// Every request received so far.
    public func received() throws -> [Received] {
        // Foundation on Linux reads no http:// URL; curl does (the test command installs it).
        let (status, text) = try TestProcess.output(ofShell: "exec curl -fsS \(baseURL)/__requests")
        guard status == 0, let list = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]] else {
            throw TestSetupError("the App API stand-in's /__requests did not answer (curl exit \(status)): \(text)")
        }
        return list.map {
            Received(
                method: $0["method"] as? String ?? "", suppressionType: $0["suppression_type"] as? String, address: $0["address"] as? String,
                problems: $0["problems"] as? [String] ?? ["no verdict recorded"])
        }
    }

    public func shutdown() async {
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
    }
}
