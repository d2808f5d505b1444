import Hiredis
import TestSupport
import Testing

/// The client through real Sentinels (`redis-server --sentinel`): discovery, a Sentinel that is
/// down, a master name nobody knows. The failover under load is IntegrationTests/cluster-soak.sh's.
@Suite("Redis Sentinel against real Sentinels")
struct SentinelClientTests {
    /// The primary as the first Sentinel names it, asked directly.
    static func primaryBySentinel() async throws -> String {
        let first = try #require(try TestRedisSentinel.sentinels().split(separator: ",").first)
        let parts = first.split(separator: ":")
        let sentinel = try RedisClient(configuration: RedisConfiguration(host: String(parts[0]), port: try #require(Int(parts[1]))))
        return try await withShutdown(sentinel) { sentinel in
            let reply = try await sentinel.send("SENTINEL", "GET-MASTER-ADDR-BY-NAME", RedisArgument(TestRedisSentinel.masterName))
            let address = try #require(reply.array?.compactMap { $0.string })
            return address.joined(separator: ":")
        }
    }

    @Test func commandsReachThePrimaryTheSentinelsName() async throws {
        var configuration = try TestRedisSentinel.configuration()
        configuration.minReplicas = 2
        try await withShutdown(try RedisClient(configuration: configuration)) { client in
            let key = RedisArgument(TestRedis.uniquePrefix("sentinel"))
            // A write confirmed by both replicas (WAIT 2) can only have reached the primary.
            #expect(try await client.send(RedisCommand("SET", [key, "v"], awaitsReplicas: true)) == .simpleString("OK"))
            #expect(try await client.send("GET", key) == .bulkString(Array("v".utf8)))
            let primaries = try await client.primaries()
            #expect(primaries.map(\.endpoint.description) == [try await Self.primaryBySentinel()])
            #expect(try await primaries[0].send("ROLE").array?.first?.string == "master")
        }
    }

    @Test func aSentinelThatIsDownIsSkipped() async throws {
        // Port 1 refuses at once; the next Sentinels answer.
        let configuration = try TestRedisSentinel.configuration(sentinels: "127.0.0.1:1," + TestRedisSentinel.sentinels())
        try await withShutdown(try RedisClient(configuration: configuration)) { client in
            try await client.ping()
        }
    }

    @Test func aMasterNameNoSentinelKnowsIsAConfigurationError() async throws {
        try await withShutdown(try RedisClient(configuration: TestRedisSentinel.configuration(master: "no-such-master"))) { client in
            do {
                try await client.ping()
                Issue.record("a master nobody knows must fail")
            } catch let error as RedisError {
                #expect(error.code == .unknownMaster)
                #expect(error.message.contains("monitors a master named 'no-such-master'"), "\(error)")
            }
        }
    }

    @Test func whenNoSentinelAnswersTheCallFailsWithinItsBudget() async throws {
        var configuration = try TestRedisSentinel.configuration(sentinels: "127.0.0.1:1,127.0.0.1:2")
        configuration.commandTimeout = .milliseconds(500)
        try await withShutdown(try RedisClient(configuration: configuration)) { client in
            let started = ContinuousClock.now
            do {
                try await client.ping()
                Issue.record("no Sentinel: the call must fail")
            } catch let error as RedisError {
                #expect(error.code == .connectionFailed && error.message.contains("no Sentinel (127.0.0.1:1,127.0.0.1:2)"), "\(error)")
            }
            #expect(ContinuousClock.now - started < .seconds(2), "the receiver must answer 503, never hang")
        }
    }

    @Test func sentinelURLsAreRead() throws {
        let plain = try RedisConfiguration(url: "redis+sentinel://:pw@s1:26380,s2/mymaster?db=3")
        #expect(
            plain.sentinel
                == SentinelConfiguration(
                    sentinels: [ClusterEndpoint(host: "s1", port: 26380), ClusterEndpoint(host: "s2", port: 26379)], masterName: "mymaster"))
        #expect(plain.password == "pw" && plain.database == 3 && plain.tls == nil && plain.clusterSeeds == nil)
        #expect(try RedisConfiguration(url: "rediss+sentinel://s1/m").tls != nil)
        for bad in [
            "redis+sentinel://s1", "redis+sentinel://s1/", "redis+sentinel://s1/m?db=x", "redis+sentinel://s1/m?role=replica", "redis+sentinel:///m",
        ] {
            #expect(throws: RedisError.self, "\(bad)") { try RedisConfiguration(url: bad) }
        }
    }
}
