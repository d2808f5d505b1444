import AsyncHTTPClient
import CustomerIO
import Foundation
import NIOCore
import NIOHTTP1

/// Signs and posts events to a receiver, as Customer.io does, for `cio-relay send`: trying a
/// deployment, and load.
public struct WebhookSender: Sendable {
    public struct Configuration: Sendable {
        /// The webhook URL, e.g. `https://relay.example.com/webhooks/customerio`.
        public var url: String
        public var key: SigningKey
        /// Requests in flight at once.
        public var concurrency: Int = 8
        /// Requests per second in all, nil for as fast as the receiver answers.
        public var rate: Double?
        /// The share of sends that repeat an event already sent (re-signed, same `event_id`).
        public var duplicates: Double = 0
        public var timeout: Duration = .seconds(10)
        /// Where to write one line per send: the `event_id`, the milliseconds the answer took and
        /// the answer (`200 accepted`, `200 duplicate`, `HTTP 503`, or `error` and the transport
        /// error), separated by spaces, for checking afterwards that every acknowledged event
        /// arrived and each answer came in time (the soaks do).
        public var record: FileHandle?

        public init(url: String, secret: String) {
            self.url = url
            self.key = SigningKey(secret)
        }
    }

    /// What came back.
    public struct Summary: Sendable {
        public var sent = 0
        /// Answers by `status` of a 200 (`accepted`, `duplicate`, `dead_lettered`).
        public var answers: [String: Int] = [:]
        /// Failures by HTTP status or transport error.
        public var errors: [String: Int] = [:]
        public var latenciesMilliseconds: [Double] = []
        /// From the first send to the last answer.
        public var elapsed: Duration = .zero

        public var errorCount: Int { errors.values.reduce(0, +) }

        /// One line for the progress display.
        public var progressLine: String {
            "sent \(sent), accepted \(answers["accepted", default: 0]), duplicate \(answers["duplicate", default: 0]), errors \(errorCount)"
        }

        /// The closing report.
        public var report: String {
            let seconds = Double(elapsed.nanoseconds) / 1e9
            var lines = [
                "sent: \(sent) in \(String(format: "%.2f", seconds)) s (\(String(format: "%.0f", Double(sent) / max(seconds, 0.001))) req/s)",
                "accepted: \(answers["accepted", default: 0])",
                "duplicate: \(answers["duplicate", default: 0])",
            ]
            for (status, count) in answers.sorted(by: { $0.key < $1.key }) where status != "accepted" && status != "duplicate" {
                lines.append("\(status): \(count)")
            }
            lines.append(
                "errors: \(errorCount)"
                    + (errors.isEmpty ? "" : " (" + errors.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ") + ")"))
            if !latenciesMilliseconds.isEmpty {
                let sorted = latenciesMilliseconds.sorted()
                func percentile(_ fraction: Double) -> Double { sorted[min(sorted.count - 1, Int(fraction * Double(sorted.count)))] }
                lines.append(String(format: "latency: p50 %.1f ms, p99 %.1f ms", percentile(0.5), percentile(0.99)))
            }
            return lines.joined(separator: "\n")
        }
    }

    private let configuration: Configuration
    /// The client given, or nil: then `send` makes one with a connection per request in flight.
    private let givenClient: HTTPClient?

    public init(configuration: Configuration, httpClient: HTTPClient? = nil) {
        self.configuration = configuration
        self.givenClient = httpClient
    }

    /// Sends up to `count` events, each the next of `feed` unless it repeats an earlier one;
    /// `progress` gets the running totals about once a second.
    public func send(count: Int, feed: EventFeed, progress: @escaping @Sendable (Summary) -> Void) async -> Summary {
        let state = SendState(feed: feed, duplicates: configuration.duplicates, record: configuration.record)
        let start = ContinuousClock.now
        let ticker = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                if !Task.isCancelled { progress(await state.summary) }
            }
        }
        // A shared client keeps 8 connections per host: with more requests in flight, the others
        // would wait for one, and that wait would count as the receiver's latency.
        var pool = HTTPClient.Configuration()
        pool.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = max(1, configuration.concurrency)
        let http = givenClient ?? HTTPClient(eventLoopGroupProvider: .singleton, configuration: pool)
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<max(1, configuration.concurrency) {
                group.addTask {
                    while let (index, body) = await state.claim(limit: count) {
                        if let rate = configuration.rate, rate > 0 {
                            try? await Task.sleep(until: start + .seconds(Double(index) / rate), clock: .continuous)
                        }
                        let sentAt = ContinuousClock.now
                        let outcome = await post(body, with: http)
                        await state.record(outcome, body: body, latency: ContinuousClock.now - sentAt)
                    }
                }
            }
        }
        ticker.cancel()
        if givenClient == nil { try? await http.shutdown() }
        var summary = await state.summary
        summary.elapsed = ContinuousClock.now - start
        return summary
    }

    enum Outcome {
        /// A 200, with the `status` of its body.
        case answered(String)
        /// Another HTTP status.
        case refused(Int)
        /// No answer: the connection failed or timed out.
        case failed(String)

        /// As written to the record file.
        var recorded: String {
            switch self {
            case .answered(let status): "200 \(status)"
            case .refused(let status): "HTTP \(status)"
            case .failed(let reason): "error \(reason)"
            }
        }
    }

    private func post(_ body: [UInt8], with http: HTTPClient) async -> Outcome {
        let timestamp = Int64(Date().timeIntervalSince1970)
        var request = HTTPClientRequest(url: configuration.url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: WebhookSignature.timestampHeader, value: String(timestamp))
        request.headers.add(
            name: WebhookSignature.signatureHeader, value: WebhookSignature.sign(body: body, timestamp: timestamp, key: configuration.key))
        request.body = .bytes(ByteBuffer(bytes: body))
        do {
            let response = try await http.execute(request, timeout: .nanoseconds(configuration.timeout.nanoseconds))
            let answer = try await response.body.collect(upTo: 64 * 1024)
            guard response.status.code == 200 else { return .refused(Int(response.status.code)) }
            let object = try? JSONSerialization.jsonObject(with: Data(answer.readableBytesView)) as? [String: Any]
            return .answered(object?["status"] as? String ?? "unrecognised answer")
        } catch {
            return .failed("\(type(of: error))")
        }
    }
}

/// Where `send` takes new events from.
public enum EventFeed: Sendable {
    /// Generated events of every object type and metric, without end.
    case generated(SampleEventGenerator)
    /// These bodies, once each from `position` on (files of payloads).
    case bodies([[UInt8]], position: Int = 0)

    /// The next body; generated ones carry `now` (seconds since the Unix epoch) as their time.
    mutating func next(now: Int64 = Int64(Date().timeIntervalSince1970)) -> [UInt8]? {
        switch self {
        case .generated(var generator):
            let body = generator.next(now: now)
            self = .generated(generator)
            return body
        case .bodies(let bodies, let position):
            guard position < bodies.count else { return nil }
            self = .bodies(bodies, position: position + 1)
            return bodies[position]
        }
    }
}

/// The sender's shared tally and the events sent so far (for duplicates).
private actor SendState {
    private var feed: EventFeed
    private var claimed = 0
    private var sentBodies: [[UInt8]] = []
    private var generator = SystemRandomNumberGenerator()
    private let duplicates: Double
    private let recordFile: FileHandle?
    private(set) var summary = WebhookSender.Summary()

    init(feed: EventFeed, duplicates: Double, record: FileHandle?) {
        self.feed = feed
        self.duplicates = duplicates
        self.recordFile = record
    }

    /// The next send's index and body, or nil when `limit` sends are claimed or the source is dry.
    func claim(limit: Int) -> (Int, [UInt8])? {
        guard claimed < limit else { return nil }
        let body: [UInt8]
        if !sentBodies.isEmpty, Double.random(in: 0..<1, using: &generator) < duplicates {
            body = sentBodies[Int.random(in: 0..<sentBodies.count, using: &generator)]
        } else {
            guard let next = feed.next() else { return nil }
            body = next
            if sentBodies.count < 10_000 { sentBodies.append(next) }
        }
        claimed += 1
        return (claimed - 1, body)
    }

    func record(_ outcome: WebhookSender.Outcome, body: [UInt8], latency: Duration) {
        let milliseconds = Double(latency.nanoseconds) / 1_000_000
        if let recordFile {
            let eventID = (try? WebhookEnvelope.parse(body))?.eventID ?? "-"
            // The latency in the record lets a soak check every answer's time, not a percentile.
            recordFile.write(Data("\(eventID) \(String(format: "%.1f", milliseconds)) \(outcome.recorded)\n".utf8))
        }
        summary.sent += 1
        summary.latenciesMilliseconds.append(milliseconds)
        switch outcome {
        case .answered(let status): summary.answers[status, default: 0] += 1
        case .refused(let status): summary.errors["HTTP \(status)", default: 0] += 1
        case .failed(let reason): summary.errors[reason, default: 0] += 1
        }
    }
}
