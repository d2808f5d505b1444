import Foundation

/// A test server written in Python (`Tests/IntegrationTests/Resources/SCRIPT`), started with its
/// arguments; it prints its port once ready and answers JSON, read and set here through curl
/// (Foundation on Linux reads no http:// URL; the test command installs curl).
public final class PythonServerProcess: ShutdownAfterTest {
    public let port: Int
    private let pid: pid_t
    private let script: String

    /// Starts the script and waits up to 20 s for its port; `missing` says what to install when
    /// it does not start.
    public init(script: String, arguments: [String], missing: String) throws {
        self.script = script
        let portFile = FileManager.default.temporaryDirectory.appendingPathComponent("\(script)-port-\(UUID().uuidString)")
        let path = TestBigQuery.root.appendingPathComponent("Tests/IntegrationTests/Resources/\(script)").path
        let command = ([path] + arguments).map(TestBigQuery.shellQuoted).joined(separator: " ")
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
        throw TestSetupError("\(script) did not start (\(missing) missing? run scripts/test.sh)")
    }

    /// `init` for async tests: the wait for the port (a second or more while Python imports
    /// openapi-core) runs on a thread of its own, not on the cooperative pool.
    public static func started(script: String, arguments: [String], missing: String) async throws -> PythonServerProcess {
        try await offThePool { try PythonServerProcess(script: script, arguments: arguments, missing: missing) }
    }

    public var baseURL: String { "http://127.0.0.1:\(port)" }

    /// The JSON `GET path` answers.
    public func get(_ path: String) throws -> Any {
        let (status, text) = try TestProcess.output(ofShell: "exec curl -fsS \(baseURL)\(path)")
        guard status == 0, let document = try? JSONSerialization.jsonObject(with: Data(text.utf8)) else {
            throw TestSetupError("\(script): GET \(path) did not answer JSON (curl exit \(status)): \(text.prefix(500))")
        }
        return document
    }

    /// POSTs `object` as JSON to `path`.
    public func post(_ path: String, _ object: Any) throws {
        let body = String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
        let (status, text) = try TestProcess.output(
            ofShell: "exec curl -fsS -X POST --data-binary \(TestBigQuery.shellQuoted(body)) \(baseURL)\(path)")
        guard status == 0 else { throw TestSetupError("\(script): POST \(path) failed (curl exit \(status)): \(text)") }
    }

    public func shutdown() async {
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
    }
}
