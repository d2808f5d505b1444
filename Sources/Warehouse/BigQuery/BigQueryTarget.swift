import Foundation

/// Where the BigQuery sink writes: `bigquery://PROJECT/DATASET[?location=EU&table_prefix=cio_]`.
/// The tables are `customerio_events`, `customerio_actions` and the view
/// `customerio_events_unique`, each after the optional prefix.
public struct BigQueryTarget: Sendable, Hashable, CustomStringConvertible {
    public let project: String
    public let dataset: String
    /// Where a dataset the sink creates lives (`EU`, `US`, `europe-west1`…); nil: BigQuery's default.
    public let location: String?
    public let tablePrefix: String

    public init(project: String, dataset: String, location: String? = nil, tablePrefix: String = "") {
        self.project = project
        self.dataset = dataset
        self.location = location
        self.tablePrefix = tablePrefix
    }

    public init(url: String) throws(WarehouseError) {
        let usage = "expected bigquery://PROJECT/DATASET, optionally ?location=EU&table_prefix=PREFIX"
        guard url.hasPrefix("bigquery://"), let components = URLComponents(string: url) else {
            throw WarehouseError(.invalidURL, usage)
        }
        let project = components.percentEncodedHost ?? ""
        let dataset = components.percentEncodedPath.hasPrefix("/") ? String(components.percentEncodedPath.dropFirst()) : ""
        guard components.user == nil, components.password == nil, components.port == nil else {
            throw WarehouseError(
                .invalidURL,
                "a bigquery:// URL holds no credentials or port (they come from GOOGLE_APPLICATION_CREDENTIALS or the metadata server); \(usage)")
        }
        // Project ids: 6-30 lowercase letters, digits and hyphens (older ones may hold a domain and a colon).
        guard project.range(of: #"^[a-z][a-z0-9.:-]{4,61}[a-z0-9]$"#, options: .regularExpression) != nil else {
            throw WarehouseError(.invalidURL, "'\(project)' is not a Google Cloud project id; \(usage)")
        }
        guard dataset.range(of: #"^[A-Za-z0-9_]{1,1024}$"#, options: .regularExpression) != nil else {
            throw WarehouseError(.invalidURL, "'\(dataset)' is not a BigQuery dataset name (letters, digits and underscores); \(usage)")
        }
        var location: String?
        var prefix = ""
        for item in components.queryItems ?? [] {
            let value = item.value ?? ""
            switch item.name {
            case "location":
                guard value.range(of: #"^[A-Za-z0-9-]{2,64}$"#, options: .regularExpression) != nil else {
                    throw WarehouseError(.invalidURL, "location '\(value)' is not a BigQuery location such as EU, US or europe-west1")
                }
                location = value
            case "table_prefix":
                guard value.range(of: #"^[A-Za-z0-9_]{0,64}$"#, options: .regularExpression) != nil else {
                    throw WarehouseError(.invalidURL, "table_prefix '\(value)' may hold only letters, digits and underscores")
                }
                prefix = value
            default:
                throw WarehouseError(.invalidURL, "unknown parameter '\(item.name)'; \(usage)")
            }
        }
        self.init(project: project, dataset: dataset, location: location, tablePrefix: prefix)
    }

    public var eventsTable: String { tablePrefix + Schema.eventsTable }
    public var actionsTable: String { tablePrefix + Schema.actionsTable }
    public var uniqueView: String { tablePrefix + Schema.eventsTable + "_unique" }

    /// A table's name as GoogleSQL wants it: fully qualified and quoted.
    public func qualified(_ table: String) -> String {
        "`\(project).\(dataset).\(table)`"
    }

    public var description: String {
        var query: [String] = []
        if let location { query.append("location=\(location)") }
        if !tablePrefix.isEmpty { query.append("table_prefix=\(tablePrefix)") }
        return "bigquery://\(project)/\(dataset)" + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))
    }
}
