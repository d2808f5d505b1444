import AsyncHTTPClient
import Foundation
import Logging
import Metrics
import NIOCore
import NIOHTTP1
import RelayMetrics

/// Waits until the Track API budget allows one more request (shared by every worker replica).
public protocol TrackRequestGate: Sendable {
    func waitForTurn() async throws
}

/// Why a Track API operation did not succeed.
public struct TrackError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        let value: String
        /// The whole request was refused (400, 401, 403, 404…): sending it again will not help.
        public static let rejected = Code(value: "rejected")
        /// The App API refused an ESP suppression (a 4xx other than 429): the same for good.
        public static let appAPIRejected = Code(value: "app_api_rejected")
        /// A `207` named this operation as invalid.
        public static let itemRejected = Code(value: "item_rejected")
        /// The operation is larger than one batch item may be.
        public static let tooLarge = Code(value: "too_large")
        /// 429, 5xx or no answer after every attempt: worth trying again later.
        public static let unavailable = Code(value: "unavailable")
        public var description: String { value }
    }

    public let code: Code
    /// The HTTP status, when there was a response.
    public let status: Int?
    public let message: String

    public init(_ code: Code, status: Int? = nil, _ message: String) {
        self.code = code
        self.status = status
        self.message = message
    }

    /// Permanent failures go to the dead letters; the others are retried by redelivery.
    public var isPermanent: Bool { code != .unavailable }

    public var description: String {
        "TrackError(\(code)\(status.map { ", HTTP \($0)" } ?? "")): \(message)"
    }
}

/// The Customer.io Track API: operations on people, sent as v2 batches (or v1 calls), with retries
/// on 429, 5xx and transport errors, and every request let through a shared rate budget first.
public struct TrackClient: Sendable {
    public let configuration: TrackClientConfiguration
    private let requester: APIRequester

    public init(
        configuration: TrackClientConfiguration, httpClient: HTTPClient = .shared, gate: (any TrackRequestGate)? = nil,
        logger: Logger = Logger(label: "cio-relay.track"), metrics: TrackMetrics = TrackMetrics()
    ) {
        self.configuration = configuration
        self.requester = APIRequester(
            baseURL: configuration.baseURL, authorization: configuration.credentials.authorization, requestTimeout: configuration.requestTimeout,
            retry: configuration.retry, http: httpClient, gate: gate, logger: logger, metrics: metrics, api: "Track API")
    }

    /// Rewrites operations before a request is sent again after a failed attempt, one for one and
    /// never larger: what was true when they were first sent may not be any more (a newer event
    /// may have written a monotonic attribute meanwhile).
    public typealias Refresh = @Sendable ([TrackOperation]) async -> [TrackOperation]

    /// What became of operations sent: one result each, in order, and which of them went in a
    /// request that had an attempt without an answer (a timeout, a dropped connection). Such an
    /// attempt may still reach Customer.io later, whatever became of the request: what was sent
    /// on a connection that is closed is still delivered when a cut link heals.
    public struct Delivery: Sendable {
        public var results: [Result<Void, TrackError>]
        public var mayStillLand: Set<Int>
    }

    /// Sends the operations in order and answers one result per operation, in the same order.
    /// With v2 they are packed into as few batch requests as the size limits allow. A request
    /// retried after 429, 5xx or no answer carries the operations as `refresh` rewrites them.
    public func send(_ operations: [TrackOperation], refresh: Refresh? = nil) async -> [Result<Void, TrackError>] {
        await deliver(operations, refresh: refresh).results
    }

    /// `send`, also answering which operations may still land later (`Delivery.mayStillLand`).
    public func deliver(_ operations: [TrackOperation], refresh: Refresh? = nil) async -> Delivery {
        switch configuration.apiVersion {
        case .v2: return await sendBatches(operations, refresh: refresh)
        case .v1:
            var delivery = Delivery(results: [], mayStillLand: [])
            for (index, operation) in operations.enumerated() {
                var unanswered = false
                delivery.results.append(await sendV1(operation, refresh: refresh, unanswered: &unanswered))
                if unanswered { delivery.mayStillLand.insert(index) }
            }
            return delivery
        }
    }

    // MARK: v2

    private func sendBatches(_ operations: [TrackOperation], refresh: Refresh?) async -> Delivery {
        var results = [Result<Void, TrackError>](repeating: .success(()), count: operations.count)
        var mayStillLand: Set<Int> = []
        let packer = JSONArrayPacker.trackBatch(
            maximumRequestBytes: configuration.maximumRequestBytes, maximumItemBytes: configuration.maximumItemBytes)
        let packing = packer.pack(operations.map { $0.batchItem.serialized() })
        for index in packing.oversized {
            results[index] = .failure(
                TrackError(
                    .tooLarge,
                    "the \(operations[index].action) operation is larger than the \(configuration.maximumItemBytes)-byte limit of a batch item"))
        }
        for request in packing.requests {
            var retryBody: (@Sendable () async -> [UInt8])?
            if let refresh {
                let sent = request.items.map { operations[$0] }
                retryBody = { packer.body(of: await refresh(sent).map { $0.batchItem.serialized() }) }
            }
            var unanswered = false
            let outcome = await requester.perform(
                .POST, path: "/api/v2/batch", route: "/api/v2/batch", body: request.body, retryBody: retryBody, unanswered: &unanswered)
            if unanswered { mayStillLand.formUnion(request.items) }
            switch outcome {
            case .failure(let error):
                for index in request.items { results[index] = .failure(error) }
            case .success(let response) where response.status == 207:
                guard let itemErrors = Self.itemErrors(in: response.body) else {
                    let error = TrackError(.unavailable, status: 207, "a 207 answer without a readable error list")
                    for index in request.items { results[index] = .failure(error) }
                    continue
                }
                for itemError in itemErrors where request.items.indices.contains(itemError.index) {
                    results[request.items[itemError.index]] = .failure(TrackError(.itemRejected, status: 207, itemError.message))
                }
            case .success:
                break
            }
        }
        return Delivery(results: results, mayStillLand: mayStillLand)
    }

    /// The `errors` of a 207 answer as (batch index, message).
    static func itemErrors(in body: [UInt8]) -> [(index: Int, message: String)]? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any],
            let errors = object["errors"] as? [[String: Any]]
        else { return nil }
        var result: [(Int, String)] = []
        for error in errors {
            guard let index = (error["batch_index"] as? NSNumber)?.intValue else { return nil }
            let parts = ["reason", "field", "message"].compactMap { error[$0] as? String }.filter { !$0.isEmpty }
            result.append((index, parts.isEmpty ? "rejected by Customer.io" : parts.joined(separator: ": ")))
        }
        return result
    }

    // MARK: v1

    private func sendV1(_ operation: TrackOperation, refresh: Refresh?, unanswered: inout Bool) async -> Result<Void, TrackError> {
        let path = "/api/v1/customers/\(operation.person.pathComponent)"
        let outcome: Result<APIRequester.Response, TrackError>
        switch operation {
        case .identify(_, let attributes):
            var retryBody: (@Sendable () async -> [UInt8])?
            if let refresh {
                retryBody = {
                    guard case .identify(_, let current)? = await refresh([operation]).first else { return JSONValue.object(attributes).serialized() }
                    return JSONValue.object(current).serialized()
                }
            }
            outcome = await requester.perform(
                .PUT, path: path, route: Self.route(path), body: JSONValue.object(attributes).serialized(), retryBody: retryBody,
                unanswered: &unanswered)
        case .suppress:
            outcome = await requester.perform(
                .POST, path: path + "/suppress", route: Self.route(path + "/suppress"), body: Array("{}".utf8), unanswered: &unanswered)
        }
        return outcome.map { _ in () }
    }

    /// The path with the person taken out, for logs and metrics.
    static func route(_ path: String) -> String {
        if path.hasPrefix("/api/v1/customers/") {
            return path.hasSuffix("/suppress") ? "/api/v1/customers/{id}/suppress" : "/api/v1/customers/{id}"
        }
        return path
    }
}

/// Track API metrics: requests by status and route, latency, and 429 throttles.
public struct TrackMetrics: Sendable {
    public static let requests = MetricDefinition(
        "cio_relay_track_requests_total", .counter, labels: ["status", "route"],
        "Track API and App API requests by HTTP status (transport_error when there was no answer) and route (App API routes start with /v1/)")
    public static let requestDuration = MetricDefinition(
        "cio_relay_track_request_duration_seconds", .histogram, labels: ["route"], "Time one Track API or App API request took")
    public static let throttledRequests = MetricDefinition(
        "cio_relay_track_throttled_total", .counter, "Track API and App API answers 429 (throttled) that were retried")
    public static let definitions = [requests, requestDuration, throttledRequests]

    private let factory: any MetricsFactory
    let throttled: Counter

    public init(factory: any MetricsFactory = MetricsSystem.factory) {
        self.factory = factory
        self.throttled = Self.throttledRequests.counter(factory: factory)
    }

    func record(status: Int?, route: String, elapsed: Duration) {
        Self.requests.counter(status.map(String.init) ?? "transport_error", route, factory: factory).increment()
        Self.requestDuration.timer(route, factory: factory).recordNanoseconds(elapsed.nanoseconds)
    }
}

extension Duration {
    /// Whole nanoseconds, for metrics timers and NIO time amounts.
    public var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
