import EventQueue
import Hiredis
import Logging
import RelaySettings
import ServiceLifecycle

/// Checks the partition count against the data and creates the deployment's consumer groups when
/// a process starts, whatever its role, so that events queued before any worker ran count as lag
/// (for `status`, alerts and autoscalers) and are never trimmed away from a group that does not
/// exist yet. Redis may be down at start: it keeps trying until the groups exist, without holding
/// the process back, then waits for shutdown. A partition count that contradicts the data stops
/// the process.
struct GroupCreation: Service {
    let queue: EventQueue
    let groups: [String]
    let retryInterval: Duration
    let logger: Logger

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await RelayProcess.checkRedis(queue)
                for group in groups {
                    try await queue.createGroup(group)
                }
                break
            } catch let error as SettingsError {
                throw error
            } catch let error as QueueLayoutError {
                throw error
            } catch {
                logger.warning(
                    "could not create the consumer groups yet; trying again",
                    metadata: ["groups": "\(groups.joined(separator: ","))", "error": "\(error)"])
                try? await cancelWhenGracefulShutdown {
                    try await Task.sleep(for: retryInterval)
                }
            }
        }
        try? await gracefulShutdown()
    }
}

extension RelayProcess {
    /// The oldest Redis cio-relay runs on: 7.0 brought `XGROUP SETID … ENTRIESREAD` and the
    /// `entries-read` and `lag` of `XINFO GROUPS`, which the lag figures and their repair need.
    public static let minimumRedis = RedisServerVersion(7, 0)

    /// What every role and operator command checks before it uses Redis: the server is recent
    /// enough, the data is of a layout this release knows, and `CIO_RELAY_PARTITIONS` agrees with
    /// the data. Answers the server's version; throws a `SettingsError` for a Redis too old or a
    /// partition count that differs, a `QueueLayoutError` for a newer layout, and Redis errors as
    /// they are.
    @discardableResult
    public static func checkRedis(_ queue: EventQueue) async throws -> RedisServerVersion {
        let version = try await queue.client.serverVersion()
        guard version >= minimumRedis else {
            throw SettingsError(
                .invalidValue, source: SettingsTable.redisURL.variable,
                "names Redis \(version), but cio-relay needs Redis \(minimumRedis) or newer (XGROUP SETID … ENTRIESREAD, the lag of XINFO GROUPS)")
        }
        try await queue.checkLayoutVersion()
        try await checkPartitions(queue)
        return version
    }

    /// Throws when `CIO_RELAY_PARTITIONS` contradicts the count the data was written with (recording
    /// it on first use); Redis errors are thrown as they are.
    static func checkPartitions(_ queue: EventQueue) async throws {
        let variable = SettingsTable.partitions.variable
        switch try await queue.checkPartitions() {
        case .agrees:
            return
        case .differs(let recorded):
            throw SettingsError(
                .invalidValue, source: variable,
                "is \(queue.layout.count), but the data in Redis was written with \(recorded) partition(s) (\(queue.layout.partitionCountKey)); to change it, drain the queue first (docs/redis-cluster.md)"
            )
        case .singlePartitionStreamNotEmpty(let entries):
            throw SettingsError(
                .invalidValue, source: variable,
                "is \(queue.layout.count), but \(queue.layout.singlePartitionEvents) still holds \(entries) entries of the one-partition layout: run the workers with \(variable)=1 until `cio-relay status` shows it empty, then switch"
            )
        }
    }
}
