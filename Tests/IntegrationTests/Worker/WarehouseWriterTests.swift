import CustomerIO
import EventQueue
import Foundation
import Hiredis
import Logging
import Prometheus
import TestSupport
import Testing
import Warehouse
import Worker

/// The warehouse consumer wired to real Redis and a real sink.
struct WarehouseHarness {
    let queue: EventQueue
    let writer: WarehouseWriter
    let query: @Sendable (String) async throws -> [[String?]]
    /// Rows in the events table, as the warehouse itself counts them.
    let countRows: @Sendable () async throws -> Int
    /// The writer's metrics, in a registry of this harness's own.
    let registry: PrometheusCollectorRegistry

    /// Runs `body` with a writer on a fresh warehouse (a new SQLite file, a new dataset on the given
    /// BigQuery emulator, or a new database on the given PostgreSQL server) and a fresh queue;
    /// everything is stopped afterwards.
    static func run(
        postgresServer: String? = nil, sqlite: Bool = false, bigQueryURL: String? = nil, batchSize: Int = 500,
        writeTimeout: Duration = .seconds(60), _ body: (WarehouseHarness) async throws -> Void
    ) async throws {
        var logger = Logger(label: "warehouse-test")
        logger.logLevel = .critical
        if sqlite {
            let directory =
                ProcessInfo.processInfo.environment["CIO_RELAY_TEST_TMPDIR"].map { URL(fileURLWithPath: $0) }
                ?? FileManager.default.temporaryDirectory
            try await SQLiteSink(path: directory.appendingPathComponent("wh-\(UUID().uuidString).sqlite").path).withRunning { database in
                try await run(
                    sink: database, query: { try await database.rows($0) }, batchSize: batchSize, writeTimeout: writeTimeout, logger: logger, body)
            }
        } else if let bigQueryURL {
            let dataset = TestBigQuery.uniqueDataset("w")
            let configuration = BigQuerySink.Configuration(
                target: BigQueryTarget(project: TestBigQuery.project, dataset: dataset), apiURL: bigQueryURL, credentials: .none)
            try await BigQuerySink(configuration: configuration, logger: logger).withRunning { sink in
                let count: @Sendable () async throws -> Int = {
                    let rows = try TestBigQuery.query(
                        "SELECT COUNT(*) AS n FROM `\(TestBigQuery.project).\(dataset).customerio_events`", url: bigQueryURL)
                    return rows.first?["n"] as? Int ?? -1
                }
                try await run(
                    sink: sink, query: { _ in [] }, countRows: count, batchSize: batchSize, writeTimeout: writeTimeout, logger: logger, body)
            }
        } else {
            let server = try postgresServer ?? TestPostgres.url()
            let name = "w_" + UUID().uuidString.prefix(12).lowercased().replacingOccurrences(of: "-", with: "")
            try await PostgresSink(url: server, logger: logger).withRunning { admin in
                try await admin.execute("CREATE DATABASE \(name)")
            }
            try await PostgresSink(url: server.replacingOccurrences(of: "/postgres?", with: "/\(name)?"), logger: logger).withRunning { database in
                try await run(
                    sink: database, query: { try await database.rows($0) }, batchSize: batchSize, writeTimeout: writeTimeout, logger: logger, body)
            }
        }
    }

    private static func run(
        sink: any EventSink, query: @escaping @Sendable (String) async throws -> [[String?]], countRows: (@Sendable () async throws -> Int)? = nil,
        batchSize: Int, writeTimeout: Duration, logger: Logger, _ body: (WarehouseHarness) async throws -> Void
    ) async throws {
        let countRows =
            countRows ?? {
                Int((try await query("SELECT CAST(count(*) AS TEXT) FROM customerio_events").first?.first ?? nil) ?? "") ?? -1
            }
        _ = try await sink.migrate()
        try await withTestQueue(prefix: "wh") { queue in
            let configuration = ConsumerConfiguration(
                group: WarehouseWriter.group, consumer: "w1", batchSize: batchSize, blockTime: .milliseconds(50))
            try await withShutdown(try GroupConsumer(queue: queue, configuration: configuration)) { consumer in
                try await consumer.createGroup()
                let registry = PrometheusCollectorRegistry()
                let writer = WarehouseWriter(
                    consumer: consumer, sink: sink, logger: logger, initialBackoff: .milliseconds(50), maximumBackoff: .milliseconds(200),
                    writeTimeout: writeTimeout, metrics: WarehouseMetrics(factory: PrometheusMetricsFactory(registry: registry)))
                try await body(WarehouseHarness(queue: queue, writer: writer, query: query, countRows: countRows, registry: registry))
            }
        }
    }

    func add(_ count: Int) async throws {
        for _ in 0..<count {
            let id = Fixtures.newEventID()
            _ = try await queue.enqueue(
                IncomingEvent(
                    eventID: id, body: Fixtures.event(id: id, metric: "opened"), workspace: "default", receivedAt: 1_767_235_000_000,
                    objectType: "email", metric: "opened"))
        }
    }

    /// Processes until nothing new is left; answers the reports.
    func drain() async throws -> [WarehouseWriter.Report] {
        var reports: [WarehouseWriter.Report] = []
        while true {
            let batch = try await writer.consumer.readNew()
            if batch.isEmpty { return reports }
            reports.append(try await writer.process(batch, now: 1_767_235_100_000))
        }
    }

    func rowCount() async throws -> Int {
        try await countRows()
    }

    func pending() async throws -> Int {
        try await queue.groupStatistics().first { $0.name == WarehouseWriter.group }?.pending ?? -1
    }
}

// Serialized: two tests stop or freeze the one outage server.
@Suite("Warehouse consumer against real Redis, SQLite and PostgreSQL", .serialized)
struct WarehouseWriterTests {
    @Test(arguments: [true, false])
    func tenThousandEventsArriveOnceEach(sqlite: Bool) async throws {
        try await WarehouseHarness.run(sqlite: sqlite) { harness in
            try await harness.add(10_000)
            let reports = try await harness.drain()
            #expect(reports.map(\.written).reduce(0, +) == 10_000)
            #expect(try await harness.rowCount() == 10_000)
            #expect(try await harness.pending() == 0)
            // A redelivered entry (a replay) adds no row.
            let first = try #require(try await harness.queue.entries(of: harness.queue.keys.events, count: 1).first)
            _ = try await harness.queue.client.send(
                RedisCommand(
                    "XADD",
                    [RedisArgument(harness.queue.keys.events), "*"]
                        + first.fields.flatMap { [RedisArgument($0.key), RedisArgument(bytes: $0.value)] }))
            let again = try await harness.drain()
            #expect(again.map(\.duplicates).reduce(0, +) == 1)
            #expect(try await harness.rowCount() == 10_000)
            let metrics = harness.registry.emitToString()
            #expect(metrics.contains(#"cio_relay_warehouse_rows_total{outcome="written"} 10000"#), "\(metrics)")
            #expect(metrics.contains(#"cio_relay_warehouse_rows_total{outcome="duplicate"} 1"#), "\(metrics)")
        }
    }

    @Test(arguments: [true, false])
    func aRefusedRowGoesToDeadLettersWhileItsBatchLands(sqlite: Bool) async throws {
        try await WarehouseHarness.run(sqlite: sqlite) { harness in
            try await harness.add(3)
            let poison: [UInt8]
            if sqlite {
                _ = try await harness.query(
                    "CREATE TRIGGER refuse_poison BEFORE INSERT ON customerio_events WHEN NEW.subject = 'poison' BEGIN SELECT RAISE(ABORT, 'poison row refused'); END"
                )
                poison = Array(
                    #"{"event_id":"01POISON\#(UUID().uuidString.prefix(4))","object_type":"email","metric":"sent","timestamp":1,"data":{"subject":"poison"}}"#
                        .utf8)
            } else {
                poison = Array(
                    #"{"event_id":"01POISON\#(UUID().uuidString.prefix(4))","object_type":"email","metric":"sent","timestamp":1,"data":{"subject":"nul \u0000 inside"}}"#
                        .utf8)
            }
            _ = try await harness.queue.enqueue(
                IncomingEvent(
                    eventID: try WebhookEnvelope.parse(poison).eventID, body: poison, workspace: "default", receivedAt: 1, objectType: "email",
                    metric: "sent"))
            try await harness.add(2)
            let reports = try await harness.drain()
            #expect(reports.map(\.written).reduce(0, +) == 5)
            #expect(reports.map(\.deadLettered).reduce(0, +) == 1)
            #expect(try await harness.rowCount() == 5)
            let letter = try #require(try await harness.queue.deadLetters().first)
            #expect(letter.reason == "warehouse_rejected" && !letter.error.isEmpty)
            #expect(letter.entry.fields["body"] == poison)
            #expect(try await harness.pending() == 0)
        }
    }

    @Test func tenThousandEventsThroughRedisBecomeTenThousandBigQueryRows() async throws {
        try await WarehouseHarness.run(bigQueryURL: try TestBigQuery.url()) { harness in
            try await harness.add(10_000)
            let reports = try await harness.drain()
            #expect(reports.map(\.written).reduce(0, +) == 10_000)
            #expect(reports.map(\.deadLettered).reduce(0, +) == 0)
            #expect(try await harness.rowCount() == 10_000)
            #expect(try await harness.pending() == 0)
        }
    }

    @Test func bigQueryStoppedMidStreamLosesNothingAndAcknowledgesNothingUntilItIsBack() async throws {
        try await WarehouseHarness.run(bigQueryURL: try TestBigQuery.outageURL(), batchSize: 200) { harness in
            try await harness.stoppedMidStream { action in try await TestBigQuery.outage(action) }
        }
    }

    @Test func aWriteThatNeverReturnsIsAbandonedAtItsDeadlineAndTheBatchWrittenAgain() async throws {
        try await WarehouseHarness.run(postgresServer: try TestPostgres.outageURL(), batchSize: 200, writeTimeout: .seconds(1)) { harness in
            try await harness.add(400)
            _ = try await harness.writer.process(try await harness.writer.consumer.readNew(), now: 0)
            // A frozen server keeps its connections open and answers nothing: the write would wait forever.
            try await TestPostgres.outage("pause")
            let batch = try await harness.writer.consumer.readNew()
            let writing = Task { try await harness.writer.process(batch, now: 0) }
            try await Task.sleep(for: .milliseconds(2500))
            #expect(try await harness.pending() == 200, "nothing of the batch is acknowledged while its write hangs")
            let errors = harness.registry.emitToString()
            try await TestPostgres.outage("resume")
            #expect(
                errors.contains("cio_relay_warehouse_errors_total 1") || errors.contains("cio_relay_warehouse_errors_total 2"),
                "the writes abandoned at their deadline count as errors: \(errors)")
            let report = try await writing.value
            // The abandoned write may itself commit once the server thaws: its rows are then duplicates.
            #expect(report.written + report.duplicates == 200 && !report.interrupted)
            _ = try await harness.drain()
            #expect(try await harness.rowCount() == 400)
            #expect(try await harness.pending() == 0)
            #expect(try await harness.queue.deadLetters().isEmpty)
        }
    }

    @Test func postgresStoppedMidStreamLosesNothingAndAcknowledgesNothingUntilItIsBack() async throws {
        try await WarehouseHarness.run(postgresServer: try TestPostgres.outageURL(), batchSize: 200) { harness in
            try await harness.stoppedMidStream { action in try await TestPostgres.outage(action) }
        }
    }
}

extension WarehouseHarness {
    /// 1,000 events in batches of 200: two land, then the warehouse is stopped (`outage("stop")`)
    /// while a batch is being written, and started again. Nothing of that batch is acknowledged
    /// meanwhile, nothing is dead-lettered, and every event ends up a row.
    func stoppedMidStream(_ outage: (String) async throws -> Void) async throws {
        let harness = self
        try await harness.add(1000)
        // Two batches land, then the database goes away.
        for _ in 0..<2 {
            _ = try await harness.writer.process(try await harness.writer.consumer.readNew(), now: 0)
        }
        #expect(try await harness.rowCount() == 400)
        try await outage("stop")
        let batch = try await harness.writer.consumer.readNew()
        #expect(batch.count == 200)
        let writing = Task { try await harness.writer.process(batch, now: 0) }
        try await Task.sleep(for: .milliseconds(1500))
        #expect(try await harness.pending() == 200, "nothing of the batch is acknowledged while the warehouse is down")
        #expect(try await harness.queue.deadLetters().isEmpty, "an unreachable warehouse dead-letters nothing")
        try await outage("start")
        let report = try await writing.value
        #expect(report.written == 200 && !report.interrupted)
        _ = try await harness.drain()
        #expect(try await harness.rowCount() == 1000)
        #expect(try await harness.pending() == 0)
        #expect(try await harness.queue.deadLetters().isEmpty)
    }
}
