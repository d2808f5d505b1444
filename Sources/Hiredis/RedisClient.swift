import ServiceLifecycle
import Synchronization

/// A small pool of pipelining connections to one Redis server. As a `Service` it keeps its
/// connections until graceful shutdown, then closes them: list it first in a `ServiceGroup`, so that
/// it closes last, after the servers and workers that use it.
///
/// Commands are spread over the pool round-robin; each connection batches whatever is queued on it.
/// Blocking commands (`XREADGROUP BLOCK`, `BLPOP`) must not share these connections: they would
/// hold up every command queued behind them. Use `makeBlockingConnection()` for those.
public final class RedisClient: Service, Sendable {
    public let configuration: RedisConfiguration
    private let connections: [RedisConnection]
    private let next = Atomic<Int>(0)

    public convenience init(configuration: RedisConfiguration) throws(RedisError) {
        try self.init(configuration: configuration, makeConnection: RedisConnection.init(configuration:))
    }

    /// When a connection cannot be made, those already made are closed (their threads joined)
    /// before the error is thrown: nobody else holds them to shut them down later.
    init(configuration: RedisConfiguration, makeConnection: (RedisConfiguration) throws(RedisError) -> RedisConnection) throws(RedisError) {
        self.configuration = configuration
        var connections: [RedisConnection] = []
        do {
            for _ in 0..<max(1, configuration.poolSize) {
                connections.append(try makeConnection(configuration))
            }
        } catch {
            for connection in connections { connection.close() }
            throw error
        }
        self.connections = connections
    }

    /// Sends a command on the next connection of the pool and waits for its reply.
    public func send(_ command: RedisCommand) async throws(RedisError) -> RedisValue {
        let index = next.add(1, ordering: .relaxed).oldValue
        return try await connections[index % connections.count].send(command)
    }

    public func send(_ name: String, _ arguments: RedisArgument...) async throws(RedisError) -> RedisValue {
        try await send(RedisCommand(name, arguments))
    }

    /// True when Redis answers `PING`.
    public func ping() async throws(RedisError) {
        let reply = try await send(RedisCommand("PING"))
        guard reply.string == "PONG" else {
            throw RedisError(.unexpectedReply, "PING answered \(reply)")
        }
    }

    /// A connection of its own for blocking reads; the caller shuts it down. Without a
    /// `commandTimeout` a read may block forever and `shutdown()` interrupts it; with one (longer
    /// than the longest `BLOCK`), a frozen server fails the read instead of hanging it.
    public func makeBlockingConnection(commandTimeout: Duration? = nil) throws(RedisError) -> RedisConnection {
        var configuration = self.configuration
        configuration.commandTimeout = commandTimeout
        return try RedisConnection(configuration: configuration)
    }

    /// Returns when graceful shutdown starts (or the task is cancelled), after closing the connections.
    public func run() async {
        try? await gracefulShutdown()
        await shutdown()
    }

    /// Sends what is queued, then closes every connection and joins their threads.
    public func shutdown() async {
        for connection in connections {
            await connection.shutdown()
        }
    }
}
