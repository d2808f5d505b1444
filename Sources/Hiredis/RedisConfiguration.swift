/// Where and how to connect to Redis.
public struct RedisConfiguration: Sendable, Hashable {
    public var host: String
    public var port: Int
    /// ACL user name; `nil` means the legacy single-password `AUTH`.
    public var username: String?
    public var password: String?
    /// Database selected with `SELECT` after every connect.
    public var database: Int
    /// How long a TCP connect (plus `AUTH`/`SELECT`) may take.
    public var connectTimeout: Duration
    /// How long a reply may take; `nil` waits forever (blocking reads).
    public var commandTimeout: Duration?
    /// Connections in the pool; each has its own thread and pipelines on its own. One is the
    /// default: a single connection gathers concurrent commands into larger pipelines, which costs
    /// Redis and the client less per command than the same load spread over several (measured with
    /// the receiver benchmark: 1 connection outran 2 and 4). More help only when one command is slow
    /// enough to hold up the ones queued behind it.
    public var poolSize: Int
    /// First wait before reconnecting after a failure; doubles up to `maximumReconnectBackoff`.
    public var reconnectBackoff: Duration
    public var maximumReconnectBackoff: Duration
    /// The nodes to learn a Redis Cluster's slot map from (`redis+cluster://`); nil for one Redis,
    /// at `host`:`port`.
    public var clusterSeeds: [ClusterEndpoint]?
    /// Replicas that must have a write before a command marked `awaitsReplicas` succeeds: the
    /// connection follows each batch holding such commands with `WAIT minReplicas replicaTimeout`,
    /// and fails them with `replicationShortfall` when fewer confirm in time. 0 turns it off.
    public var minReplicas: Int
    /// How long that `WAIT` may block the connection.
    public var replicaTimeout: Duration
    /// TLS for every connection (`rediss://`, `rediss+cluster://`), to the URL's host and to
    /// each node a cluster names; nil speaks plain text.
    public var tls: RedisTLSConfiguration?
    /// The Sentinels to ask for the primary (`redis+sentinel://`); nil when `host` is the server.
    public var sentinel: SentinelConfiguration?

    public init(
        host: String = "127.0.0.1",
        port: Int = 6379,
        username: String? = nil,
        password: String? = nil,
        database: Int = 0,
        connectTimeout: Duration = .seconds(1),
        commandTimeout: Duration? = .seconds(2),
        poolSize: Int = 1,
        reconnectBackoff: Duration = .milliseconds(50),
        maximumReconnectBackoff: Duration = .seconds(1),
        clusterSeeds: [ClusterEndpoint]? = nil,
        minReplicas: Int = 0,
        replicaTimeout: Duration = .seconds(1),
        tls: RedisTLSConfiguration? = nil
    ) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
        self.poolSize = poolSize
        self.reconnectBackoff = reconnectBackoff
        self.maximumReconnectBackoff = maximumReconnectBackoff
        self.clusterSeeds = clusterSeeds
        self.minReplicas = minReplicas
        self.replicaTimeout = replicaTimeout
        self.tls = tls
    }

    /// The configuration of a connection to one node of the cluster.
    func node(_ endpoint: ClusterEndpoint) -> RedisConfiguration {
        var configuration = self
        configuration.host = endpoint.host
        configuration.port = endpoint.port
        return configuration
    }

    /// Reads `redis://[user:password@]host[:port][/db]` (user optional: `redis://:password@host`),
    /// or `redis+cluster://[user:password@]host:port[,host:port…]` for a Redis Cluster (the nodes
    /// to learn the slot map from; a cluster has only database 0). `rediss://` and
    /// `rediss+cluster://` are the same over TLS (verified against the system's CAs until `tls`
    /// says otherwise). `redis+sentinel://[user:password@]host:port[,host:port…]/MASTER[?db=N]`
    /// (and `rediss+sentinel://`) names the Sentinels (port 26379 unless given) that know the
    /// primary of MASTER; the user and password are the data nodes'. Percent-encoded characters in
    /// the user and password are decoded.
    public init(url: String) throws(RedisError) {
        self.init()
        let schemes = ["redis", "rediss", "redis+cluster", "rediss+cluster", "redis+sentinel", "rediss+sentinel"]
        guard let scheme = url.firstRange(of: "://").map({ url[..<$0.lowerBound] }), schemes.contains(String(scheme)) else {
            throw RedisError(
                .invalidURL,
                "REDIS_URL must start with redis://, redis+cluster:// or redis+sentinel:// (rediss… for TLS; unix sockets are not supported)")
        }
        if scheme.hasSuffix("+sentinel") {
            try self.init(sentinelURL: url, tls: scheme.hasPrefix("rediss"))
            return
        }
        let cluster = scheme.hasSuffix("+cluster")
        tls = scheme.hasPrefix("rediss") ? RedisTLSConfiguration() : nil
        var rest = Substring(url.drop { $0 != "/" }.dropFirst(2))
        if let at = rest.lastIndex(of: "@") {
            (username, password) = try Self.credentials(rest[..<at])
            rest = rest[rest.index(after: at)...]
        }
        let authority: Substring
        if let slash = rest.firstIndex(of: "/") {
            authority = rest[..<slash]
            let path = rest[rest.index(after: slash)...]
            if !path.isEmpty {
                guard let db = Int(path), db >= 0 else {
                    throw RedisError(.invalidURL, "REDIS_URL database must be a non-negative number, got '\(path)'")
                }
                guard !cluster || db == 0 else {
                    throw RedisError(.invalidURL, "a Redis Cluster has only database 0, REDIS_URL asks for \(db)")
                }
                database = db
            }
        } else {
            authority = rest
        }
        let nodes = try authority.split(separator: ",", omittingEmptySubsequences: false).map { node throws(RedisError) in
            try Self.endpoint(node, defaultPort: port)
        }
        guard let first = nodes.first else { throw RedisError(.invalidURL, "REDIS_URL has no host") }
        guard cluster || nodes.count == 1 else {
            throw RedisError(.invalidURL, "REDIS_URL names \(nodes.count) hosts: use redis+cluster:// for a Redis Cluster")
        }
        host = first.host
        port = first.port
        clusterSeeds = cluster ? nodes : nil
    }

    /// The parts of a `redis+sentinel://` URL after the scheme.
    private init(sentinelURL url: String, tls: Bool) throws(RedisError) {
        self.init()
        self.tls = tls ? RedisTLSConfiguration() : nil
        var rest = Substring(url.drop { $0 != "/" }.dropFirst(2))
        if let question = rest.firstIndex(of: "?") {
            for pair in rest[rest.index(after: question)...].split(separator: "&") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                guard parts.count == 2, parts[0] == "db", let db = Int(parts[1]), db >= 0 else {
                    throw RedisError(.invalidURL, "REDIS_URL of Sentinel takes ?db=N only, got '\(pair)'")
                }
                database = db
            }
            rest = rest[..<question]
        }
        guard let slash = rest.firstIndex(of: "/"), case let name = rest[rest.index(after: slash)...], !name.isEmpty, !name.contains("/") else {
            throw RedisError(
                .invalidURL, "REDIS_URL of Sentinel must name the master after the hosts: redis+sentinel://host:26379[,host:26379…]/MASTER_NAME")
        }
        var authority = rest[..<slash]
        if let at = authority.lastIndex(of: "@") {
            (username, password) = try Self.credentials(authority[..<at])
            authority = authority[authority.index(after: at)...]
        }
        let sentinels = try authority.split(separator: ",", omittingEmptySubsequences: false).map { node throws(RedisError) in
            try Self.endpoint(node, defaultPort: 26379)
        }
        guard let first = sentinels.first else { throw RedisError(.invalidURL, "REDIS_URL names no Sentinel") }
        // Until the Sentinels name the primary, host and port are the first Sentinel's.
        host = first.host
        port = first.port
        sentinel = SentinelConfiguration(sentinels: sentinels, masterName: String(name))
    }

    /// `user:password`, `:password` or `password` (how many providers write a password-only URL).
    private static func credentials(_ text: Substring) throws(RedisError) -> (username: String?, password: String) {
        guard let colon = text.firstIndex(of: ":") else { return (nil, try percentDecoded(text)) }
        let user = try percentDecoded(text[..<colon])
        return (user.isEmpty ? nil : user, try percentDecoded(text[text.index(after: colon)...]))
    }

    /// `host`, `host:port`, `[v6]` or `[v6]:port`.
    private static func endpoint(_ authority: Substring, defaultPort: Int) throws(RedisError) -> ClusterEndpoint {
        var port = defaultPort
        let hostPart: Substring
        if authority.hasPrefix("["), let close = authority.firstIndex(of: "]") {
            hostPart = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if after.hasPrefix(":") { port = try Self.port(after.dropFirst()) }
        } else if let colon = authority.lastIndex(of: ":") {
            hostPart = authority[..<colon]
            port = try Self.port(authority[authority.index(after: colon)...])
        } else {
            hostPart = authority
        }
        guard !hostPart.isEmpty else { throw RedisError(.invalidURL, "REDIS_URL has no host") }
        return ClusterEndpoint(host: String(hostPart), port: port)
    }

    private static func port(_ text: Substring) throws(RedisError) -> Int {
        guard let port = Int(text), (1...65535).contains(port) else {
            throw RedisError(.invalidURL, "REDIS_URL port must be 1-65535, got '\(text)'")
        }
        return port
    }

    private static func percentDecoded(_ text: Substring) throws(RedisError) -> String {
        var bytes: [UInt8] = []
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(Self.hexValue), let low = iterator.next().flatMap(Self.hexValue) else {
                throw RedisError(.invalidURL, "REDIS_URL has a malformed percent escape in its credentials")
            }
            bytes.append(high << 4 | low)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
