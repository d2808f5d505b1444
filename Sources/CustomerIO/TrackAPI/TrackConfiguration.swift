import Foundation

/// The Customer.io data centre a workspace lives in; it decides the Track API and App API hosts.
public enum TrackRegion: String, Sendable, Hashable, CaseIterable {
    case us
    case eu

    /// The region of a workspace that names none.
    public static let standard = TrackRegion.us

    public var baseURL: String {
        switch self {
        case .us: "https://track.customer.io"
        case .eu: "https://track-eu.customer.io"
        }
    }

    /// The App API host (ESP suppression).
    public var appAPIBaseURL: String {
        switch self {
        case .us: "https://api.customer.io"
        case .eu: "https://api-eu.customer.io"
        }
    }
}

/// Which Track API endpoints carry the operations.
public enum TrackAPIVersion: String, Sendable, Hashable, CaseIterable {
    /// `POST /api/v2/batch`: many operations per request (the default).
    case v2
    /// `PUT /api/v1/customers/{id}` and `POST …/suppress`: one request per operation.
    case v1
}

/// Track API credentials: site id and API key, sent as HTTP Basic auth. The key never appears in
/// descriptions or logs.
public struct TrackCredentials: Sendable, Hashable, CustomStringConvertible {
    public let siteID: String
    let apiKey: String

    public init(siteID: String, apiKey: String) {
        self.siteID = siteID
        self.apiKey = apiKey
    }

    var authorization: String {
        "Basic " + Data("\(siteID):\(apiKey)".utf8).base64EncodedString()
    }

    public var description: String { "TrackCredentials(site \(siteID), key redacted)" }
}

/// What the Track API clients of every workspace share: the endpoints and the time a request may take.
public struct TrackClientOptions: Sendable, Hashable {
    public var apiVersion: TrackAPIVersion = .v2
    /// Time for one HTTP request, connecting included.
    public var requestTimeout: Duration = .seconds(10)

    public init() {}
}

/// Everything the Track API client needs; defaults follow Customer.io's documented limits.
public struct TrackClientConfiguration: Sendable, Hashable {
    /// Scheme and host, no trailing slash: the region's host or `CUSTOMERIO_TRACK_URL`.
    public var baseURL: String
    public var credentials: TrackCredentials
    public var apiVersion: TrackAPIVersion
    /// Time for one HTTP request, connecting included.
    public var requestTimeout: Duration
    public var retry: TrackRetryPolicy
    /// Largest v2 batch request body (Customer.io: 500 KB).
    public var maximumRequestBytes: Int
    /// Largest single operation in a batch (Customer.io: 32 KB).
    public var maximumItemBytes: Int

    public init(
        baseURL: String,
        credentials: TrackCredentials,
        apiVersion: TrackAPIVersion = TrackClientOptions().apiVersion,
        requestTimeout: Duration = TrackClientOptions().requestTimeout,
        retry: TrackRetryPolicy = TrackRetryPolicy(),
        maximumRequestBytes: Int = 500_000,
        maximumItemBytes: Int = 32_000
    ) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.credentials = credentials
        self.apiVersion = apiVersion
        self.requestTimeout = requestTimeout
        self.retry = retry
        self.maximumRequestBytes = maximumRequestBytes
        self.maximumItemBytes = maximumItemBytes
    }

    public init(region: TrackRegion, credentials: TrackCredentials) {
        self.init(baseURL: region.baseURL, credentials: credentials)
    }

    public init(baseURL: String, credentials: TrackCredentials, options: TrackClientOptions) {
        self.init(baseURL: baseURL, credentials: credentials, apiVersion: options.apiVersion, requestTimeout: options.requestTimeout)
    }
}
