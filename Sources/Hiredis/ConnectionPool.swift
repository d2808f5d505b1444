import Synchronization

/// Pipelining connections to one Redis server, used round-robin.
final class ConnectionPool: Sendable {
    let configuration: RedisConfiguration
    private let connections: [RedisConnection]
    private let next = Atomic<Int>(0)

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

    /// Sends on the next connection (`preamble` right before it on the same connection).
    func send(_ command: RedisCommand, after preamble: RedisCommand? = nil) async throws(RedisError) -> RedisValue {
        let index = next.add(1, ordering: .relaxed).oldValue
        return try await connections[index % connections.count].send(command, after: preamble)
    }

    func shutdown() async {
        for connection in connections {
            await connection.shutdown()
        }
    }
}
