import Synchronization
import TestSupport
import Testing

@testable import Hiredis

@Suite("Connection threads end exactly once")
struct ThreadLifecycleTests {
    @Test func aThreadIsJoinedOnlyOnceHoweverOftenJoinIsCalled() throws {
        let thread = try JoinableThread {}
        #expect(thread.join())
        #expect(!thread.join(), "a second pthread_join of the same thread is undefined behaviour")
    }
}
