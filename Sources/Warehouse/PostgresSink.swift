import Foundation
import Logging
import NIOSSL
import PostgresNIO
import ServiceLifecycle

/// The production warehouse: PostgreSQL through postgres-nio. A batch is one transaction: `COPY`
/// into a temporary staging table, then one `INSERT … SELECT … ON CONFLICT (event_id) DO NOTHING
/// RETURNING event_id` (a multi-row `INSERT` with 27 parameters a row spent most of its time being
/// parsed). When the database refuses a row for its content, the batch is written again row by row
/// under savepoints so that only that row is refused.
public final class PostgresSink: EventSink, SQLRows {
    public var dialect: SQLDialect { .postgres }
    private let client: PostgresClient
    private let logger: Logger

    /// Parses a `postgres://user:password@host:port/database?sslmode=…` URL, with libpq's names
    /// and meanings. `sslmode`: `disable`; `allow` and `prefer` (the default: TLS when the server
    /// offers it, certificate not checked); `require` (TLS, certificate not checked, unless
    /// `sslrootcert` is given: then as `verify-ca`, as libpq does); `verify-ca` (the chain must lead
    /// to a trusted CA); `verify-full` (that, and the certificate must name the host). The trusted
    /// CAs are `sslrootcert=PATH` (a PEM bundle, such as the RDS or Cloud SQL CA), else the
    /// system's; `sslcert=PATH` and `sslkey=PATH` give a client certificate. The files are read
    /// here, so a bad one stops start-up.
    public static func configuration(url: String) throws(WarehouseError) -> PostgresClient.Configuration {
        guard let components = URLComponents(string: url), ["postgres", "postgresql"].contains(components.scheme ?? ""),
            let host = components.host, !host.isEmpty
        else {
            throw WarehouseError(.invalidURL, "expected postgres://user:password@host:port/database?sslmode=…")
        }
        let database = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        let query = { (name: String) in components.queryItems?.first { $0.name == name }?.value }
        let rootCertificate = query("sslrootcert")
        var tlsConfiguration = TLSConfiguration.makeClientConfiguration()
        if let rootCertificate {
            tlsConfiguration.trustRoots = .certificates(try Self.certificates(rootCertificate, parameter: "sslrootcert"))
        }
        switch (query("sslcert"), query("sslkey")) {
        case (nil, nil): break
        case (let certificate?, let key?):
            tlsConfiguration.certificateChain = try Self.certificates(certificate, parameter: "sslcert").map { .certificate($0) }
            do {
                tlsConfiguration.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
            } catch {
                throw WarehouseError(.invalidURL, "sslkey \(key): \(Self.reason(error, path: key)) (a PEM private key)")
            }
        default:
            throw WarehouseError(.invalidURL, "sslcert and sslkey go together: a client certificate needs its key")
        }
        let sslmode = query("sslmode") ?? "prefer"
        let tls: PostgresClient.Configuration.TLS
        switch sslmode {
        case "disable":
            tls = .disable
        case "allow", "prefer", "require":
            if sslmode == "require" && rootCertificate != nil {
                tlsConfiguration.certificateVerification = .noHostnameVerification
            } else {
                tlsConfiguration.certificateVerification = .none
            }
            tls = sslmode == "require" ? .require(tlsConfiguration) : .prefer(tlsConfiguration)
        case "verify-ca":
            tlsConfiguration.certificateVerification = .noHostnameVerification
            tls = .require(tlsConfiguration)
        case "verify-full":
            tlsConfiguration.certificateVerification = .fullVerification
            tls = .require(tlsConfiguration)
        default:
            throw WarehouseError(.invalidURL, "sslmode '\(sslmode)' must be disable, allow, prefer, require, verify-ca or verify-full")
        }
        return PostgresClient.Configuration(
            host: host, port: components.port ?? 5432, username: components.user ?? "postgres",
            password: components.password, database: database.isEmpty ? nil : database, tls: tls
        )
    }

    /// The PEM certificates of a file the URL names.
    private static func certificates(_ path: String, parameter: String) throws(WarehouseError) -> [NIOSSLCertificate] {
        let certificates: [NIOSSLCertificate]
        do {
            certificates = try NIOSSLCertificate.fromPEMFile(path)
        } catch {
            throw WarehouseError(.invalidURL, "\(parameter) \(path): \(Self.reason(error, path: path)) (PEM certificates)")
        }
        guard !certificates.isEmpty else {
            throw WarehouseError(.invalidURL, "\(parameter) \(path): holds no PEM certificate")
        }
        return certificates
    }

    private static func reason(_ error: any Error, path: String) -> String {
        FileManager.default.isReadableFile(atPath: path) ? "cannot be parsed (\(error))" : "cannot be read"
    }

    /// A sink on the server and database that `url` names (`postgres://` with `sslmode` and the
    /// `sslrootcert`, `sslcert`, `sslkey` files, checked here); it connects once it runs.
    /// - Parameters:
    ///   - url: a `WAREHOUSE_URL` of the `postgres://` kind.
    ///   - logger: for the connection pool's own messages (reconnects, refused handshakes).
    public init(url: String, logger: Logger) throws(WarehouseError) {
        var configuration = try Self.configuration(url: url)
        configuration.options.connectTimeout = .seconds(5)
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.client = client
        self.logger = logger
    }

    /// Runs the connection pool until graceful shutdown (or cancellation); queries wait until it runs.
    public func run() async {
        await cancelWhenGracefulShutdown { await self.client.run() }
    }

    public func migrate() async throws(WarehouseError) -> [Int] {
        try await migrate(upTo: Int.max)
    }

    /// The advisory lock that makes replicas starting together apply each migration once.
    private static let migrationLock = "7204715"

    /// Applies the migrations up to `version` on one connection that holds an advisory lock, so
    /// that replicas starting together apply each migration once: each migration's statements and
    /// its record in one transaction, or, for one with concurrent index changes, the statements,
    /// then the index changes outside any transaction, then the record.
    public func migrate(upTo version: Int) async throws(WarehouseError) -> [Int] {
        let logger = self.logger
        let outcome: (done: [Int], applied: Set<Int>)
        do {
            outcome = try await client.withConnection { connection -> (done: [Int], applied: Set<Int>) in
                func run(_ sql: String, _ bindings: PostgresBindings = PostgresBindings()) async throws {
                    try await connection.query(PostgresQuery(unsafeSQL: sql, binds: bindings), logger: logger)
                }
                try await run("SELECT pg_advisory_lock(\(Self.migrationLock))")
                do {
                    let result = try await Self.applyMigrations(upTo: version, on: connection, run: run, logger: logger)
                    try await run("SELECT pg_advisory_unlock(\(Self.migrationLock))")
                    return result
                } catch {
                    // The connection goes back to the pool: it must not keep a transaction or the lock.
                    try? await run("ROLLBACK")
                    try? await run("SELECT pg_advisory_unlock(\(Self.migrationLock))")
                    throw error
                }
            }
        } catch {
            throw WarehouseError(.migrationFailed, Self.describe(error))
        }
        try Schema.checkNotNewer(applied: outcome.applied)
        return outcome.done
    }

    private static func applyMigrations(
        upTo version: Int, on connection: PostgresConnection, run: (String, PostgresBindings) async throws -> Void, logger: Logger
    ) async throws -> (done: [Int], applied: Set<Int>) {
        try await run(Schema.versionsTableStatement(.postgres), PostgresBindings())
        var applied: Set<Int> = []
        for try await value in try await connection.query(PostgresQuery(unsafeSQL: "SELECT version FROM \(Schema.versionsTable)"), logger: logger)
            .decode(
                Int.self)
        {
            applied.insert(value)
        }
        var done: [Int] = []
        // A schema from a newer release gets nothing applied here; it is refused by the caller.
        let known = applied.max().map { $0 <= Schema.latestVersion } ?? true
        for migration in Schema.migrations(.postgres) where known && migration.version <= version && !applied.contains(migration.version) {
            var record = PostgresBindings()
            record.append(migration.version)
            record.append(migration.summary)
            let insert = "INSERT INTO \(Schema.versionsTable) (version, summary) VALUES ($1, $2)"
            try await run("BEGIN", PostgresBindings())
            for statement in migration.statements {
                try await run(statement, PostgresBindings())
            }
            if migration.concurrently.isEmpty {
                try await run(insert, record)
                try await run("COMMIT", PostgresBindings())
            } else {
                try await run("COMMIT", PostgresBindings())
                for change in migration.concurrently {
                    if case .create(let name, _) = change {
                        try await dropIfInvalid(name, on: connection, logger: logger)
                    }
                    logger.notice("migration \(migration.version): \(change.statement)")
                    try await run(change.statement, PostgresBindings())
                }
                try await run(insert, record)
            }
            done.append(migration.version)
        }
        return (done, applied)
    }

    /// Drops index `name` if it exists but is invalid: what a concurrent build that failed leaves
    /// behind, and what `IF NOT EXISTS` would otherwise take for done.
    private static func dropIfInvalid(_ name: String, on connection: PostgresConnection, logger: Logger) async throws {
        var bindings = PostgresBindings()
        bindings.append(name)
        let rows = try await connection.query(
            PostgresQuery(unsafeSQL: "SELECT count(*) FROM pg_index WHERE indexrelid = to_regclass($1) AND NOT indisvalid", binds: bindings),
            logger: logger
        ).decode(Int.self)
        for try await invalid in rows where invalid > 0 {
            logger.warning("dropping the invalid index a failed concurrent build left", metadata: ["index": "\(name)"])
            try await connection.query(PostgresQuery(unsafeSQL: IndexChange.drop(name: name).statement), logger: logger)
        }
    }

    public func write(_ rows: [WarehouseRow]) async throws(WarehouseError) -> [RowOutcome] {
        guard !rows.isEmpty else { return [] }
        let logger = self.logger
        do {
            return try await client.withTransaction(logger: logger) { connection in
                let written = try await Self.copy(rows, on: connection, logger: logger)
                return Self.outcomes(rows, written: written)
            }
        } catch  where Self.isContentError(error) {
            return try await writeRowByRow(rows)
        } catch {
            throw WarehouseError(.unavailable, Self.describe(error))
        }
    }

    public func record(_ actions: [ActionRecord]) async throws(WarehouseError) {
        guard !actions.isEmpty else { return }
        var bindings = PostgresBindings(capacity: actions.count * ActionRecord.columns.count)
        for action in actions {
            for case .text(let text) in action.values { bindings.append(text) }
        }
        do {
            try await client.query(PostgresQuery(unsafeSQL: Schema.insertActions(.postgres, rows: actions.count), binds: bindings), logger: logger)
        } catch {
            throw WarehouseError(.unavailable, Self.describe(error))
        }
    }

    /// Runs a statement without results (outside a transaction: `CREATE DATABASE` works).
    public func execute(_ sql: String) async throws(WarehouseError) {
        do {
            try await client.query(PostgresQuery(unsafeSQL: sql), logger: logger)
        } catch {
            throw WarehouseError(.unavailable, Self.describe(error))
        }
    }

    /// Runs a query with text parameters (`$1`, `$2`…) and answers its rows as text (nil for NULL),
    /// for the lookups, tests and commands.
    public func rows(_ sql: String, parameters: [String] = []) async throws(WarehouseError) -> [[String?]] {
        var bindings = PostgresBindings(capacity: parameters.count)
        for parameter in parameters { bindings.append(parameter) }
        do {
            var rows: [[String?]] = []
            for try await row in try await client.query(PostgresQuery(unsafeSQL: sql, binds: bindings), logger: logger) {
                rows.append(try row.map { cell in try cell.decode(String?.self) })
            }
            return rows
        } catch {
            throw WarehouseError(.unavailable, Self.describe(error))
        }
    }

    /// The batch again, each row under its own savepoint: a refused row is rolled back alone.
    private func writeRowByRow(_ rows: [WarehouseRow]) async throws(WarehouseError) -> [RowOutcome] {
        let logger = self.logger
        do {
            return try await client.withTransaction(logger: logger) { connection in
                var outcomes: [RowOutcome] = []
                for row in rows {
                    try await connection.query("SAVEPOINT cio_relay_row", logger: logger)
                    do {
                        outcomes.append(try await Self.insert(row, on: connection, logger: logger) ? .written : .duplicate)
                        try await connection.query("RELEASE SAVEPOINT cio_relay_row", logger: logger)
                    } catch  where Self.isContentError(error) {
                        outcomes.append(.rejected(Self.describe(error)))
                        try await connection.query("ROLLBACK TO SAVEPOINT cio_relay_row", logger: logger)
                    }
                }
                return outcomes
            }
        } catch {
            throw WarehouseError(.unavailable, Self.describe(error))
        }
    }

    /// Stages rows with `COPY` and moves them into the events table; answers the new event ids.
    private static func copy(_ rows: [WarehouseRow], on connection: PostgresConnection, logger: Logger) async throws -> Set<String> {
        try await connection.query(PostgresQuery(unsafeSQL: Schema.stagingTableStatement), logger: logger)
        var text = ByteBuffer()
        text.reserveCapacity(rows.count * 1024)
        for row in rows {
            for (index, value) in row.values.enumerated() {
                if index > 0 { text.writeInteger(UInt8(ascii: "\t")) }
                switch value {
                case .text(nil), .integer(nil): text.writeStaticString("\\N")
                case .integer(let integer?): text.writeString(String(integer))
                case .text(let string?): Self.writeCopyText(string, to: &text)
                }
            }
            text.writeInteger(UInt8(ascii: "\n"))
        }
        try await connection.copyFrom(table: Schema.stagingTable, columns: WarehouseRow.columns.map(\.name), logger: logger) { writer in
            try await writer.write(text)
        }
        var written: Set<String> = []
        for try await id in try await connection.query(PostgresQuery(unsafeSQL: Schema.insertFromStaging), logger: logger).decode(String.self) {
            written.insert(id)
        }
        return written
    }

    /// A value in COPY's text format: backslash, tab, newline and carriage return escaped. Runs of
    /// plain bytes are copied at once: byte by byte, this was the worker's largest cost per row.
    private static func writeCopyText(_ string: String, to buffer: inout ByteBuffer) {
        var string = string
        string.withUTF8 { bytes in
            var plainStart = 0
            for index in bytes.indices {
                let escaped: StaticString
                switch bytes[index] {
                case UInt8(ascii: "\\"): escaped = "\\\\"
                case 0x09: escaped = "\\t"
                case 0x0A: escaped = "\\n"
                case 0x0D: escaped = "\\r"
                default: continue
                }
                buffer.writeBytes(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: bytes[plainStart..<index])))
                buffer.writeStaticString(escaped)
                plainStart = index + 1
            }
            buffer.writeBytes(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: bytes[plainStart...])))
        }
    }

    /// Inserts one row; answers whether it is new.
    private static func insert(_ row: WarehouseRow, on connection: PostgresConnection, logger: Logger) async throws -> Bool {
        var bindings = PostgresBindings(capacity: WarehouseRow.columns.count)
        for value in row.values {
            switch value {
            case .text(let text): bindings.append(text)
            case .integer(let integer): bindings.append(integer)
            }
        }
        let query = PostgresQuery(unsafeSQL: Schema.insert(.postgres, returning: true), binds: bindings)
        var written = false
        for try await _ in try await connection.query(query, logger: logger).decode(String.self) {
            written = true
        }
        return written
    }

    /// Written for the first row of each new event id, duplicate for the rest.
    private static func outcomes(_ rows: [WarehouseRow], written: Set<String>) -> [RowOutcome] {
        var remaining = written
        return rows.map { remaining.remove($0.eventID) != nil ? .written : .duplicate }
    }

    /// Data exceptions (class 22: bad encoding, NUL bytes, invalid JSON) and integrity violations
    /// (class 23) are about a row's content; everything else is about the database.
    static func isContentError(_ error: any Error) -> Bool {
        guard let state = serverError(error)?.serverInfo?[.sqlState] else { return false }
        return state.hasPrefix("22") || state.hasPrefix("23")
    }

    /// The server's error, also when a transaction wrapped it.
    static func serverError(_ error: any Error) -> PSQLError? {
        if let error = error as? PSQLError { return error }
        if let error = error as? PostgresTransactionError {
            return [error.closureError, error.beginError, error.commitError].lazy.compactMap { $0.flatMap { serverError($0) } }.first
        }
        return nil
    }

    static func describe(_ error: any Error) -> String {
        if let error = serverError(error) {
            if let message = error.serverInfo?[.message] {
                return "\(message) (SQLSTATE \(error.serverInfo?[.sqlState] ?? "?"))"
            }
            return "\(error.code)\(error.underlying.map { ": \($0)" } ?? "")"
        }
        return "\(error)"
    }

}
