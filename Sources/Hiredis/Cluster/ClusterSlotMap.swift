/// A node of a Redis Cluster, as `CLUSTER SLOTS` and redirections name it.
public struct ClusterEndpoint: Sendable, Hashable, CustomStringConvertible {
    public let host: String
    public let port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    public var description: String { "\(host):\(port)" }
}

/// Which primary serves each of the 16,384 slots, from a `CLUSTER SLOTS` reply.
public struct ClusterSlotMap: Sendable, Hashable {
    /// Per slot, the index of its primary in `primaries`; -1 where no node serves the slot.
    private let owner: [Int16]
    /// Every primary that serves at least one slot, in the order of the reply.
    public let primaries: [ClusterEndpoint]

    /// A map with no node: what a cluster client knows before it asked.
    static let empty = ClusterSlotMap(owner: [Int16](repeating: -1, count: ClusterSlot.count), primaries: [])

    private init(owner: [Int16], primaries: [ClusterEndpoint]) {
        self.owner = owner
        self.primaries = primaries
    }

    /// Reads `CLUSTER SLOTS`: an array of `[start, end, [host, port, id, …] (primary), replicas…]`.
    /// `fallbackHost` stands for a primary announced with an empty host or `?`, which means "the
    /// node you asked".
    public init(slotsReply reply: RedisValue, fallbackHost: String) throws(RedisError) {
        guard let ranges = reply.array else {
            throw RedisError(.unexpectedReply, "CLUSTER SLOTS answered \(reply), not an array")
        }
        var owner = [Int16](repeating: -1, count: ClusterSlot.count)
        var primaries: [ClusterEndpoint] = []
        for range in ranges {
            guard let parts = range.array, parts.count >= 3,
                let start = parts[0].integer, let end = parts[1].integer,
                0 <= start, start <= end, end < Int64(ClusterSlot.count),
                let node = parts[2].array, node.count >= 2,
                let announced = node[0].string, let port = node[1].integer, (1...65_535).contains(port)
            else {
                throw RedisError(.unexpectedReply, "CLUSTER SLOTS has a range that is not [start, end, [host, port, …], …]: \(range)")
            }
            let endpoint = ClusterEndpoint(host: announced.isEmpty || announced == "?" ? fallbackHost : announced, port: Int(port))
            let index: Int
            if let known = primaries.firstIndex(of: endpoint) {
                index = known
            } else {
                index = primaries.count
                primaries.append(endpoint)
            }
            for slot in Int(start)...Int(end) { owner[slot] = Int16(index) }
        }
        self.owner = owner
        self.primaries = primaries
    }

    /// The primary serving `slot`, or nil when no node does (a cluster still being set up).
    public func primary(for slot: Int) -> ClusterEndpoint? {
        guard (0..<ClusterSlot.count).contains(slot), owner[slot] >= 0 else { return nil }
        return primaries[Int(owner[slot])]
    }

    /// Whether every slot has a primary: until then some keys cannot be served.
    public var coversEverySlot: Bool { !owner.contains(-1) }
}
