import EventQueue
import Hiredis
import Testing

@Suite("Partition hash tags spread over the cluster's slots")
struct PartitionTagsTests {
    @Test func onePartitionKeepsTodaysKeys() {
        #expect(PartitionTags.tags(count: 1) == ["0"])
    }

    @Test(arguments: [2, 3, 16, 64, 257])
    func eachPartitionFallsInItsOwnShareOfTheSlots(count: Int) {
        let tags = PartitionTags.tags(count: count)
        #expect(tags.count == count && Set(tags).count == count)
        for (partition, tag) in tags.enumerated() {
            let slot = ClusterSlot.of(tag)
            #expect(
                slot >= partition * ClusterSlot.count / count && slot < (partition + 1) * ClusterSlot.count / count,
                "partition \(partition): \(tag) → \(slot)")
        }
        #expect(PartitionTags.tags(count: count) == tags, "the same tags every time: they name a deployment's keys")
    }

    @Test func anEventsPartitionIsAFixedHashOfItsID() {
        // FNV-1a (32 bits): the same partition in every process and every version.
        let sixteen = QueueLayout(prefix: "cio", partitions: 16)
        #expect(sixteen.partition(of: "a").partition == 12)
        #expect(sixteen.partition(of: "01HZX3Q9V8K2ABCDEF").partition == 11)
        #expect(QueueLayout(prefix: "cio", partitions: 4).partition(of: "event-1").partition == 1)
        #expect(QueueLayout(prefix: "cio", partitions: 1).partition(of: "event-1").events == "cio:{0}:events")
    }

    @Test func anEntryIDNamesItsPartitionWhenThereAreSeveral() {
        let four = QueueLayout(prefix: "cio", partitions: 4)
        #expect(four.address(of: "3/1700000000000-2") == EntryAddress(partition: 3, streamID: "1700000000000-2", qualified: true))
        #expect(four.address(of: "3/1700000000000-2")?.description == "3/1700000000000-2")
        #expect(four.address(of: "1700000000000-2") == nil, "ambiguous without its partition")
        #expect(four.address(of: "4/1700000000000-2") == nil, "no partition 4 of 4")
        let one = QueueLayout(prefix: "cio", partitions: 1)
        #expect(one.address(of: "1700000000000-2")?.description == "1700000000000-2")
        #expect(one.address(of: "0/1700000000000-2") == nil)
    }

    @Test func aBatchIsSharedEvenlyOverThePartitions() {
        let shares = GroupConsumer.shares(of: 100, over: 16, startingAt: 5)
        #expect(shares.reduce(0, +) == 100)
        #expect(shares.enumerated().allSatisfy { $1 == ((5...8).contains($0) ? 7 : 6) })
        #expect(GroupConsumer.shares(of: 3, over: 16, startingAt: 14).enumerated().filter { $1 > 0 }.map(\.offset) == [0, 14, 15])
        #expect(GroupConsumer.shares(of: 500, over: 1, startingAt: 0) == [500])
    }
}
