import Synchronization
import Testing

@testable import Worker

@Suite("A deadline around a call that may never return")
struct DeadlineTests {
    @Test func aCallThatReturnsInTimeGivesItsValue() async {
        #expect(await withDeadline(.seconds(5)) { 42 } == 42)
    }

    @Test func aCallThatListensForCancellationIsCancelledAtTheDeadline() async {
        let cancelled = Mutex(false)
        let start = ContinuousClock.now
        let value: Int? = await withDeadline(.milliseconds(200)) {
            try? await Task.sleep(for: .seconds(3600))
            cancelled.withLock { $0 = Task.isCancelled }
            return 1
        }
        #expect(value == nil && ContinuousClock.now - start < .seconds(5))
        try? await Task.sleep(for: .milliseconds(100))
        #expect(cancelled.withLock { $0 }, "the abandoned call is cancelled")
    }

    @Test func aCallThatIgnoresCancellationAndNeverReturnsIsLeftBehind() async {
        let start = ContinuousClock.now
        let value: Int? = await withDeadline(.milliseconds(200)) {
            // Never resumed: like a lease request a connection pool has lost.
            await withCheckedContinuation { (_: CheckedContinuation<Int, Never>) in }
        }
        #expect(value == nil && ContinuousClock.now - start < .seconds(5))
    }
}
