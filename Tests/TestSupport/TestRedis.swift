import Foundation
import Hiredis

/// A test could not find a server it needs. Raised, never skipped: a missing server is a failure.
public struct TestSetupError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Runs blocking work (a wait with sleeps for a server to start or stop) on a thread of its own:
/// on the cooperative pool (two threads on a two-core machine) it would stall every other test's
/// tasks meanwhile, and the tests that measure deadlines failed in CI.
func offThePool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread { continuation.resume(with: Result { try body() }) }
    }
}

/// Starting helper processes from tests.
public enum TestProcess {
    /// Starts `argv` with posix_spawn (the child gets a clean signal mask: the test runner blocks
    /// some signals, and a child inheriting that would ignore the SIGTERM that stops it).
    public static func spawn(_ argv: [String]) throws -> pid_t {
        var cArguments = argv.map { strdup($0) } + [nil]
        defer { cArguments.forEach { free($0) } }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var child: pid_t = 0
        let result = posix_spawn(&child, argv[0], nil, &attributes, &cArguments, environ)
        guard result == 0 else { throw TestSetupError("cannot start \(argv[0]): posix_spawn \(result)") }
        return child
    }

    /// Runs `argv` to completion; answers its exit status.
    public static func run(_ argv: [String]) throws -> Int32 {
        let child = try spawn(argv)
        var status: Int32 = 0
        _ = waitpid(child, &status, 0)
        return (status >> 8) & 0xFF
    }

    /// Runs a shell command to completion; answers its exit status and what it printed (standard
    /// output and error). Foundation's `Process` is not used: see `spawn`.
    public static func output(ofShell command: String) throws -> (status: Int32, text: String) {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("output-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: file) }
        let status = try run(["/bin/sh", "-c", "\(command) > '\(file.path)' 2>&1"])
        return (status, (try? String(contentsOf: file, encoding: .utf8)) ?? "")
    }
}

/// What `scripts/test.sh` passes to the tests: the servers it started, and the scripts that stop
/// and start the outage servers.
public enum TestEnvironment {
    /// The variable's value; a clear failure naming `what` the test command starts when it is missing.
    public static func value(_ name: String, startedBy what: String) throws -> String {
        guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else {
            throw TestSetupError("\(name) is not set: run the tests with scripts/test.sh, which starts \(what) for them")
        }
        return value
    }

    /// Runs the control script named by `variable` with `action` (`"stop"` or `"start"`), on a
    /// thread of its own: stopping or starting a server takes seconds, which on the cooperative
    /// pool would stall the other tests' tasks.
    public static func control(_ variable: String, _ action: String, startedBy what: String) async throws {
        let control = try value(variable, startedBy: what)
        let status = try await offThePool { try TestProcess.run([control, action]) }
        guard status == 0 else { throw TestSetupError("\(control) \(action) exited \(status)") }
    }
}

/// The PostgreSQL servers that `scripts/test.sh` starts for the whole run.
public enum TestPostgres {
    /// The shared server (each test uses a schema-free database of its own, see `freshDatabase`).
    public static func url() throws -> String { try TestEnvironment.value("CIO_RELAY_TEST_POSTGRES_URL", startedBy: "PostgreSQL") }

    /// A server of its own that `outage(_:)` stops and starts.
    public static func outageURL() throws -> String { try TestEnvironment.value("CIO_RELAY_TEST_POSTGRES_OUTAGE_URL", startedBy: "PostgreSQL") }

    /// Stops (`"stop"`) or starts (`"start"`) the outage server, or freezes (`"pause"`) and thaws
    /// (`"resume"`) it with its connections left open.
    public static func outage(_ action: String) async throws {
        try await TestEnvironment.control("CIO_RELAY_TEST_POSTGRES_OUTAGE_CONTROL", action, startedBy: "PostgreSQL")
    }
}

/// The Redis server that `scripts/test.sh` starts for the whole run.
public enum TestRedis {
    public static func configuration() throws -> RedisConfiguration {
        guard let url = ProcessInfo.processInfo.environment["CIO_RELAY_TEST_REDIS_URL"], !url.isEmpty else {
            throw TestSetupError("CIO_RELAY_TEST_REDIS_URL is not set: run the tests with scripts/test.sh, which starts Redis for them")
        }
        return try RedisConfiguration(url: url)
    }

    public static func client(poolSize: Int = 2, commandTimeout: Duration? = .seconds(2)) throws -> RedisClient {
        var configuration = try configuration()
        configuration.poolSize = poolSize
        configuration.commandTimeout = commandTimeout
        return try RedisClient(configuration: configuration)
    }

    /// A key prefix of its own per test, so tests can run in parallel on one server.
    public static func uniquePrefix(_ name: String = "test") -> String {
        "\(name)-\(UUID().uuidString.prefix(8).lowercased())"
    }
}

/// The Redis Cluster (3 primaries, 3 replicas) that `scripts/test.sh` starts for the whole run.
public enum TestRedisCluster {
    /// Its nodes as `host:port,…`.
    public static func nodes() throws -> String {
        try TestEnvironment.value("CIO_RELAY_TEST_REDIS_CLUSTER", startedBy: "a Redis Cluster")
    }

    public static func configuration(commandTimeout: Duration? = .seconds(2)) throws -> RedisConfiguration {
        var configuration = try RedisConfiguration(url: "redis+cluster://" + nodes())
        configuration.commandTimeout = commandTimeout
        return configuration
    }

    public static func client(commandTimeout: Duration? = .seconds(2)) throws -> RedisClient {
        try RedisClient(configuration: configuration(commandTimeout: commandTimeout))
    }

    /// A client of one node, whatever slots it serves (for the cluster's own commands).
    public static func nodeClient(_ endpoint: ClusterEndpoint) throws -> RedisClient {
        try RedisClient(configuration: RedisConfiguration(host: endpoint.host, port: endpoint.port))
    }
}

/// The Sentinels (three, monitoring one primary with two replicas as `mymaster`) that
/// `scripts/test.sh` starts for the whole run. Tests must not fail that primary over: the
/// failover under load is the soak's (IntegrationTests/cluster-soak.sh).
public enum TestRedisSentinel {
    public static let masterName = "mymaster"

    /// The Sentinels as `host:port,…`.
    public static func sentinels() throws -> String {
        try TestEnvironment.value("CIO_RELAY_TEST_REDIS_SENTINEL", startedBy: "Redis Sentinels")
    }

    public static func configuration(master: String = masterName, sentinels: String? = nil) throws -> RedisConfiguration {
        try RedisConfiguration(url: "redis+sentinel://\(sentinels ?? Self.sentinels())/\(master)")
    }
}

/// The keys one node holds, by `SCAN MATCH`.
public enum ClusterScan {
    public static func keys(_ node: RedisNode, matching pattern: String) async throws -> [String] {
        var keys: [String] = []
        var cursor = "0"
        repeat {
            let reply = try await node.send("SCAN", RedisArgument(cursor), "MATCH", RedisArgument(pattern), "COUNT", "1000")
            guard let parts = reply.array, parts.count == 2, let next = parts[0].string else { throw TestSetupError("SCAN answered \(reply)") }
            cursor = next
            keys += (parts[1].array ?? []).compactMap(\.string)
        } while cursor != "0"
        return keys
    }
}

/// The test certificates that `scripts/test.sh` makes with openssl (`make_test_certs` in
/// scripts/lib.sh): a test CA, another CA, a `localhost` certificate and a client certificate.
public enum TestTLS {
    public static func directory() throws -> String {
        try TestEnvironment.value("CIO_RELAY_TEST_TLS_DIR", startedBy: "test certificates")
    }

    /// The path of one of its files: `ca.crt`, `other-ca.crt`, `server.crt`, `client.crt`, `client.key`…
    public static func file(_ name: String) throws -> String {
        try directory() + "/" + name
    }

    /// The `redis-server` options of a TLS-only server on `port` with the localhost certificate,
    /// asking clients for a certificate of the test CA when `clientCertificates`.
    public static func redisArguments(port: Int, clientCertificates: Bool) throws -> [String] {
        [
            "--port", "0", "--tls-port", String(port), "--tls-cert-file", try file("server.crt"), "--tls-key-file", try file("server.key"),
            "--tls-ca-cert-file", try file("ca.crt"), "--tls-auth-clients", clientCertificates ? "yes" : "no",
        ]
    }
}

/// A redis-server of a test's own, which it can stop and start to simulate an outage.
public final class RedisServerProcess: @unchecked Sendable {
    public private(set) var port = 0
    private let directory: URL
    private let arguments: [String]
    /// With TLS the server listens on `port` for TLS only (see `TestTLS.redisArguments`).
    private let tls: Bool
    private let clientCertificates: Bool
    private var pid: pid_t?

    /// Starts a server on a free port; `arguments` are extra `redis-server` options. With `tls`,
    /// the port speaks only TLS with the test certificates, and with `clientCertificates` clients
    /// need one from the test CA.
    /// A port found free can be taken by another test's outgoing connection before redis-server
    /// binds it (both draw from the same ephemeral range), so the first start tries up to three ports.
    private init(arguments: [String], tls: Bool, clientCertificates: Bool) throws {
        let base =
            ProcessInfo.processInfo.environment["CIO_RELAY_TEST_TMPDIR"].map { URL(fileURLWithPath: $0) }
            ?? FileManager.default.temporaryDirectory
        self.directory = base.appendingPathComponent("redis-\(UUID().uuidString.prefix(8))")
        self.arguments = arguments
        self.tls = tls
        self.clientCertificates = clientCertificates
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        for attempt in 1...3 {
            port = try Self.freePort()
            do {
                try start()
                return
            } catch  where attempt < 3 {
                continue
            }
        }
    }

    public var url: String { "redis://127.0.0.1:\(port)" }

    /// A server started on a free port (see `init`). Starting, restarting and stopping wait for the
    /// server with sleeps, so they run on a thread of their own: on the cooperative pool (two
    /// threads on a two-core machine) they would stall every other test's tasks meanwhile, and the
    /// tests that measure deadlines failed in CI.
    public static func started(arguments: [String] = [], tls: Bool = false, clientCertificates: Bool = false) async throws -> RedisServerProcess {
        try await offThePool { try RedisServerProcess(arguments: arguments, tls: tls, clientCertificates: clientCertificates) }
    }

    /// Starts the server again on the same port, off the cooperative pool.
    public func restarted() async throws {
        try await offThePool { try self.start() }
    }

    /// Stops the server and waits until it has exited, off the cooperative pool.
    public func stopped() async {
        try? await offThePool { self.stop() }
    }

    /// Starts (or restarts) the server on the same port. Spawned with posix_spawn and reaped with
    /// waitpid, so that stopping it never depends on Foundation's run loop.
    private func start() throws {
        guard let binary = ProcessInfo.processInfo.environment["CIO_RELAY_TEST_REDIS_SERVER"], !binary.isEmpty else {
            throw TestSetupError("CIO_RELAY_TEST_REDIS_SERVER is not set: run the tests with scripts/test.sh")
        }
        let argv =
            [
                binary, "--bind", "127.0.0.1", "--port", String(port), "--dir", directory.path,
                "--save", "", "--appendonly", "no", "--logfile", directory.appendingPathComponent("redis.log").path,
            ] + arguments
            + (tls ? try TestTLS.redisArguments(port: port, clientCertificates: clientCertificates) : [])
        let child = try TestProcess.spawn(argv)
        pid = child
        let deadline = Date().addingTimeInterval(5)
        var status: Int32 = 0
        while Date() < deadline {
            // A TLS port cannot be pinged in plain text: accepting connections is its sign of life.
            if tls ? Self.accepts(port: port) : Self.answersPing(port: port) { return }
            if waitpid(child, &status, WNOHANG) == child {
                // Exited: most often the port was taken meanwhile. Say what the server said.
                pid = nil
                let log = (try? String(contentsOf: directory.appendingPathComponent("redis.log"), encoding: .utf8)) ?? ""
                let last = log.split(separator: "\n").last.map(String.init) ?? "no log"
                throw TestSetupError("redis-server exited at start on port \(port): \(last)")
            }
            usleep(20_000)
        }
        stop()
        throw TestSetupError("redis-server did not start on port \(port); see \(directory.path)/redis.log")
    }

    /// Stops the server and waits until it has exited.
    private func stop() {
        guard let child = pid else { return }
        kill(child, SIGCONT)
        kill(child, SIGTERM)
        var status: Int32 = 0
        let deadline = Date().addingTimeInterval(3)
        while waitpid(child, &status, WNOHANG) == 0 {
            if Date() > deadline {
                kill(child, SIGKILL)
                _ = waitpid(child, &status, 0)
                break
            }
            usleep(10_000)
        }
        pid = nil
    }

    /// Freezes the server (SIGSTOP): connections stay open but nothing answers.
    public func pause() { if let pid { kill(pid, SIGSTOP) } }
    public func resume() { if let pid { kill(pid, SIGCONT) } }

    /// A server its test did not stop is killed and reaped on a thread of its own: the last
    /// reference often goes on the cooperative pool.
    deinit {
        let pid = self.pid
        let directory = self.directory
        Thread.detachNewThread {
            if let pid {
                kill(pid, SIGKILL)
                var status: Int32 = 0
                _ = waitpid(pid, &status, 0)
            }
            try? FileManager.default.removeItem(at: directory)
        }
    }

    private static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestSetupError("socket() failed") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                bind(fd, raw, length) == 0 && getsockname(fd, raw, &length) == 0
            }
        }
        guard bound else { throw TestSetupError("could not find a free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    private static func accepts(port: Int) -> Bool {
        let fd = connected(port: port)
        if fd >= 0 { close(fd) }
        return fd >= 0
    }

    /// A socket connected to 127.0.0.1:`port`, or -1.
    private static func connected(port: Int) -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return -1 }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
        guard connected else {
            close(fd)
            return -1
        }
        return fd
    }

    private static func answersPing(port: Int) -> Bool {
        let fd = connected(port: port)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        let ping = Array("PING\r\n".utf8)
        guard write(fd, ping, ping.count) == ping.count else { return false }
        var buffer = [UInt8](repeating: 0, count: 16)
        let count = read(fd, &buffer, buffer.count)
        // A server with a password answers -NOAUTH: it is up all the same.
        let reply = count > 0 ? String(decoding: buffer[0..<count], as: UTF8.self) : ""
        return reply.hasPrefix("+PONG") || reply.hasPrefix("-NOAUTH")
    }
}
