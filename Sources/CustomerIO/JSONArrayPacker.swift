/// Packs encoded JSON items into request bodies that wrap them in one array (`{"batch":[…]}` for
/// Customer.io's Track API, `{…,"rows":[…]}` for BigQuery's insertAll) under a request's size and
/// item limits, keeping their order. Items over the per-item limit are left out and reported.
public struct JSONArrayPacker: Sendable {
    /// The body up to the array's `[`.
    public let opening: [UInt8]
    /// The body after the array's `]`.
    public let closing: [UInt8]
    public let maximumRequestBytes: Int
    public let maximumItemBytes: Int
    public let maximumItems: Int

    /// - Parameters:
    ///   - opening: what each request starts with before the first item, e.g. `{"batch":[`.
    ///   - closing: what it ends with after the last, e.g. `]}`.
    ///   - maximumRequestBytes: the largest request, opening and closing included.
    ///   - maximumItemBytes: the largest item; a larger one is reported, never sent.
    public init(opening: String, closing: String, maximumRequestBytes: Int, maximumItemBytes: Int, maximumItems: Int = .max) {
        self.opening = Array(opening.utf8)
        self.closing = Array(closing.utf8)
        self.maximumRequestBytes = maximumRequestBytes
        self.maximumItemBytes = maximumItemBytes
        self.maximumItems = maximumItems
    }

    /// A Track API v2 batch: `{"batch":[…]}`.
    public static func trackBatch(maximumRequestBytes: Int, maximumItemBytes: Int) -> JSONArrayPacker {
        JSONArrayPacker(opening: #"{"batch":["#, closing: "]}", maximumRequestBytes: maximumRequestBytes, maximumItemBytes: maximumItemBytes)
    }

    public struct Request: Sendable {
        /// Indices of the items in this request, in order: item `i` of the body is `items[i]`.
        public var items: [Int]
        public var body: [UInt8]
    }

    /// One request body of these items, whatever their size (for a request resent with the same
    /// items, made no larger).
    public func body(of items: [[UInt8]]) -> [UInt8] {
        var body = opening
        for (index, item) in items.enumerated() {
            if index > 0 { body.append(UInt8(ascii: ",")) }
            body += item
        }
        return body + closing
    }

    public func pack(_ items: [[UInt8]]) -> (requests: [Request], oversized: [Int]) {
        var requests: [Request] = []
        var oversized: [Int] = []
        var current = Request(items: [], body: opening)
        for (index, item) in items.enumerated() {
            guard item.count <= maximumItemBytes, opening.count + item.count + closing.count <= maximumRequestBytes else {
                oversized.append(index)
                continue
            }
            let separator = current.items.isEmpty ? 0 : 1
            if current.items.count == maximumItems || current.body.count + separator + item.count + closing.count > maximumRequestBytes {
                current.body += closing
                requests.append(current)
                current = Request(items: [], body: opening)
            }
            if !current.items.isEmpty { current.body.append(UInt8(ascii: ",")) }
            current.body += item
            current.items.append(index)
        }
        if !current.items.isEmpty {
            current.body += closing
            requests.append(current)
        }
        return (requests, oversized)
    }
}
