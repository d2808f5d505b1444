import AsyncHTTPClient
import CustomerIO
import Foundation
import NIOCore
import NIOHTTP1

/// BigQuery's REST API (v2) for one project: sends a call with the current access token and reads
/// the answer. A transport failure is `unavailable`; a 401 fetches a new token and tries once more.
struct BigQueryAPI: Sendable {
    let projectURL: String
    let tokens: AccessTokenCache
    let http: HTTPClient
    let timeout: Duration

    /// An answer: its status and JSON body, with BigQuery's error reason and message when it failed.
    struct Answer: Sendable {
        let status: Int
        let json: JSONValue?

        var succeeded: Bool { (200..<300).contains(status) }

        /// `errors[0].reason` of an error answer (`notFound`, `duplicate`, `invalid`,
        /// `backendError`, `rateLimitExceeded`…).
        var reason: String? {
            if case .array(let errors)? = json?["error"]?["errors"], let first = errors.first { return first["reason"]?.stringValue }
            return json?["error"]?["status"]?.stringValue
        }

        var message: String {
            json?["error"]?["message"]?.stringValue ?? "HTTP \(status)"
        }

        /// The error of a schema call (`what`: the call and its object) that did not succeed:
        /// `unavailable` when trying again may help, otherwise `migrationFailed`.
        func schemaFailure(_ what: String) -> WarehouseError {
            WarehouseError(isRetryable ? .unavailable : .migrationFailed, "BigQuery \(what): HTTP \(status): \(message)")
        }

        /// Worth trying again later: throttling, BigQuery's own failures.
        var isRetryable: Bool {
            [408, 429, 500, 502, 503, 504].contains(status) || ["backendError", "rateLimitExceeded", "internalError"].contains(reason ?? "")
        }
    }

    init(apiURL: String, project: String, tokens: AccessTokenCache, http: HTTPClient, timeout: Duration) {
        let root = apiURL.hasSuffix("/") ? String(apiURL.dropLast()) : apiURL
        projectURL = "\(root)/bigquery/v2/projects/\(project)"
        self.tokens = tokens
        self.http = http
        self.timeout = timeout
    }

    func call(_ method: HTTPMethod, _ path: String, body: [UInt8]? = nil) async throws(WarehouseError) -> Answer {
        let answer = try await send(method, path, body: body)
        guard answer.status == 401 else { return answer }
        await tokens.invalidate()
        return try await send(method, path, body: body)
    }

    private func send(_ method: HTTPMethod, _ path: String, body: [UInt8]?) async throws(WarehouseError) -> Answer {
        var request = HTTPClientRequest(url: projectURL + path)
        request.method = method
        if let token = try await tokens.token() {
            request.headers.add(name: "Authorization", value: "Bearer \(token)")
        }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        do {
            let response = try await http.execute(request, timeout: .nanoseconds(timeout.nanoseconds))
            let bytes = try await response.body.collect(upTo: 64 << 20)
            let json = bytes.readableBytes == 0 ? nil : try? JSONDecoder().decode(JSONValue.self, from: Data(bytes.readableBytesView))
            return Answer(status: Int(response.status.code), json: json)
        } catch {
            throw WarehouseError(.unavailable, "BigQuery \(method) \(path): \(error)")
        }
    }
}
