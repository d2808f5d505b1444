import CHiredis
import COpenSSL

#if canImport(Glibc)
    import Glibc
#endif

/// Why a read or write on a `RedisSocket` stopped.
enum SocketFailure: Error {
    /// Nothing could be read or written within the time given.
    case timedOut
    /// The other side closed the connection.
    case closed
    /// The socket or TLS failed; the text says how.
    case failed(String)
}

/// One TCP connection to a Redis node, in plain text or TLS, used by one connection thread.
///
/// The socket is non-blocking and every wait is a `poll` with a deadline, so the TLS handshake,
/// reads and writes all honour the connect and command timeouts whether or not TLS is on.
/// `shutdown(2)` on `descriptor` from another thread wakes a waiting read (a stopping
/// connection does that).
final class RedisSocket {
    let descriptor: Int32
    /// The TLS session, or nil for plain text.
    private let tls: OpaquePointer?

    private init(descriptor: Int32, tls: OpaquePointer?) {
        self.descriptor = descriptor
        self.tls = tls
    }

    deinit {
        if let tls { SSL_free(tls) }
        Glibc.close(descriptor)
    }

    /// Connects to `host`:`port` (names resolved, IPv4 or IPv6) within `timeout`, and with a
    /// TLS configuration completes the handshake within the same time: the chain must lead to a
    /// trusted CA and the certificate must name the server (`serverName`, else `host`).
    static func connect(host: String, port: Int, timeout: Duration, tls configuration: RedisTLSConfiguration?) -> Result<RedisSocket, RedisError> {
        let endpoint = "\(host):\(port)"
        let deadline = ContinuousClock.now + timeout
        // hiredis resolves the name and connects with the timeout; the socket is then ours.
        guard let context = redisConnectWithTimeout(host, Int32(port), Glibc.timeval(timeout)) else {
            return .failure(RedisError(.connectionFailed, "cannot allocate a connection to \(endpoint)"))
        }
        if context.pointee.err != 0 {
            let reason = withUnsafeBytes(of: context.pointee.errstr) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            redisFree(context)
            return .failure(RedisError(.connectionFailed, "cannot connect to \(endpoint): \(reason)"))
        }
        _ = redisEnableKeepAlive(context)
        let descriptor = redisFreeKeepFd(context)
        _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK)
        guard let configuration else {
            return .success(RedisSocket(descriptor: descriptor, tls: nil))
        }
        let contextResult: TLSClientContext
        do {
            contextResult = try TLSClientContext(configuration)
        } catch {
            Glibc.close(descriptor)
            return .failure(RedisError(.connectionFailed, "TLS to \(endpoint) cannot start: \(error)"))
        }
        guard let session = SSL_new(contextResult.context) else {
            Glibc.close(descriptor)
            return .failure(RedisError(.connectionFailed, "TLS to \(endpoint) cannot start: \(OpenSSLErrors.take())"))
        }
        // From here the socket owns the descriptor and the session: both go with it.
        let socket = RedisSocket(descriptor: descriptor, tls: session)
        let name = configuration.serverName ?? host
        guard socket.expect(name: name), SSL_set_fd(session, descriptor) == 1 else {
            return .failure(RedisError(.connectionFailed, "TLS to \(endpoint) cannot start: \(OpenSSLErrors.take())"))
        }
        do throws(SocketFailure) {
            try socket.retrying(until: .at(deadline), plainWait: 0) { SSL_connect(session) }
        } catch {
            return .failure(socket.handshakeError(error, endpoint: endpoint, name: name, configuration: configuration, timeout: timeout))
        }
        return .success(socket)
    }

    /// Sets the name the certificate must carry: an IP address is checked against the IP
    /// SANs (and sent as no SNI, as RFC 6066 asks), a host name against the DNS SANs.
    private func expect(name: String) -> Bool {
        guard let tls else { return false }
        if Self.isIPAddress(name) {
            return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(tls), name) == 1
        }
        return cio_ssl_set_server_name(tls, name) == 1 && SSL_set1_host(tls, name) == 1
    }

    private func handshakeError(_ failure: SocketFailure, endpoint: String, name: String, configuration: RedisTLSConfiguration, timeout: Duration)
        -> RedisError
    {
        guard let tls else { return RedisError(.connectionFailed, "TLS handshake with \(endpoint) failed") }
        let verification = SSL_get_verify_result(tls)
        if verification != X509_V_OK {
            let reason = String(cString: X509_verify_cert_error_string(verification))
            return RedisError(
                .connectionFailed,
                "TLS to \(endpoint): the server's certificate failed verification for the name '\(name)' against \(configuration.trustDescription): \(reason)"
            )
        }
        switch failure {
        case .timedOut:
            return RedisError(
                .connectionFailed,
                "TLS handshake with \(endpoint) did not finish within \(timeout): does this port serve TLS? (a plain-text Redis needs redis://)")
        case .closed:
            return RedisError(
                .connectionFailed,
                "TLS handshake with \(endpoint) failed: the server closed the connection (mutual TLS: does it want a client certificate?)")
        case .failed(let reason):
            let hint =
                reason.contains("wrong version number") || reason.contains("packet length too long")
                ? " (the port answers in plain text: use redis:// or the server's TLS port)" : ""
            return RedisError(.connectionFailed, "TLS handshake with \(endpoint) failed: \(reason)\(hint)")
        }
    }

    /// Writes all of `bytes`, waiting at most `timeout` (nil: forever) each time the socket is full.
    func write(_ bytes: UnsafeRawBufferPointer, timeout: Duration?) throws(SocketFailure) {
        var offset = 0
        while offset < bytes.count {
            let rest = UnsafeRawBufferPointer(rebasing: bytes[offset...])
            let written: Int
            if let tls {
                written = try retrying(until: .after(timeout), plainWait: 0) { SSL_write(tls, rest.baseAddress, Int32(clamping: rest.count)) }
            } else {
                written = try retrying(until: .after(timeout), plainWait: Int16(POLLOUT)) {
                    Glibc.send(descriptor, rest.baseAddress, rest.count, Int32(MSG_NOSIGNAL))
                }
            }
            offset += written
        }
    }

    /// Reads what has arrived into `buffer`, waiting at most `timeout` (nil: forever) for the
    /// first byte; answers the count, never 0.
    func read(into buffer: UnsafeMutableRawBufferPointer, timeout: Duration?) throws(SocketFailure) -> Int {
        if let tls {
            return try retrying(until: .after(timeout), plainWait: 0) { SSL_read(tls, buffer.baseAddress, Int32(clamping: buffer.count)) }
        }
        return try retrying(until: .after(timeout), plainWait: Int16(POLLIN)) { Glibc.recv(descriptor, buffer.baseAddress, buffer.count, 0) }
    }

    /// Runs a non-blocking socket or OpenSSL call until it makes progress, polling in between for
    /// what it waits on (OpenSSL says which; a plain call waits for `plainWait`); answers its
    /// positive result.
    @discardableResult
    private func retrying<Count: BinaryInteger>(until limit: WaitLimit, plainWait: Int16, _ call: () -> Count) throws(SocketFailure) -> Int {
        // The clock is read only once a call would block: most reads and writes never do.
        var deadline: ContinuousClock.Instant?
        var deadlineKnown = false
        while true {
            if tls != nil { ERR_clear_error() }
            errno = 0
            let result = call()
            if result > 0 { return Int(result) }
            let wait: Int16
            if let tls {
                switch SSL_get_error(tls, Int32(truncatingIfNeeded: result)) {
                case SSL_ERROR_WANT_READ: wait = Int16(POLLIN)
                case SSL_ERROR_WANT_WRITE: wait = Int16(POLLOUT)
                case SSL_ERROR_ZERO_RETURN: throw .closed
                case SSL_ERROR_SYSCALL:
                    // An end of file without close_notify, or a socket error.
                    if errno == 0 || errno == ECONNRESET || errno == EPIPE { throw .closed }
                    throw .failed(String(cString: strerror(errno)))
                default:
                    throw .failed(OpenSSLErrors.take())
                }
            } else {
                if result == 0 { throw .closed }
                switch errno {
                case EAGAIN, EWOULDBLOCK: wait = plainWait
                case EINTR: continue
                case ECONNRESET, EPIPE: throw .closed
                default: throw .failed(String(cString: strerror(errno)))
                }
            }
            if !deadlineKnown {
                deadline = limit.instant
                deadlineKnown = true
            }
            try self.wait(for: wait, until: deadline)
        }
    }

    /// How long a call may wait in all: until an instant, for a time from its first wait, or forever.
    enum WaitLimit {
        case at(ContinuousClock.Instant)
        case after(Duration?)

        var instant: ContinuousClock.Instant? {
            switch self {
            case .at(let instant): instant
            case .after(let duration): duration.map { .now + $0 }
            }
        }
    }

    /// Waits until the socket is ready for `events`, the deadline passes, or it is shut down.
    private func wait(for events: Int16, until deadline: ContinuousClock.Instant?) throws(SocketFailure) {
        while true {
            var milliseconds: Int32 = -1
            if let deadline {
                let left = deadline - .now
                guard left > .zero else { throw .timedOut }
                milliseconds = Int32(clamping: max(1, left.milliseconds))
            }
            var descriptor = pollfd(fd: self.descriptor, events: events, revents: 0)
            let ready = poll(&descriptor, 1, milliseconds)
            if ready > 0 { return }
            if ready < 0 && errno != EINTR { throw .failed(String(cString: strerror(errno))) }
        }
    }

    private static func isIPAddress(_ name: String) -> Bool {
        var address = in6_addr()
        return inet_pton(AF_INET, name, &address) == 1 || inet_pton(AF_INET6, name, &address) == 1
    }
}

extension Glibc.timeval {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self.init(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
    }
}
