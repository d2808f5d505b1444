import AsyncHTTPClient
import COpenSSL
import CustomerIO
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// Where the BigQuery sink gets its access tokens, chosen at start-up the way Google's own
/// libraries choose: a service-account key file (`GOOGLE_APPLICATION_CREDENTIALS`), else the
/// metadata server (GKE Workload Identity, Compute Engine), else, for an emulator or a proxy named
/// by `BIGQUERY_API_URL`, no token at all.
public enum GoogleCredentials: Sendable, Hashable, CustomStringConvertible {
    case serviceAccount(ServiceAccountKey)
    /// The metadata server's host (`metadata.google.internal`, or `GCE_METADATA_HOST`).
    case metadataServer(host: String)
    case none

    public static let defaultMetadataHost = "metadata.google.internal"

    /// The source for these settings. A key file is read and its key parsed now, so that a bad
    /// file stops start-up. Without one, the metadata server is used unless `BIGQUERY_API_URL`
    /// points the sink elsewhere and no `GCE_METADATA_HOST` asks for it: an emulator or a local
    /// proxy needs no token, and nothing is sent to a metadata host that is not there.
    public static func resolve(keyFile: String?, metadataHost: String?, apiURL: String?) throws(WarehouseError) -> GoogleCredentials {
        if let keyFile, !keyFile.isEmpty {
            return .serviceAccount(try ServiceAccountKey(path: keyFile))
        }
        if let metadataHost, !metadataHost.isEmpty {
            return .metadataServer(host: metadataHost)
        }
        return apiURL == nil ? .metadataServer(host: defaultMetadataHost) : .none
    }

    /// For logs: which source, never a secret.
    public var description: String {
        switch self {
        case .serviceAccount(let key): "service account \(key.clientEmail)"
        case .metadataServer(let host): "metadata server \(host)"
        case .none: "no credentials"
        }
    }
}

/// A service-account key file, as Google Cloud issues it (JSON with `type: service_account`).
public struct ServiceAccountKey: Sendable, Hashable {
    public let clientEmail: String
    public let privateKeyID: String
    public let tokenURI: String
    /// The key in PEM, already checked to be a readable RSA key.
    let privateKey: String

    public init(path: String) throws(WarehouseError) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw WarehouseError(.invalidCredentials, "cannot read \(path)")
        }
        try self.init(json: data, source: path)
    }

    init(json data: Data, source: String) throws(WarehouseError) {
        guard let fields = try? JSONDecoder().decode([String: JSONValue].self, from: data) else {
            throw WarehouseError(.invalidCredentials, "\(source) is not a JSON object")
        }
        guard fields["type"]?.stringValue == "service_account" else {
            throw WarehouseError(
                .invalidCredentials, "\(source) is not a service-account key (its type is \(fields["type"]?.stringValue ?? "missing"))")
        }
        func field(_ name: String) throws(WarehouseError) -> String {
            guard let value = fields[name]?.stringValue, !value.isEmpty else {
                throw WarehouseError(.invalidCredentials, "\(source) has no \(name)")
            }
            return value
        }
        clientEmail = try field("client_email")
        privateKeyID = try field("private_key_id")
        privateKey = try field("private_key")
        tokenURI = fields["token_uri"]?.stringValue ?? "https://oauth2.googleapis.com/token"
        guard tokenURI.hasPrefix("https://") || tokenURI.hasPrefix("http://") else {
            throw WarehouseError(.invalidCredentials, "\(source) has a token_uri that is not a URL")
        }
        _ = try RS256Signer(pem: privateKey)
    }

    /// The signed JWT (RFC 7523) to exchange at `tokenURI` for an access token with `scope`.
    func assertion(scope: String, issuedAt: Int, signer: RS256Signer) -> String? {
        let header: JSONValue = .object(["alg": .string("RS256"), "typ": .string("JWT"), "kid": .string(privateKeyID)])
        let claims: JSONValue = .object([
            "iss": .string(clientEmail), "scope": .string(scope), "aud": .string(tokenURI),
            "iat": .number(Double(issuedAt)), "exp": .number(Double(issuedAt + 3600)),
        ])
        let signingInput = Base64URL.encode(header.serialized()) + "." + Base64URL.encode(claims.serialized())
        guard let signature = signer.sign(Array(signingInput.utf8)) else { return nil }
        return signingInput + "." + Base64URL.encode(signature)
    }
}

/// Base64 with the URL alphabet and no padding, as JWTs use it.
enum Base64URL {
    static func encode(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }
}

/// RSASSA-PKCS1-v1_5 with SHA-256 (JWT's RS256) on libcrypto, for one private key.
final class RS256Signer: @unchecked Sendable {
    // Read-only after init: libcrypto signs with one key from several threads.
    private let key: OpaquePointer

    init(pem: String) throws(WarehouseError) {
        let parsed: OpaquePointer? = pem.withCString { text in
            guard let bio = BIO_new_mem_buf(text, Int32(strlen(text))) else { return nil }
            defer { BIO_free(bio) }
            return PEM_read_bio_PrivateKey(bio, nil, nil, nil)
        }
        ERR_clear_error()
        guard let parsed else {
            throw WarehouseError(.invalidCredentials, "private_key is not a PEM private key")
        }
        guard EVP_PKEY_get_base_id(parsed) == EVP_PKEY_RSA else {
            EVP_PKEY_free(parsed)
            throw WarehouseError(.invalidCredentials, "private_key is not an RSA key")
        }
        key = parsed
    }

    deinit { EVP_PKEY_free(key) }

    func sign(_ message: [UInt8]) -> [UInt8]? {
        guard let context = EVP_MD_CTX_new() else { return nil }
        defer { EVP_MD_CTX_free(context) }
        guard EVP_DigestSignInit(context, nil, EVP_sha256(), nil, key) == 1 else { return nil }
        var length = 0
        guard EVP_DigestSign(context, nil, &length, message, message.count) == 1 else { return nil }
        var signature = [UInt8](repeating: 0, count: length)
        guard EVP_DigestSign(context, &signature, &length, message, message.count) == 1 else { return nil }
        return Array(signature.prefix(length))
    }
}

/// Access tokens for BigQuery, fetched once and reused until a few minutes before they expire;
/// callers that need one while it is being fetched wait for the same exchange. Tokens are never
/// logged or put into an error message.
actor AccessTokenCache {
    /// Creating tables needs the full BigQuery scope; inserting alone would need `…/bigquery.insertdata`.
    static let scope = "https://www.googleapis.com/auth/bigquery"

    private let credentials: GoogleCredentials
    private let signer: RS256Signer?
    private let http: HTTPClient
    private let refreshMargin: Duration
    private let timeout: Duration
    private let logger: Logger
    private var current: (token: String, refreshAt: ContinuousClock.Instant)?
    private var pending: Task<(String, Duration), any Error>?

    init(credentials: GoogleCredentials, http: HTTPClient, logger: Logger, refreshMargin: Duration = .seconds(300), timeout: Duration = .seconds(10))
    {
        self.logger = logger
        self.credentials = credentials
        if case .serviceAccount(let key) = credentials {
            // Parsed once at start-up already (ServiceAccountKey.init); it cannot fail here.
            signer = try? RS256Signer(pem: key.privateKey)
        } else {
            signer = nil
        }
        self.http = http
        self.refreshMargin = refreshMargin
        self.timeout = timeout
    }

    /// A token to send as `Authorization: Bearer`, or nil when the credentials are `none`.
    func token() async throws(WarehouseError) -> String? {
        if case .none = credentials { return nil }
        if let current, ContinuousClock.now < current.refreshAt { return current.token }
        let task = pending ?? Task { try await self.fetch() }
        pending = task
        defer { pending = nil }
        do {
            let (token, lifetime) = try await task.value
            current = (token, .now + lifetime - refreshMargin)
            logger.debug("BigQuery access token fetched", metadata: ["source": "\(credentials)", "expires_in": "\(lifetime)"])
            return token
        } catch let error as WarehouseError {
            throw error
        } catch {
            throw WarehouseError(.unavailable, "access token: \(error)")
        }
    }

    /// Forgets the token BigQuery refused (401), so that the next call fetches a new one.
    func invalidate() {
        current = nil
        logger.notice("BigQuery refused the access token (401); fetching a new one", metadata: ["source": "\(credentials)"])
    }

    private func fetch() async throws -> (String, Duration) {
        switch credentials {
        case .none:
            throw WarehouseError(.invalidCredentials, "no credentials")
        case .serviceAccount(let key):
            guard let signer, let assertion = key.assertion(scope: Self.scope, issuedAt: Int(Date().timeIntervalSince1970), signer: signer) else {
                throw WarehouseError(.invalidCredentials, "could not sign the token request with the service account's key")
            }
            var request = HTTPClientRequest(url: key.tokenURI)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            let form = "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=" + assertion
            request.body = .bytes(ByteBuffer(string: form))
            return try await exchange(request, describedAs: "the token endpoint \(key.tokenURI)")
        case .metadataServer(let host):
            var request = HTTPClientRequest(url: "http://\(host)/computeMetadata/v1/instance/service-accounts/default/token")
            request.headers.add(name: "Metadata-Flavor", value: "Google")
            return try await exchange(request, describedAs: "the metadata server \(host)")
        }
    }

    private func exchange(_ request: HTTPClientRequest, describedAs place: String) async throws -> (String, Duration) {
        let response: HTTPClientResponse
        let body: ByteBuffer
        do {
            response = try await http.execute(request, timeout: .nanoseconds(timeout.nanoseconds))
            body = try await response.body.collect(upTo: 1 << 20)
        } catch {
            throw WarehouseError(.unavailable, "no access token from \(place): \(error)")
        }
        let fields = try? JSONDecoder().decode([String: JSONValue].self, from: Data(body.readableBytesView))
        guard response.status == .ok, let token = fields?["access_token"]?.stringValue, !token.isEmpty else {
            // Google's error answers carry `error` and `error_description`; never the assertion.
            let reason = [fields?["error"]?.stringValue, fields?["error_description"]?.stringValue].compactMap { $0 }.joined(separator: ": ")
            throw WarehouseError(.unavailable, "no access token from \(place): HTTP \(response.status.code)\(reason.isEmpty ? "" : " \(reason)")")
        }
        let lifetime = fields?["expires_in"].flatMap { if case .number(let seconds) = $0 { seconds } else { nil } } ?? 3600
        return (token, .seconds(lifetime))
    }
}
