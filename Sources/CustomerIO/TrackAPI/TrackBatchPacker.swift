/// Packs encoded batch items into `{"batch":[…]}` request bodies under Customer.io's size limits,
/// keeping their order. Items over the per-item limit are left out and reported.
struct TrackBatchPacker {
    let maximumRequestBytes: Int
    let maximumItemBytes: Int

    struct Request {
        /// Indices of the items in this request, in order: item `i` of the body is `items[i]`.
        var items: [Int]
        var body: [UInt8]
    }

    private static let opening = Array(#"{"batch":["#.utf8)
    private static let closing = Array("]}".utf8)

    /// One request body of these items, whatever their size (for a request resent with the same
    /// items, made no larger).
    static func body(of items: [[UInt8]]) -> [UInt8] {
        var body = opening
        for (index, item) in items.enumerated() {
            if index > 0 { body.append(UInt8(ascii: ",")) }
            body += item
        }
        return body + closing
    }

    func pack(_ items: [[UInt8]]) -> (requests: [Request], oversized: [Int]) {
        var requests: [Request] = []
        var oversized: [Int] = []
        var current = Request(items: [], body: Self.opening)
        for (index, item) in items.enumerated() {
            guard item.count <= maximumItemBytes, Self.opening.count + item.count + Self.closing.count <= maximumRequestBytes else {
                oversized.append(index)
                continue
            }
            let separator = current.items.isEmpty ? 0 : 1
            if current.body.count + separator + item.count + Self.closing.count > maximumRequestBytes {
                current.body += Self.closing
                requests.append(current)
                current = Request(items: [], body: Self.opening)
            }
            if !current.items.isEmpty { current.body.append(UInt8(ascii: ",")) }
            current.body += item
            current.items.append(index)
        }
        if !current.items.isEmpty {
            current.body += Self.closing
            requests.append(current)
        }
        return (requests, oversized)
    }
}
