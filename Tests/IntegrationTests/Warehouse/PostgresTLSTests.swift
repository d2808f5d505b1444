import Foundation
import Logging
import TestSupport
import Testing
import Warehouse

/// The warehouse URL's TLS parameters against the test command's PostgreSQL that accepts only TLS
/// (`hostssl` alone in pg_hba.conf), with a certificate for `localhost` from the test CA.
@Suite("PostgreSQL over TLS against a real server")
struct PostgresTLSTests {
    static func url(host: String, _ parameters: String) throws -> String {
        let port = try TestEnvironment.value("CIO_RELAY_TEST_POSTGRES_TLS_PORT", startedBy: "a TLS-only PostgreSQL")
        return "postgres://postgres@\(host):\(port)/postgres?\(parameters)"
    }

    /// Migrates and writes one row through a sink of `url`; the error when that fails, or when it
    /// has not finished within `timeout` (a refused handshake makes the pool retry, not fail: the
    /// warehouse writer's deadline bounds it), and what the sink logged meanwhile. A sink still
    /// retrying then is cancelled and left behind (see `result(within:)`).
    static func writeOneRow(_ url: String, timeout: Duration = .seconds(3)) async throws -> (error: (any Error)?, log: String) {
        let lines = RecordingLogHandler.Lines()
        let sink = try PostgresSink(url: url, logger: RecordingLogHandler.logger(lines))
        let answer = await result(within: timeout) { () -> (any Error)? in
            do {
                try await sink.withRunning { sink in
                    _ = try await sink.migrate()
                    // A new row, or the one an earlier test wrote: stored either way.
                    let outcomes = try await sink.write([try row(Fixtures.bytes("email_bounced.json"))])
                    try #require(outcomes == [.written] || outcomes == [.duplicate])
                    let stored = try await sink.rows(
                        "SELECT count(*)::text FROM customerio_events WHERE event_id = $1", parameters: ["01JBX5F9Z1Y2X3W4V5T6S7R8Q9"])
                    try #require(stored == [["1"]])
                }
                return nil
            } catch {
                return error
            }
        }
        let error = answer ?? TestSetupError("no answer within \(timeout)")
        return (error, lines.all.joined(separator: "\n"))
    }

    @Test func verifyFullWithTheCAFileWritesRows() async throws {
        let (error, log) = try await Self.writeOneRow(
            Self.url(host: "localhost", "sslmode=verify-full&sslrootcert=\(try TestTLS.file("ca.crt"))"), timeout: .seconds(60))
        #expect(error == nil, "\(String(describing: error)) \(log)")
    }

    @Test func aServerOfAnotherCAIsRefused() async throws {
        let (error, log) = try await Self.writeOneRow(
            Self.url(host: "localhost", "sslmode=verify-full&sslrootcert=\(try TestTLS.file("other-ca.crt"))"))
        #expect(error != nil)
        #expect(log.contains("CERTIFICATE_VERIFY_FAILED"), "\(log)")
    }

    @Test func verifyFullRefusesACertificateThatDoesNotNameTheHost() async throws {
        // The certificate names localhost, not 127.0.0.1: verify-full refuses, verify-ca (chain only) accepts.
        let full = try await Self.writeOneRow(Self.url(host: "127.0.0.1", "sslmode=verify-full&sslrootcert=\(try TestTLS.file("ca.crt"))"))
        #expect(full.error != nil)
        #expect(full.log.contains("failedToValidateHostname"), "\(full.log)")
        let chainOnly = try await Self.writeOneRow(
            Self.url(host: "127.0.0.1", "sslmode=verify-ca&sslrootcert=\(try TestTLS.file("ca.crt"))"), timeout: .seconds(60))
        #expect(chainOnly.error == nil, "\(String(describing: chainOnly.error)) \(chainOnly.log)")
    }

    @Test func withoutTLSTheServerRefuses() async throws {
        let (error, log) = try await Self.writeOneRow(Self.url(host: "localhost", "sslmode=disable"))
        #expect(error != nil)
        #expect(log.contains("no pg_hba.conf entry"), "\(log)")
    }

    @Test func badFilesStopStartUp() throws {
        let missing = #expect(throws: WarehouseError.self) {
            try PostgresSink.configuration(url: Self.url(host: "localhost", "sslmode=verify-full&sslrootcert=/nonexistent/ca.pem"))
        }
        #expect(missing?.message.contains("sslrootcert /nonexistent/ca.pem: cannot be read") == true, "\(String(describing: missing))")
        let halfAPair = #expect(throws: WarehouseError.self) {
            try PostgresSink.configuration(url: Self.url(host: "localhost", "sslmode=verify-full&sslcert=\(try TestTLS.file("client.crt"))"))
        }
        #expect(halfAPair?.message.contains("sslcert and sslkey go together") == true)
        #expect(throws: WarehouseError.self) { try PostgresSink.configuration(url: "postgres://h/db?sslmode=verify-everything") }
    }
}
