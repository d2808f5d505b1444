import Hiredis
import Testing

@Suite("The Redis server version from INFO")
struct RedisServerVersionTests {
    @Test func theVersionIsReadFromInfoAndOrdered() {
        let info = "# Server\r\nredis_version:7.0.15\r\nredis_git_sha1:00000000\r\nredis_mode:standalone\r\n"
        #expect(RedisServerVersion(info: info) == RedisServerVersion(7, 0, 15))
        // Valkey names its Redis compatibility version there too.
        #expect(RedisServerVersion(info: "# Server\nredis_version:7.2.4\nserver_name:valkey\nvalkey_version:8.0.1\n") == RedisServerVersion(7, 2, 4))
        #expect(RedisServerVersion(info: "redis_version:6.2\n") == RedisServerVersion(6, 2, 0))
        #expect(RedisServerVersion(info: "# Server\nredis_mode:standalone\n") == nil)
        #expect(RedisServerVersion(info: "redis_version:seven\n") == nil)
        #expect(RedisServerVersion(6, 2, 14) < RedisServerVersion(7, 0) && RedisServerVersion(7, 0) < RedisServerVersion(7, 0, 1))
        #expect(RedisServerVersion(7, 0, 15).description == "7.0.15")
    }
}
