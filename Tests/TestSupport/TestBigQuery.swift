import Foundation
import Logging
import Synchronization

/// The BigQuery emulators that `scripts/test.sh` starts for the whole run, and Google's own Python
/// client as the independent reader of what the sink wrote.
public enum TestBigQuery {
    public static let project = "test-project"

    /// The repository's root, from this file's place in it.
    public static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The shared emulator (each test uses a dataset of its own).
    public static func url() throws -> String { try TestEnvironment.value("CIO_RELAY_TEST_BIGQUERY_URL", startedBy: "the BigQuery emulator") }

    /// An emulator of its own, keeping its data on disk, that `outage(_:)` stops and starts.
    public static func outageURL() throws -> String {
        try TestEnvironment.value("CIO_RELAY_TEST_BIGQUERY_OUTAGE_URL", startedBy: "the BigQuery emulator")
    }

    /// Stops (`"stop"`) or starts (`"start"`) the outage emulator.
    public static func outage(_ action: String) async throws {
        try await TestEnvironment.control("CIO_RELAY_TEST_BIGQUERY_OUTAGE_CONTROL", action, startedBy: "the BigQuery emulator")
    }

    /// A dataset name of its own per test.
    public static func uniqueDataset(_ name: String = "t") -> String {
        "\(name)_\(UUID().uuidString.prefix(8).lowercased())"
    }

    /// Runs `Tests/IntegrationTests/Resources/bq-read.py` (google-cloud-bigquery) and answers the JSON it prints.
    public static func read(_ arguments: [String], url: String) throws -> [String: Any] {
        let script = root.appendingPathComponent("Tests/IntegrationTests/Resources/bq-read.py").path
        let command = ([script, url, project] + arguments).map(shellQuoted).joined(separator: " ")
        let (status, text) = try TestProcess.output(ofShell: "exec python3 \(command)")
        guard status == 0, let document = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
            throw TestSetupError("bq-read.py \(arguments.first ?? "") exited \(status): \(text.suffix(2000))")
        }
        return document
    }

    /// The rows of a GoogleSQL query, through the Python client.
    public static func query(_ sql: String, url: String) throws -> [[String: Any]] {
        try read(["query", sql], url: url)["rows"] as? [[String: Any]] ?? []
    }

    static func shellQuoted(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}

/// Google's token endpoint and metadata server, played by `Tests/IntegrationTests/Resources/fake-google-token.py`, which
/// checks every assertion with the `google-auth` package.
public final class FakeGoogleTokenServer: ShutdownAfterTest {
    private let server: PythonServerProcess

    /// Starts the server for the key whose public half is at `publicKeyPath`; its tokens last
    /// `expiresIn` seconds.
    public init(publicKeyPath: String, keyID: String, expiresIn: Int) throws {
        server = try PythonServerProcess(
            script: "fake-google-token.py", arguments: [publicKeyPath, keyID, String(expiresIn)], missing: "google-auth")
    }

    public var port: Int { server.port }
    public var tokenURI: String { "http://127.0.0.1:\(port)/token" }
    public var host: String { "127.0.0.1:\(port)" }

    /// Exchanges made, metadata tokens given, and the reasons of refused requests.
    public func stats() throws -> (exchanges: Int, metadata: Int, refused: [String]) {
        let document = try server.get("/stats") as? [String: Any] ?? [:]
        return (document["exchanges"] as? Int ?? -1, document["metadata"] as? Int ?? -1, document["refused"] as? [String] ?? [])
    }

    public func shutdown() async {
        await server.shutdown()
    }
}

/// A log handler that keeps every line it is given, rendered with its metadata, for tests that
/// check what a component logs (and what it must never log).
public struct RecordingLogHandler: LogHandler {
    public final class Lines: Sendable {
        let storage = Mutex<[String]>([])
        public init() {}
        public var all: [String] { storage.withLock { $0 } }
    }

    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .trace
    private let lines: Lines

    public init(lines: Lines) {
        self.lines = lines
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        lines.storage.withLock { $0.append("\(event.level) \(event.message) \(merged)") }
    }

    /// A logger at trace level that writes into `lines`.
    public static func logger(_ lines: Lines) -> Logger {
        Logger(label: "recorded") { _ in RecordingLogHandler(lines: lines) }
    }
}
