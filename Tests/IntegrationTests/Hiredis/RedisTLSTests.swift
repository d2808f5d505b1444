import Foundation
import Hiredis
import TestSupport
import Testing

/// TLS to real `redis-server`s of the tests' own (`--port 0 --tls-port …`), with the certificates
/// the test command makes with openssl.
@Suite("TLS to Redis against real redis-server")
struct RedisTLSTests {
    /// A client of `server` over TLS, trusting `ca` (a file of the test certificates).
    static func configuration(
        _ server: RedisServerProcess, host: String = "localhost", ca: String = "ca.crt", clientCertificate: Bool = false, serverName: String? = nil
    ) throws -> RedisConfiguration {
        var configuration = try RedisConfiguration(url: "rediss://\(host):\(server.port)")
        configuration.tls?.caFile = try TestTLS.file(ca)
        if clientCertificate {
            configuration.tls?.certificateFile = try TestTLS.file("client.crt")
            configuration.tls?.keyFile = try TestTLS.file("client.key")
        }
        configuration.tls?.serverName = serverName
        return configuration
    }

    /// The error `PING` ends with on a fresh client of `configuration`, and how long it took.
    static func pingError(_ configuration: RedisConfiguration) async throws -> (RedisError?, Duration) {
        let client = try RedisClient(configuration: configuration)
        let started = ContinuousClock.now
        var failure: RedisError?
        do throws(RedisError) {
            try await client.ping()
        } catch {
            failure = error
        }
        let took = ContinuousClock.now - started
        await client.shutdown()
        return (failure, took)
    }

    @Test func oneNodeServesPipelinedCommandsOverTLS() async throws {
        let server = try await RedisServerProcess.started(tls: true)
        try await withShutdown(try RedisClient(configuration: Self.configuration(server))) { client in
            let key = RedisArgument(TestRedis.uniquePrefix("tls"))
            let value = (0..<300_000).map { UInt8(truncatingIfNeeded: $0) }
            _ = try await client.send(RedisCommand("SET", [key, RedisArgument(bytes: value)]))
            // Larger than a TLS record and the read buffer: the reply arrives in many reads.
            #expect(try await client.send(RedisCommand("GET", [key])) == .bulkString(value))
            let counter = RedisArgument(TestRedis.uniquePrefix("tls-n"))
            let replies = try await withThrowingTaskGroup(of: Int64.self) { group in
                for _ in 0..<1000 { group.addTask { try await client.send("INCR", counter).integer ?? -1 } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(replies.sorted() == Array(1...1000))
        }
    }

    @Test func mutualTLSNeedsAClientCertificateOfTheCA() async throws {
        let server = try await RedisServerProcess.started(tls: true, clientCertificates: true)
        let (refused, _) = try await Self.pingError(Self.configuration(server))
        #expect(refused?.isUnavailable == true)
        #expect(refused?.message.contains("client certificate") == true, "\(String(describing: refused))")
        let (accepted, _) = try await Self.pingError(Self.configuration(server, clientCertificate: true))
        #expect(accepted == nil)
    }

    @Test func aCertificateFromAnotherCAIsRefused() async throws {
        let server = try await RedisServerProcess.started(tls: true)
        let (error, _) = try await Self.pingError(Self.configuration(server, ca: "other-ca.crt"))
        let message = try #require(error).message
        #expect(error?.code == .connectionFailed)
        #expect(message.contains("failed verification for the name 'localhost'"), "\(message)")
        #expect(message.contains("other-ca.crt"), "\(message)")
    }

    @Test func theCertificateMustNameTheHostOrTheConfiguredName() async throws {
        let server = try await RedisServerProcess.started(tls: true)
        // The certificate names localhost only; 127.0.0.1 is the same server by another name.
        let (mismatch, _) = try await Self.pingError(Self.configuration(server, host: "127.0.0.1"))
        #expect(mismatch?.message.contains("for the name '127.0.0.1'") == true, "\(String(describing: mismatch))")
        #expect(mismatch?.message.contains("IP address mismatch") == true, "\(String(describing: mismatch))")
        let (named, _) = try await Self.pingError(Self.configuration(server, host: "127.0.0.1", serverName: "localhost"))
        #expect(named == nil)
        let (wrongName, _) = try await Self.pingError(Self.configuration(server, serverName: "redis.example.org"))
        #expect(wrongName?.message.contains("hostname mismatch") == true, "\(String(describing: wrongName))")
    }

    @Test func aPlainURLOnATLSPortFailsFastWithAHint() async throws {
        let server = try await RedisServerProcess.started(tls: true)
        var configuration = try RedisConfiguration(url: "redis://127.0.0.1:\(server.port)")
        configuration.commandTimeout = .seconds(5)
        let (error, took) = try await Self.pingError(configuration)
        #expect(error?.code == .connectionLost)
        #expect(error?.message.contains("use rediss://") == true, "\(String(describing: error))")
        #expect(took < .seconds(2), "a plain client on a TLS port must not wait for its timeout (took \(took))")
    }

    @Test func aTLSURLOnAPlainPortFailsWithinTheConnectTimeout() async throws {
        let plain = try await RedisServerProcess.started()
        var configuration = try RedisConfiguration(url: "rediss://127.0.0.1:\(plain.port)")
        configuration.connectTimeout = .milliseconds(500)
        let (error, took) = try await Self.pingError(configuration)
        #expect(error?.code == .connectionFailed)
        #expect(error?.message.contains("a plain-text Redis needs redis://") == true, "\(String(describing: error))")
        #expect(took < .seconds(2), "the handshake must honour the connect timeout (took \(took))")
    }

    @Test func aDroppedTLSConnectionFailsOnlyUnansweredCommandsAndReconnects() async throws {
        let server = try await RedisServerProcess.started(tls: true)
        let configuration = try Self.configuration(server)
        try await withShutdown(try RedisClient(configuration: configuration)) { client in
            try await withShutdown(try RedisClient(configuration: configuration)) { killer in
                let list = TestRedis.uniquePrefix("tls-drop")
                let outcomes = try await withThrowingTaskGroup(of: (Int, RedisError?).self) { group in
                    for index in 0..<3000 {
                        group.addTask {
                            if index == 1500 { _ = try? await killer.send("CLIENT", "KILL", "TYPE", "normal") }
                            do throws(RedisError) {
                                _ = try await client.send("RPUSH", RedisArgument(list), RedisArgument(index))
                                return (index, nil)
                            } catch {
                                return (index, error)
                            }
                        }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                let stored = Set(try await client.send("LRANGE", RedisArgument(list), "0", "-1").array?.compactMap(\.string) ?? [])
                let acknowledged = outcomes.filter { $0.1 == nil }.map { String($0.0) }
                // Every command answered OK is in Redis; the others failed as unavailable, never silently.
                #expect(acknowledged.allSatisfy(stored.contains))
                #expect(outcomes.compactMap(\.1).allSatisfy { $0.isUnavailable })
                try await client.ping()
            }
        }
    }

    @Test func unusableFilesAreNamed() throws {
        let missing = #expect(throws: RedisTLSFileError.self) { try RedisTLSConfiguration(caFile: "/nonexistent/ca.pem").check() }
        #expect(missing?.file == .ca && missing?.description.contains("cannot be read") == true)
        let notACertificate = #expect(throws: RedisTLSFileError.self) { try RedisTLSConfiguration(caFile: try TestTLS.file("ca.key")).check() }
        #expect(notACertificate?.file == .ca)
        let halfAPair = #expect(throws: RedisTLSFileError.self) { try RedisTLSConfiguration(certificateFile: try TestTLS.file("client.crt")).check() }
        #expect(halfAPair?.file == .key)
        let wrongKey = #expect(throws: RedisTLSFileError.self) {
            try RedisTLSConfiguration(certificateFile: try TestTLS.file("client.crt"), keyFile: try TestTLS.file("server.key")).check()
        }
        #expect(wrongKey?.file == .key && wrongKey?.description.contains("does not belong") == true)
        try RedisTLSConfiguration(
            caFile: try TestTLS.file("ca.crt"), certificateFile: try TestTLS.file("client.crt"), keyFile: try TestTLS.file("client.key")
        ).check()
    }

    @Test func tlsURLsAreRead() throws {
        let single = try RedisConfiguration(url: "rediss://user:pw@cache.example.org:6380/2")
        #expect(single.tls == RedisTLSConfiguration())
        #expect(single.host == "cache.example.org" && single.port == 6380 && single.database == 2 && single.username == "user")
        let cluster = try RedisConfiguration(url: "rediss+cluster://10.0.0.1:6379,10.0.0.2:6379")
        #expect(cluster.tls != nil && cluster.clusterSeeds?.count == 2)
        #expect(try RedisConfiguration(url: "redis://h:1").tls == nil)
        #expect(throws: RedisError.self) { try RedisConfiguration(url: "redistls://h:1") }
    }
}
