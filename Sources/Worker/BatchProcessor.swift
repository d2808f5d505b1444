import CustomerIO
import EventQueue
import Hiredis
import Logging
import Warehouse

/// What became of each entry of a batch.
public struct BatchReport: Sendable, Hashable {
    /// Entry id → outcome.
    public var outcomes: [String: ProcessingOutcome] = [:]
    /// Track API operations sent (or, in a dry run, that would have been).
    public var operations = 0

    public func count(_ outcome: ProcessingOutcome) -> Int {
        outcomes.values.count { $0 == outcome }
    }
}

/// Turns a batch of stream entries into Track API calls: decides actions from the policy, merges
/// them per person, drops monotonic attributes an older event would move back (one write per
/// person in flight across workers), sends attributes first and suppressions after, then
/// acknowledges what is done, dead-letters what can never succeed, and leaves what Customer.io
/// could not take now for redelivery.
public struct BatchProcessor: Sendable {
    public let consumer: GroupConsumer
    public let policy: Policy
    /// Track API client per workspace; a workspace without one runs dry.
    public let clients: [String: TrackClient]
    /// App API client (ESP suppression) per workspace; a workspace without one suppresses dry.
    public let appClients: [String: ESPSuppressionClient]
    public let attributeGuard: AttributeGuard
    /// Leaves out values cio-relay has already written; nil: every value is written.
    public let unchangedAttributes: UnchangedAttributes?
    /// Where the audit trail of actions goes (the warehouse), if anywhere.
    public let audit: (any EventSink)?
    public let logger: Logger
    /// How long writing the audit records of a batch may take before they are given up.
    public let auditTimeout: Duration
    /// Half of how long a person another worker is writing is waited for: the Track API timeout.
    public let settleTime: Duration
    /// How long the people of a request that may still land stay leased after it
    /// (`CIO_RELAY_TRACK_LATE_WINDOW`).
    public let lateWindow: Duration
    let metrics: WorkerMetrics

    public init(
        consumer: GroupConsumer, policy: Policy, clients: [String: TrackClient], appClients: [String: ESPSuppressionClient] = [:],
        attributeGuard: AttributeGuard, unchangedAttributes: UnchangedAttributes? = nil, audit: (any EventSink)? = nil,
        auditTimeout: Duration = .seconds(30), settleTime: Duration = .seconds(10),
        lateWindow: Duration = .seconds(60),
        logger: Logger, metrics: WorkerMetrics = WorkerMetrics()
    ) {
        self.metrics = metrics
        self.settleTime = settleTime
        self.lateWindow = lateWindow
        self.auditTimeout = auditTimeout
        self.consumer = consumer
        self.policy = policy
        self.clients = clients
        self.appClients = appClients
        self.attributeGuard = attributeGuard
        self.unchangedAttributes = unchangedAttributes
        self.audit = audit
        self.logger = logger
    }

    /// The dead-letter reason of a permanent Track API or App API failure.
    static func deadLetterReason(_ error: TrackError) -> DeadLetterReason {
        switch error.code {
        case .appAPIRejected: .appAPIRejected
        case .itemRejected: .trackAPIItemRejected
        case .tooLarge: .trackAPITooLarge
        default: .trackAPIRejected
        }
    }

    /// A permanent failure, kept on the dead-letter stream.
    struct Failure {
        let reason: DeadLetterReason
        let error: String
    }

    /// Acts on a batch: plans each event's operations from the policy, merges them per person,
    /// sends them, then acknowledges what is done and dead-letters what failed for good; entries
    /// that failed for now stay pending for redelivery.
    /// - Parameters:
    ///   - now: milliseconds since the Unix epoch, for events that carry no time of their own.
    public func process(_ batch: [DeliveredEntry], now: Int64) async throws(RedisError) -> BatchReport {
        var report = BatchReport()
        var done: [String] = []
        var failures: [(DeliveredEntry, Failure)] = []
        var planned: [(index: Int, workspace: String, update: PlannedUpdate)] = []
        var eventIDs: [Int: String] = [:]
        let limit = consumer.configuration.maxDeliveries

        for (index, delivered) in batch.enumerated() {
            let entry = delivered.entry
            if delivered.deliveries > limit {
                failures.append(
                    (
                        delivered,
                        Failure(
                            reason: .maxDeliveries,
                            error: "delivered \(delivered.deliveries) times without success (limit \(limit), CIO_RELAY_MAX_DELIVERIES)")
                    ))
                continue
            }
            let queued = entry.event
            let event: WebhookEvent
            do {
                event = try WebhookEvent.parse(queued.body)
            } catch {
                failures.append((delivered, Failure(reason: .malformed, error: error.message)))
                continue
            }
            let receivedSeconds = (queued.receivedAt ?? now) / 1000
            guard let rule = policy.rule(objectType: event.objectType.rawValue, metric: event.metric.rawValue), !rule.actions.isEmpty else {
                done.append(entry.id)
                report.outcomes[entry.id] = .noAction
                continue
            }
            guard let person = event.identifiers.person else {
                logger.warning(
                    "event names no person (no cio_id, id or email): skipped",
                    metadata: [
                        "event_id": "\(event.eventID)", "object_type": "\(event.objectType)", "metric": "\(event.metric)", "rule": "\(rule.name)",
                    ])
                done.append(entry.id)
                report.outcomes[entry.id] = .skipped
                continue
            }
            if let update = policy.plan(for: event, person: person, fallbackTime: receivedSeconds) {
                if update.espSuppression == nil, rule.actions.contains(where: \.isESPSuppression) {
                    logger.warning(
                        "event has no email address (data.recipient or identifiers.email): its esp_suppress is skipped",
                        metadata: ["event_id": "\(event.eventID)", "rule": "\(rule.name)"])
                }
                planned.append((index, queued.workspace, update))
                eventIDs[index] = event.eventID
            }
        }

        var updates = PersonUpdates.merge(planned)
        let (results, deferred, unchanged) = try await sendInTurns(&updates, report: &report)

        for (position, update) in updates.enumerated() {
            for index in update.entries {
                let entry = batch[index].entry
                if deferred.contains(position) {
                    report.outcomes[entry.id] = .deferred
                    continue
                }
                switch results[position] {
                case .success(let outcome):
                    done.append(entry.id)
                    report.outcomes[entry.id] = outcome
                case .failure(let error) where error.isPermanent:
                    failures.append((batch[index], Failure(reason: Self.deadLetterReason(error), error: error.description)))
                case .failure:
                    report.outcomes[entry.id] = .retryLater
                }
            }
        }

        await recordAudit(updates, results: results, skipping: deferred, unchanged: unchanged, eventIDs: eventIDs)
        for (delivered, failure) in failures {
            try await consumer.deadLetter(delivered, reason: failure.reason, error: failure.error, now: now)
            report.outcomes[delivered.entry.id] = .deadLettered
            logger.error(
                "event moved to the dead letters",
                metadata: [
                    "entry": "\(delivered.entry.id)", "reason": "\(failure.reason.rawValue)", "attempts": "\(delivered.deliveries)",
                ])
        }
        try await consumer.acknowledge(done)
        // One counter update per kind of event and outcome, not per event.
        var counts: [WorkerMetrics.ProcessedKey: Int] = [:]
        for delivered in batch {
            if let outcome = report.outcomes[delivered.entry.id] {
                let queued = delivered.entry.event
                counts[WorkerMetrics.ProcessedKey(objectType: queued.objectType ?? "", metric: queued.metric ?? "", outcome: outcome), default: 0] +=
                    1
            }
        }
        metrics.processed(counts, group: consumer.configuration.group)
        return report
    }

    /// Sends the updates in turns: each turn leases its people and applies the attribute guard
    /// (AttributeGuard), sends what it got and releases it. A person another worker is writing is
    /// waited for in a later turn, for at most twice `settleTime` in all, then deferred (left
    /// pending for redelivery). After a request that may still land (no answer, or an attempt that
    /// timed out before the one that succeeded), its people stay held for `lateWindow`; a person
    /// held so for longer than the wait has left is deferred at once. Answers each update's
    /// result, the positions deferred and the attributes left out as unchanged (per position).
    private func sendInTurns(_ updates: inout [MergedUpdate], report: inout BatchReport) async throws(RedisError) -> (
        results: [Result<ProcessingOutcome, TrackError>], deferred: Set<Int>, unchanged: [Int: [String]]
    ) {
        var results = [Result<ProcessingOutcome, TrackError>](repeating: .success(.noAction), count: updates.count)
        var deferred: Set<Int> = []
        var unchanged: [Int: [String]] = [:]
        let holder = "\(consumer.configuration.consumer):\(UInt64.random(in: 0...UInt64.max))"
        let deadline = ContinuousClock.now + settleTime * 2
        var waiting = Array(updates.indices)
        var pause = Duration.milliseconds(20)
        while true {
            // Leased are those with monotonic attributes, even when the guard drops them all.
            let leasing = Set(waiting.filter { !updates[$0].monotonicTimes.isEmpty })
            let held = try await attributeGuard.apply(to: &updates, at: waiting, holder: holder)
            let turn = waiting.filter { held[$0] == nil }
            if let unchangedAttributes {
                unchanged.merge(try await unchangedAttributes.drop(from: &updates, at: turn)) { $1 }
            }
            // The lease is renewed while the request is retried: it must not run out under it.
            let renewing = turn.filter { leasing.contains($0) }
            // Most turns of plain updates lease no one: no task for them.
            let renewal: Task<Void, Never>? =
                renewing.isEmpty
                ? nil
                : Task { [attributeGuard, updates, holder] in
                    while !Task.isCancelled {
                        try? await Task.sleep(for: attributeGuard.lease / 3)
                        if !Task.isCancelled { await attributeGuard.renew(updates, at: renewing, holder: holder) }
                    }
                }
            let sent = await send(turn.map { updates[$0] }, report: &report)
            renewal?.cancel()
            await renewal?.value  // a renewal in flight must not land after the release below
            var settled: [Int] = []
            var unsettled: [Int] = []
            var applied: [Int] = []
            for (index, (position, result)) in zip(turn, sent.results).enumerated() {
                results[position] = result
                if case .success(.applied) = result { applied.append(position) }
                if case .success(.noAction) = result, unchanged[position] != nil { results[position] = .success(.unchanged) }
                guard leasing.contains(position) else { continue }
                if sent.mayStillLand.contains(index) { unsettled.append(position) } else { settled.append(position) }
            }
            await attributeGuard.release(updates, at: settled, holder: holder)
            await attributeGuard.release(updates, at: unsettled, holder: holder, keep: lateWindow)
            await unchangedAttributes?.record(updates, at: applied)
            let left = deadline - ContinuousClock.now
            waiting = []
            for (position, hold) in held.sorted(by: { $0.key < $1.key }) {
                switch hold {
                case .settling(let time) where time >= left: deferred.insert(position)
                case .writing where left <= .zero: deferred.insert(position)
                default: waiting.append(position)
                }
            }
            if waiting.isEmpty {
                metrics.unchanged(attributes: unchanged.values.reduce(0) { $0 + $1.count })
                return (results, deferred, unchanged)
            }
            metrics.personLeaseWait()
            try? await Task.sleep(for: pause)
            pause = min(pause * 2, .milliseconds(500))
        }
    }

    /// Sends every identify, then the ESP suppressions and then the suppressions of people whose
    /// attributes went through; the result per update is its outcome or the first failure. Also
    /// answers the updates sent in a request that had an attempt without an answer
    /// (`TrackClient.Delivery.mayStillLand`).
    private func send(_ updates: [MergedUpdate], report: inout BatchReport) async -> (
        results: [Result<ProcessingOutcome, TrackError>], mayStillLand: Set<Int>
    ) {
        var results = [Result<ProcessingOutcome, TrackError>](repeating: .success(.noAction), count: updates.count)
        var mayStillLand: Set<Int> = []
        for workspace in Set(updates.map(\.workspace)).sorted() {
            let positions = updates.indices.filter { updates[$0].workspace == workspace }
            guard let client = clients[workspace] else {
                for position in positions {
                    let (identify, suppress) = updates[position].operations
                    for operation in [identify, suppress].compactMap({ $0 }) {
                        dryRun(operation, workspace: workspace)
                        report.operations += 1
                        results[position] = .success(.dryRun)
                    }
                    for suppression in updates[position].espSuppressions {
                        dryRun(suppression, person: updates[position].person, workspace: workspace)
                        results[position] = .success(.dryRun)
                    }
                }
                continue
            }
            // Phase 1: attributes. A request retried after a failed attempt drops what a newer
            // event has written meanwhile (merged updates are one per person and workspace).
            let identifies = positions.compactMap { position in updates[position].operations.identify.map { (position, $0) } }
            let times = Dictionary(positions.map { (updates[$0].person, updates[$0].monotonicTimes) }) { first, _ in first }
            let guardCheck = attributeGuard
            let identified = await client.deliver(identifies.map(\.1)) { operations in
                await guardCheck.withoutStaleAttributes(operations, workspace: workspace, times: times)
            }
            report.operations += identifies.count
            for (index, ((position, _), result)) in zip(identifies, identified.results).enumerated() {
                results[position] = result.map { .applied }
                if identified.mayStillLand.contains(index) { mayStillLand.insert(position) }
            }
            // Phase 2: suppression at the ESP (App API), only where the attributes were written.
            let espSuppressions = positions.flatMap { position -> [(Int, ESPSuppression)] in
                guard case .success = results[position] else { return [] }
                return updates[position].espSuppressions.map { (position, $0) }
            }
            if let appClient = appClients[workspace] {
                let suppressed = await appClient.suppress(espSuppressions.map(\.1))
                for (index, ((position, _), result)) in zip(espSuppressions, suppressed.results).enumerated() {
                    if suppressed.mayStillLand.contains(index) { mayStillLand.insert(position) }
                    // The first failure of a person's stands.
                    guard case .success = results[position] else { continue }
                    results[position] = result.map { .applied }
                }
            } else {
                for (position, suppression) in espSuppressions {
                    dryRun(suppression, person: updates[position].person, workspace: workspace)
                    if case .success(.noAction) = results[position] { results[position] = .success(.dryRun) }
                }
            }
            // Phase 3: suppress, only where the attributes and ESP suppressions (if any) went through.
            let suppresses = positions.compactMap { position -> (Int, TrackOperation)? in
                guard case .success = results[position], let operation = updates[position].operations.suppress else { return nil }
                return (position, operation)
            }
            let suppressed = await client.deliver(suppresses.map(\.1))
            report.operations += suppresses.count
            for (index, ((position, _), result)) in zip(suppresses, suppressed.results).enumerated() {
                results[position] = result.map { .applied }
                if suppressed.mayStillLand.contains(index) { mayStillLand.insert(position) }
            }
        }
        return (results, mayStillLand)
    }

    /// One audit record per event, person and action, with how it went. Best effort: the audit
    /// trail never holds up acting on events.
    private func recordAudit(
        _ updates: [MergedUpdate], results: [Result<ProcessingOutcome, TrackError>], skipping deferred: Set<Int>, unchanged: [Int: [String]],
        eventIDs: [Int: String]
    ) async {
        guard let audit else { return }
        var records: [ActionRecord] = []
        // A deferred update was not sent: its record comes when it is.
        for (position, update) in updates.enumerated() where !deferred.contains(position) {
            let (identify, suppress) = update.operations
            let (outcome, detail): (String, String?)
            switch results[position] {
            case .success(let value): (outcome, detail) = (value.rawValue, nil)
            case .failure(let error):
                (outcome, detail) = (
                    error.isPermanent ? ProcessingOutcome.deadLettered.rawValue : ProcessingOutcome.retryLater.rawValue, error.description
                )
            }
            let person = "\(update.person.kind):\(update.person.value)"
            // (action, outcome, detail) in the order they were sent.
            var actions: [(String, String, String?)] = []
            if let names = unchanged[position] {
                actions.append(("identify", ProcessingOutcome.unchanged.rawValue, names.joined(separator: ",")))
            }
            if let identify, case .identify(_, let attributes) = identify {
                actions.append((identify.action, outcome, detail ?? attributes.keys.sorted().joined(separator: ",")))
            }
            for suppression in update.espSuppressions {
                actions.append((Self.espSuppressAction, outcome, detail ?? suppression.type.rawValue))
            }
            if let suppress { actions.append((suppress.action, outcome, detail)) }
            for (action, actionOutcome, actionDetail) in actions {
                for index in update.entries {
                    records.append(
                        ActionRecord(
                            eventID: eventIDs[index] ?? "", workspace: update.workspace, person: person, action: action, outcome: actionOutcome,
                            detail: actionDetail))
                }
            }
        }
        // Bounded like the warehouse writes: a hung warehouse call must not hold the batch.
        let failure = await withDeadline(auditTimeout) { [records] () -> String? in
            do throws(WarehouseError) {
                try await audit.record(records)
                return nil
            } catch {
                return "\(error)"
            }
        }
        if let failure = failure ?? "not written within \(auditTimeout); given up" {
            logger.warning("the audit trail of actions could not be written", metadata: ["error": "\(failure)", "records": "\(records.count)"])
        }
    }

    private func dryRun(_ operation: TrackOperation, workspace: String) {
        metrics.dryRunOperation(operation.action)
        var metadata: Logger.Metadata = ["workspace": "\(workspace)", "action": "\(operation.action)", "person": "\(operation.person.kind)"]
        if case .identify(_, let attributes) = operation {
            metadata["attributes"] = "\(attributes.keys.sorted().joined(separator: ","))"
        }
        // Values can be email addresses: only the kinds and attribute names are logged.
        logger.info("dry run: would send to the Track API", metadata: metadata)
    }

    private func dryRun(_ suppression: ESPSuppression, person: PersonIdentifier, workspace: String) {
        metrics.dryRunOperation(Self.espSuppressAction)
        logger.info(
            "dry run: would suppress the address at the ESP through the App API (no CUSTOMERIO_APP_API_KEY)",
            metadata: [
                "workspace": "\(workspace)", "action": "\(Self.espSuppressAction)", "suppression_type": "\(suppression.type.rawValue)",
                "person": "\(person.kind)",
            ])
    }

    /// The action name of an ESP suppression in logs, metrics and the audit trail.
    static let espSuppressAction = "esp_suppress"
}
