import ArgumentParser
import EventQueue
import Foundation
import Hiredis
import LoadGenerator
import Logging
import Operations
import Receiver
import RelayApp
import RelaySettings
import Warehouse

@main
struct CioRelay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cio-relay",
        abstract: "Receive Customer.io reporting webhooks, queue them in Redis, and act on them through the Track API.",
        version: BuildInfo.description,
        subcommands: [
            Serve.self, Work.self, Run.self, Status.self, Trace.self, Send.self, Migrate.self, DeadLetters.self, PolicyCommand.self, Config.self,
        ]
    )
}

/// Reads the settings the roles use from the environment, or exits with EX_CONFIG and the reason.
func loadSettings(roles: RelayRoles) throws -> RelaySettings {
    do {
        return try RelaySettings.load(environment: ProcessInfo.processInfo.environment, roles: roles)
    } catch {
        throw reportedExit(error)
    }
}

func runProcess(_ roles: RelayRoles) async throws {
    let settings = try loadSettings(roles: roles)
    let exposition = RelayProcess.bootstrapObservability(level: settings.logLevel)
    do {
        try await RelayProcess.run(settings: settings, roles: roles, exposition: exposition)
    } catch let error as RedisError where error.code == .unknownMaster {
        throw reportedExit(error)
    } catch let error as SettingsError {
        // A Redis too old, or data written with another partition count: the configuration.
        throw reportedExit(error)
    } catch let error as WarehouseError where error.code == .schemaTooNew {
        throw reportedExit(error)
    } catch let error as QueueLayoutError {
        throw reportedExit(error)
    }
}

/// Says on standard error why a command stops, and answers the exit status that says it to a
/// script: an operation's own status, EX_CONFIG for the configuration (a bad setting, a master no
/// Sentinel knows), EX_UNAVAILABLE for anything else (Redis or the warehouse did not answer).
func reportedExit(_ error: any Error) -> ExitCode {
    let status: ExitStatus
    let message: String
    switch error {
    case let failure as OperationFailure:
        (status, message) = (failure.status, failure.message)
    case is SettingsError:
        (status, message) = (.configuration, "configuration error: \(error)")
    case let error as RedisError where error.code == .unknownMaster:
        (status, message) = (.configuration, "configuration error: \(error)")
    case let error as WarehouseError where error.code == .schemaTooNew:
        (status, message) = (.configuration, "\(error.message)")
    case let error as QueueLayoutError:
        (status, message) = (.configuration, error.message)
    default:
        (status, message) = (.unavailable, "\(error)")
    }
    FileHandle.standardError.write(Data("cio-relay: \(message)\n".utf8))
    return ExitCode(status.rawValue)
}

/// Runs an operator command against the configured Redis and prints its answer; `roles` says
/// which settings beyond Redis it reads (the worker's for the warehouse). The Redis client is
/// closed whatever happens, before a failure becomes the exit status.
func withQueue(roles: RelayRoles = [], _ body: (EventQueue, RelaySettings) async throws -> String) async throws {
    let settings = try loadSettings(roles: roles)
    let client = try RedisClient(configuration: settings.redis)
    let queue = EventQueue(client: client, configuration: settings.queue)
    let answer: Result<String, any Error>
    do {
        try await RelayProcess.checkRedis(queue)
        answer = .success(try await body(queue, settings))
    } catch {
        answer = .failure(error)
    }
    await client.shutdown()
    switch answer {
    case .success(let text): print(text)
    case .failure(let error): throw reportedExit(error)
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the webhook receiver (configuration from the environment; see docs/configuration.md).")
    func run() async throws { try await runProcess([.receiver]) }
}

struct Work: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the workers: act on queued events through the Track API.")
    func run() async throws { try await runProcess([.worker]) }
}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the receiver and the workers in one process.")
    func run() async throws { try await runProcess([.receiver, .worker]) }
}

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Show the queue: stream length, per group lag, pending, oldest unprocessed age and consumers, dead letters, dedup keys, Redis memory.",
        discussion: "Exits 1 when a group exceeds --max-lag or --max-age (the reasons on standard error), so it can serve as a check."
    )
    @Flag(help: "Print one JSON object instead of text.") var json = false
    @Option(help: "Fail when a group has more undelivered entries than this.") var maxLag: Int?
    @Option(help: "Fail when a group's oldest unprocessed event is older than this many seconds.") var maxAge: Double?

    func validate() throws {
        if let maxLag, maxLag < 0 { throw ValidationError("--max-lag must be 0 or more") }
        if let maxAge, !(maxAge >= 0) { throw ValidationError("--max-age must be 0 or more seconds") }
    }

    func run() async throws {
        var exceeded: [String] = []
        try await withQueue { queue, settings in
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            let report = try await OperatorCommands.status(
                queue, groups: settings.groups, json: json, maxLag: maxLag, maxAge: maxAge, nowMilliseconds: now)
            exceeded = report.exceeded
            return report.text
        }
        guard exceeded.isEmpty else {
            FileHandle.standardError.write(Data(exceeded.map { "cio-relay: threshold exceeded: \($0)\n" }.joined().utf8))
            throw ExitCode(ExitStatus.failure.rawValue)
        }
    }
}

struct Trace: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Trace one event: its dedup marker, stream entry, each group's progress, dead letters, warehouse row and the actions taken.",
        discussion: "Reads Redis and the warehouse (WAREHOUSE_URL; SQLite or PostgreSQL). Exits 1 when nothing at all is known about the event."
    )
    @Argument(help: "The event_id.") var eventID: String
    @Flag(help: "Print one JSON object instead of text.") var json = false

    func validate() throws {
        guard !eventID.isEmpty, eventID.count <= 200, !eventID.contains(where: { $0.isWhitespace || $0.isNewline }) else {
            throw ValidationError("the event_id must be 1 to 200 characters without spaces")
        }
    }

    func run() async throws {
        var known = true
        try await withQueue(roles: [.worker]) { queue, settings in
            var logger = Logger(label: "cio-relay")
            logger.logLevel = .warning
            let report: EventTraceReport
            if let sink = try settings.warehouse.makeSink(logger: logger) {
                report = try await sink.withRunning { sink in
                    try await EventTraceReport.make(eventID: eventID, queue: queue, lookup: sink as? any EventLookup, warehouse: settings.warehouse)
                }
            } else {
                report = try await EventTraceReport.make(eventID: eventID, queue: queue, lookup: nil, warehouse: settings.warehouse)
            }
            known = report.isKnown
            return json ? try report.json() : report.text(nowMilliseconds: Int64(Date().timeIntervalSince1970 * 1000))
        }
        if !known { throw ExitCode(ExitStatus.failure.rawValue) }
    }
}

struct Send: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Sign and send events to a receiver: to try a deployment, or for load.",
        discussion: """
            Without --payloads it sends generated events of every object type and metric. The signing key \
            comes from CUSTOMERIO_WEBHOOK_SECRET unless --secret is given. Exits 1 when a request failed.
            """
    )
    @Option(help: "The webhook URL, e.g. http://127.0.0.1:3000/webhooks/customerio.") var url: String
    @Option(help: "A JSON payload file, or a directory of them (*.json), each sent once.") var payloads: String?
    @Option(help: "How many events to send (default: every payload, or 100 generated ones).") var count: Int?
    @Option(help: "Requests per second in all (default: as fast as answers come).") var rate: Double?
    @Option(help: "Requests in flight at once.") var concurrency = 8
    @Option(help: "Share of sends that repeat an earlier event, 0 to 1.") var duplicates = 0.0
    @Option(help: "The signing key (default: CUSTOMERIO_WEBHOOK_SECRET).") var secret: String?
    @Option(help: "Generated events go to this many people (u_1 … u_N).") var people = 5000
    @Option(help: "Generated events are up to this many seconds old, in a scrambled order.") var timeSpread = 0
    @Option(help: "Goes into every generated event_id: senders running at once need different ones (default: the time).") var runID: String?
    @Option(help: "Append a line per send to this file: the event_id and the answer.") var record: String?
    @Option(
        help: ArgumentHelp(
            "Write the signed requests to PREFIX.0 … PREFIX.<files - 1> for wrk (Benchmarks/webhooks.lua) instead of sending them.",
            valueName: "prefix"))
    var writeRequests: String?
    @Option(help: "With --write-requests, how many files to deal the requests over (one per wrk thread).") var files = 1

    func validate() throws {
        guard url.hasPrefix("http://") || url.hasPrefix("https://") else { throw ValidationError("--url must be an http:// or https:// URL") }
        if let count, count < 1 { throw ValidationError("--count must be at least 1") }
        if let rate, !(rate > 0) { throw ValidationError("--rate must be above 0") }
        guard concurrency >= 1 else { throw ValidationError("--concurrency must be at least 1") }
        guard (0...1).contains(duplicates) else { throw ValidationError("--duplicates must be between 0 and 1") }
        guard people >= 1 else { throw ValidationError("--people must be at least 1") }
        guard timeSpread >= 0 else { throw ValidationError("--time-spread must be 0 or more seconds") }
        if let runID {
            guard !runID.isEmpty, runID.allSatisfy({ $0.isLetter || $0.isNumber }) else {
                throw ValidationError("--run-id must be letters and digits")
            }
        }
        guard (1...256).contains(files) else { throw ValidationError("--files must be between 1 and 256") }
        if writeRequests != nil, duplicates > 0 || rate != nil || record != nil {
            throw ValidationError("--write-requests writes each event once: --duplicates, --rate and --record are for sending")
        }
    }

    func run() async throws {
        guard let key = secret ?? ProcessInfo.processInfo.environment["CUSTOMERIO_WEBHOOK_SECRET"], !key.isEmpty else {
            throw ValidationError("no signing key: set CUSTOMERIO_WEBHOOK_SECRET or pass --secret")
        }
        let feed: EventFeed
        var total = count ?? 100
        if let payloads {
            let bodies: [[UInt8]]
            do {
                bodies = try PayloadFiles.load(path: payloads)
            } catch {
                throw reportedExit(OperationFailure(error.description, status: .noInput))
            }
            feed = .bodies(bodies)
            total = count ?? bodies.count
        } else {
            feed = .generated(
                runID.map { SampleEventGenerator(runID: $0, people: people, timeSpread: Int64(timeSpread)) }
                    ?? SampleEventGenerator(people: people, timeSpread: Int64(timeSpread)))
        }
        if let writeRequests {
            guard let target = URLComponents(string: url), let host = target.host else { throw ValidationError("--url must name a host") }
            var corpus = RequestCorpus(secret: key)
            corpus.host = target.port.map { "\(host):\($0)" } ?? host
            corpus.path = target.percentEncodedPath.isEmpty ? "/" : target.percentEncodedPath
            do {
                let written = try corpus.write(count: total, feed: feed, files: files, prefix: writeRequests)
                print("wrote \(written) signed requests to \(writeRequests).0 … \(writeRequests).\(files - 1)")
            } catch {
                throw reportedExit(OperationFailure(String(describing: error), status: .cannotCreate))
            }
            return
        }
        var configuration = WebhookSender.Configuration(url: url, secret: key)
        configuration.concurrency = concurrency
        configuration.rate = rate
        configuration.duplicates = duplicates
        if let record {
            guard FileManager.default.fileExists(atPath: record) || FileManager.default.createFile(atPath: record, contents: nil),
                let handle = FileHandle(forWritingAtPath: record)
            else {
                throw reportedExit(OperationFailure("cannot write \(record)", status: .cannotCreate))
            }
            handle.seekToEndOfFile()
            configuration.record = handle
        }
        let summary = await WebhookSender(configuration: configuration).send(count: total, feed: feed) { progress in
            FileHandle.standardError.write(Data("\r\(progress.progressLine)".utf8))
        }
        FileHandle.standardError.write(Data("\r\(summary.progressLine)\n".utf8))
        print(summary.report)
        if summary.errorCount > 0 { throw ExitCode(ExitStatus.failure.rawValue) }
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Bring the warehouse schema (WAREHOUSE_URL) to the latest version; workers also do it on start.")
    func run() async throws {
        let settings = try loadSettings(roles: [.worker])
        var logger = Logger(label: "cio-relay")
        logger.logLevel = .warning
        do {
            print(try await OperatorCommands.migrate(settings.warehouse, logger: logger))
        } catch {
            throw reportedExit(error)
        }
    }
}

struct DeadLetters: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dead-letters",
        abstract: "Inspect, replay and purge the dead-letter stream.",
        subcommands: [List.self, Show.self, Replay.self, Purge.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List dead letters, oldest first.")
        @Option(help: "Start at this id (inclusive; prefix with '(' for exclusive).") var from = "-"
        @Option(help: "Show at most this many.") var limit = 50
        @Flag(help: "Print one JSON object (total, stream, next, letters) instead of text.") var json = false
        func run() async throws {
            guard limit > 0 else { throw ValidationError("--limit must be positive") }
            try await withQueue { queue, _ in
                json
                    ? try await OperatorCommands.listDeadLettersAsJSON(queue, from: from, limit: limit)
                    : try await OperatorCommands.listDeadLetters(queue, from: from, limit: limit)
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one dead letter with its body.")
        @Argument(help: "The dead letter's id.") var id: String
        func run() async throws {
            try await withQueue { queue, _ in try await OperatorCommands.showDeadLetter(queue, id: id) }
        }
    }

    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Put dead letters back on the events stream (bypassing dedup) once the cause is fixed.")
        @Argument(help: "Ids of the dead letters to replay.") var ids: [String] = []
        @Flag(help: "Replay every replayable dead letter.") var all = false
        @Option(help: "With --all: only the dead letters of this consumer group, such as forward:NAME (one forwarding destination).")
        var group: String?
        func run() async throws {
            try await withQueue { queue, _ in try await OperatorCommands.replayDeadLetters(queue, ids: ids, all: all, group: group) }
        }
    }

    struct Purge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete every dead letter.")
        @Flag(help: "Confirm the deletion.") var yes = false
        func run() async throws {
            try await withQueue { queue, _ in try await OperatorCommands.purgeDeadLetters(queue, confirmed: yes) }
        }
    }
}

struct PolicyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "policy", abstract: "Work with the worker policy.", subcommands: [Check.self])

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Validate the policy of a YAML file; errors name the line.")
        @Argument(help: "A YAML file with a top-level 'policy:' list (the CIO_RELAY_CONFIG file).") var file: String
        func run() async throws {
            do {
                print(try OperatorCommands.checkPolicy(path: file))
            } catch {
                throw reportedExit(error)
            }
        }
    }
}

struct Config: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check the configuration (environment and CIO_RELAY_CONFIG) as serve would read it, or print the reference tables.",
        discussion: "Without a flag it loads the settings and exits 0 when they are valid, 78 with the reason when not."
    )
    @Flag(help: "Print the table of every setting as Markdown (docs/configuration.md).") var markdown = false
    @Flag(help: "Print the table of every metric as Markdown (docs/operations.md).") var metricsMarkdown = false
    @Option(
        help: ArgumentHelp(
            "Print the Redis ACL rule of a role (serve, work, operator, or several with commas) for ACL SETUSER NAME on >PASSWORD RULE; keys under CIO_RELAY_KEY_PREFIX.",
            valueName: "role"))
    var redisAcl: String?

    func run() async throws {
        if let redisAcl {
            guard let roles = RedisACL.roles(redisAcl) else {
                throw reportedExit(
                    OperationFailure("--redis-acl takes serve, work or operator (or several with commas), not '\(redisAcl)'", status: .usage))
            }
            let settings = try loadSettings(roles: [])
            print(RedisACL.rule(for: roles, prefix: settings.queue.prefix))
            return
        }
        if markdown { print(ReferencePages.configuration(), terminator: "") }
        if metricsMarkdown { print(ReferencePages.metrics(), terminator: "") }
        guard !markdown && !metricsMarkdown else { return }
        let settings = try loadSettings(roles: [.receiver, .worker])
        print(
            "configuration is valid: webhook port \(settings.listeners.webhookPort), admin port \(settings.listeners.adminPort), workspaces \(settings.receiver.workspaces.keys.sorted().joined(separator: ",")), groups \(settings.groups.joined(separator: ",")), warehouse \(settings.warehouse), policy \(settings.policySource)"
        )
    }
}
