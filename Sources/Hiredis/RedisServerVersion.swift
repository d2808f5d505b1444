/// The version a Redis server reports (`redis_version` of `INFO server`; Valkey reports its Redis
/// compatibility version there too), ordered as versions are.
public struct RedisServerVersion: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let major: Int
    public let minor: Int
    public let patch: Int

    public init(_ major: Int, _ minor: Int, _ patch: Int = 0) {
        self.major = major
        self.minor = minor
        self.patch = patch
    }

    /// The version in the text of `INFO` (lines `name:value`), or nil when it names none.
    public init?(info: String) {
        guard
            let line = info.split(whereSeparator: \.isNewline).first(where: { $0.hasPrefix("redis_version:") }),
            case let parts = line.dropFirst("redis_version:".count).split(separator: ".").map({ Int(String($0.filter { !$0.isWhitespace })) }),
            parts.count >= 2, let major = parts[0], let minor = parts[1]
        else { return nil }
        self.init(major, minor, parts.count > 2 ? parts[2] ?? 0 : 0)
    }

    public static func < (lhs: RedisServerVersion, rhs: RedisServerVersion) -> Bool {
        (lhs.major, lhs.minor, lhs.patch) < (rhs.major, rhs.minor, rhs.patch)
    }

    public var description: String { "\(major).\(minor).\(patch)" }
}

extension RedisClient {
    /// The version of the server that answers (with a cluster, one of its nodes).
    public func serverVersion() async throws(RedisError) -> RedisServerVersion {
        let reply = try await send(RedisCommand("INFO", "server"))
        guard let text = reply.string, let version = RedisServerVersion(info: text) else {
            throw RedisError(.unexpectedReply, "INFO server names no redis_version")
        }
        return version
    }
}
