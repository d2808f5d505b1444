import Foundation
import Logging

/// Where events go, from `WAREHOUSE_URL`: `sqlite:PATH`, `postgres://…`, `bigquery://…`, or `none`.
public enum WarehouseLocation: Sendable, Hashable, CustomStringConvertible {
    case none
    case sqlite(path: String)
    case postgres(url: String)
    case bigquery(BigQuerySink.Configuration)

    /// The settings besides `WAREHOUSE_URL` that a BigQuery warehouse reads, from the variables
    /// Google's own clients read.
    public struct GoogleSettings: Sendable, Hashable {
        /// `BIGQUERY_API_URL`: another endpoint than bigquery.googleapis.com.
        public var apiURL: String?
        /// `GOOGLE_APPLICATION_CREDENTIALS`: a service-account key file.
        public var credentialsFile: String?
        /// `GCE_METADATA_HOST`: the metadata server's host.
        public var metadataHost: String?

        public init(apiURL: String? = nil, credentialsFile: String? = nil, metadataHost: String? = nil) {
            self.apiURL = apiURL
            self.credentialsFile = credentialsFile
            self.metadataHost = metadataHost
        }
    }

    public static let defaultURL = "sqlite:./data/events.sqlite"

    public init(url: String, google: GoogleSettings = GoogleSettings()) throws(WarehouseError) {
        if url == "none" {
            self = .none
        } else if url.hasPrefix("sqlite:") {
            let path = String(url.dropFirst("sqlite:".count))
            guard !path.isEmpty else { throw WarehouseError(.invalidURL, "sqlite: needs a file path, as in sqlite:./data/events.sqlite") }
            self = .sqlite(path: path)
        } else if url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") {
            _ = try PostgresSink.configuration(url: url)
            self = .postgres(url: url)
        } else if url.hasPrefix("bigquery://") {
            let target = try BigQueryTarget(url: url)
            if let apiURL = google.apiURL, !(apiURL.hasPrefix("http://") || apiURL.hasPrefix("https://")) {
                throw WarehouseError(.invalidAPIURL, "'\(apiURL)' must be an http:// or https:// URL")
            }
            let credentials = try GoogleCredentials.resolve(keyFile: google.credentialsFile, metadataHost: google.metadataHost, apiURL: google.apiURL)
            self = .bigquery(BigQuerySink.Configuration(target: target, apiURL: google.apiURL, credentials: credentials))
        } else {
            throw WarehouseError(.invalidURL, "expected sqlite:PATH, postgres://user:password@host:port/database, bigquery://PROJECT/DATASET or none")
        }
    }

    /// Opens the sink; nil for `none`.
    public func makeSink(logger: Logger) throws(WarehouseError) -> (any EventSink)? {
        switch self {
        case .none: nil
        case .sqlite(let path): try SQLiteSink(path: path)
        case .postgres(let url): try PostgresSink(url: url, logger: logger)
        case .bigquery(let configuration): BigQuerySink(configuration: configuration, logger: logger)
        }
    }

    /// For logs: the password of a PostgreSQL URL is left out.
    public var description: String {
        switch self {
        case .none: return "none"
        case .sqlite(let path): return "sqlite:\(path)"
        case .bigquery(let configuration): return "\(configuration)"
        case .postgres(let url):
            guard let at = url.lastIndex(of: "@"), let scheme = url.range(of: "://") else { return url }
            return String(url[..<scheme.upperBound]) + "…@" + String(url[url.index(after: at)...])
        }
    }
}
