import EventQueue
import Testing

@Suite("Queue key names")
struct QueueKeysTests {
    @Test func keysCarryThePartitionHashTag() {
        let keys = QueueKeys(prefix: "cio", tag: "0")
        #expect(keys.events == "cio:{0}:events")
        #expect(keys.dead == "cio:{0}:dead")
        #expect(keys.seen(eventID: "01ABC") == "cio:{0}:seen:01ABC")
    }
}
