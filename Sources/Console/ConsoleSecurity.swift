import CustomerIO

/// Who may use the console. Without `CIO_RELAY_ADMIN_TOKEN` it is read-only and needs no login
/// (reach it with `kubectl port-forward`). With the token, every page needs a login with it, and
/// changes (replay, purge) are allowed. Sessions are stateless, so every replica accepts them: a
/// cookie holding an expiry signed with the token. Each form carries a CSRF token signed from the
/// session, so another site cannot post in the operator's name.
public struct ConsoleSecurity: Sendable {
    static let cookieName = "cio_relay_console"
    /// Seconds a login lasts.
    static let sessionLifetime: Int64 = 12 * 3600

    private let token: String?
    private let signer: TextSigner?

    public init(token: String?) {
        self.token = token.flatMap { $0.isEmpty ? nil : $0 }
        self.signer = self.token.flatMap { TextSigner(key: $0) }
    }

    /// Whether changes are possible at all (a token is set).
    public var allowsChanges: Bool { signer != nil }

    /// Whether `candidate` is the token, compared in constant time.
    public func isToken(_ candidate: String) -> Bool {
        guard let signer, let token else { return false }
        return signer.verify(signer.signature(candidate), of: token)
    }

    /// A new session cookie value, valid until `now` + the lifetime (Unix seconds).
    public func newSession(now: Int64) -> String? {
        guard let signer else { return nil }
        let expiry = now + Self.sessionLifetime
        return "\(expiry).\(signer.signature("session:\(expiry)"))"
    }

    /// Whether a cookie value is a session this token signed that has not expired.
    public func isSession(_ value: String?, now: Int64) -> Bool {
        guard let signer, let value, let dot = value.firstIndex(of: ".") else { return false }
        guard let expiry = Int64(value[..<dot]), expiry > now else { return false }
        return signer.verify(String(value[value.index(after: dot)...]), of: "session:\(expiry)")
    }

    /// The CSRF token of the forms shown in a session.
    public func formToken(session: String) -> String {
        signer?.signature("csrf:\(session)") ?? ""
    }

    public func isFormToken(_ value: String?, session: String) -> Bool {
        guard let signer, let value else { return false }
        return signer.verify(value, of: "csrf:\(session)")
    }
}
