import Foundation
import Logging

/// Where events go, from `WAREHOUSE_URL`: `sqlite:PATH`, `postgres://…`, or `none`.
public enum WarehouseLocation: Sendable, Hashable, CustomStringConvertible {
    case none
    case sqlite(path: String)
    case postgres(url: String)

    public static let defaultURL = "sqlite:./data/events.sqlite"

    public init(url: String) throws(WarehouseError) {
        if url == "none" {
            self = .none
        } else if url.hasPrefix("sqlite:") {
            let path = String(url.dropFirst("sqlite:".count))
            guard !path.isEmpty else { throw WarehouseError(.invalidURL, "sqlite: needs a file path, as in sqlite:./data/events.sqlite") }
            self = .sqlite(path: path)
        } else if url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") {
            _ = try PostgresSink.configuration(url: url)
            self = .postgres(url: url)
        } else {
            throw WarehouseError(.invalidURL, "expected sqlite:PATH, postgres://user:password@host:port/database or none")
        }
    }

    /// Opens the sink; nil for `none`.
    public func makeSink(logger: Logger) throws(WarehouseError) -> (any EventSink)? {
        switch self {
        case .none: nil
        case .sqlite(let path): try SQLiteSink(path: path)
        case .postgres(let url): try PostgresSink(url: url, logger: logger)
        }
    }

    /// For logs: the password of a PostgreSQL URL is left out.
    public var description: String {
        switch self {
        case .none: return "none"
        case .sqlite(let path): return "sqlite:\(path)"
        case .postgres(let url):
            guard let at = url.lastIndex(of: "@"), let scheme = url.range(of: "://") else { return url }
            return String(url[..<scheme.upperBound]) + "…@" + String(url[url.index(after: at)...])
        }
    }
}
