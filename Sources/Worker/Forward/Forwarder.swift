import AsyncHTTPClient
import CustomerIO
import EventQueue
import Foundation
import Hiredis
import Logging
import Metrics
import NIOCore
import NIOHTTP1
import RelayMetrics
import Synchronization

/// The forwarding metrics, per destination.
public struct ForwardMetrics: Sendable {
    public static let deliveries = MetricDefinition(
        "cio_relay_forward_deliveries_total", .counter, labels: ["destination", "outcome"],
        "Events forwarded, by destination and outcome: delivered (a 2xx), failed (left pending for a retry), gave_up (older than give_up_after: dead-lettered as forward_failed), filtered (not one of the destination's object types or metrics), malformed (not an event: dead-lettered)"
    )
    public static let attemptDuration = MetricDefinition(
        "cio_relay_forward_attempt_duration_seconds", .histogram, labels: ["destination"], "Time one delivery attempt to a destination took")
    public static let circuitOpen = MetricDefinition(
        "cio_relay_forward_circuit_open", .gauge, labels: ["destination"],
        "1 while a destination's circuit breaker holds its deliveries back (failures in a row), else 0")
    public static let definitions = [deliveries, attemptDuration, circuitOpen]

    private let factory: any MetricsFactory

    public init(factory: any MetricsFactory = MetricsSystem.factory) {
        self.factory = factory
    }

    func count(_ outcome: Forwarder.Outcome, _ number: Int, destination: String) {
        if number > 0 { Self.deliveries.counter(destination, outcome.rawValue, factory: factory).increment(by: number) }
    }

    func attempt(_ elapsed: Duration, destination: String) {
        Self.attemptDuration.timer(destination, factory: factory).recordNanoseconds(elapsed.nanoseconds)
    }

    func circuit(open: Bool, destination: String) {
        Self.circuitOpen.gauge(destination, factory: factory).record(open ? 1 : 0)
    }
}

/// Forwards the events of one destination's consumer group: each matching event is POSTed as
/// Customer.io sent it, with the Standard Webhooks headers (`webhook-id` is the `event_id`, so a
/// receiver can drop repeats). An attempt that fails is retried at once with backoff (never
/// sooner than `Retry-After`); an event still failing is left pending for redelivery, and one
/// older than the destination's `giveUpAfter` goes to the dead letters. A circuit breaker holds
/// deliveries back while the destination keeps failing.
public struct Forwarder: Sendable {
    public enum Outcome: String, Sendable, CaseIterable {
        case delivered
        case failed
        case gaveUp = "gave_up"
        case filtered
        /// The entry's body is not a Customer.io event: dead-lettered as `malformed` at once.
        case malformed
    }

    public let destination: ForwardDestination
    public let consumer: GroupConsumer
    let retry: TrackRetryPolicy
    let http: HTTPClient
    let logger: Logger
    let metrics: ForwardMetrics
    private let breaker: SharedBreaker

    /// The destination's breaker, shared by the deliveries in flight.
    private final class SharedBreaker: Sendable {
        let state: Mutex<CircuitBreaker>
        init(_ breaker: CircuitBreaker) { state = Mutex(breaker) }
    }

    public init(
        destination: ForwardDestination, consumer: GroupConsumer, retry: TrackRetryPolicy = TrackRetryPolicy(maximumAttempts: 3),
        breaker: CircuitBreaker = CircuitBreaker(), httpClient: HTTPClient = .shared, logger: Logger, metrics: ForwardMetrics = ForwardMetrics()
    ) {
        self.destination = destination
        self.consumer = consumer
        self.retry = retry
        self.http = httpClient
        self.logger = logger
        self.metrics = metrics
        self.breaker = SharedBreaker(breaker)
    }

    /// What became of each entry of a batch.
    public struct Report: Sendable {
        public var outcomes: [String: Outcome] = [:]
        public func count(_ outcome: Outcome) -> Int { outcomes.values.count { $0 == outcome } }
    }

    /// Forwards a batch, acknowledges what was delivered or is not for this destination,
    /// dead-letters what is too old to keep trying, and leaves the rest pending.
    /// - Parameter now: milliseconds since the Unix epoch.
    public func process(_ batch: [DeliveredEntry], now: Int64) async throws(RedisError) -> Report {
        var report = Report()
        var done: [String] = []
        var sending: [(entry: DeliveredEntry, eventID: String)] = []
        for delivered in batch {
            let event = delivered.entry.event
            guard destination.matches(objectType: event.objectType ?? "", metric: event.metric ?? "") else {
                report.outcomes[delivered.entry.id] = .filtered
                done.append(delivered.entry.id)
                continue
            }
            do {
                sending.append((delivered, try WebhookEnvelope.parse(event.body).eventID))
            } catch {
                // Retrying cannot help: no event id to sign, nothing a destination could use.
                try await consumer.deadLetter(delivered, reason: .malformed, error: error.message, now: now)
                report.outcomes[delivered.entry.id] = .malformed
            }
        }
        let failures = await deliver(sending)
        for (delivered, _) in sending {
            let id = delivered.entry.id
            guard let failure = failures[id] else {
                report.outcomes[id] = .delivered
                done.append(id)
                continue
            }
            let age = now - Self.since(delivered.entry, now: now)
            if age >= destination.giveUpAfter.milliseconds {
                try await consumer.deadLetter(
                    delivered, reason: .forwardFailed,
                    error:
                        "destination \(destination.name): \(failure); given up \(Duration.milliseconds(age)) after the event was received or replayed",
                    now: now)
                report.outcomes[id] = .gaveUp
                logger.error(
                    "event given up for a forwarding destination: moved to the dead letters",
                    metadata: ["destination": "\(destination.name)", "entry": "\(id)", "error": "\(failure)"])
            } else {
                report.outcomes[id] = .failed
            }
        }
        try await consumer.acknowledge(done)
        for outcome in Outcome.allCases {
            metrics.count(outcome, report.count(outcome), destination: destination.name)
        }
        return report
    }

    /// When the destination's time to deliver an entry started (milliseconds): when the event was
    /// received, or, for a replayed dead letter, when it was put back on the stream (its id's time).
    static func since(_ entry: StreamEntry, now: Int64) -> Int64 {
        let added = entry.address.streamID.split(separator: "-").first.flatMap { Int64($0) }
        if entry.event.target != nil, let added { return added }
        return entry.event.receivedAt ?? added ?? now
    }

    /// Delivers the entries, `concurrency` at a time; answers why each that failed did.
    private func deliver(_ entries: [(entry: DeliveredEntry, eventID: String)]) async -> [String: String] {
        await withTaskGroup(of: (String, String?).self) { group in
            var failures: [String: String] = [:]
            var next = entries.makeIterator()
            func collect(_ result: (String, String?)) {
                if let failure = result.1 { failures[result.0] = failure }
            }
            for _ in 0..<destination.concurrency {
                guard let (delivered, eventID) = next.next() else { break }
                group.addTask { (delivered.entry.id, await self.deliver(delivered.entry.event.body, eventID: eventID)) }
            }
            while let result = await group.next() {
                collect(result)
                if let (delivered, eventID) = next.next() {
                    group.addTask { (delivered.entry.id, await self.deliver(delivered.entry.event.body, eventID: eventID)) }
                }
            }
            return failures
        }
    }

    /// One event's body with its attempts; nil when delivered, else why not.
    func deliver(_ body: [UInt8], eventID: String) async -> String? {
        var attempt = 0
        while true {
            attempt += 1
            guard breaker.state.withLock({ $0.mayDeliver(now: .now) }) else {
                return "held back: the circuit breaker is open after failures in a row"
            }
            let (status, retryAfter, problem) = await post(body, id: eventID)
            let succeeded = status.map { (200..<300).contains($0) } ?? false
            let open = breaker.state.withLock { state in
                state.record(success: succeeded, now: .now)
                return state.isOpen
            }
            metrics.circuit(open: open, destination: destination.name)
            if succeeded { return nil }
            switch retry.decide(status: status, retryAfter: retryAfter, attempt: attempt, random: Double.random(in: 0..<1)) {
            case .retry(let delay):
                do {
                    try await Task.sleep(for: delay)
                } catch {
                    return problem
                }
            case .succeeded, .rejected, .unavailable:
                // A destination's 4xx may be a configuration being fixed: it is retried later
                // like a 5xx, until `giveUpAfter`.
                return "\(problem) after \(attempt) attempt(s)"
            }
        }
    }

    /// One POST; answers the status (nil: no answer), `Retry-After`, and the problem as text.
    private func post(_ body: [UInt8], id: String) async -> (status: Int?, retryAfter: String?, problem: String) {
        let timestamp = Int64(Date().timeIntervalSince1970)
        var request = HTTPClientRequest(url: destination.url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "cio-relay")
        request.headers.add(name: "webhook-id", value: id)
        request.headers.add(name: "webhook-timestamp", value: String(timestamp))
        request.headers.add(name: "webhook-signature", value: destination.signer.signature(id: id, timestamp: timestamp, body: body))
        request.body = .bytes(ByteBuffer(bytes: body))
        let start = ContinuousClock.now
        defer { metrics.attempt(ContinuousClock.now - start, destination: destination.name) }
        do {
            let response = try await http.execute(request, timeout: .nanoseconds(destination.timeout.nanoseconds))
            // The answer's body is not needed, but reading it frees the connection for reuse.
            _ = try? await response.body.collect(upTo: 1 << 16)
            let status = Int(response.status.code)
            return (status, response.headers.first(name: "Retry-After"), "HTTP \(status)")
        } catch {
            return (nil, nil, "no answer (\(error))")
        }
    }
}
