import AsyncHTTPClient
import Logging
import Metrics
import NIOCore
import NIOHTTP1

/// One request to a Customer.io API with its retries: each attempt waits for the shared rate
/// budget first, is retried on 429, 5xx and transport errors as `TrackRetryPolicy` decides (never
/// sooner than `Retry-After`), and is counted in the request metrics under its route. The Track
/// API and the App API clients both send through it.
struct APIRequester: Sendable {
    /// Scheme and host, no trailing slash.
    let baseURL: String
    /// The `Authorization` header: Basic for the Track API, Bearer for the App API.
    let authorization: String
    let requestTimeout: Duration
    let retry: TrackRetryPolicy
    let http: HTTPClient
    let gate: (any TrackRequestGate)?
    let logger: Logger
    let metrics: TrackMetrics
    /// Which API, for failure messages and logs ("Track API", "App API").
    let api: String

    struct Response {
        let status: Int
        let body: [UInt8]
    }

    /// Sends `method path` with its retries; `retryBody`, when given, makes the body of each
    /// retry. `route` is the path with the person taken out, for logs and metrics. `unanswered`
    /// is set when an attempt got no answer.
    func perform(
        _ method: HTTPMethod, path: String, route: String, body firstBody: [UInt8], retryBody: (@Sendable () async -> [UInt8])? = nil,
        unanswered: inout Bool
    ) async -> Result<Response, TrackError> {
        var attempt = 0
        var body = firstBody
        while true {
            attempt += 1
            if attempt > 1, let retryBody { body = await retryBody() }
            do {
                try await gate?.waitForTurn()
            } catch {
                return .failure(TrackError(.unavailable, "the \(api) rate budget could not be checked: \(error)"))
            }
            var request = HTTPClientRequest(url: baseURL + path)
            request.method = method
            request.headers.add(name: "Authorization", value: authorization)
            request.headers.add(name: "User-Agent", value: "cio-relay")
            // An App API call without a request body sends none.
            if !body.isEmpty {
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(ByteBuffer(bytes: body))
            }
            let start = ContinuousClock.now
            var status: Int?
            var retryAfter: String?
            var responseBody: [UInt8] = []
            var transportError = ""
            do {
                let response = try await http.execute(request, timeout: .nanoseconds(requestTimeout.nanoseconds))
                status = Int(response.status.code)
                retryAfter = response.headers.first(name: "Retry-After")
                var buffer = try await response.body.collect(upTo: 1 << 20)
                responseBody = buffer.readBytes(length: buffer.readableBytes) ?? []
            } catch {
                transportError = "\(error)"
                unanswered = true
            }
            metrics.record(status: status, route: route, elapsed: ContinuousClock.now - start)

            let decision = retry.decide(status: status, retryAfter: retryAfter, attempt: attempt, random: Double.random(in: 0..<1))
            let what = status.map { "HTTP \($0)" } ?? "no response (\(transportError))"
            switch decision {
            case .succeeded:
                return .success(Response(status: status ?? 200, body: responseBody))
            case .rejected:
                return .failure(TrackError(.rejected, status: status, "\(method) \(route) answered \(what): \(Self.excerpt(responseBody))"))
            case .unavailable:
                return .failure(TrackError(.unavailable, status: status, "\(method) \(route) still failing after \(attempt) attempt(s): \(what)"))
            case .retry(let delay):
                if status == 429 { metrics.throttled.increment() }
                logger.warning(
                    "\(api) request will be retried",
                    metadata: [
                        "route": "\(route)", "status": "\(status.map(String.init) ?? "none")",
                        "attempt": "\(attempt)", "retry_in_ms": "\(delay.nanoseconds / 1_000_000)",
                    ])
                do {
                    try await Task.sleep(for: delay)
                } catch {
                    return .failure(TrackError(.unavailable, status: status, "stopped while waiting to retry \(method) \(route)"))
                }
            }
        }
    }

    private static func excerpt(_ body: [UInt8]) -> String {
        let text = String(decoding: body.prefix(500), as: UTF8.self)
        return text.isEmpty ? "(empty body)" : text
    }
}
