import EventQueue
import Logging
import ServiceLifecycle

/// Creates the deployment's consumer groups when a process starts, whatever its role, so that
/// events queued before any worker ran count as lag (for `status`, alerts and autoscalers) and are
/// never trimmed away from a group that does not exist yet. Redis may be down at start: it keeps
/// trying until the groups exist, without holding the process back, then waits for shutdown.
struct GroupCreation: Service {
    let queue: EventQueue
    let groups: [String]
    let retryInterval: Duration
    let logger: Logger

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                for group in groups {
                    try await queue.createGroup(group)
                }
                break
            } catch {
                logger.warning("could not create the consumer groups yet; trying again", metadata: ["groups": "\(groups.joined(separator: ","))", "error": "\(error)"])
                try? await cancelWhenGracefulShutdown {
                    try await Task.sleep(for: retryInterval)
                }
            }
        }
        try? await gracefulShutdown()
    }
}
