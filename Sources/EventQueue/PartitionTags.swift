import Hiredis

/// The hash tags of a queue's partitions. One partition keeps today's tag, `0`, so a deployment
/// with `CIO_RELAY_PARTITIONS=1` reads and writes the keys it always had. With P partitions,
/// partition p gets the first of `p`, `p-1`, `p-2`, … whose slot lies in the p-th of P equal
/// ranges of the 16,384 slots: an even split of the slots over N primaries then puts about P/N
/// partitions on each, which tags chosen by name alone (`0`…`15` hash anywhere) would not.
public enum PartitionTags {
    /// The tags of `count` partitions, in partition order.
    public static func tags(count: Int) -> [String] {
        precondition(count >= 1 && count <= ClusterSlot.count, "a queue has 1 to \(ClusterSlot.count) partitions, not \(count)")
        guard count > 1 else { return ["0"] }
        return (0..<count).map { partition in
            let slots = (partition * ClusterSlot.count / count)..<((partition + 1) * ClusterSlot.count / count)
            var attempt = 0
            while true {
                let tag = attempt == 0 ? String(partition) : "\(partition)-\(attempt)"
                if slots.contains(ClusterSlot.of(tag)) { return tag }
                attempt += 1
            }
        }
    }
}
