import CustomerIO
import Foundation
import Logging
import Prometheus
import TestSupport
import Testing
import Warehouse

/// What the emulator does not do like BigQuery, played by a scripted server.
@Suite("BigQuery sink against canned BigQuery answers")
struct BigQueryCannedAnswerTests {
    static let tables = "/bigquery/v2/projects/test-project/datasets/ds/tables"
    static let insertAll = tables + "/customerio_events/insertAll"

    static func sink(
        _ server: ScriptedHTTPServer, maximumRequestBytes: Int = 5_000_000, logger: Logger = .quiet("warehouse-test"),
        registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()
    ) -> BigQuerySink {
        var configuration = BigQuerySink.Configuration(
            target: BigQueryTarget(project: "test-project", dataset: "ds"), apiURL: server.baseURL, credentials: .none)
        configuration.maximumRequestBytes = maximumRequestBytes
        return BigQuerySink(
            configuration: configuration, logger: logger, metrics: BigQueryMetrics(factory: PrometheusMetricsFactory(registry: registry)))
    }

    static func rows(_ count: Int, subjectBytes: Int = 10) throws -> [WarehouseRow] {
        try (0..<count).map { _ in
            let id = Fixtures.newEventID()
            let body =
                #"{"event_id":"\#(id)","object_type":"email","metric":"opened","timestamp":1767230000,"data":{"subject":"\#(String(repeating: "s", count: subjectBytes))"}}"#
            return try row(Array(body.utf8))
        }
    }

    /// The `insertId` of every row of an insertAll request, checking it equals the row's event_id.
    static func insertIDs(_ request: ScriptedHTTPServer.RecordedRequest) -> [String] {
        let rows = (request.json as? [String: Any])?["rows"] as? [[String: Any]] ?? []
        return rows.map { row in
            let id = row["insertId"] as? String ?? "missing"
            #expect((row["json"] as? [String: Any])?["event_id"] as? String == id, "insertId must be the row's event_id")
            return id
        }
    }

    static func error(_ status: Int, _ reason: String, _ message: String) -> ScriptedHTTPServer.Answer {
        ScriptedHTTPServer.Answer(
            status: status,
            body:
                #"{"error":{"code":\#(status),"message":"\#(message)","errors":[{"domain":"global","reason":"\#(reason)","message":"\#(message)"}],"status":"X"}}"#
        )
    }

    @Test func anInvalidRowIsRejectedWithBigQuerysMessageAndStoppedRowsAreSentAgain() async throws {
        try await withShutdown(try await ScriptedHTTPServer()) { server in
            let rows = try Self.rows(4)
            server.script(
                ScriptedHTTPServer.Answer(
                    body: """
                        {"kind":"bigquery#tableDataInsertAllResponse","insertErrors":[
                         {"index":1,"errors":[{"reason":"invalid","location":"campaign_id","message":"Cannot convert value to integer."}]},
                         {"index":0,"errors":[{"reason":"stopped","location":"","message":""}]},
                         {"index":3,"errors":[{"reason":"stopped","location":"","message":""}]}]}
                        """))
            let outcomes = try await Self.sink(server).write(rows)
            #expect(outcomes == [.written, .rejected("BigQuery: campaign_id: Cannot convert value to integer."), .written, .written])
            let requests = server.requests
            #expect(requests.map(\.path) == [Self.insertAll, Self.insertAll])
            #expect(Self.insertIDs(requests[0]) == rows.map(\.eventID))
            #expect(Self.insertIDs(requests[1]) == [rows[0].eventID, rows[3].eventID], "only the stopped rows go again")
            let options = try #require(requests[0].json as? [String: Any])
            #expect(options["skipInvalidRows"] as? Bool == true && options["ignoreUnknownValues"] as? Bool == false)
        }
    }

    @Test func throttlingAndBigQueryFailuresThrowUntilTheBatchLands() async throws {
        try await withShutdown(try await ScriptedHTTPServer()) { server in
            let rows = try Self.rows(3)
            let sink = Self.sink(server)
            server.script(Self.error(429, "rateLimitExceeded", "Exceeded rate limits"), Self.error(503, "backendError", "Backend error"))
            await #expect(throws: WarehouseError.self) { try await sink.write(rows) }
            do throws(WarehouseError) {
                _ = try await sink.write(rows)
                Issue.record("a 503 must throw")
            } catch {
                #expect(error.code == .unavailable && error.message.contains("backendError"), "\(error)")
            }
            #expect(try await sink.write(rows) == [.written, .written, .written])
            #expect(
                server.requests.map(Self.insertIDs) == Array(repeating: rows.map(\.eventID), count: 3),
                "the same rows with the same insertIds each time")
        }
    }

    @Test func aTableThatHasGoneIsCreatedAgainAndTheBatchSentOnceMore() async throws {
        try await withShutdown(try await ScriptedHTTPServer()) { server in
            let rows = try Self.rows(2)
            server.script(
                Self.error(404, "notFound", "Not found: Table test-project:ds.customerio_events"),
                Self.error(404, "notFound", "Not found: Table test-project:ds.customerio_events"),
                ScriptedHTTPServer.Answer(body: "{}"),
                ScriptedHTTPServer.Answer(body: #"{"labels":{"cio_relay_schema_version":"1"}}"#),
                ScriptedHTTPServer.Answer(body: "{}"))
            #expect(try await Self.sink(server).write(rows) == [.written, .written])
            let requests = server.requests
            #expect(
                requests.map { "\($0.method) \($0.path)" } == [
                    "POST \(Self.insertAll)", "GET \(Self.tables)/customerio_events", "POST \(Self.tables)",
                    "GET \(Self.tables)/customerio_actions", "POST \(Self.insertAll)",
                ])
            let created = try #require(requests[2].json as? [String: Any])
            #expect((created["tableReference"] as? [String: Any])?["tableId"] as? String == "customerio_events")
            #expect((created["timePartitioning"] as? [String: Any])?["field"] as? String == "occurred_at")
            #expect(Self.insertIDs(requests[4]) == rows.map(\.eventID))
        }
    }

    @Test func requestsStayUnderTheRowAndByteLimitsAndKeepEveryRowsOrder() async throws {
        try await withShutdown(try await ScriptedHTTPServer()) { server in
            // Rows of about 600 bytes under a 4,000-byte limit: several per request, never over.
            let large = try Self.rows(20, subjectBytes: 300)
            let registry = PrometheusCollectorRegistry()
            #expect(try await Self.sink(server, maximumRequestBytes: 4_000, registry: registry).write(large) == Array(repeating: .written, count: 20))
            #expect(server.requests.count > 3 && server.requests.allSatisfy { $0.body.count <= 4_000 }, "\(server.requests.map(\.body.count))")
            // The metrics count each request and its bytes.
            let metrics = registry.emitToString()
            #expect(metrics.contains(#"cio_relay_bigquery_insert_requests_total{status="200"} \#(server.requests.count)"#), "\(metrics)")
            #expect(metrics.contains("cio_relay_bigquery_insert_bytes_total \(server.requests.map(\.body.count).reduce(0, +))"), "\(metrics)")
            #expect(Set(server.requests.flatMap(Self.insertIDs)) == Set(large.map(\.eventID)) && server.requests.flatMap(Self.insertIDs).count == 20)
            // 1,200 small rows: 500 a request at most.
            server.reset()
            let many = try Self.rows(1_200)
            #expect(try await Self.sink(server).write(many).count == 1_200)
            #expect(server.requests.map { Self.insertIDs($0).count }.sorted() == [200, 500, 500])
        }
    }

    @Test func aRequestRefusedAsAWholeIsHalvedUntilTheRowItCannotTakeIsFound() async throws {
        try await withShutdown(try await ScriptedHTTPServer()) { server in
            let rows = try Self.rows(4)
            let refused = Self.error(400, "invalid", "Invalid JSON payload received.")
            // All four, refused; [0, 1] land; [2, 3] refused; [2] lands; [3] refused: only row 3 is rejected.
            server.script(refused, ScriptedHTTPServer.Answer(body: "{}"), refused, ScriptedHTTPServer.Answer(body: "{}"), refused)
            let outcomes = try await Self.sink(server).write(rows)
            #expect(Array(outcomes.prefix(3)) == [.written, .written, .written])
            guard case .rejected(let message) = outcomes[3] else {
                Issue.record("row 3 must be rejected: \(outcomes[3])")
                return
            }
            #expect(message.contains("Invalid JSON payload received."))
            #expect(server.requests.map { Self.insertIDs($0).count } == [4, 2, 2, 1, 1])
        }
    }
}

/// Tokens as Google's libraries get them, checked by Google's own `google-auth`.
@Suite("BigQuery sink authentication: service-account key and metadata server")
struct BigQueryAuthenticationTests {
    /// A new 2048-bit RSA key in a service-account file whose token URI is the fake endpoint that
    /// `tokenServer` starts with the key's public half; answers the key, the endpoint and the PEM.
    static func serviceAccount(tokenServer: (String) throws -> FakeGoogleTokenServer) throws -> (
        key: ServiceAccountKey, server: FakeGoogleTokenServer, privatePEM: String
    ) {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sa-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let privatePath = folder.appendingPathComponent("key.pem").path
        let publicPath = folder.appendingPathComponent("public.pem").path
        let status = try TestProcess.run([
            "/bin/sh", "-c",
            "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out '\(privatePath)' 2>/dev/null && openssl pkey -in '\(privatePath)' -pubout -out '\(publicPath)'",
        ])
        guard status == 0 else { throw TestSetupError("openssl could not make a key (exit \(status))") }
        let server = try tokenServer(publicPath)
        let pem = try String(contentsOfFile: privatePath, encoding: .utf8)
        let file: [String: String] = [
            "type": "service_account", "project_id": "test-project", "private_key_id": "test-key-1", "private_key": pem,
            "client_email": "cio-relay@test-project.iam.gserviceaccount.com", "token_uri": server.tokenURI,
        ]
        let keyPath = folder.appendingPathComponent("service-account.json").path
        try JSONSerialization.data(withJSONObject: file).write(to: URL(fileURLWithPath: keyPath))
        return (try ServiceAccountKey(path: keyPath), server, pem)
    }

    static func sink(_ api: ScriptedHTTPServer, credentials: GoogleCredentials, refreshAfter: Duration, logger: Logger) -> BigQuerySink {
        var configuration = BigQuerySink.Configuration(
            target: BigQueryTarget(project: "test-project", dataset: "ds"), apiURL: api.baseURL, credentials: credentials)
        // Tokens last an hour: a margin of an hour less `refreshAfter` makes them due that soon after
        // they are fetched.
        configuration.tokenRefreshMargin = .seconds(3600) - refreshAfter
        return BigQuerySink(configuration: configuration, logger: logger)
    }

    @Test func oneTokenServesManyBatchesAndANewOneIsFetchedBeforeExpiry() async throws {
        let (key, tokenServer, pem) = try Self.serviceAccount { try FakeGoogleTokenServer(publicKeyPath: $0, keyID: "test-key-1", expiresIn: 3600) }
        try await withShutdown(tokenServer) { tokenServer in
            try await withShutdown(try await ScriptedHTTPServer()) { api in
                let lines = RecordingLogHandler.Lines()
                // Tokens last an hour and are renewed 5 minutes before: one serves every batch here.
                let sink = Self.sink(api, credentials: .serviceAccount(key), refreshAfter: .seconds(3300), logger: RecordingLogHandler.logger(lines))
                for _ in 0..<5 { _ = try await sink.write(try BigQueryCannedAnswerTests.rows(2)) }
                let stats = try tokenServer.stats()
                #expect(stats.refused.isEmpty, "google-auth refused: \(stats.refused)")
                #expect(stats.exchanges == 1, "one exchange for five batches")
                #expect(api.requests.count == 5 && api.requests.allSatisfy { $0.authorization == "Bearer sa-token-1" })
                // BigQuery refusing the token (401): a new one, and the request again.
                api.script(BigQueryCannedAnswerTests.error(401, "authError", "Request had invalid authentication credentials."))
                #expect(try await sink.write(try BigQueryCannedAnswerTests.rows(1)) == [.written])
                #expect(try tokenServer.stats().exchanges == 2 && api.requests.last?.authorization == "Bearer sa-token-2")
                // A token within the renewal margin of its expiry is replaced before it is used again
                // (here the margin is its whole lifetime, so each batch finds it due).
                let renewing = Self.sink(api, credentials: .serviceAccount(key), refreshAfter: .zero, logger: RecordingLogHandler.logger(lines))
                for expected in ["sa-token-3", "sa-token-4"] {
                    _ = try await renewing.write(try BigQueryCannedAnswerTests.rows(1))
                    #expect(api.requests.last?.authorization == "Bearer \(expected)")
                }
                #expect(try tokenServer.stats().exchanges == 4 && tokenServer.stats().refused.isEmpty)
                // No token, key or assertion in any log line.
                let logged = lines.all.joined(separator: "\n")
                #expect(
                    lines.all.filter { $0.contains("access token fetched") }.count == 4
                        && lines.all.contains { $0.contains("refused the access token") },
                    "each fetch and the 401 are logged: \(lines.all)")
                for secret in ["sa-token", "PRIVATE KEY", String(pem.split(separator: "\n")[1].prefix(20)), "eyJ"] {
                    #expect(!logged.contains(secret), "a log line holds \(secret)")
                }
            }
        }
    }

    @Test func aRefusedAssertionIsAnErrorThatNamesTheEndpointButNoSecret() async throws {
        // The endpoint has no public key for the assertion: google-auth cannot verify the signature.
        let (key, tokenServer, _) = try Self.serviceAccount { _ in
            try FakeGoogleTokenServer(publicKeyPath: "/dev/null", keyID: "test-key-1", expiresIn: 3600)
        }
        try await withShutdown(tokenServer) { server in
            try await withShutdown(try await ScriptedHTTPServer()) { api in
                let sink = Self.sink(api, credentials: .serviceAccount(key), refreshAfter: .seconds(60), logger: .quiet("warehouse-test"))
                let rows = try BigQueryCannedAnswerTests.rows(1)
                do throws(WarehouseError) {
                    _ = try await sink.write(rows)
                    Issue.record("a refused assertion must fail the write")
                } catch {
                    #expect(error.code == .unavailable && error.message.contains(server.tokenURI) && error.message.contains("HTTP 400"), "\(error)")
                    #expect(!error.message.contains("eyJ"), "the assertion must not appear: \(error)")
                }
                #expect(try server.stats().refused.count == 1)
                #expect(api.requests.isEmpty, "nothing goes to BigQuery without a token")
            }
        }
    }

    @Test func onGKETheMetadataServerGivesTheTokenAskedWithItsHeader() async throws {
        try await withShutdown(try FakeGoogleTokenServer(publicKeyPath: "/dev/null", keyID: "unused", expiresIn: 3600)) { metadata in
            try await withShutdown(try await ScriptedHTTPServer()) { api in
                let sink = Self.sink(
                    api, credentials: .metadataServer(host: metadata.host), refreshAfter: .seconds(60), logger: .quiet("warehouse-test"))
                for _ in 0..<3 { _ = try await sink.write(try BigQueryCannedAnswerTests.rows(1)) }
                let stats = try metadata.stats()
                #expect(stats.refused.isEmpty, "\(stats.refused)")
                #expect(stats.metadata == 1 && api.requests.allSatisfy { $0.authorization == "Bearer md-token-1" })
            }
        }
    }

    @Test func aKeyFileThatCannotBeUsedIsRefusedAtStartWithTheReason() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("bad-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let ecPath = folder.appendingPathComponent("ec.pem").path
        _ = try TestProcess.run(["/bin/sh", "-c", "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out '\(ecPath)' 2>/dev/null"])
        let ec = try String(contentsOfFile: ecPath, encoding: .utf8)
        let cases: [(String, String)] = [
            ("not json", "is not a JSON object"),
            (#"{"type":"authorized_user"}"#, "is not a service-account key"),
            (#"{"type":"service_account","private_key_id":"k","private_key":"x"}"#, "has no client_email"),
            (
                #"{"type":"service_account","client_email":"a@b","private_key_id":"k","private_key":"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}"#,
                "not a PEM private key"
            ),
            (
                String(
                    decoding: try JSONSerialization.data(withJSONObject: [
                        "type": "service_account", "client_email": "a@b", "private_key_id": "k", "private_key": ec,
                    ]), as: UTF8.self), "not an RSA key"
            ),
        ]
        for (index, (text, reason)) in cases.enumerated() {
            let path = folder.appendingPathComponent("key\(index).json").path
            try Data(text.utf8).write(to: URL(fileURLWithPath: path))
            do {
                _ = try ServiceAccountKey(path: path)
                Issue.record("\(text) was accepted")
            } catch {
                #expect(error.code == .invalidCredentials && error.message.contains(reason), "\(error)")
            }
        }
    }
}
