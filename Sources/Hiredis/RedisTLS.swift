import COpenSSL

#if canImport(Glibc)
    import Glibc
#endif

/// TLS to Redis (`rediss://`, `rediss+cluster://`). The server's chain and name are always
/// verified; there is no way to turn that off.
public struct RedisTLSConfiguration: Sendable, Hashable, CustomStringConvertible {
    /// A PEM bundle of the CAs to trust; nil trusts the system store.
    public var caFile: String?
    /// A PEM client certificate (with its chain) for mutual TLS; needs `keyFile`.
    public var certificateFile: String?
    /// The PEM private key of `certificateFile`.
    public var keyFile: String?
    /// The name to send as SNI and to verify the certificate against; nil uses the host the
    /// connection goes to (the URL's, or the node a cluster names). A cluster announces IP
    /// addresses, which certificates rarely name: this is what makes verification work there.
    public var serverName: String?

    public init(caFile: String? = nil, certificateFile: String? = nil, keyFile: String? = nil, serverName: String? = nil) {
        self.caFile = caFile
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.serverName = serverName
    }

    /// Which file of the configuration a problem is about.
    public enum File: Sendable, Hashable {
        case ca, certificate, key
    }

    /// Loads every file as a connection would, so that a bad one stops start-up instead of
    /// failing each connection later.
    public func check() throws(RedisTLSFileError) {
        _ = try TLSClientContext(self)
    }

    /// What is verified and presented, for the start-up log.
    public var description: String {
        let name = serverName.map { "the name \($0)" } ?? "each host's name"
        return "on, verifying \(name) against \(trustDescription)" + (certificateFile.map { ", client certificate \($0)" } ?? "")
    }

    /// Where the server's certificate must chain to, for error messages.
    var trustDescription: String {
        caFile.map { "the CA file \($0)" } ?? "the system's CA store"
    }
}

/// A TLS file that cannot be used: which one, and why.
public struct RedisTLSFileError: Error, Sendable, Hashable, CustomStringConvertible {
    public let file: RedisTLSConfiguration.File
    public let path: String
    public let reason: String

    public var description: String { "\(path): \(reason)" }
}

/// An OpenSSL client context holding the trusted CAs and the client certificate. Made anew for
/// every connection, so that certificates rotated on disk (a mounted Kubernetes Secret) take
/// effect at the next reconnect without a restart.
final class TLSClientContext {
    let configuration: RedisTLSConfiguration
    let context: OpaquePointer

    init(_ configuration: RedisTLSConfiguration) throws(RedisTLSFileError) {
        self.configuration = configuration
        ERR_clear_error()
        guard let context = SSL_CTX_new(TLS_client_method()) else {
            throw RedisTLSFileError(
                file: .ca, path: configuration.caFile ?? "-", reason: "OpenSSL could not make a TLS context: \(OpenSSLErrors.take())")
        }
        self.context = context
        _ = cio_ssl_ctx_set_client_defaults(context)
        SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nil)
        if let caFile = configuration.caFile {
            try Self.checkReadable(caFile, as: .ca)
            guard SSL_CTX_load_verify_locations(context, caFile, nil) == 1 else {
                throw RedisTLSFileError(file: .ca, path: caFile, reason: "not a PEM bundle of CA certificates (\(OpenSSLErrors.take()))")
            }
        } else {
            _ = SSL_CTX_set_default_verify_paths(context)
        }
        switch (configuration.certificateFile, configuration.keyFile) {
        case (nil, nil):
            break
        case (let certificate?, nil):
            throw RedisTLSFileError(file: .key, path: certificate, reason: "a client certificate needs its private key file")
        case (nil, let key?):
            throw RedisTLSFileError(file: .certificate, path: key, reason: "a private key needs its client certificate file")
        case (let certificate?, let key?):
            try Self.checkReadable(certificate, as: .certificate)
            try Self.checkReadable(key, as: .key)
            guard SSL_CTX_use_certificate_chain_file(context, certificate) == 1 else {
                throw RedisTLSFileError(file: .certificate, path: certificate, reason: "not a PEM certificate (\(OpenSSLErrors.take()))")
            }
            guard SSL_CTX_use_PrivateKey_file(context, key, SSL_FILETYPE_PEM) == 1, SSL_CTX_check_private_key(context) == 1 else {
                let reason = OpenSSLErrors.take()
                // OpenSSL already checks the pair while loading the key.
                let problem = reason.contains("mismatch") ? "does not belong to the certificate in \(certificate)" : "not a PEM private key"
                throw RedisTLSFileError(file: .key, path: key, reason: "\(problem) (\(reason))")
            }
        }
    }

    deinit {
        SSL_CTX_free(context)
    }

    /// OpenSSL's messages for a missing file are vague ("system library"); errno is not.
    private static func checkReadable(_ path: String, as file: RedisTLSConfiguration.File) throws(RedisTLSFileError) {
        guard access(path, R_OK) == 0 else {
            throw RedisTLSFileError(file: file, path: path, reason: "cannot be read (\(String(cString: strerror(errno))))")
        }
    }
}

/// OpenSSL's thread-local error queue, read into one line.
enum OpenSSLErrors {
    /// The queued errors, oldest first, and clears the queue.
    static func take() -> String {
        var reasons: [String] = []
        while case let code = ERR_get_error(), code != 0 {
            if let reason = ERR_reason_error_string(code) {
                reasons.append(String(cString: reason))
            } else {
                reasons.append("error \(code)")
            }
        }
        return reasons.isEmpty ? "no detail from OpenSSL" : reasons.joined(separator: "; ")
    }
}
