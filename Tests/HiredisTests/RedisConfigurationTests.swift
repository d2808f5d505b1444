import Hiredis
import Testing

@Suite("REDIS_URL parsing")
struct RedisConfigurationTests {
    @Test func hostAndPortDefaults() throws {
        let configuration = try RedisConfiguration(url: "redis://cache.internal")
        #expect(configuration.host == "cache.internal")
        #expect(configuration.port == 6379)
        #expect(configuration.username == nil)
        #expect(configuration.password == nil)
        #expect(configuration.database == 0)
    }

    @Test func userPasswordPortAndDatabase() throws {
        let configuration = try RedisConfiguration(url: "redis://relay:s%40cr%3At@10.0.0.5:6380/4")
        #expect(configuration.host == "10.0.0.5")
        #expect(configuration.port == 6380)
        #expect(configuration.username == "relay")
        #expect(configuration.password == "s@cr:t")
        #expect(configuration.database == 4)
    }

    @Test func passwordOnly() throws {
        let withColon = try RedisConfiguration(url: "redis://:pw@localhost:7000")
        #expect(withColon.username == nil)
        #expect(withColon.password == "pw")
        let bare = try RedisConfiguration(url: "redis://pw@localhost")
        #expect(bare.password == "pw")
    }

    @Test func ipv6Host() throws {
        let configuration = try RedisConfiguration(url: "redis://[::1]:6390")
        #expect(configuration.host == "::1")
        #expect(configuration.port == 6390)
    }

    @Test func clusterNodesAndCredentials() throws {
        let configuration = try RedisConfiguration(url: "redis+cluster://app:s%40cret@10.0.0.1:7000,10.0.0.2:7001,[::1]:7002")
        #expect(
            configuration.clusterSeeds == [
                ClusterEndpoint(host: "10.0.0.1", port: 7000), ClusterEndpoint(host: "10.0.0.2", port: 7001),
                ClusterEndpoint(host: "::1", port: 7002),
            ])
        #expect(configuration.username == "app" && configuration.password == "s@cret")
        #expect(configuration.host == "10.0.0.1" && configuration.port == 7000)
        #expect(try RedisConfiguration(url: "redis://localhost").clusterSeeds == nil)
    }

    @Test(arguments: [
        "http://localhost", "redis+tls://localhost", "rediss+cluster://", "redis://", "redis://host:0", "redis://host:99999", "redis://host:port",
        "redis://host/x", "redis://u:%zz@host",
        "redis://a:1,b:2", "redis+cluster://a:1,,b:2", "redis+cluster://a:1/3", "redis+cluster://",
    ])
    func rejectsInvalid(url: String) {
        #expect(throws: RedisError.self) { try RedisConfiguration(url: url) }
        do {
            _ = try RedisConfiguration(url: url)
        } catch {
            #expect(error.code == .invalidURL)
            #expect(!error.message.contains("%zz"), "messages never echo credentials")
        }
    }
}
