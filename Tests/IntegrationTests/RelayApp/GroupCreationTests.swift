import EventQueue
import Logging
import TestSupport
import Testing

@testable import RelayApp

@Suite("Consumer groups created at start against real Redis")
struct GroupCreationTests {
    @Test func everyRoleCreatesTheConfiguredGroupsAtStart() async throws {
        try await withTestQueue(prefix: "create") { queue in
            let creation = Task {
                try await GroupCreation(
                    queue: queue, groups: ["actions", "warehouse"], retryInterval: .milliseconds(50), logger: Logger(label: "test")
                ).run()
            }
            defer { creation.cancel() }
            let deadline = ContinuousClock.now + .seconds(5)
            var names: [String] = []
            while ContinuousClock.now < deadline {
                names = try await queue.groupStatistics().map(\.name).sorted()
                if names == ["actions", "warehouse"] { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(names == ["actions", "warehouse"])
        }
    }
}
