import EventQueue
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
                try await RelayProcess.checkPartitions(queue)
                for group in groups {
                    try await queue.createGroup(group)
                }
                break
            } catch let error as SettingsError {
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
    /// Throws when `CIO_RELAY_PARTITIONS` contradicts the count the data was written with (recording
    /// it on first use); Redis errors are thrown as they are.
    public static func checkPartitions(_ queue: EventQueue) async throws {
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
