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
            #expect(slot >= partition * ClusterSlot.count / count && slot < (partition + 1) * ClusterSlot.count / count, "partition \(partition): \(tag) → \(slot)")
        }
        #expect(PartitionTags.tags(count: count) == tags, "the same tags every time: they name a deployment's keys")
    }
}
