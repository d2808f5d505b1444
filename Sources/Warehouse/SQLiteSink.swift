import CSQLite
import Dispatch
import Foundation
import ServiceLifecycle

/// The embedded warehouse: one SQLite file in WAL mode (readers never block the writer, and a
/// commit is one append to the log). Every call runs on one serial queue, off the cooperative pool.
public final class SQLiteSink: EventSink, SQLRows, @unchecked Sendable {
    public var dialect: SQLDialect { .sqlite }
    public let path: String
    // Touched only on `queue`.
    private var database: OpaquePointer?
    private let queue = DispatchQueue(label: "cio-relay.sqlite")

    public init(path: String) throws(WarehouseError) {
        self.path = path
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var handle: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        guard sqlite3_open_v2(path, &handle, flags, nil) == SQLITE_OK, let handle else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close(handle)
            throw WarehouseError(.unavailable, "cannot open SQLite database \(path): \(message)")
        }
        database = handle
        sqlite3_busy_timeout(handle, 5000)
        for pragma in ["PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA cache_size=-65536"] {
            if let error = Self.execute(handle, pragma) {
                sqlite3_close(handle)
                throw WarehouseError(.unavailable, "\(pragma) failed on \(path): \(error)")
            }
        }
    }

    private func onQueue<T: Sendable>(_ work: @escaping @Sendable (OpaquePointer) -> Result<T, WarehouseError>) async throws(WarehouseError) -> T {
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<T, WarehouseError>, Never>) in
            queue.async {
                guard let database = self.database else {
                    continuation.resume(returning: .failure(WarehouseError(.unavailable, "the SQLite database \(self.path) is closed")))
                    return
                }
                continuation.resume(returning: work(database))
            }
        }
        return try result.get()
    }

    public func migrate() async throws(WarehouseError) -> [Int] {
        try await migrate(upTo: Int.max)
    }

    /// Applies the migrations up to `version` (tests use it to build an older schema).
    public func migrate(upTo version: Int) async throws(WarehouseError) -> [Int] {
        try await onQueue { database in
            if let error = Self.execute(database, Schema.versionsTableStatement(.sqlite)) {
                return .failure(WarehouseError(.migrationFailed, error))
            }
            let applied = Set(Self.integers(database, "SELECT version FROM \(Schema.versionsTable)"))
            do throws(WarehouseError) {
                try Schema.checkNotNewer(applied: applied)
            } catch {
                return .failure(error)
            }
            var done: [Int] = []
            for migration in Schema.migrations(.sqlite) where migration.version <= version && !applied.contains(migration.version) {
                let statements =
                    ["BEGIN IMMEDIATE"] + migration.statements
                    + ["INSERT INTO \(Schema.versionsTable) (version, summary) VALUES (\(migration.version), '\(migration.summary)')", "COMMIT"]
                for statement in statements {
                    if let error = Self.execute(database, statement) {
                        _ = Self.execute(database, "ROLLBACK")
                        return .failure(WarehouseError(.migrationFailed, "migration \(migration.version): \(error)"))
                    }
                }
                done.append(migration.version)
            }
            return .success(done)
        }
    }

    public func write(_ rows: [WarehouseRow]) async throws(WarehouseError) -> [RowOutcome] {
        guard !rows.isEmpty else { return [] }
        return try await onQueue { database in
            var statement: OpaquePointer?
            guard sqlite3_prepare_v2(database, Schema.insert(.sqlite, returning: false), -1, &statement, nil) == SQLITE_OK, let statement else {
                return .failure(WarehouseError(.unavailable, "cannot prepare the insert: \(String(cString: sqlite3_errmsg(database)))"))
            }
            defer { sqlite3_finalize(statement) }
            if let error = Self.execute(database, "BEGIN IMMEDIATE") {
                return .failure(WarehouseError(.unavailable, error))
            }
            var outcomes: [RowOutcome] = []
            outcomes.reserveCapacity(rows.count)
            for row in rows {
                sqlite3_reset(statement)
                sqlite3_clear_bindings(statement)
                for (index, value) in row.values.enumerated() {
                    Self.bind(value, at: Int32(index + 1), to: statement)
                }
                switch sqlite3_step(statement) {
                case SQLITE_DONE:
                    outcomes.append(sqlite3_changes(database) == 1 ? .written : .duplicate)
                case let code where code & 0xFF == SQLITE_CONSTRAINT || code & 0xFF == SQLITE_MISMATCH || code & 0xFF == SQLITE_TOOBIG:
                    // The row's content is refused; the statement is undone, the transaction goes on.
                    outcomes.append(.rejected(String(cString: sqlite3_errmsg(database))))
                default:
                    let message = String(cString: sqlite3_errmsg(database))
                    _ = Self.execute(database, "ROLLBACK")
                    return .failure(WarehouseError(.unavailable, "insert failed: \(message)"))
                }
            }
            if let error = Self.execute(database, "COMMIT") {
                _ = Self.execute(database, "ROLLBACK")
                return .failure(WarehouseError(.unavailable, "commit failed: \(error)"))
            }
            return .success(outcomes)
        }
    }

    public func record(_ actions: [ActionRecord]) async throws(WarehouseError) {
        guard !actions.isEmpty else { return }
        let _: Bool = try await onQueue { database in
            var statement: OpaquePointer?
            guard sqlite3_prepare_v2(database, Schema.insertActions(.sqlite, rows: 1), -1, &statement, nil) == SQLITE_OK, let statement else {
                return .failure(WarehouseError(.unavailable, String(cString: sqlite3_errmsg(database))))
            }
            defer { sqlite3_finalize(statement) }
            _ = Self.execute(database, "BEGIN IMMEDIATE")
            for action in actions {
                sqlite3_reset(statement)
                for (index, value) in action.values.enumerated() {
                    Self.bind(value, at: Int32(index + 1), to: statement)
                }
                guard sqlite3_step(statement) == SQLITE_DONE else {
                    let message = String(cString: sqlite3_errmsg(database))
                    _ = Self.execute(database, "ROLLBACK")
                    return .failure(WarehouseError(.unavailable, message))
                }
            }
            if let error = Self.execute(database, "COMMIT") {
                return .failure(WarehouseError(.unavailable, error))
            }
            return .success(true)
        }
    }

    /// Runs a read-only query with text parameters (`?1`, `?2`…) and answers its rows as text
    /// (nil for NULL), for the lookups, tests and commands.
    public func rows(_ sql: String, parameters: [String] = []) async throws(WarehouseError) -> [[String?]] {
        try await onQueue { database in
            var statement: OpaquePointer?
            guard sqlite3_prepare_v2(database, sql, -1, &statement, nil) == SQLITE_OK, let statement else {
                return .failure(WarehouseError(.unavailable, String(cString: sqlite3_errmsg(database))))
            }
            defer { sqlite3_finalize(statement) }
            for (index, parameter) in parameters.enumerated() {
                Self.bind(.text(parameter), at: Int32(index + 1), to: statement)
            }
            var rows: [[String?]] = []
            while sqlite3_step(statement) == SQLITE_ROW {
                rows.append(
                    (0..<sqlite3_column_count(statement)).map { column in
                        sqlite3_column_text(statement, column).map { String(cString: $0) }
                    })
            }
            return .success(rows)
        }
    }

    /// Runs statements (tests install triggers with it).
    public func execute(_ sql: String) async throws(WarehouseError) {
        let _: Bool = try await onQueue { database in
            Self.execute(database, sql).map { .failure(WarehouseError(.unavailable, $0)) } ?? .success(true)
        }
    }

    /// Keeps the database open until graceful shutdown (or cancellation), then closes it.
    public func run() async {
        try? await gracefulShutdown()
        let _: Bool? = try? await onQueue { database in
            sqlite3_close(database)
            self.database = nil
            return .success(true)
        }
    }

    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    private static func bind(_ value: WarehouseRow.Value, at index: Int32, to statement: OpaquePointer) {
        switch value {
        case .text(let text?): sqlite3_bind_text(statement, index, text, -1, transient)
        case .integer(let integer?): sqlite3_bind_int64(statement, index, integer)
        case .text(nil), .integer(nil): sqlite3_bind_null(statement, index)
        }
    }

    /// Runs SQL without results; answers the error message, or nil.
    private static func execute(_ database: OpaquePointer, _ sql: String) -> String? {
        var error: UnsafeMutablePointer<CChar>?
        guard sqlite3_exec(database, sql, nil, nil, &error) != SQLITE_OK else { return nil }
        let message = error.map { String(cString: $0) } ?? String(cString: sqlite3_errmsg(database))
        sqlite3_free(error)
        return message
    }

    private static func integers(_ database: OpaquePointer, _ sql: String) -> [Int] {
        var statement: OpaquePointer?
        guard sqlite3_prepare_v2(database, sql, -1, &statement, nil) == SQLITE_OK, let statement else { return [] }
        defer { sqlite3_finalize(statement) }
        var values: [Int] = []
        while sqlite3_step(statement) == SQLITE_ROW {
            values.append(Int(sqlite3_column_int64(statement, 0)))
        }
        return values
    }
}
