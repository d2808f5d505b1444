import AsyncHTTPClient
import CustomerIO
import Foundation
import Logging
import NIOHTTP1
import ServiceLifecycle

/// The BigQuery warehouse: rows streamed through `tabledata.insertAll` with `insertId = event_id`.
///
/// A batch is packed into requests of at most 500 rows and 5 MB, several in flight at once. A row
/// BigQuery refuses as `invalid` comes back `rejected` (its event is dead-lettered) while the rest
/// lands; throttling, BigQuery's own failures and no answer at all throw, so the whole batch is
/// tried again and stays pending meanwhile; a table that has gone is created again before the
/// batch is sent once more. BigQuery cannot say whether an `insertId` was already there, so every
/// row that lands is `written`: one row per `event_id` is what the view
/// `customerio_events_unique` gives (see docs).
public final class BigQuerySink: EventSink {
    public struct Configuration: Sendable, Hashable, CustomStringConvertible {
        public var target: BigQueryTarget
        /// `https://bigquery.googleapis.com`, or `BIGQUERY_API_URL` (an emulator, a proxy).
        public var apiURL: String
        public var credentials: GoogleCredentials
        public var maximumRowsPerRequest = 500
        public var maximumRequestBytes = 5_000_000
        /// Requests of one batch in flight at once.
        public var concurrentRequests = 4
        public var requestTimeout: Duration = .seconds(30)
        /// How long before a token's expiry a new one is fetched.
        public var tokenRefreshMargin: Duration = .seconds(300)

        public static let defaultAPIURL = "https://bigquery.googleapis.com"

        public init(target: BigQueryTarget, apiURL: String? = nil, credentials: GoogleCredentials) {
            self.target = target
            self.apiURL = apiURL ?? Self.defaultAPIURL
            self.credentials = credentials
        }

        public var description: String {
            "\(target)" + (apiURL == Self.defaultAPIURL ? "" : " via \(apiURL)") + " (\(credentials))"
        }
    }

    public let configuration: Configuration
    let schema: BigQuerySchema
    private let api: BigQueryAPI
    private let logger: Logger
    private let packer: JSONArrayPacker
    private let metrics: BigQueryMetrics

    public init(
        configuration: Configuration, schema: BigQuerySchema = .current, logger: Logger, http: HTTPClient = .shared,
        metrics: BigQueryMetrics = BigQueryMetrics()
    ) {
        self.configuration = configuration
        self.metrics = metrics
        self.schema = schema
        self.logger = logger
        let tokens = AccessTokenCache(
            credentials: configuration.credentials, http: http, logger: logger, refreshMargin: configuration.tokenRefreshMargin)
        api = BigQueryAPI(
            apiURL: configuration.apiURL, project: configuration.target.project, tokens: tokens, http: http, timeout: configuration.requestTimeout)
        packer = JSONArrayPacker(
            opening: #"{"ignoreUnknownValues":false,"skipInvalidRows":true,"rows":["#, closing: "]}",
            maximumRequestBytes: configuration.maximumRequestBytes, maximumItemBytes: configuration.maximumRequestBytes,
            maximumItems: configuration.maximumRowsPerRequest)
    }

    /// Nothing to run: requests go through the shared HTTP client. Waits for shutdown.
    public func run() async {
        try? await gracefulShutdown()
    }

    // MARK: Rows

    public func write(_ rows: [WarehouseRow]) async throws(WarehouseError) -> [RowOutcome] {
        let now = BigQueryRowFormat.timestamp(milliseconds: Int64(Date().timeIntervalSince1970 * 1000)) ?? ""
        let items = rows.map { row in BigQueryRowFormat.item(insertID: row.eventID, json: BigQueryRowFormat.json(of: row, ingestedAt: now)) }
        return try await insert(items, into: .events)
    }

    public func record(_ actions: [ActionRecord]) async throws(WarehouseError) {
        let now = BigQueryRowFormat.timestamp(milliseconds: Int64(Date().timeIntervalSince1970 * 1000)) ?? ""
        let items = actions.map { action in
            var columns: [String: JSONValue] = ["acted_at": .string(now)]
            for (name, value) in zip(ActionRecord.columns, action.values) {
                if case .text(let text?) = value { columns[name] = .string(text) }
            }
            return BigQueryRowFormat.item(insertID: nil, json: .object(columns))
        }
        let outcomes = try await insert(items, into: .actions)
        for case (let action, .rejected(let message)) in zip(actions, outcomes) {
            logger.error(
                "BigQuery refused an audit row", metadata: ["event_id": "\(action.eventID)", "action": "\(action.action)", "error": "\(message)"])
        }
    }

    /// Inserts the items into `table`, packed and several requests at once; one outcome per item.
    private func insert(_ items: [[UInt8]], into table: BigQueryTable) async throws(WarehouseError) -> [RowOutcome] {
        guard !items.isEmpty else { return [] }
        var outcomes = [RowOutcome](repeating: .written, count: items.count)
        let packing = packer.pack(items)
        for index in packing.oversized {
            outcomes[index] = .rejected("the row is larger than the \(configuration.maximumRequestBytes) bytes an insertAll request may carry")
        }
        let results = await withTaskGroup(of: Result<[(Int, RowOutcome)], WarehouseError>.self) { group in
            var results: [Result<[(Int, RowOutcome)], WarehouseError>] = []
            var next = 0
            func startNext() {
                guard next < packing.requests.count else { return }
                let request = packing.requests[next]
                next += 1
                group.addTask {
                    do throws(WarehouseError) {
                        return .success(try await self.send(request.items, items: items, to: table, recreated: false))
                    } catch {
                        return .failure(error)
                    }
                }
            }
            for _ in 0..<configuration.concurrentRequests { startNext() }
            for await result in group {
                results.append(result)
                startNext()
            }
            return results
        }
        for result in results {
            for (index, outcome) in try result.get() { outcomes[index] = outcome }
        }
        return outcomes
    }

    /// One insertAll request of `indices` (positions in `items`), and what became of each row.
    private func send(_ indices: [Int], items: [[UInt8]], to table: BigQueryTable, recreated: Bool) async throws(WarehouseError) -> [(
        Int, RowOutcome
    )] {
        let name = self.name(of: table)
        let body = packer.body(of: indices.map { items[$0] })
        let answer: BigQueryAPI.Answer
        do {
            answer = try await api.call(.POST, "/datasets/\(configuration.target.dataset)/tables/\(name)/insertAll", body: body)
        } catch {
            metrics.request(status: nil, bytes: body.count)
            throw error
        }
        metrics.request(status: answer.status, bytes: body.count)
        if answer.succeeded {
            return try await rowOutcomes(answer, indices: indices, items: items, table: table)
        }
        if answer.status == 404 && !recreated {
            logger.warning("a BigQuery table is missing; creating it again", metadata: ["table": "\(name)", "error": "\(answer.message)"])
            try await ensureTables()
            return try await send(indices, items: items, to: table, recreated: true)
        }
        if answer.isRetryable || answer.status == 401 || answer.status == 403 || answer.status == 404 {
            throw WarehouseError(.unavailable, "BigQuery insertAll into \(name): HTTP \(answer.status) \(answer.reason ?? ""): \(answer.message)")
        }
        // A request BigQuery refuses as a whole (400, 413) although each row is checked on its own:
        // halve it until the row it cannot take is found, so that one row never holds the rest.
        guard indices.count > 1 else {
            return [(indices[0], .rejected("BigQuery refused the row: HTTP \(answer.status) \(answer.reason ?? ""): \(answer.message)"))]
        }
        let half = indices.count / 2
        return try await send(Array(indices[..<half]), items: items, to: table, recreated: recreated)
            + send(Array(indices[half...]), items: items, to: table, recreated: recreated)
    }

    /// The outcomes of a 200 answer: rows named in `insertErrors` as `invalid` are rejected with
    /// BigQuery's message; rows `stopped` only because another row was invalid are sent again.
    private func rowOutcomes(_ answer: BigQueryAPI.Answer, indices: [Int], items: [[UInt8]], table: BigQueryTable) async throws(WarehouseError) -> [(
        Int, RowOutcome
    )] {
        guard case .array(let insertErrors)? = answer.json?["insertErrors"] else { return indices.map { ($0, .written) } }
        var outcomes = Dictionary(uniqueKeysWithValues: indices.map { ($0, RowOutcome.written) })
        var stopped: [Int] = []
        for insertError in insertErrors {
            guard case .number(let position)? = insertError["index"], let offset = Int(exactly: position), indices.indices.contains(offset) else {
                throw WarehouseError(.unavailable, "BigQuery answered insertErrors without a usable index")
            }
            let errors: [JSONValue] = if case .array(let list)? = insertError["errors"] { list } else { [] }
            let reasons = errors.compactMap { $0["reason"]?.stringValue }
            if reasons.contains("invalid") {
                let messages = errors.filter { $0["reason"]?.stringValue == "invalid" }.map { error in
                    [error["location"]?.stringValue, error["message"]?.stringValue].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: ": ")
                }
                outcomes[indices[offset]] = .rejected("BigQuery: " + messages.joined(separator: "; "))
            } else if reasons.allSatisfy({ $0 == "stopped" }) {
                stopped.append(indices[offset])
            } else {
                throw WarehouseError(.unavailable, "BigQuery could not insert a row: \(reasons.joined(separator: ", "))")
            }
        }
        if !stopped.isEmpty {
            for (index, outcome) in try await send(stopped, items: items, to: table, recreated: false) { outcomes[index] = outcome }
        }
        return indices.map { ($0, outcomes[$0] ?? .written) }
    }

    // MARK: Schema

    private func name(of table: BigQueryTable) -> String {
        switch table {
        case .events: configuration.target.eventsTable
        case .actions: configuration.target.actionsTable
        }
    }

    private var datasetPath: String { "/datasets/\(configuration.target.dataset)" }

    /// Creates the dataset (where allowed) and both tables, adds the columns of later versions
    /// through `tables.patch`, and creates the view; answers the versions applied now.
    public func migrate() async throws(WarehouseError) -> [Int] {
        try await createDataset()
        var applied: Set<Int> = []
        for table in BigQueryTable.allCases {
            applied.formUnion(try await migrate(table))
        }
        try await createUniqueView()
        return applied.sorted()
    }

    /// The tables that are missing, created at the latest version (after a 404 on insert).
    private func ensureTables() async throws(WarehouseError) {
        for table in BigQueryTable.allCases {
            _ = try await migrate(table)
        }
    }

    private func createDataset() async throws(WarehouseError) {
        var dataset: [String: JSONValue] = [
            "datasetReference": .object(["projectId": .string(configuration.target.project), "datasetId": .string(configuration.target.dataset)])
        ]
        if let location = configuration.target.location { dataset["location"] = .string(location) }
        let answer = try await api.call(.POST, "/datasets", body: JSONValue.object(dataset).serialized())
        switch answer.status {
        case 200..<300, 409:
            return
        case 403:
            // Creating datasets needs more than the sink's role; an administrator made it.
            logger.notice("not allowed to create the BigQuery dataset; using it as it is", metadata: ["dataset": "\(configuration.target.dataset)"])
        default:
            throw answer.schemaFailure("datasets.insert \(configuration.target.dataset)")
        }
    }

    private func migrate(_ table: BigQueryTable) async throws(WarehouseError) -> [Int] {
        let name = self.name(of: table)
        let path = "\(datasetPath)/tables/\(name)"
        let latest = schema.latestVersion
        let current = try await api.call(.GET, path)
        if current.status == 404 {
            var resource = BigQuerySchema.layout(of: table)
            resource["tableReference"] = tableReference(name)
            resource["schema"] = .object(["fields": .array(schema.fields(of: table).map(\.resource))])
            resource["labels"] = .object([BigQuerySchema.versionLabel: .string(String(latest))])
            let created = try await api.call(.POST, "\(datasetPath)/tables", body: JSONValue.object(resource).serialized())
            guard created.succeeded || created.status == 409 else {
                throw created.schemaFailure("tables.insert \(name)")
            }
            if created.succeeded { logger.notice("BigQuery table created", metadata: ["table": "\(name)", "version": "\(latest)"]) }
            return created.succeeded ? schema.migrations.map(\.version) : []
        }
        guard current.succeeded else {
            throw current.schemaFailure("tables.get \(name)")
        }
        let applied = current.json?["labels"]?[BigQuerySchema.versionLabel]?.stringValue.flatMap { Int($0) } ?? 0
        // A table a newer release migrated (a rollback): rows of this release would lack its columns.
        try Schema.checkNotNewer(applied: [applied], latest: latest)
        guard applied < latest else { return [] }
        let existing: [JSONValue] = if case .array(let fields)? = current.json?["schema"]?["fields"] { fields } else { [] }
        let present = Set(existing.compactMap { $0["name"]?.stringValue })
        let added = schema.fields(of: table).filter { !present.contains($0.name) }
        var labels: [String: JSONValue] = if case .object(let members)? = current.json?["labels"] { members } else { [:] }
        labels[BigQuerySchema.versionLabel] = .string(String(latest))
        let patch: JSONValue = .object([
            "schema": .object(["fields": .array(existing + added.map(\.resource))]),
            "labels": .object(labels),
        ])
        let patched = try await api.call(.PATCH, path, body: patch.serialized())
        guard patched.succeeded else {
            throw patched.schemaFailure("tables.patch \(name)")
        }
        logger.notice(
            "BigQuery table migrated",
            metadata: ["table": "\(name)", "from": "\(applied)", "to": "\(latest)", "columns_added": "\(added.map(\.name))"])
        return schema.migrations.map(\.version).filter { $0 > applied }
    }

    private func createUniqueView() async throws(WarehouseError) {
        let name = configuration.target.uniqueView
        guard try await api.call(.GET, "\(datasetPath)/tables/\(name)").status == 404 else { return }
        let view: JSONValue = .object([
            "tableReference": tableReference(name),
            "view": .object(["query": .string(BigQuerySchema.uniqueViewQuery(configuration.target)), "useLegacySql": .bool(false)]),
        ])
        let created = try await api.call(.POST, "\(datasetPath)/tables", body: view.serialized())
        guard created.succeeded || created.status == 409 else {
            throw created.schemaFailure("view \(name)")
        }
    }

    private func tableReference(_ name: String) -> JSONValue {
        .object(["projectId": .string(configuration.target.project), "datasetId": .string(configuration.target.dataset), "tableId": .string(name)])
    }
}
