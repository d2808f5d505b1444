import AsyncHTTPClient
import Foundation
import Logging
import NIOHTTP1

/// Why Customer.io's ESP keeps mail from an address: the `suppression_type` of the App API's ESP
/// suppression endpoints.
public enum ESPSuppressionType: String, Sendable, Hashable, CaseIterable {
    case blocks
    case bounces
    case spamReports = "spam_reports"
    case invalidEmails = "invalid_emails"
}

/// One address to suppress at Customer.io's ESP, and why.
public struct ESPSuppression: Sendable, Hashable {
    public var type: ESPSuppressionType
    public var address: String

    public init(type: ESPSuppressionType, address: String) {
        self.type = type
        self.address = address
    }

    /// The path of the App API call; the address percent-encoded.
    public var path: String { "/v1/esp/suppression/\(type.rawValue)/\(percentEncodedPathSegment(address))" }
    /// The path with the address taken out, for logs and metrics.
    var route: String { "/v1/esp/suppression/\(type.rawValue)/{email_address}" }
}

/// An App API key, sent as a bearer token. It never appears in descriptions or logs.
public struct AppAPICredentials: Sendable, Hashable, CustomStringConvertible {
    let apiKey: String

    public init(apiKey: String) {
        self.apiKey = apiKey
    }

    var authorization: String { "Bearer " + apiKey }

    public var description: String { "AppAPICredentials(key redacted)" }
}

/// Everything the App API client needs.
public struct AppAPIClientConfiguration: Sendable, Hashable {
    /// Scheme and host, no trailing slash: the region's App API host or `CUSTOMERIO_APP_API_URL`.
    public var baseURL: String
    public var credentials: AppAPICredentials
    /// Time for one HTTP request, connecting included (the Track API's, `CIO_RELAY_TRACK_TIMEOUT`).
    public var requestTimeout: Duration
    public var retry: TrackRetryPolicy

    public init(
        baseURL: String, credentials: AppAPICredentials, requestTimeout: Duration = .seconds(10), retry: TrackRetryPolicy = TrackRetryPolicy()
    ) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.credentials = credentials
        self.requestTimeout = requestTimeout
        self.retry = retry
    }
}

/// Suppresses addresses at Customer.io's ESP through the App API
/// (`POST /v1/esp/suppression/{suppression_type}/{email_address}`): mail to them stops, and the
/// person, unlike after the Track API's `suppress`, stays in the workspace with their history.
/// One request per address, each let through the App API's own shared budget (10 a second) and
/// retried like a Track API request.
public struct ESPSuppressionClient: Sendable {
    public let configuration: AppAPIClientConfiguration
    private let requester: APIRequester

    public init(
        configuration: AppAPIClientConfiguration, httpClient: HTTPClient = .shared, gate: (any TrackRequestGate)? = nil,
        logger: Logger = Logger(label: "cio-relay.app-api"), metrics: TrackMetrics = TrackMetrics()
    ) {
        self.configuration = configuration
        self.requester = APIRequester(
            baseURL: configuration.baseURL, authorization: configuration.credentials.authorization, requestTimeout: configuration.requestTimeout,
            retry: configuration.retry, http: httpClient, gate: gate, logger: logger, metrics: metrics, api: "App API")
    }

    /// Suppresses each address in turn; one result per suppression, in order, and which of them
    /// had an attempt without an answer.
    public func suppress(_ suppressions: [ESPSuppression]) async -> TrackClient.Delivery {
        var delivery = TrackClient.Delivery(results: [], mayStillLand: [])
        for (index, suppression) in suppressions.enumerated() {
            var unanswered = false
            let outcome = await requester.perform(.POST, path: suppression.path, route: suppression.route, body: [], unanswered: &unanswered)
            // A refusal is told apart from the Track API's: it dead-letters under a reason of its own.
            delivery.results.append(
                outcome.map { _ in () }.mapError { error in
                    error.code == .rejected ? TrackError(.appAPIRejected, status: error.status, error.message) : error
                })
            if unanswered { delivery.mayStillLand.insert(index) }
        }
        return delivery
    }
}
